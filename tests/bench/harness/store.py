"""Reading a key from its OpenBao KV v2 record, as an application does (``.Data.data.key``)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import hvac


@dataclass(frozen=True)
class Held:
    """A key as a consumer holds it. ``repr`` shows the id only."""

    key_id: str
    key: str = field(repr=False)


@dataclass(frozen=True)
class VaultAccess:
    """Where OpenBao is and the (consumer-policy) token to read with."""

    url: str
    token: str = field(repr=False)


def split_path(vault_path: str) -> tuple[str, str]:
    """``secret/zd/k1`` -> (``secret``, ``zd/k1``): KV v2 mount and path."""
    mount, sep, path = vault_path.partition("/")
    if not sep or not path:
        raise ValueError("vault_path must read <mount>/<path>")
    return mount, path


class RecordReader:
    """One hvac client (one keep-alive session) reading ``key`` and ``key_id`` of records."""

    def __init__(self, access: VaultAccess, timeout: float = 5.0) -> None:
        self._client = hvac.Client(url=access.url, token=access.token, timeout=timeout)

    def read(self, vault_path: str) -> Held:
        mount, path = split_path(vault_path)
        answer = self._client.secrets.kv.v2.read_secret_version(path=path, mount_point=mount,
                                                                raise_on_deleted_version=True)
        data = answer["data"]["data"]
        return Held(str(data["key_id"]), str(data["key"]))


class VaultSource:
    """An application-level TTL cache over the store: re-read when the cached key is ``ttl`` seconds old.

    ``age`` makes the cache that old at start, so a fleet's refreshes are spread over the TTL
    as they are when applications start at different times. A failed read keeps the cached
    key (and counts in ``errors``), as a cache that serves stale on error does.
    """

    def __init__(self, reader: RecordReader, vault_path: str, ttl: float, age: float = 0.0) -> None:
        self._reader = reader
        self._path = vault_path
        self._ttl = ttl
        self._held = reader.read(vault_path)
        self._read_at = time.monotonic() - age
        self.errors = 0

    def get(self) -> Held:
        now = time.monotonic()
        if now - self._read_at >= self._ttl:
            try:
                self._held = self._reader.read(self._path)
            except Exception:  # noqa: BLE001 - any store error: keep serving the cached key
                self.errors += 1
            self._read_at = now
        return self._held


__all__ = ["Held", "RecordReader", "VaultAccess", "VaultSource", "split_path"]
