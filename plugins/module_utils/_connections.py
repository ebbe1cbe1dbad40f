# Internal to this collection: not a public API; may change without notice.
"""Keep-alive HTTP/1.1 connections, pooled per process and endpoint, for the collection's own requests.

The lean path (``_lean_http.LeanRequest``) sends a plain request here instead of through urllib3's pool when the
session uses the process's shared pool and nothing about the request needs urllib3: http:// or https:// with
certificate verification (the default CA bundle, a bundle file or a directory) and no client certificate, a body
that is bytes or text, and content codings this module can undo (gzip, deflate). Anything else goes through
urllib3 as before. What the two share: the same request line, headers and body on the wire, the same
``requests.Response`` and the same requests exceptions, mapped as ``HTTPAdapter.send`` maps urllib3's (a refused
connection is a ``ConnectionError`` whose reason is a ``NewConnectionError``, never sent; a connect timeout a
``ConnectTimeout``, never sent; a timeout waiting for the answer a ``ReadTimeout``, maybe sent; a dropped
connection or an answer that breaks HTTP/1.1 a ``ConnectionError`` whose argument is a ``ProtocolError``, maybe
sent; a TLS failure an ``SSLError``).

The messages are written and read by ``_http1.py`` (request line, headers, the answer's framing: sized, chunked or
to the close); this module keeps the connections: a socket (TLS by the standard library's ``ssl`` with its
default context: certificate and host name checked, TLS 1.2 or later), one per request in flight, given back after
the whole answer was read unless the server said it closes, never given back after an error. At most ``size``
requests are in flight to one endpoint at a time (more wait for one to finish, as urllib3's blocking pool of that
size made them wait), and at most ``size`` idle connections are kept per endpoint. A connection that has become
readable while idle (the server closed it, or sent something unasked) is closed instead of reused, as urllib3
checks before each reuse. A request is never sent twice here: a failure is the caller's to handle, exactly as with
urllib3 (``max_retries=0``).

Why: for the collection's small JSON requests, urllib3's pool, ``http.client``'s header parsing (the ``email``
package) and requests' response building cost more CPU than the exchange itself
(``benchmarks/http_request_cost.py``); a batch sends about 14 per key.
"""
from __future__ import annotations

import os
import select
import socket
import ssl
import threading
import zlib
from typing import Any, Optional

from . import _http1

try:
    from requests import exceptions as rq
    from requests.utils import DEFAULT_CA_BUNDLE_PATH
    from urllib3 import exceptions as u3
    HAS_REQUESTS = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_REQUESTS = False

#: content codings this module undoes (what it accepts from the server)
DECODED = frozenset({"gzip", "x-gzip", "deflate", "identity"})
_IDLE: dict[tuple[Any, ...], list[_http1.Reader]] = {}
_IN_FLIGHT: dict[tuple[Any, ...], threading.BoundedSemaphore] = {}
_LOCK = threading.Lock()
_CONTEXTS: dict[str, ssl.SSLContext] = {}


class Answer:
    """What came back: status, reason, the headers in order (repeated names as sent) and the decoded body."""

    __slots__ = ("status", "reason", "headers", "body")

    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.reason, self.headers, self.body = status, reason, headers, body


def can_send(scheme: str, verify: Any, cert: Any, body: Any) -> bool:
    """May this request go this way (module docstring)?"""
    if scheme == "http":
        return body is None or isinstance(body, (bytes, str))
    return (scheme == "https" and cert is None and (verify is True or (isinstance(verify, str) and bool(verify)))
            and (body is None or isinstance(body, (bytes, str))))


def accepts_only_decoded(accept_encoding: Optional[str]) -> bool:
    """Does the request's Accept-Encoding name only codings this module undoes (no header: identity)?"""
    if accept_encoding is None:
        return True
    for item in accept_encoding.split(","):
        coding = item.split(";", 1)[0].strip().lower()
        if coding and coding not in DECODED:
            return False
    return True


def send(method: str, scheme: str, host: str, port: int, path: str, headers: Any, body: Any,
         timeouts: tuple[Optional[float], Optional[float]], verify: Any, size: int) -> Answer:
    """Send one request on a kept or new connection to ``scheme://host:port`` and read the whole answer.

    ``headers`` are sent as given (name -> value, in order); ``timeouts`` is (connect, read) in seconds or None;
    ``size``: the most requests in flight to the endpoint and the most idle connections kept for it.
    Raises the requests exception ``HTTPAdapter.send`` would raise (module docstring).
    """
    key = (scheme, host, port, verify if scheme == "https" else None)
    with _LOCK:
        slots = _IN_FLIGHT.get(key) or _IN_FLIGHT.setdefault(key, threading.BoundedSemaphore(max(1, size)))
    with slots:
        return _exchange(key, method, path, headers, body, timeouts, size)


def _exchange(key: tuple[Any, ...], method: str, path: str, headers: Any, body: Any,
              timeouts: tuple[Optional[float], Optional[float]], size: int) -> Answer:
    scheme, host, port, _verify = key
    message = _http1.request_bytes(method, host, port, 443 if scheme == "https" else 80, path, headers, body)
    connection = _kept(key)
    connect, read = timeouts
    if connection is None:
        connection = _connect(key, path, connect)
    try:
        connection.sock.settimeout(read)
        connection.sock.sendall(message)
        status, reason, pairs, raw, keep = _http1.read_answer(connection, method)
    except (socket.timeout, TimeoutError) as exc:
        connection.sock.close()
        raise rq.ReadTimeout(u3.ReadTimeoutError(None, path, f"Read timed out. (read timeout={read})")) from exc
    except (OSError, _http1.Broken) as exc:
        connection.sock.close()
        if isinstance(exc, ssl.SSLError):
            raise rq.SSLError(u3.SSLError(exc)) from exc
        raise rq.ConnectionError(u3.ProtocolError("Connection aborted.", exc)) from exc
    except BaseException:
        connection.sock.close()
        raise
    if keep:
        _give_back(key, connection, size)
    else:
        connection.sock.close()
    return Answer(status, reason, pairs, _decoded(raw, pairs))


def _kept(key: tuple[Any, ...]) -> Optional[_http1.Reader]:
    """The most recently used idle connection to the endpoint that is still quiet; the others are closed."""
    while True:
        with _LOCK:
            idle = _IDLE.get(key)
            if not idle:
                return None
            connection = idle.pop()
        if not connection.buffer and not _readable(connection.sock):
            return connection
        connection.sock.close()


def _give_back(key: tuple[Any, ...], connection: _http1.Reader, max_idle: int) -> None:
    with _LOCK:
        idle = _IDLE.setdefault(key, [])
        if len(idle) < max_idle:
            idle.append(connection)
            return
    connection.sock.close()


def _readable(sock: socket.socket) -> bool:
    """Has an idle connection something to read (the server closed it, or sent what nobody asked for)?"""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])  # pragma: no cover - platforms without poll


def _connect(key: tuple[Any, ...], path: str, timeout: Optional[float]) -> _http1.Reader:
    """A new connection (TCP, then TLS for https, both within the connect timeout), with Nagle off."""
    scheme, host, port, verify = key
    sock = None
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if scheme == "https":
            sock = _context(verify).wrap_socket(sock, server_hostname=host)
    except ssl.SSLError as exc:
        _close(sock)
        raise rq.SSLError(u3.MaxRetryError(None, path, u3.SSLError(exc))) from exc
    except (socket.timeout, TimeoutError) as exc:
        _close(sock)
        raise rq.ConnectTimeout(u3.MaxRetryError(None, path, u3.ConnectTimeoutError(
            f"Connection to {host} timed out. (connect timeout={timeout})"))) from exc
    except OSError as exc:
        _close(sock)
        raise rq.ConnectionError(u3.MaxRetryError(None, path, u3.NewConnectionError(
            f"{host}:{port}", f"Failed to establish a new connection: {exc}"))) from exc  # type: ignore[arg-type]
    return _http1.Reader(sock)


def _close(sock: Optional[socket.socket]) -> None:
    if sock is not None:
        sock.close()


def _context(verify: Any) -> ssl.SSLContext:
    """One TLS client context per trust setting: the system's defaults (certificate and host name checked,
    TLS 1.2 or later) trusting requests' CA bundle, or the bundle file or directory given."""
    where = DEFAULT_CA_BUNDLE_PATH if verify is True else verify
    with _LOCK:
        context = _CONTEXTS.get(where)
        if context is None:
            if os.path.isdir(where):
                context = ssl.create_default_context(capath=where)
            else:
                context = ssl.create_default_context(cafile=where)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            _CONTEXTS[where] = context
        return context


def _decoded(raw: bytes, pairs: list[tuple[str, str]]) -> bytes:
    """The body with its content codings undone, last applied first; a coding not in DECODED leaves it as sent."""
    codings = [item.strip().lower() for name, value in pairs if name.lower() == "content-encoding"
               for item in value.split(",") if item.strip()]
    if not raw or not codings or any(coding not in DECODED for coding in codings):
        return raw
    try:
        for coding in reversed(codings):
            if coding in ("gzip", "x-gzip"):
                raw = zlib.decompress(raw, 16 + zlib.MAX_WBITS)
            elif coding == "deflate":
                try:
                    raw = zlib.decompress(raw)
                except zlib.error:
                    raw = zlib.decompress(raw, -zlib.MAX_WBITS)  # raw deflate, as some servers send it
    except zlib.error as exc:
        raise rq.ContentDecodingError(u3.DecodeError("Received response with content-encoding, but failed to decode it.", exc)) from exc
    return raw


def forget() -> None:
    """In a forked child, or for a test: drop every kept connection (a child never uses its parent's sockets)."""
    global _LOCK  # pylint: disable=global-statement
    _LOCK = threading.Lock()
    _IDLE.clear()
    _IN_FLIGHT.clear()  # a semaphore may have been held by a parent's thread that the child does not have
