"""Fault injection for the emulators: the next N matching requests misbehave."""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

_MATCH = re.compile(r"^(?P<method>\*|[A-Z]+) (?P<prefix>/\S*)$")


class FaultSpecError(ValueError):
    """The body of ``POST /__emulator/faults`` is invalid."""


@dataclass
class Fault:
    """What to do to the next ``count`` requests matching ``match``.

    ``match`` is ``"<METHOD> <path-prefix>"``; METHOD may be ``*``. A fault
    first sleeps ``delay`` seconds, then drops the connection (``drop``), or
    answers ``status`` (with ``Retry-After: retry_after`` if set), or applies
    the request and drops the connection without any answer (``lose_answer``:
    the key really is created or deleted, the client never learns it), or, with
    none of these, lets the request through (a pure delay). ``echo_auth`` (with
    ``status``): the error body quotes the request's credential headers
    (``Authorization``, ``Kong-Admin-Token``, ``apikey``), as some real APIs do.
    """

    match: str
    status: int | None = None
    count: int = 1
    delay: float = 0.0
    drop: bool = False
    retry_after: int | None = None
    lose_answer: bool = False
    echo_auth: bool = False

    def matches(self, method: str, path: str) -> bool:
        found = _MATCH.match(self.match)
        assert found is not None  # validated in from_json
        return found["method"] in ("*", method) and path.startswith(found["prefix"])

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, body: Any) -> Fault:
        if not isinstance(body, dict):
            raise FaultSpecError("body must be a JSON object")
        unknown = set(body) - {"match", "status", "count", "delay", "drop", "retry_after", "lose_answer", "echo_auth"}
        if unknown:
            raise FaultSpecError(f"unknown fields: {sorted(unknown)}")
        match = body.get("match")
        if not isinstance(match, str) or not _MATCH.match(match):
            raise FaultSpecError('match must look like "POST /v3/api_keys" or "* /"')
        fault = cls(
            match=match,
            status=_opt_int(body, "status", 100, 599),
            count=_opt_int(body, "count", 1, None) or 1,
            delay=_delay(body.get("delay", 0)),
            drop=_bool(body.get("drop", False), "drop"),
            retry_after=_opt_int(body, "retry_after", 0, None),
            lose_answer=_bool(body.get("lose_answer", False), "lose_answer"),
            echo_auth=_bool(body.get("echo_auth", False), "echo_auth"),
        )
        if fault.status is None and not fault.drop and not fault.lose_answer and fault.delay == 0:
            raise FaultSpecError("give at least one of status, drop, lose_answer, delay")
        if fault.lose_answer and (fault.drop or fault.status is not None):
            raise FaultSpecError("lose_answer applies the request: it goes with neither drop nor status")
        if fault.echo_auth and fault.status is None:
            raise FaultSpecError("echo_auth needs status")
        if fault.retry_after is not None and fault.status is None:
            raise FaultSpecError("retry_after needs status")
        return fault


def _opt_int(body: dict[str, Any], name: str, low: int, high: int | None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultSpecError(f"{name} must be an integer")
    if value < low or (high is not None and value > high):
        raise FaultSpecError(f"{name} out of range")
    return value


def _delay(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 60:
        raise FaultSpecError("delay must be a number of seconds between 0 and 60")
    return float(value)


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise FaultSpecError(f"{name} must be a boolean")
    return value


class FaultBook:
    """Pending faults, first added first used, and how often faults fired. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._fired: Counter[str] = Counter()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching this request."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    self._fired[fault.match] += 1
                    return fault
        return None

    def fired(self) -> dict[str, Any]:
        """How often faults fired since the emulator started (never reset), in total and per ``match``."""
        with self._lock:
            return {"total": sum(self._fired.values()), "by_match": dict(self._fired)}

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.to_json() for fault in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
