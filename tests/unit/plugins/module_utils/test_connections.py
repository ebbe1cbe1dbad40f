"""Connection reuse (_http.py): clients of one process share keep-alive connections, never headers or cookies."""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils import _http
from ansible_collections.apikeys.rotation.plugins.module_utils._http import HttpClient


class Counting(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.connections = 0
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body in one segment (no delayed-ACK stall per request)
    disable_nagle_algorithm = True
    server: Counting

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_GET(self) -> None:  # noqa: N802
        with self.server.lock:
            self.server.seen.append((self.headers.get("Authorization", ""), self.headers.get("Cookie", "")))
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "session=abc; Path=/")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def server():
    running = Counting()
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()


def test_clients_of_many_keys_share_connections_and_keep_their_own_headers(server, monkeypatch) -> None:
    monkeypatch.setattr(_http, "_ADAPTER", [])
    clients = [HttpClient("p", server.url, {"Authorization": f"Bearer key-{n}"}) for n in range(20)]
    for client in clients:
        client.request("GET", "/one")
        client.request("GET", "/two")
    assert server.connections == 1  # 40 requests from 20 clients, in sequence: one connection
    assert [auth for auth, _cookie in server.seen] == [f"Bearer key-{n}" for n in range(20) for _twice in (1, 2)]
    assert all(cookie == "" for _auth, cookie in server.seen)  # a cookie set for one key's client is never sent


def test_a_thread_pool_opens_at_most_one_connection_per_worker(server, monkeypatch) -> None:
    monkeypatch.setattr(_http, "_ADAPTER", [])
    clients = [HttpClient("p", server.url, {"Authorization": f"Bearer key-{n}"}) for n in range(64)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda client: client.request("GET", "/x"), clients * 3))
    assert len(server.seen) == 192
    assert server.connections <= 8


def test_sharing_can_be_turned_off(server, monkeypatch) -> None:
    monkeypatch.setattr(_http, "_ADAPTER", [])
    monkeypatch.setenv("APIKEYS_HTTP_POOL_SIZE", "0")
    for number in range(3):
        HttpClient("p", server.url, {"Authorization": f"Bearer key-{number}"}).request("GET", "/x")
    assert server.connections == 3  # a pool per client, as before
