"""Shared base of the provider emulators: requests, responses, routing, state.

An :class:`Emulator` is the provider's state and API, free of HTTP plumbing;
``_server.py`` serves it (plus the test-only control API of ``_control.py``)
over a real socket.
"""

from __future__ import annotations

import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from http import HTTPStatus
from typing import Any, ClassVar


def iso_now() -> str:
    """Current UTC time as ISO 8601 with milliseconds, e.g. ``2026-11-26T00:31:10.255Z``."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def reason(status: int) -> str:
    """Lower-case reason phrase of an HTTP status, e.g. ``too many requests``."""
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "error"


class BadJson(ValueError):
    """The request body is not valid JSON."""


@dataclass
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Message
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else str(value)

    def json(self) -> Any:
        """The JSON body, or None when the body is empty."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadJson(str(exc)) from None


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


RouteHandler = Callable[[Request], Response]


class Router:
    """Regex routes; path parameters land in ``Request.params``."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], RouteHandler]] = []

    def add(self, method: str, pattern: str, handler: RouteHandler) -> None:
        self._routes.append((method, re.compile(f"^{pattern}$"), handler))

    def dispatch(self, req: Request, error: Callable[[int, str], Response]) -> Response:
        path_known = False
        for method, pattern, handler in self._routes:
            found = pattern.match(req.path)
            if found is None:
                continue
            path_known = True
            if method == req.method:
                req.params.update(found.groupdict())
                return handler(req)
        if path_known:
            return error(405, "Method not allowed")
        return error(404, "Not found")


class ControlError(ValueError):
    """A control-API request is invalid (answered with 400)."""


class Emulator(ABC):
    """A provider emulator. All state changes happen under ``self.lock``."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self.lock = threading.RLock()

    def dispatch(self, req: Request) -> Response:
        """Answer one provider-API request (the control API is handled elsewhere)."""
        with self.lock:
            return self.handle(req)

    @abstractmethod
    def handle(self, req: Request) -> Response:
        """Answer one provider-API request; called with the lock held."""

    @abstractmethod
    def error(self, status: int, message: str) -> Response:
        """An error response in the provider's own format."""

    @abstractmethod
    def reset(self) -> None:
        """Back to the start-up state (admin credentials are kept)."""

    @abstractmethod
    def list_keys(self) -> list[dict[str, Any]]:
        """All keys, revoked ones included, WITHOUT secrets (control API)."""

    @abstractmethod
    def seed(self, body: Any) -> dict[str, Any]:
        """Create a key bypassing auth; returns it WITH its secret (control API)."""

    def configure(self, body: Any) -> dict[str, Any]:
        """Change settings at run time (control API); none by default."""
        raise ControlError(f"{self.name} has no run-time settings")

    def fault_response(self, status: int, retry_after: int | None) -> Response:
        """The answer to an injected fault."""
        resp = self.error(status, reason(status))
        if retry_after is not None:
            resp.headers["Retry-After"] = str(retry_after)
        return resp
