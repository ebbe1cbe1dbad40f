"""A fleet of API-key consumers: evidence of which key version is in use.

:func:`start_consumers` serves, from a thread of this process, what the
applications that use API keys would expose:

* ``GET /metrics`` - Prometheus text exposition format 0.0.4 with one counter,
  ``app_api_key_requests_total{consumer="app-1",key_id="<id>"}``: requests a
  consumer made with that key. A series appears on a key's first use (as with
  the usual client libraries), so its first sample is already > 0.
* ``GET /key-versions`` - the "http" evidence source::

      {"consumers": [{"name": "app-1", "key_id": "...",
                      "updated_at": "2026-11-26T00:31:10.255Z"}]}

  ``updated_at`` is when the consumer started holding that key (using or
  holding the same key again leaves it unchanged). Sorted by name.

Drive it with :meth:`ConsumerFleet.use` (requests made with a key; the consumer
then holds it) and :meth:`ConsumerFleet.hold` (holds a key, no request);
:meth:`ConsumerFleet.fail_metrics` makes ``/metrics`` answer 503, i.e. makes
scrapes fail (Prometheus then marks the series stale). Only
key ids ever pass through the fleet, never secrets; ids and consumer names must
match ``[A-Za-z0-9._:@/-]{1,128}``. Nothing is logged.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from ._service import KeepAliveServer, Stoppable
from .emulators._base import iso_now

METRIC = "app_api_key_requests_total"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NAME = re.compile(r"[A-Za-z0-9._:@/-]{1,128}")


def _check(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(f"{kind} must match {_NAME.pattern}")
    return value


@dataclass(frozen=True)
class Holding:
    """The key a consumer holds and since when (UTC ISO 8601, ``Z``)."""

    name: str
    key_id: str
    updated_at: str


class _FleetState:
    """Counters and holdings behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._holding: dict[str, Holding] = {}
        self.metrics_down = False

    def use(self, consumer: str, key_id: str, n: int) -> None:
        with self._lock:
            self._counts[(consumer, key_id)] = self._counts.get((consumer, key_id), 0) + n
            self._hold(consumer, key_id)

    def hold(self, consumer: str, key_id: str) -> None:
        with self._lock:
            self._hold(consumer, key_id)

    def _hold(self, consumer: str, key_id: str) -> None:
        current = self._holding.get(consumer)
        if current is None or current.key_id != key_id:
            self._holding[consumer] = Holding(consumer, key_id, iso_now())

    def counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def holdings(self) -> list[Holding]:
        with self._lock:
            return [self._holding[name] for name in sorted(self._holding)]

    def metrics(self) -> str:
        lines = [
            f"# HELP {METRIC} Requests a consumer made with an API key, by key id.",
            f"# TYPE {METRIC} counter",
        ]
        for (consumer, key_id), count in sorted(self.counts().items()):
            # Names are checked against _NAME, so no label value needs escaping.
            lines.append(f'{METRIC}{{consumer="{consumer}",key_id="{key_id}"}} {count}')
        return "\n".join(lines) + "\n"

    def key_versions(self) -> dict[str, Any]:
        return {
            "consumers": [
                {"name": h.name, "key_id": h.key_id, "updated_at": h.updated_at}
                for h in self.holdings()
            ]
        }


class _FleetServer(KeepAliveServer):
    def __init__(self, state: _FleetState, host: str, port: int) -> None:
        self.state = state
        super().__init__((host, port), _FleetHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that went away; nothing worth logging


class _FleetHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server_version = "bench-consumers"
    sys_version = ""
    server: _FleetServer

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if self.headers.get("Content-Length") not in (None, "0") or self.headers.get(
            "Transfer-Encoding"
        ):
            self.close_connection = True  # GET bodies are not read: do not reuse the stream
        if path == "/metrics" and self.server.state.metrics_down:
            self._send(503, b"metrics unavailable\n", "text/plain; charset=utf-8")
        elif path == "/metrics":
            self._send(200, self.server.state.metrics().encode(), METRICS_CONTENT_TYPE)
        elif path == "/key-versions":
            body = json.dumps(self.server.state.key_versions()).encode()
            self._send(200, body, "application/json")
        else:
            self._send(404, b'{"error": "not found"}', "application/json")

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


class ConsumerFleet(Stoppable):
    """Consumers of API keys, served on 127.0.0.1. A context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._state = _FleetState()
        self._server = _FleetServer(self._state, host, port)
        self._server.serve_in_background("bench-consumers")

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def target(self) -> str:
        """``host:port``, as a Prometheus scrape target."""
        host = self._server.server_address[0]
        return f"{host!s}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.target}"

    def use(self, key_id: str, n: int = 1, consumer: str = "app-1") -> None:
        """Record ``n`` requests by ``consumer`` with ``key_id``; it now holds that key."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError("n must be an int >= 1")
        self._state.use(_check("consumer", consumer), _check("key_id", key_id), n)

    def hold(self, consumer: str, key_id: str) -> None:
        """``consumer`` now holds ``key_id`` (no request is counted)."""
        self._state.hold(_check("consumer", consumer), _check("key_id", key_id))

    def fail_metrics(self, failing: bool = True) -> None:
        """While ``failing``, ``GET /metrics`` answers 503 (scrapes fail)."""
        self._state.metrics_down = failing

    def counts(self) -> dict[tuple[str, str], int]:
        """``{(consumer, key_id): requests}`` as /metrics shows it."""
        return self._state.counts()

    def holdings(self) -> list[Holding]:
        """What /key-versions shows, sorted by consumer name."""
        return self._state.holdings()

    def stop(self) -> None:
        """Stop serving and close open connections; safe to call more than once."""
        self._server.stop()


def start_consumers(host: str = "127.0.0.1", port: int = 0) -> ConsumerFleet:
    """Serve a :class:`ConsumerFleet`; port 0 lets the OS pick one."""
    return ConsumerFleet(host, port)


__all__ = ["METRIC", "ConsumerFleet", "Holding", "start_consumers"]
