"""HTTP/1.1 messages (_http1.py) over a real socket pair: the request's bytes, and answers a server may send,
including the odd ones (interim answers, folded headers, trailers, bad framing)."""
from __future__ import annotations

import socket
import threading
from typing import Iterator

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils._http1 import Broken, Reader, read_answer, request_bytes


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    yield ours, theirs
    ours.close()
    theirs.close()


def answer(pair: tuple[socket.socket, socket.socket], raw: bytes, method: str = "GET", close: bool = False,
           pieces: int = 1) -> tuple[int, str, list[tuple[str, str]], bytes, bool]:
    ours, theirs = pair
    step = max(1, len(raw) // pieces)

    def serve() -> None:  # in pieces: a line or a chunk may arrive split across reads
        for start in range(0, len(raw), step):
            theirs.sendall(raw[start:start + step])
        if close:
            theirs.shutdown(socket.SHUT_WR)

    server = threading.Thread(target=serve)
    server.start()
    try:
        return read_answer(Reader(ours), method)
    finally:
        server.join()


def test_the_request_as_http_client_writes_it() -> None:
    sent = request_bytes("POST", "127.0.0.1", 8200, 80, "/v1/secret/data/a%20b?x=1",
                         {"X-Vault-Token": "t", "Content-Type": "application/json"}, b'{"a": 1}')
    assert sent == (b"POST /v1/secret/data/a%20b?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8200\r\nAccept-Encoding: identity\r\n"
                    b"Content-Length: 8\r\nX-Vault-Token: t\r\nContent-Type: application/json\r\n\r\n{\"a\": 1}")
    assert request_bytes("GET", "::1", 443, 443, "/", {"Accept-Encoding": "gzip"}, None) == \
        b"GET / HTTP/1.1\r\nHost: [::1]\r\nAccept-Encoding: gzip\r\n\r\n"
    assert b"Content-Length: 0\r\n" in request_bytes("PUT", "h", 80, 80, "/", {}, None)
    assert b"Content-Length" not in request_bytes("DELETE", "h", 80, 80, "/", {}, None)
    assert request_bytes("GET", "h", 80, 80, "/", {"Host": "other"}, None).count(b"Host:") == 1


@pytest.mark.parametrize("method, path, headers", [
    ("GE T", "/", {}), ("GET", "/a b", {}), ("GET", "/a\r\nX: y", {}), ("GET", "/", {"X-Token": "a\r\nInjected: 1"}),
    ("GET", "/", {"Bad Name": "v"}), ("GET", "/", {"X": "nul\x00"})])
def test_what_may_not_be_sent_is_refused_without_echoing_a_value(method: str, path: str, headers: dict) -> None:
    with pytest.raises(ValueError) as caught:
        request_bytes(method, "h", 80, 80, path, headers, None)
    assert "Injected" not in str(caught.value) and "nul" not in str(caught.value)


def test_sized_answer_kept_and_the_next_one_on_the_same_connection(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    theirs.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\nx-a: 2\r\n\r\n{}"
                   b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc")
    reader = Reader(ours)
    assert read_answer(reader, "GET") == (200, "OK", [("Content-Length", "2"), ("X-A", "1"), ("x-a", "2")], b"{}", True)
    assert read_answer(reader, "GET") == (404, "Not Found", [("Content-Length", "3")], b"abc", True)
    assert not reader.buffer


def test_chunked_with_extensions_and_trailers_split_across_reads(pair: tuple[socket.socket, socket.socket]) -> None:
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n"
           b"A\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n")
    assert answer(pair, raw, pieces=len(raw))[3:] == (b"abcd0123456789", True)


def test_interim_answers_are_skipped(pair: tuple[socket.socket, socket.socket]) -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx"
    assert answer(pair, raw)[0::3] == (201, b"x")


def test_folded_header_lines_continue_the_header(pair: tuple[socket.socket, socket.socket]) -> None:
    raw = b"HTTP/1.1 200 OK\r\nX-Long: one\r\n  two\r\nContent-Length: 0\r\n\r\n"
    assert answer(pair, raw)[2] == [("X-Long", "one two"), ("Content-Length", "0")]


@pytest.mark.parametrize("raw, keep", [
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", False),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", False),
    (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx", True),
    (b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Upgrade\r\nContent-Length: 1\r\n\r\nx", True)])
def test_whether_the_connection_is_kept(pair: tuple[socket.socket, socket.socket], raw: bytes, keep: bool) -> None:
    assert answer(pair, raw)[3:] == (b"x", keep)


def test_no_body_for_head_204_304_and_to_the_close_without_a_length(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    theirs.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
                   b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\n\r\nall of it")
    theirs.shutdown(socket.SHUT_WR)
    reader = Reader(ours)
    assert read_answer(reader, "HEAD")[3:] == (b"", True)
    assert read_answer(reader, "DELETE")[0::3] == (204, b"")
    assert read_answer(reader, "GET")[0::3] == (304, b"")
    assert read_answer(reader, "GET")[3:] == (b"all of it", False)


def test_another_transfer_coding_is_read_to_the_close(pair: tuple[socket.socket, socket.socket]) -> None:
    assert answer(pair, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw", close=True)[3:] == (b"raw", False)


@pytest.mark.parametrize("raw, why", [
    (b"", "without an answer"),
    (b"SSH-2.0-OpenSSH\r\n", "not an HTTP/1.x status line"),
    (b"HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP/1.x status line"),
    (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "switched protocols"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", "3 bytes before the end"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nab", "differing Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "not a number"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "not hexadecimal"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", "does not end where its size says"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n", "inside a chunked answer"),
    (b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "not a header line"),
    (b"HTTP/1.1 200 OK\r\n folded first\r\n\r\n", "first header line is a continuation"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n", "too long"),
    (b"HTTP/1.1 200 OK\r\n" + b"X: a\r\n" * 101 + b"\r\n", "more than 100 headers"),
    (b"HTTP/1.1 200 OK\r\nContent-Le", "inside a line")])
def test_a_broken_answer_is_an_error_that_says_why(pair: tuple[socket.socket, socket.socket], raw: bytes,
                                                   why: str) -> None:
    with pytest.raises(Broken, match=why) as caught:
        answer(pair, raw, close=True)
    assert "OpenSSH" not in str(caught.value) and "colon" not in str(caught.value)  # never what the server sent
