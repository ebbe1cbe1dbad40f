"""A real Alertmanager (Debian's ``prometheus-alertmanager``) and the receiver it delivers to.

``start_receiver()`` serves, from a thread of this process, the alert delivery
target: an HTTP server on 127.0.0.1 that records every POST (time of arrival,
path, JSON body) and answers 200. :meth:`AlertReceiver.wait_for` waits for a
delivered alert by name.

``start_alertmanager(workdir, receiver.url)`` writes ``workdir/alertmanager.yml``
(one route, every alert to a webhook receiver pointing at ``receiver.url``,
``send_resolved: true``, grouped by ``alertname`` and ``key`` with short
``group_wait``/``group_interval`` for tests), runs ``prometheus-alertmanager``
on a free port of 127.0.0.1 with clustering off (``--cluster.listen-address=``),
its data in ``workdir/data`` and its log in ``workdir/alertmanager.log``
(0600), and returns once ``/-/ready`` answers 200. Install the binary with
``tests/bench/install_prometheus.sh``. Point Prometheus at it with
``start_prometheus(..., alertmanagers=[am.target])``.

The webhook payload is Alertmanager's documented version 4 JSON::

    {"version": "4", "status": "firing", "receiver": "bench", "groupKey": ...,
     "commonLabels": {...}, "alerts": [{"status": "firing", "labels": {"alertname": ...},
     "annotations": {...}, "startsAt": ..., "endsAt": ..., "fingerprint": ...}], ...}

``find_amtool()`` finds ``amtool`` (same package), for ``amtool check-config``.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from ._ports import free_port
from ._proc import ServerProcess, spawn, wait_until, write_private
from ._service import KeepAliveServer, Stoppable

READY_TIMEOUT = 30.0
INSTALL_HINT = "run tests/bench/install_prometheus.sh (installs Debian's prometheus-alertmanager package)"
RECEIVER = "bench"
MAX_BODY = 1 << 20


def _find(names: tuple[str, ...], paths: tuple[str, ...]) -> str:
    for name in names:
        found = shutil.which(name)
        if found is not None:
            return found
    for path in paths:
        if os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(f"{' or '.join(names)} not found on PATH or in /usr/bin: {INSTALL_HINT}")


def find_alertmanager() -> str:
    """The alertmanager binary (Debian names it prometheus-alertmanager)."""
    return _find(("prometheus-alertmanager", "alertmanager"), ("/usr/bin/prometheus-alertmanager",))


def find_amtool() -> str:
    """amtool, shipped with the alertmanager package."""
    return _find(("amtool",), ("/usr/bin/amtool",))


# --- the delivery target ------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One POST the receiver got: when (unix seconds), where, and its JSON body (None if not JSON)."""

    received_at: float
    path: str
    body: Any

    def alerts(self, name: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """The alerts of an Alertmanager webhook payload, optionally only ``alertname=name`` / ``status``."""
        alerts = self.body.get("alerts") if isinstance(self.body, dict) else None
        found = [a for a in alerts or [] if isinstance(a, dict)]
        if name is not None:
            found = [a for a in found if a.get("labels", {}).get("alertname") == name]
        if status is not None:
            found = [a for a in found if a.get("status") == status]
        return found


class _Deliveries:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: list[Delivery] = []

    def add(self, item: Delivery) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def snapshot(self) -> list[Delivery]:
        with self._cond:
            return list(self._items)

    def wait(self, match: Callable[[Delivery], bool], timeout: float) -> Delivery | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = 0
            while True:
                for item in self._items[seen:]:
                    if match(item):
                        return item
                seen = len(self._items)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)


class _ReceiverServer(KeepAliveServer):
    def __init__(self, deliveries: _Deliveries, host: str, port: int) -> None:
        self.deliveries = deliveries
        super().__init__((host, port), _ReceiverHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that went away; nothing worth logging


class _ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server_version = "bench-alert-receiver"
    sys_version = ""
    server: _ReceiverServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._send(400)
            return
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        self.server.deliveries.add(Delivery(time.time(), urlsplit(self.path).path, body))
        self._send(200)

    def do_GET(self) -> None:  # noqa: N802
        self._send(405)

    def _send(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


class AlertReceiver(Stoppable):
    """The alert delivery target: records every POST. A context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._deliveries = _Deliveries()
        self._server = _ReceiverServer(self._deliveries, host, port)
        self._server.serve_in_background("bench-alert-receiver")

    @property
    def url(self) -> str:
        """Where Alertmanager posts: ``http://127.0.0.1:PORT/alerts``."""
        return f"{self._server.url}/alerts"

    def deliveries(self) -> list[Delivery]:
        """Every POST so far, oldest first."""
        return self._deliveries.snapshot()

    def wait_for(
        self,
        alertname: str,
        *,
        status: str = "firing",
        where: Callable[[dict[str, Any]], bool] | None = None,
        after: float = 0.0,
        timeout: float = 30.0,
    ) -> tuple[Delivery, dict[str, Any]]:
        """The first delivery received at or after ``after`` (unix seconds) with an alert
        ``alertname`` in ``status`` (and ``where(alert)``); raises TimeoutError after ``timeout``."""

        def pick(item: Delivery) -> dict[str, Any] | None:
            if item.received_at < after:
                return None
            return next((a for a in item.alerts(alertname, status) if where is None or where(a)), None)

        found = self._deliveries.wait(lambda item: pick(item) is not None, timeout)
        if found is None:
            names = sorted({a.get("labels", {}).get("alertname", "?") for d in self.deliveries() for a in d.alerts()})
            raise TimeoutError(f"no {status} {alertname} delivered within {timeout:.0f} s; delivered so far: {names}")
        alert = pick(found)
        assert alert is not None
        return found, alert

    def stop(self) -> None:
        """Stop serving; safe to call more than once."""
        self._server.stop()


def start_receiver(host: str = "127.0.0.1", port: int = 0) -> AlertReceiver:
    """Serve an :class:`AlertReceiver` from a daemon thread; port 0 lets the OS pick one."""
    return AlertReceiver(host, port)


# --- Alertmanager -------------------------------------------------------------------


@dataclass
class Alertmanager(Stoppable):
    """A running Alertmanager. Use as a context manager or call stop()."""

    url: str
    port: int
    config: Path
    process: ServerProcess
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log(self) -> Path | None:
        return self.process.log

    @property
    def target(self) -> str:
        """``host:port``, for Prometheus' ``alerting.alertmanagers`` static config."""
        return f"127.0.0.1:{self.port}"

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts Alertmanager holds now."""
        resp = self.session.get(f"{self.url}/api/v2/alerts", timeout=5)
        resp.raise_for_status()
        found: list[dict[str, Any]] = resp.json()
        return found

    def stop(self) -> None:
        """Stop the server; safe to call more than once."""
        self.process.stop()
        self.session.close()


def write_config(
    path: Path,
    receiver_url: str,
    group_wait: str = "1s",
    group_interval: str = "1s",
    repeat_interval: str = "1h",
    group_by: tuple[str, ...] = ("alertname", "key"),
) -> None:
    """A minimal alertmanager.yml: every alert to one webhook (JSON strings are valid YAML scalars)."""
    write_private(
        path,
        "route:\n"
        f"  receiver: {RECEIVER}\n"
        f"  group_by: {json.dumps(list(group_by))}\n"
        f"  group_wait: {json.dumps(group_wait)}\n"
        f"  group_interval: {json.dumps(group_interval)}\n"
        f"  repeat_interval: {json.dumps(repeat_interval)}\n"
        "receivers:\n"
        f"  - name: {RECEIVER}\n"
        "    webhook_configs:\n"
        f"      - url: {json.dumps(receiver_url)}\n"
        "        send_resolved: true\n",
    )


def _ready(session: requests.Session, url: str) -> bool:
    try:
        return session.get(f"{url}/-/ready", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def start_alertmanager(
    workdir: Path,
    receiver_url: str,
    *,
    group_wait: str = "1s",
    group_interval: str = "1s",
    repeat_interval: str = "1h",
    timeout: float = READY_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> Alertmanager:
    """Start alertmanager delivering every alert to ``receiver_url`` on a free port."""
    binary = find_alertmanager()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    write_config(config, receiver_url, group_wait, group_interval, repeat_interval)
    port = free_port()
    listen = f"--web.listen-address=127.0.0.1:{port}"
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.path={workdir / 'data'}",
        listen,
        "--cluster.listen-address=",  # no HA gossip: nothing on :9094, no peers to wait for
    ]
    process = spawn(argv, log=workdir / "alertmanager.log", marker=listen, cwd=workdir, env=env)
    url = f"http://127.0.0.1:{port}"
    session = requests.Session()
    session.trust_env = False  # never send 127.0.0.1 traffic through a proxy
    try:
        wait_until(lambda: _ready(session, url), timeout, f"alertmanager ({process.log})", process.alive)
    except BaseException:
        process.stop()
        session.close()
        raise
    return Alertmanager(url=url, port=port, config=config, process=process, session=session)


__all__ = [
    "INSTALL_HINT",
    "AlertReceiver",
    "Alertmanager",
    "Delivery",
    "find_alertmanager",
    "find_amtool",
    "start_alertmanager",
    "start_receiver",
    "write_config",
]
