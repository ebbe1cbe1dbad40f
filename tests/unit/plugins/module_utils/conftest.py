"""Fixtures shared by the HTTP tests of this directory (test_lean_http.py, test_kept_connections.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils import _http, _lean_http

#: what requests reads from the environment (proxies, CA bundles) and the collection's pool size
HTTP_ENVIRONMENT = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                    "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "APIKEYS_HTTP_POOL_SIZE")


@pytest.fixture
def http_environment_cleared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No proxy, CA bundle, pool size or netrc from the machine; every endpoint decided and connected anew."""
    for name in HTTP_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    _http._ENVIRONMENT.clear()
    _lean_http.forget_endpoints()
    yield
    _http._ENVIRONMENT.clear()
    _lean_http.forget_endpoints()
