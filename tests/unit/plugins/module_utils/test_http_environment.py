"""_http.py reads the environment's proxy and CA settings once per process and endpoint, as requests would read them."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ansible_collections.apikeys.rotation.plugins.module_utils import _http
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ProviderError
from ansible_collections.apikeys.rotation.plugins.module_utils._http import HttpClient

ENVIRONMENT = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "all_proxy", "no_proxy",
               "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
CASES = [
    {},
    {"HTTPS_PROXY": "http://proxy.example:3128"},
    {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "vault.example"},
    {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": ".other.example"},
    {"HTTP_PROXY": "http://proxy.example:3128", "ALL_PROXY": "socks5://socks.example:1080"},
    {"REQUESTS_CA_BUNDLE": "/etc/ssl/bundle.pem"},
    {"CURL_CA_BUNDLE": "/etc/ssl/curl.pem"},
]
URLS = ["https://vault.example:8200/v1/secret/data/x", "http://vault.example/v1/sys/health", "https://api.other.example/v3/keys"]


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    _http._ENVIRONMENT.clear()
    yield
    _http._ENVIRONMENT.clear()


@pytest.mark.parametrize("environment", CASES)
@pytest.mark.parametrize("verify", [True, None, False, "/my/ca.pem"])
def test_same_settings_as_requests(monkeypatch: pytest.MonkeyPatch, environment: dict, verify) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    ours = HttpClient("test", "https://vault.example:8200", {}).session
    theirs = requests.Session()
    for url in URLS:
        assert ours.merge_environment_settings(url, {}, None, verify, None) == \
            theirs.merge_environment_settings(url, {}, None, verify, None), (environment, url)


def test_environment_read_once_per_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    session = HttpClient("test", "https://vault.example", {}).session
    first = session.merge_environment_settings(URLS[0], {}, None, True, None)
    monkeypatch.setenv("HTTPS_PROXY", "http://elsewhere.example:3128")
    assert session.merge_environment_settings(URLS[0], {}, None, True, None) == first, "read once per process"
    _http._forget_pool()  # a forked child reads its own environment
    assert session.merge_environment_settings(URLS[0], {}, None, True, None)["proxies"]["https"] == \
        "http://elsewhere.example:3128"


class Proxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.paths: list[str] = []
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server: Proxy

    def do_GET(self) -> None:  # noqa: N802
        with self.server.lock:
            self.server.paths.append(self.path)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("no_proxy", ["", "provider.invalid"])
def test_requests_go_through_the_proxy_unless_no_proxy(monkeypatch: pytest.MonkeyPatch, no_proxy: str) -> None:
    proxy = Proxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        monkeypatch.setenv("NO_PROXY", no_proxy)
        client = HttpClient("test", "http://provider.invalid", {}, timeout=2)
        if no_proxy:
            with pytest.raises(ProviderError):
                client.request_json("GET", "/v3/keys")  # straight to a host that does not exist
            assert not proxy.paths
        else:
            for attempt in range(3):
                assert client.request_json("GET", "/v3/keys") == {"ok": True}, attempt
            assert proxy.paths == ["http://provider.invalid/v3/keys"] * 3
    finally:
        proxy.shutdown()
        proxy.server_close()
