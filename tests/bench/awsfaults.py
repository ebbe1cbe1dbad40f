"""An HTTP proxy in front of moto that injects faults into named AWS JSON operations (``X-Amz-Target``).

AWS's JSON APIs (Secrets Manager) send every call as ``POST /``: a TCP proxy cannot tell them apart. This one
reads the operation and, per rule, answers with an AWS error (``ThrottlingException`` 400, a 5xx) without
forwarding, or forwards and loses the answer (closes the connection), or refuses every connection (``down``).
Requests are forwarded unchanged (the ``Host`` header too), so SigV4 signatures stay valid.

    with AwsFaultProxy(moto.url) as proxy:
        proxy.add("PutSecretValue", status=400, code="ThrottlingException", count=2)
        ...  # endpoint_url=proxy.url
        assert proxy.fired("PutSecretValue") == 2
"""
from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import urlparse

from ._service import Stoppable


@dataclass
class Rule:
    operation: str
    count: int
    status: int = 0
    code: str = ""
    lose_answer: bool = False


class AwsFaultProxy(Stoppable):
    def __init__(self, target_url: str) -> None:
        target = urlparse(target_url)
        self.target = (target.hostname or "127.0.0.1", target.port or 80)
        self.rules: list[Rule] = []
        self.counts: dict[str, int] = {}
        self.is_down = False
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                proxy.handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 # pylint: disable=redefined-builtin
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, operation: str, *, count: int = 1, status: int = 0, code: str = "",
            lose_answer: bool = False) -> None:
        with self._lock:
            self.rules.append(Rule(operation, count, status, code, lose_answer))

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.is_down = False

    def fired(self, operation: str) -> int:
        with self._lock:
            return self.counts.get(operation, 0)

    def down(self) -> None:
        """Every request from now on gets its connection closed unanswered, unforwarded (store unreachable)."""
        self.is_down = True

    def _take(self, operation: str) -> Optional[Rule]:
        with self._lock:
            for rule in self.rules:
                if rule.operation == operation and rule.count > 0:
                    rule.count -= 1
                    self.counts[operation] = self.counts.get(operation, 0) + 1
                    return rule
        return None

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        if self.is_down:
            request.close_connection = True
            return
        operation = str(request.headers.get("X-Amz-Target", "")).rsplit(".", 1)[-1]
        rule = self._take(operation)
        if rule is not None and not rule.lose_answer:
            error = json.dumps({"__type": rule.code, "message": f"injected by the bench ({rule.code})"}).encode()
            request.send_response(rule.status)
            request.send_header("Content-Type", "application/x-amz-json-1.1")
            request.send_header("x-amzn-ErrorType", rule.code)
            request.send_header("Content-Length", str(len(error)))
            request.end_headers()
            request.wfile.write(error)
            return
        upstream = http.client.HTTPConnection(*self.target, timeout=30)
        try:
            upstream.request("POST", request.path, body=body, headers=dict(request.headers.items()))
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        if rule is not None:  # forwarded and carried out; the answer is lost
            request.close_connection = True
            return
        request.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
