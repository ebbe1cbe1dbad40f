"""Consumers of a key kept in AWS Secrets Manager, through ``aws-secretsmanager-caching`` (the guide's pattern 3).

:class:`SecretsManagerSource` is an application using the library as documented: one
``SecretCache`` (``SecretCacheConfig(secret_refresh_interval=...)``) over a boto3
``secretsmanager`` client, and ``get_secret_string(secret_id)`` before every request; the
``SecretString`` is the record's JSON, of which it reads ``key`` and ``key_id``.

How the library refreshes (aws-secretsmanager-caching 1.2.0, ``cache/items.py``): a cached secret
is re-described (``DescribeSecret``) when its refresh time has passed, the next refresh time
being ``randint(round(interval / 2), interval)`` seconds later (whole seconds); when the
``AWSCURRENT`` stage points at another version it fetches that version with
``GetSecretValue(VersionId=...)``. So a consumer sees a promotion at most ``interval`` seconds
after it happened (plus its request period), and a failed refresh keeps serving the cached
version (with a growing retry delay).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3
from aws_secretsmanager_caching import SecretCache, SecretCacheConfig

from .store import Held


@dataclass(frozen=True)
class AwsAccess:
    """Where the Secrets Manager endpoint is and the (consumer-policy) access key to sign with."""

    url: str
    region: str
    access_key_id: str
    secret_access_key: str = field(repr=False)

    def client(self, service: str = "secretsmanager") -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=self.region, aws_access_key_id=self.access_key_id,
                            aws_secret_access_key=self.secret_access_key)


def parse_secret_string(text: str) -> Held:
    """A record's ``SecretString`` -> the key and its id."""
    data = json.loads(text)
    return Held(str(data["key_id"]), str(data["key"]))


class SecretsManagerSource:
    """An application's ``SecretCache`` over one secret; ``refresh_interval`` whole seconds (the library's unit)."""

    def __init__(self, access: AwsAccess, secret_id: str, refresh_interval: int) -> None:
        if int(refresh_interval) != refresh_interval or refresh_interval < 1:
            raise ValueError("secret_refresh_interval is whole seconds, at least 1")
        self._secret_id = secret_id
        self._cache = SecretCache(config=SecretCacheConfig(secret_refresh_interval=int(refresh_interval)), client=access.client())
        self.errors = 0
        self._held = parse_secret_string(self._cache.get_secret_string(secret_id))

    def get(self) -> Held:
        try:
            self._held = parse_secret_string(self._cache.get_secret_string(self._secret_id))
        except Exception:  # noqa: BLE001 - the library raised (no cached version): keep the key we have
            self.errors += 1
        return self._held


def refresh_seconds(ttl: float) -> int:
    """A consumer TTL as the library's ``secret_refresh_interval`` (whole seconds, at least 1)."""
    return max(1, round(ttl))


__all__ = ["AwsAccess", "SecretsManagerSource", "parse_secret_string", "refresh_seconds"]
