"""The keep-alive connections of _connections.py, through a session made by share_connections, against real local
servers in this process (no mocks): reuse, a server that closes, the body's framings and codings, a dropped answer
never sent twice, which requests go this way and which go through urllib3, and a forked child's own connections."""
from __future__ import annotations

import gzip
import json
import os
import socket
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest
import requests

from ansible_collections.apikeys.rotation.plugins.module_utils import _connections, _http
from ansible_collections.apikeys.rotation.plugins.module_utils._http import share_connections
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_kv2 import _maybe_sent

BODY = json.dumps({"data": {"key_id": "k1", "n": list(range(50))}}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    seen: list[tuple[int, str]] = []  # (client port, request line)
    timeout = 5.0  # a kept connection the client leaves idle is closed by the server after this
    lock, busy, most = threading.Lock(), 0, 0

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        Handler.seen.append((self.client_address[1], self.requestline))
        name = self.path.rsplit("/", 1)[-1]
        getattr(self, f"_{name}", self._json)()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for header in headers:
            self.send_header(*header)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self) -> None:
        self._send(200, [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))], BODY)

    def _close(self) -> None:  # answers, then closes the connection
        self.close_connection = True
        self._send(200, [("Content-Type", "application/json"), ("Content-Length", str(len(BODY))),
                         ("Connection", "close")], BODY)

    def _chunked(self) -> None:
        pieces = [BODY[:7], BODY[7:30], BODY[30:]]
        self._send(200, [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
                   b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n")

    def _gzip(self) -> None:
        packed = gzip.compress(BODY)
        self._send(200, [("Content-Encoding", "gzip"), ("Content-Length", str(len(packed)))], packed)

    def _deflate(self) -> None:
        packed = zlib.compress(BODY)
        self._send(200, [("Content-Encoding", "deflate"), ("Content-Length", str(len(packed)))], packed)

    def _rawdeflate(self) -> None:
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        packed = packer.compress(BODY) + packer.flush()
        self._send(200, [("Content-Encoding", "deflate"), ("Content-Length", str(len(packed)))], packed)

    def _until_close(self) -> None:  # no length, no chunks: the body ends when the server closes
        self.close_connection = True
        self._send(200, [("Content-Type", "application/json")], BODY)

    def _repeated(self) -> None:
        self._send(200, [("Warning", "one"), ("Warning", "two"), ("Content-Length", "2")], b"{}")

    def _empty(self) -> None:
        self._send(204, [], b"")

    def _slow(self) -> None:  # counts the requests in flight at once
        with Handler.lock:
            Handler.busy += 1
            Handler.most = max(Handler.most, Handler.busy)
        time.sleep(0.15)
        with Handler.lock:
            Handler.busy -= 1
        self._json()

    def _drop(self) -> None:  # reads the request, never answers
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Handler.seen = []
    made = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    made.daemon_threads = True
    thread = threading.Thread(target=made.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{made.server_address[1]}"
    finally:
        made.shutdown()
        made.server_close()


pytestmark = pytest.mark.usefixtures("http_environment_cleared")  # conftest.py


def session() -> requests.Session:
    return share_connections(requests.Session())


def ports() -> list[int]:
    return [port for port, _line in Handler.seen]


def test_one_connection_serves_request_after_request(server: str) -> None:
    made = session()
    for number in range(20):
        assert made.request("POST", f"{server}/v1/x/json", json={"n": number}, timeout=5).json() == json.loads(BODY)
    assert made.request.direct == 20 and len(set(ports())) == 1
    other = session()  # another client of the same endpoint: the same kept connection
    other.request("GET", f"{server}/json", timeout=5)
    assert other.request.direct == 1 and len(set(ports())) == 1


def test_threads_each_have_their_own_connection_and_give_it_back(server: str) -> None:
    made = session()
    barrier = threading.Barrier(4)
    answers: list[int] = []

    def work() -> None:
        barrier.wait()
        for _request in range(10):
            answers.append(made.request("GET", f"{server}/json", timeout=5).status_code)

    threads = [threading.Thread(target=work) for _thread in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 40 and made.request.direct == 40
    assert 1 <= len(set(ports())) <= 4  # never more connections than requests in flight


def test_no_more_requests_in_flight_to_an_endpoint_than_the_pool_size(server: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIKEYS_HTTP_POOL_SIZE", "2")
    monkeypatch.setattr(_http, "_ADAPTER", [])
    Handler.busy = Handler.most = 0
    made = session()
    threads = [threading.Thread(target=made.request, args=("GET", f"{server}/slow"), kwargs={"timeout": 5})
               for _thread in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made.request.direct == 6 and Handler.most == 2 and len(set(ports())) == 2


def test_a_server_that_says_close_gets_a_new_connection_next(server: str) -> None:
    made = session()
    made.request("GET", f"{server}/json", timeout=5)
    assert made.request("GET", f"{server}/close", timeout=5).json() == json.loads(BODY)
    made.request("GET", f"{server}/json", timeout=5)
    first, closed, after = ports()
    assert first == closed != after and made.request.direct == 3


def test_a_connection_the_server_closed_while_idle_is_not_reused(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Handler, "timeout", 0.2)
    made = session()
    made.request("GET", f"{server}/json", timeout=5)
    time.sleep(0.6)  # the server has closed the idle connection
    assert made.request("POST", f"{server}/v1/x/json", json={"k": 1}, timeout=5).status_code == 200
    assert len(Handler.seen) == 2 and ports()[0] != ports()[1]  # sent once, on a new connection


@pytest.mark.parametrize("name", ["chunked", "gzip", "deflate", "rawdeflate", "until_close"])
def test_every_framing_and_coding_gives_the_body(server: str, name: str) -> None:
    made, plain = session(), requests.Session()
    ours = made.request("GET", f"{server}/{name}", timeout=5)
    assert ours.content == BODY and ours.json() == plain.get(f"{server}/{name}", timeout=5).json()
    assert made.request.direct == 1
    made.request("GET", f"{server}/json", timeout=5)  # the connection after it still works (or a new one is made)
    assert made.request.direct == 2


def test_repeated_headers_empty_bodies_and_head(server: str) -> None:
    made, plain = session(), requests.Session()
    assert made.request("GET", f"{server}/repeated", timeout=5).headers["warning"] == \
        plain.get(f"{server}/repeated", timeout=5).headers["warning"] == "one, two"
    empty = made.request("DELETE", f"{server}/empty", timeout=5)
    assert (empty.status_code, empty.content) == (204, b"")
    head = made.request("HEAD", f"{server}/json", timeout=5)
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(BODY))
    assert made.request("GET", f"{server}/json", timeout=5).content == BODY and made.request.direct == 4
    ours = ports()[:1] + ports()[2:]  # the second request was requests' own
    assert len(set(ours)) == 1


def test_an_answer_that_never_comes_is_a_connection_error_maybe_sent_and_never_resent(server: str) -> None:
    made = session()
    made.request("GET", f"{server}/json", timeout=5)  # a kept connection, as in a batch
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        made.request("POST", f"{server}/v1/keys/drop", json={"name": "k"}, timeout=5)
    assert _maybe_sent(caught.value) is True and caught.value.request.url == f"{server}/v1/keys/drop"
    assert [line.split()[1] for _port, line in Handler.seen] == ["/json", "/v1/keys/drop"]  # sent once
    assert made.request("GET", f"{server}/json", timeout=5).status_code == 200


def test_what_goes_through_urllib3_instead(server: str) -> None:
    made = session()
    made.request("GET", f"{server}/json", timeout=5, verify=False)  # plain http: verify has no say
    made.request("GET", f"{server}/json", timeout=5, headers={"Accept-Encoding": "br, gzip"})
    made.request("PUT", f"{server}/json", data=iter([b"a", b"b"]), timeout=5)  # a streamed body
    assert made.request.lean == 3 and made.request.direct == 1
    assert not _connections.can_send("https", False, None, None)  # no check of the certificate
    assert not _connections.can_send("https", True, ("client.pem", "client.key"), None)  # a client certificate
    assert _connections.can_send("https", "/etc/ssl/bundle.pem", None, b"{}")
    assert _connections.accepts_only_decoded("gzip, deflate") and _connections.accepts_only_decoded(None)
    assert not _connections.accepts_only_decoded("gzip, zstd")


def test_no_shared_pool_no_kept_connections(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIKEYS_HTTP_POOL_SIZE", "0")
    monkeypatch.setattr(_http, "_ADAPTER", [])
    made = session()
    assert made.request("GET", f"{server}/json", timeout=5).status_code == 200
    assert made.request.lean == 1 and made.request.direct == 0


def test_a_forked_child_never_uses_its_parents_connection(server: str) -> None:
    made = session()
    made.request("GET", f"{server}/json", timeout=5)
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's outcome is read through the pipe
        code = 1
        try:
            made.request("GET", f"{server}/json", timeout=5)
            code = 0
        finally:
            os.write(writer, bytes([code]))
            os._exit(code)
    os.close(writer)
    assert os.read(reader, 1) == b"\x00"
    os.waitpid(child, 0)
    made.request("GET", f"{server}/json", timeout=5)  # the parent's kept connection, still its own
    parent_first, child_port, parent_again = ports()
    assert parent_first == parent_again != child_port


def test_refused_and_timeouts_keep_their_meaning(server: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    made = session()
    with pytest.raises(requests.exceptions.ConnectionError) as refused:
        made.request("GET", f"http://127.0.0.1:{port}/x", timeout=2)
    assert not isinstance(refused.value, requests.exceptions.ConnectTimeout) and _maybe_sent(refused.value) is False
    assert "Connection refused" in str(refused.value) and refused.value.request is not None


def test_a_kept_connection_is_never_shared_by_two_requests_in_flight(server: str) -> None:
    made = session()
    made.request("GET", f"{server}/json", timeout=5)
    key = next(iter(_connections._IDLE))
    first = _connections._kept(key)
    assert first is not None and _connections._kept(key) is None  # taken: nobody else gets it
    _connections._give_back(key, first, 64)
    assert _connections._kept(key) is first


def test_idle_connections_are_bounded(server: str) -> None:
    made = session()
    made.request("GET", f"{server}/json", timeout=5)
    key = next(iter(_connections._IDLE))
    kept = [_connections._kept(key)] + [_connections._connect(key, "/", 5) for _extra in range(3)]
    for connection in kept:
        _connections._give_back(key, connection, 2)
    assert len(_connections._IDLE[key]) == 2 and sum(c.sock.fileno() == -1 for c in kept) == 2  # the others closed


def test_any_other_argument_kind_is_accepted_as_requests_accepts_it(server: str) -> None:
    made, plain = session(), requests.Session()
    for kwargs in ({"timeout": (2, 5)}, {"timeout": None}, {"params": {"a": "b c"}}, {"data": {"form": "x y"}}):
        assert made.request("POST", f"{server}/json", **kwargs).json() == plain.post(f"{server}/json", **kwargs).json()
    assert made.request.direct == 4
    lines = [line for _port, line in Handler.seen]
    assert lines[4] == lines[5] == "POST /json?a=b+c HTTP/1.1"
