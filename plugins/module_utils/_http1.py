# Internal to this collection: not a public API; may change without notice.
"""HTTP/1.1 messages on one connection (RFC 9112): the request's bytes out, the answer's status, headers and body in.

Used by ``_connections.py`` for the collection's small JSON requests. What it does, as ``http.client`` does it:

* the request: ``METHOD path HTTP/1.1``, ``Host`` (the port when not the scheme's default, an IPv6 address in
  brackets) unless given, the headers as given (text as Latin-1, as ``http.client`` sends it), ``Accept-Encoding:
  identity`` when none is given, ``Content-Length`` for a body (0 for a POST, PUT or PATCH without one) unless
  given; a method that is not a token, or a path or header with a control character, is refused before sending;
* the answer: interim 1xx answers are skipped (a 101 is an error: nothing here asks to switch protocols); the
  body is empty for HEAD, 204, 304; else chunked (extensions and trailers read and dropped) when chunked is the last
  transfer coding, else read to the close for any other transfer coding, else ``Content-Length`` bytes (several
  differing or a non-number: an error), else read to the close; the connection is kept unless the answer says
  ``Connection: close``, is HTTP/1.0 without ``keep-alive``, or ends at the close;
* limits: a line of at most 65,536 bytes, at most 100 header lines (``http.client``'s); a folded header line
  (obs-fold) continues the header before it.

Failures raise ``Broken`` (the exchange cannot go on; the caller closes the connection) or ``socket.timeout`` /
``OSError`` from the socket. Nothing here retries or writes a request twice. No error text quotes what the server
sent or a header value (an answer may echo a credential; these texts reach error messages).
"""
from __future__ import annotations

import re
import socket
from typing import Any, Optional

MAX_LINE = 65536
MAX_HEADERS = 100
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Broken(Exception):
    """The answer breaks HTTP/1.1, or the connection ended before it was whole (the request may have been sent)."""


def request_bytes(method: str, host: str, port: int, default_port: int, path: str, headers: Any,
                  body: Optional[bytes]) -> bytes:
    """The request's head and body as one buffer (module docstring); ValueError for what may not be sent."""
    if not _TOKEN.match(method):
        raise ValueError(f"method {method!r} is not an HTTP token")
    if _CONTROL.search(path):
        raise ValueError("the URL path holds a control character or a space")
    names = set()
    lines = []
    for name, value in headers.items():
        raw_name = name.encode("ascii") if isinstance(name, str) else bytes(name)
        raw_value = value.encode("latin-1") if isinstance(value, str) else bytes(value)
        if not _TOKEN.match(raw_name.decode("ascii", "replace")) or _BAD_VALUE.search(raw_value):
            raise ValueError("a header name or value holds a character HTTP does not allow")  # never echo the value
        names.add(raw_name.lower())
        lines.append(raw_name + b": " + raw_value)
    head = [f"{method} {path} HTTP/1.1".encode("ascii")]
    if b"host" not in names:
        shown = f"[{host}]" if ":" in host else host
        head.append(b"Host: " + (shown if port == default_port else f"{shown}:{port}").encode("ascii"))
    if b"accept-encoding" not in names:
        head.append(b"Accept-Encoding: identity")
    if b"content-length" not in names and b"transfer-encoding" not in names:
        if body is not None:
            head.append(b"Content-Length: %d" % len(body))
        elif method.upper() in _BODY_METHODS:
            head.append(b"Content-Length: 0")
    return b"\r\n".join(head + lines) + b"\r\n\r\n" + (body or b"")


class Reader:
    """The receiving side of one connection, with the bytes received and not yet used."""

    __slots__ = ("sock", "buffer")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def line(self) -> bytes:
        """One line with its end; b"" when the connection ended before any byte of it."""
        start = 0
        while True:
            end = self.buffer.find(b"\n", start)
            if end >= 0:
                if end >= MAX_LINE:
                    raise Broken("a line of the answer is too long")
                found = bytes(self.buffer[:end + 1])
                del self.buffer[:end + 1]
                return found
            if len(self.buffer) > MAX_LINE:
                raise Broken("a line of the answer is too long")
            start = len(self.buffer)
            if not self._fill():
                if self.buffer:
                    raise Broken("the connection ended inside a line of the answer")
                return b""

    def exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            if not self._fill():
                raise Broken(f"the connection ended {count - len(self.buffer)} bytes before the end of the answer")
        found = bytes(self.buffer[:count])
        del self.buffer[:count]
        return found

    def to_the_end(self) -> bytes:
        while self._fill():
            pass
        found = bytes(self.buffer)
        self.buffer.clear()
        return found


def read_answer(reader: Reader, method: str) -> tuple[int, str, list[tuple[str, str]], bytes, bool]:
    """(status, reason, headers in order, body as sent, keep the connection) for the request just sent."""
    while True:
        line = reader.line()
        if not line:
            raise Broken("the server closed the connection without an answer")
        version, status, reason = _status_line(line)
        headers = _headers(reader)
        if status == 101:
            raise Broken("the server switched protocols, which nothing here asked for")
        if status >= 200:
            break
    values = _joined(headers)
    keep = _keeps(version, values.get("connection", ""))
    codings = [item.strip().lower() for item in values.get("transfer-encoding", "").split(",") if item.strip()]
    if method == "HEAD" or status in (204, 304):
        body = b""
    elif codings:
        if codings[-1] == "chunked":
            body = _chunked(reader)
        else:
            body, keep = reader.to_the_end(), False
    elif "content-length" in values:
        body = reader.exactly(_length(values["content-length"]))
    else:
        body, keep = reader.to_the_end(), False
    return status, reason, headers, body, keep


def _status_line(line: bytes) -> tuple[str, int, str]:
    text = line.decode("iso-8859-1").rstrip("\r\n")
    parts = text.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
        raise Broken("not an HTTP/1.x status line")
    return parts[0], int(parts[1]), (parts[2] if len(parts) > 2 else "").strip()


def _headers(reader: Reader) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    while True:
        line = reader.line()
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise Broken("the connection ended inside the answer's headers")
        if len(headers) >= MAX_HEADERS:
            raise Broken(f"the answer has more than {MAX_HEADERS} headers")
        text = line.decode("iso-8859-1").rstrip("\r\n")
        if text[:1] in (" ", "\t"):
            if not headers:
                raise Broken("the answer's first header line is a continuation")
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {text.strip()}".strip())
            continue
        name, colon, value = text.partition(":")
        if not colon or not name or name != name.strip():
            raise Broken("not a header line")
        headers.append((name, value.strip(" \t")))


def _joined(headers: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        values[lower] = f"{values[lower]}, {value}" if lower in values else value
    return values


def _keeps(version: str, connection: str) -> bool:
    tokens = {item.strip().lower() for item in connection.split(",")}
    if "close" in tokens:
        return False
    return version != "HTTP/1.0" or "keep-alive" in tokens


def _length(value: str) -> int:
    found = {item.strip() for item in value.split(",")}
    if len(found) != 1:
        raise Broken("the answer has differing Content-Length values")
    length = found.pop()
    if not length.isdigit() or not length.isascii():
        raise Broken("the answer's Content-Length is not a number")
    return int(length)


def _chunked(reader: Reader) -> bytes:
    pieces = []
    while True:
        line = reader.line()
        if not line:
            raise Broken("the connection ended inside a chunked answer")
        size = line.split(b";", 1)[0].strip()
        if not size or any(byte not in b"0123456789abcdefABCDEF" for byte in size):
            raise Broken("a chunk size of the answer is not hexadecimal")
        count = int(size, 16)
        if count == 0:
            break
        pieces.append(reader.exactly(count))
        if reader.line() not in (b"\r\n", b"\n"):
            raise Broken("a chunk of the answer does not end where its size says")
    for _trailer in range(MAX_HEADERS + 1):  # trailer fields, then the empty line
        line = reader.line()
        if line in (b"\r\n", b"\n"):
            return b"".join(pieces)
        if not line:
            raise Broken("the connection ended inside the chunked answer's trailer")
    raise Broken(f"the answer's trailer has more than {MAX_HEADERS} lines")
