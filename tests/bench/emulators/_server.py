"""HTTP plumbing: serve an :class:`Emulator` on a real socket.

The handler uses HTTP/1.1 keep-alive with a 64 KiB write buffer and
TCP_NODELAY, so headers and body leave in one segment: without that, keep-alive
clients stall ~40 ms per request on delayed ACKs (see TOOLCHAIN.md).

Request logging goes to the ``tests.bench.emulators`` logger at INFO: method,
path (never the query string), status. Headers and bodies are never logged.

Besides the control API of ``_control.py``, ``GET /__emulator/faults/fired``
answers how often injected faults fired since the emulator started
(``{"total": n, "by_match": {"<match>": n}}``), so a test can tell that its
fault was really hit and not merely armed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

from .._service import KeepAliveServer, Stoppable
from ._base import Emulator, Request, Response
from ._control import PREFIX, CallLog, handle_control
from ._faults import FaultBook

FIRED = PREFIX + "faults/fired"

log = logging.getLogger("tests.bench.emulators")
log.addHandler(logging.NullHandler())  # never fall back to printing on stderr

E = TypeVar("E", bound=Emulator)

MAX_BODY = 1 << 20


class EmulatorServer(KeepAliveServer):
    """A threading HTTP server bound to one emulator, with faults and a call log."""

    def __init__(self, app: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.faults = FaultBook()
        self.calls = CallLog()
        super().__init__((host, port), EmulatorHandler)

    def answer(self, req: Request) -> Response | None:
        """The response to ``req``; None means drop the connection."""
        if (req.method, req.path.rstrip("/")) == ("GET", FIRED):
            return Response(200, self.faults.fired())
        if req.path.startswith(PREFIX):
            return handle_control(self.app, self.faults, self.calls, req)
        self.calls.record(req.method, req.path)
        fault = self.faults.take(req.method, req.path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                return None
            if fault.lose_answer:
                self.app.dispatch(req)  # applied for real; the answer never leaves
                return None
            if fault.status is not None:
                resp = self.app.fault_response(fault.status, fault.retry_after)
                if fault.echo_auth:  # like APIs that quote the credential they refuse
                    resp.body = self.app.error(fault.status, "rejected credentials: " + _credentials(req)).body
                return resp
        return self.app.dispatch(req)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.info("%s connection error", self.app.name, exc_info=True)


def _credentials(req: Request) -> str:
    sent = [f"{name}: {value}" for name, value in req.headers.items()
            if name.lower() in ("authorization", "kong-admin-token", "apikey", "x-api-key")]
    return "; ".join(sent) or "none"


class EmulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server_version = "bench-emulator"
    sys_version = ""
    server: EmulatorServer

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._send(Response(411, {"error": "send a Content-Length"}))
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._send(Response(400, {"error": "bad Content-Length"}))
            return
        req = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query),
            headers=self.headers,
            body=self.rfile.read(length) if length else b"",
        )
        try:
            resp = self.server.answer(req)
        except Exception:  # a bug in an emulator: answer 500, keep serving
            log.exception("%s %s %s failed", self.server.app.name, req.method, req.path)
            resp = self.server.app.error(500, "internal server error")
        if resp is None:
            self._drop()
        else:
            self._send(resp)

    def _send(self, resp: Response) -> None:
        raw = isinstance(resp.body, bytes)  # already encoded (gateway /metrics); resp.headers names its type
        payload = resp.body if raw else b"" if resp.body is None else json.dumps(resp.body).encode()
        self.send_response(resp.status)
        if resp.body is not None and not raw:
            self.send_header("Content-Type", "application/json")
        if resp.status not in (204, 304):
            self.send_header("Content-Length", str(len(payload)))
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # Logging: method, path and status only; never headers, bodies or queries.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(getattr(self, "path", "")).path
        log.info("%s %s %s %s", self.server.app.name, self.command, path, code)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        log.info("%s request error (details suppressed)", self.server.app.name)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


class RunningEmulator(Stoppable, Generic[E]):
    """An emulator served from a background thread of this process."""

    def __init__(self, app: E, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.server = EmulatorServer(app, host, port)
        self.server.serve_in_background(f"emulator-{app.name}")

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.stop()


def serve_in_thread(app: E, host: str = "127.0.0.1", port: int = 0) -> RunningEmulator[E]:
    """Serve ``app`` from a daemon thread; port 0 lets the OS pick one."""
    return RunningEmulator(app, host, port)
