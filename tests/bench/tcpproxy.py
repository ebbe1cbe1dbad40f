"""A TCP proxy on 127.0.0.1 that a test can take down and bring back, or have lose answers.

* ``down()`` stops listening and cuts every open connection (clients then get "connection
  refused"); ``up()`` listens again on the same port: a store that is "down".
* ``lose_answers(count, methods, prefix)``: the next ``count`` HTTP requests whose method is one of
  ``methods`` and whose path starts with ``prefix`` are forwarded whole to the upstream; as soon as
  the upstream's answer starts, the client's connection is closed and none of the answer is
  forwarded. The server applied the request, the client never learns it: a lost answer.
  ``lost_answers`` counts the answers lost so far, so a test can assert that the fault fired.

The client-to-upstream direction is read as HTTP/1.x (request line, headers, ``Content-Length``
body; a keep-alive connection carries several requests, one after the other), so that each
request is seen whole; ``requests`` is the log of what was forwarded (method and path only).
Anything that is not such a request (a chunked body, a protocol that is not HTTP) is copied as it
is from there on, and is never lost. Bytes are forwarded unchanged; nothing is logged.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._service import Stoppable

MAX_HEAD = 64 * 1024


@dataclass
class _LoseRule:
    count: int
    methods: frozenset[str]
    prefix: str

    def matches(self, method: str, path: str) -> bool:
        return ("*" in self.methods or method in self.methods) and path.startswith(self.prefix)


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.lose_next_answer = False

    def close(self) -> None:
        for sock in (self.client, self.upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


class TcpProxy(Stoppable):
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._links: set[_Link] = set()
        self._rules: list[_LoseRule] = []
        self._lost = 0
        self._requests: list[tuple[str, str]] = []
        self.up()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def listening(self) -> bool:
        """False between ``down()`` and ``up()``."""
        with self._lock:
            return self._listener is not None

    # -- faults ---------------------------------------------------------------------

    def lose_answers(self, count: int = 1, methods: str | tuple[str, ...] = ("POST", "PUT"),
                     prefix: str = "/") -> None:
        """Lose the answers to the next ``count`` requests matching ``methods`` (or ``"*"``) and ``prefix``."""
        if count < 1:
            raise ValueError("count must be at least 1")
        wanted = frozenset((methods,) if isinstance(methods, str) else methods)
        with self._lock:
            self._rules.append(_LoseRule(count, wanted, prefix))

    def keep_answers(self) -> None:
        """Disarm every pending ``lose_answers``."""
        with self._lock:
            self._rules.clear()

    @property
    def lost_answers(self) -> int:
        """How many answers were lost so far (the upstream answered, the client got nothing)."""
        with self._lock:
            return self._lost

    @property
    def armed(self) -> int:
        """How many answers are still to be lost."""
        with self._lock:
            return sum(rule.count for rule in self._rules)

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Every HTTP request forwarded so far, as (method, path), in order."""
        with self._lock:
            return list(self._requests)

    def _take(self, method: str, path: str) -> bool:
        with self._lock:
            self._requests.append((method, path))
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                    return True
        return False

    # -- up and down ---------------------------------------------------------------------

    def up(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(64)
            self.port = listener.getsockname()[1]
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            links, self._links = self._links, set()
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for link in links:
            link.close()

    def stop(self) -> None:
        self.down()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _addr = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            link = _Link(client, upstream)
            with self._lock:
                if self._listener is not listener:
                    link.close()
                    return
                self._links.add(link)
            threading.Thread(target=self._forward_requests, args=(link,), daemon=True).start()
            threading.Thread(target=self._forward_answers, args=(link,), daemon=True).start()

    def _end(self, link: _Link) -> None:
        link.close()
        with self._lock:
            self._links.discard(link)

    # -- the two directions -----------------------------------------------------------------

    def _forward_requests(self, link: _Link) -> None:
        """Client to upstream, one whole HTTP request at a time; raw bytes when it is not HTTP."""
        buffer = bytearray()
        try:
            while True:
                request = _next_request(link.client, buffer)
                if request is None:
                    break
                if isinstance(request, bytes):  # not (or no longer) plain HTTP: copy the rest as it is
                    link.upstream.sendall(request)
                    _copy(link.client, link.upstream)
                    break
                method, path, whole = request
                if self._take(method, path):
                    link.lose_next_answer = True
                link.upstream.sendall(whole)
        except OSError:
            pass
        finally:
            self._end(link)

    def _forward_answers(self, link: _Link) -> None:
        """Upstream to client; an answer to be lost closes both connections at its first byte."""
        try:
            while True:
                data = link.upstream.recv(65536)
                if not data:
                    break
                if link.lose_next_answer:
                    with self._lock:
                        self._lost += 1
                    break
                link.client.sendall(data)
        except OSError:
            pass
        finally:
            self._end(link)


def _copy(src: socket.socket, dst: socket.socket) -> None:
    while True:
        data = src.recv(65536)
        if not data:
            return
        dst.sendall(data)


def _next_request(sock: socket.socket, buffer: bytearray) -> tuple[str, str, bytes] | bytes | None:
    """Read the next whole HTTP request from ``sock`` (``buffer`` keeps what was read beyond it).

    Returns (method, path, the request's bytes); or bytes to be copied as they are, when the stream
    is not a plain HTTP/1.x request with a ``Content-Length`` (or no) body; or None at the end.
    """
    while b"\r\n\r\n" not in buffer:
        if len(buffer) > MAX_HEAD:
            return _rest(buffer)
        data = sock.recv(65536)
        if not data:
            return _rest(buffer) or None
        buffer += data
    head_end = buffer.index(b"\r\n\r\n") + 4
    lines = bytes(buffer[:head_end]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return _rest(buffer)
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if "transfer-encoding" in headers:
        return _rest(buffer)
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        return _rest(buffer)
    if length < 0:
        return _rest(buffer)
    while len(buffer) < head_end + length:
        data = sock.recv(65536)
        if not data:
            return _rest(buffer) or None
        buffer += data
    whole = bytes(buffer[:head_end + length])
    del buffer[:head_end + length]
    return parts[0], urlsplit(parts[1]).path, whole


def _rest(buffer: bytearray) -> bytes:
    rest = bytes(buffer)
    buffer.clear()
    return rest
