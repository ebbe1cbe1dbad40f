"""The test-only control API under ``/__emulator/`` (NOT part of any provider's API).

No authentication: it exists only on the bench's loopback servers.

===================================  =============================================
``GET /__emulator/health``           ``{"ok": true, "emulator": <name>}``
``GET /__emulator/keys``             list of keys, revoked ones included, no secrets
``POST /__emulator/reset``           back to start-up state; clears faults and calls
``POST /__emulator/faults``          add a fault (see ``_faults.Fault``) -> 201; with
                                     ``echo_auth: true`` its error body quotes the request's
                                     credential headers (Authorization...), as some APIs do
``GET|DELETE /__emulator/faults``    pending faults / remove them all
``GET /__emulator/faults/fired``     ``{"total", "by_match"}``: faults met so far (never reset;
                                     served by ``_server``)
``GET|DELETE /__emulator/calls``     ``{"METHOD /path": count}`` / zero the counts
``POST /__emulator/seed``            create a key bypassing auth, secret included
``POST /__emulator/config``          run-time settings (sendgrid: ``key_limit``,
                                     ``get_key_shape``; gateway: ``next_keys``)
===================================  =============================================
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from ._base import BadJson, ControlError, Emulator, Request, Response
from ._faults import Fault, FaultBook, FaultSpecError

PREFIX = "/__emulator/"


class CallLog:
    """Requests seen per ``"METHOD /path"`` (control API excluded). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self._counts[f"{method} {path}"] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


def _ok(body: Any, status: int = 200) -> Response:
    return Response(status, body)


def handle_control(app: Emulator, faults: FaultBook, calls: CallLog, req: Request) -> Response:
    """Answer a request whose path starts with :data:`PREFIX`."""
    action = (req.method, req.path[len(PREFIX) :].rstrip("/"))
    try:
        if action == ("GET", "health"):
            return _ok({"ok": True, "emulator": app.name})
        if action == ("GET", "keys"):
            with app.lock:
                return _ok(app.list_keys())
        if action == ("POST", "reset"):
            with app.lock:
                app.reset()
            faults.clear()
            calls.clear()
            return _ok({"ok": True})
        if action == ("POST", "faults"):
            fault = Fault.from_json(req.json())
            faults.add(fault)
            return _ok({"ok": True, "fault": fault.to_json()}, 201)
        if action == ("GET", "faults"):
            return _ok(faults.pending())
        if action == ("DELETE", "faults"):
            faults.clear()
            return _ok({"ok": True})
        if action == ("GET", "calls"):
            return _ok(calls.snapshot())
        if action == ("DELETE", "calls"):
            calls.clear()
            return _ok({"ok": True})
        if action == ("POST", "seed"):
            with app.lock:
                return _ok(app.seed(req.json() or {}), 201)
        if action == ("POST", "config"):
            with app.lock:
                return _ok(app.configure(req.json() or {}))
    except (BadJson, ControlError, FaultSpecError) as exc:
        return Response(400, {"error": str(exc)})
    return Response(404, {"error": f"no control endpoint {req.method} {req.path}"})
