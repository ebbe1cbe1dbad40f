# Internal to this collection: not a public API; may change without notice.
"""One boto3 client per AWS service, profile, region, endpoint and settings, shared by a process's threads.

Making a boto3 client costs tens of milliseconds and its own connection pool; the keys of a batch that
manage the same account through the same profile share one (boto3 clients are thread-safe; sessions
are not, so clients are made under a lock). Its pool holds as many connections as the HTTP clients'
shared pool (``_http.pool_size()``). A forked child makes its own: it never uses its parent's sockets.
Only clients made from the default credential chain (environment, profile, instance role) are shared;
a client made from a key's own secret (testing a new key) is not.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Optional

from ._http import pool_size

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
            import boto3  # pylint: disable=import-outside-toplevel
            import botocore.config  # pylint: disable=import-outside-toplevel
            session = boto3.session.Session(profile_name=profile, region_name=region)
            config = botocore.config.Config(retries=dict(retries), connect_timeout=timeout, read_timeout=timeout,
                                            max_pool_connections=max(10, pool_size()))
            found = _CLIENTS[key] = (session.client(service, endpoint_url=endpoint_url, config=config), session)
        return found


def _after_fork() -> None:
    global _LOCK  # pylint: disable=global-statement
    _LOCK = threading.Lock()
    _CLIENTS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
