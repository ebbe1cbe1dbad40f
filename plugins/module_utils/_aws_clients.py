# Internal to this collection: not a public API; may change without notice.
"""One boto3 client per AWS service, profile, region, endpoint and settings, shared by a process's threads.

Making a boto3 client costs tens of milliseconds and its own connection pool; the keys of a batch that
manage the same account through the same profile share one (boto3 clients are thread-safe; sessions
are not, so clients are made under a lock). Its pool holds as many connections as the HTTP clients'
shared pool (``_http.pool_size()``). A forked child makes its own: it never uses its parent's sockets.
Only clients made from the default credential chain (environment, profile, instance role) are shared;
a client made from a key's own secret (testing a new key) is not.

boto3 is imported on first use (:func:`load_boto3`, ~150-200 ms of CPU): the provider and store registries
import the AWS provider and the Secrets Manager store for every run, and a run without an AWS key must not
pay for it. :class:`Botocore` holds the botocore exception classes they catch.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Optional

from ._http import pool_size
from ._lazy import available, bind, load, placeholder

HAS_BOTO3 = available("boto3")
#: what a key that needs boto3 is told when it is not installed
NEEDS_BOTO3 = "the boto3 Python library on the controller: pip install boto3"


class Botocore:
    """The botocore exception classes caught by this collection, bound by :func:`load_boto3`.

    Until then each is its own placeholder (nothing raises it, so an ``except`` naming it matches nothing):
    every call that can raise one made a client first, so after ``load_boto3()``.
    """

    BotoCoreError: Any = placeholder("BotoCoreError")
    ClientError: Any = placeholder("ClientError")
    ConnectTimeoutError: Any = placeholder("ConnectTimeoutError")
    EndpointConnectionError: Any = placeholder("EndpointConnectionError")
    NoCredentialsError: Any = placeholder("NoCredentialsError")
    NoRegionError: Any = placeholder("NoRegionError")


def load_boto3() -> Any:
    """boto3, imported on first use, with :class:`Botocore`'s classes bound (the caller checked HAS_BOTO3)."""
    bind(Botocore, "botocore.exceptions")
    return load("boto3")


def botocore_config(**settings: Any) -> Any:
    """A ``botocore.config.Config``."""
    return load("botocore.config").Config(**settings)


_CLIENTS: dict[tuple[Any, ...], tuple[Any, Any]] = {}
_LOCK = threading.Lock()


def shared_client(service: str, *, profile: Optional[str], region: str, endpoint_url: Optional[str],
                  timeout: float, retries: Optional[dict[str, Any]] = None) -> tuple[Any, Any]:
    """(client, session) for ``service``: made once per process for these settings, then shared."""
    retries = retries or {"total_max_attempts": 1}
    key = (service, profile, region, endpoint_url, float(timeout), tuple(sorted(retries.items())))
    with _LOCK:
        found = _CLIENTS.get(key)
        if found is None:
            session = load_boto3().session.Session(profile_name=profile, region_name=region)
            config = botocore_config(retries=dict(retries), connect_timeout=timeout, read_timeout=timeout,
                                     max_pool_connections=max(10, pool_size()))
            found = _CLIENTS[key] = (session.client(service, endpoint_url=endpoint_url, config=config), session)
        return found


def _after_fork() -> None:
    global _LOCK  # pylint: disable=global-statement
    _LOCK = threading.Lock()
    _CLIENTS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
