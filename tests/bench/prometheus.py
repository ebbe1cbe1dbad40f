"""A real Prometheus server (Debian's ``prometheus`` package) for the bench.

``start_prometheus(workdir, ["127.0.0.1:PORT"])`` writes ``workdir/prometheus.yml``
(one job, ``bench``, scraping the targets every ``scrape_interval``), runs
``prometheus`` on a free port of 127.0.0.1 with its TSDB in ``workdir/tsdb``
and its log in ``workdir/prometheus.log`` (0600), and returns once
``/-/ready`` answers 200. Install the binary with
``tests/bench/install_prometheus.sh``.

For alerting, ``start_prometheus(..., rule_files=[path], alertmanagers=[am.target],
evaluation_interval="1s")`` loads rule files and sends firing alerts to an
Alertmanager (tests/bench/alertmanager.py); :meth:`Prometheus.rule_groups` and
:meth:`Prometheus.alerts` show what it loaded and what is pending or firing.

Scraped series carry ``job="bench"`` and ``instance="<host:port>"`` besides the
target's own labels. Prometheus is ready in well under a second but scrapes
for the first time about 5 s after start (its service discovery hands targets
over at most every 5 s); use :meth:`Prometheus.wait_for` for the first sample.

PromQL for "is the new key in use yet?", verified against Prometheus 2.42.0
(Debian 2.42.0+ds-5+deb12u1) by tests/bench_tests/test_bench_prometheus.py.
``C`` stands for ``app_api_key_requests_total{key_id="X"}``, ``T`` for a unix
time in seconds, ``S`` for the scrape interval, ``R`` for how far back to look.

* Ever seen: ``sum(C)`` - total requests with X now; an empty result means no
  series of X in the last 5 minutes (the lookback delta).
* Used since T (recommended): ``(sum(C) or vector(0)) - (sum(C @ T) or
  vector(0))`` - the requests made with X since T, exact, always one sample
  (0 for a key never seen). The ``@`` modifier is on by default since 2.33.
  ``or vector(0)`` on the right lets a key that had no series at T count from
  0, so a key first used after T shows up. A counter reset (a consumer
  restart) between T and now makes it undercount, possibly below 0.
* NOT a "since T" test: ``sum(increase(C[<now-T>s]))``. A series that appears
  after T with its first sample already > 0 contributes nothing (``increase``
  only sees differences between samples in the window), and the result is
  extrapolated (e.g. 2.5 for +5 then +2). ``changes(C[..]) > 0`` has the same
  blind spot for a series' first sample.
* Last used: ``max(max_over_time(timestamp(CHANGED)[R:S]))`` with
  ``CHANGED = (C > PREV) or (C unless PREV)`` and
  ``PREV = last_over_time(C[R] offset S)`` - the last subquery step (steps
  are multiples of S since the epoch) at which a series of X grew, or
  appeared with no sample in the R before; unix seconds; empty if none did
  within R. It is at most ~S after the scrape that first showed the use, so
  up to ~2 S after the use itself.
* Use ``last_over_time(C[R] offset S)``, not ``C offset S``, as PREV: a
  failed scrape writes staleness markers, so right after it ``C offset S``
  is empty and the series' return looks like a first use; range selectors
  skip the markers. A counter reset (consumer restart) shows as a use only
  once the counter passes its old value. ``timestamp(C)`` alone is just the
  time of the last scrape, whether or not X was used.

Helpers: :meth:`Prometheus.query` (``/api/v1/query``, returns ``data.result``),
:meth:`Prometheus.value` (one number or None) and :meth:`Prometheus.wait_for`
(poll until a predicate holds, for tests that must wait for a scrape).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from ._ports import free_port
from ._proc import ServerProcess, spawn, wait_until, write_private
from ._service import Stoppable

READY_TIMEOUT = 30.0
INSTALL_HINT = "run tests/bench/install_prometheus.sh (installs Debian's prometheus package)"
JOB = "bench"


class PrometheusQueryError(RuntimeError):
    """``/api/v1/query`` answered with an error (bad PromQL, timeout...)."""


def find_prometheus() -> str:
    """The prometheus binary: on PATH, else /usr/bin/prometheus."""
    found = shutil.which("prometheus")
    if found is not None:
        return found
    if os.access("/usr/bin/prometheus", os.X_OK):
        return "/usr/bin/prometheus"
    raise FileNotFoundError(
        f"prometheus not found on PATH or at /usr/bin/prometheus: {INSTALL_HINT}"
    )


@dataclass
class Prometheus(Stoppable):
    """A running Prometheus. Use as a context manager or call stop()."""

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

    def query(self, promql: str, at: float | None = None, timeout: float = 5.0) -> list[Any]:
        """Evaluate ``promql`` at ``at`` (unix seconds; default now): ``data.result``.

        A vector gives ``[{"metric": {...}, "value": [ts, "v"]}, ...]``; a
        scalar gives ``[ts, "v"]``.
        """
        params: dict[str, str] = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        resp = self.session.post(f"{self.url}/api/v1/query", data=params, timeout=timeout)
        try:
            body = resp.json()
        except ValueError:
            resp.raise_for_status()
            raise PrometheusQueryError(f"HTTP {resp.status_code}: not JSON") from None
        if body.get("status") != "success":
            raise PrometheusQueryError(f"{body.get('errorType')}: {body.get('error')}")
        result: list[Any] = body["data"]["result"]
        return result

    def value(self, promql: str, at: float | None = None) -> float | None:
        """The single number ``promql`` yields: None for an empty vector.

        A scalar's value, or the first sample of a vector (use ``sum``/``max``
        to make it one).
        """
        result = self.query(promql, at)
        if not result:
            return None
        sample = result[1] if isinstance(result[0], (int, float)) else result[0]["value"][1]
        return float(sample)

    def wait_for(
        self,
        promql: str,
        predicate: Callable[[list[Any]], bool],
        timeout: float = 10.0,
    ) -> list[Any]:
        """Poll ``promql`` until ``predicate(result)`` holds; return that result.

        Raises TimeoutError (with the last result) after ``timeout`` seconds.
        """
        last: list[Any] = []

        def check() -> bool:
            nonlocal last
            last = self.query(promql)
            return predicate(last)

        try:
            wait_until(check, timeout, f"prometheus query {promql!r}", self.process.alive)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; last result: {last!r}") from None
        return last

    def build_info(self) -> dict[str, str]:
        """``/api/v1/status/buildinfo``: version, revision, goVersion..."""
        resp = self.session.get(f"{self.url}/api/v1/status/buildinfo", timeout=5)
        resp.raise_for_status()
        info: dict[str, str] = resp.json()["data"]
        return info

    def targets_up(self) -> bool:
        """True once every configured target has been scraped successfully."""
        resp = self.session.get(f"{self.url}/api/v1/targets", timeout=5)
        active = resp.json()["data"]["activeTargets"]
        return bool(active) and all(t.get("health") == "up" for t in active)

    def alerts(self) -> list[dict[str, Any]]:
        """``/api/v1/alerts``: the alerts pending or firing now (labels, state, activeAt...)."""
        resp = self.session.get(f"{self.url}/api/v1/alerts", timeout=5)
        resp.raise_for_status()
        found: list[dict[str, Any]] = resp.json()["data"]["alerts"]
        return found

    def alertmanagers(self) -> list[str]:
        """``/api/v1/alertmanagers``: the URLs alerts are sent to now (empty until discovery hands them over)."""
        resp = self.session.get(f"{self.url}/api/v1/alertmanagers", timeout=5)
        resp.raise_for_status()
        return [a["url"] for a in resp.json()["data"]["activeAlertmanagers"]]

    def rule_groups(self) -> list[dict[str, Any]]:
        """``/api/v1/rules``: the loaded rule groups, with each rule's health and last error."""
        resp = self.session.get(f"{self.url}/api/v1/rules", timeout=5)
        resp.raise_for_status()
        groups: list[dict[str, Any]] = resp.json()["data"]["groups"]
        return groups

    def stop(self) -> None:
        """Stop the server; safe to call more than once."""
        self.process.stop()
        self.session.close()


def _target(value: str) -> str:
    """``http://host:port[/...]`` or ``host:port`` -> ``host:port``."""
    return urlsplit(value).netloc if "://" in value else value


def write_config(
    path: Path,
    targets: Sequence[str],
    scrape_interval: str,
    *,
    evaluation_interval: str | None = None,
    rule_files: Sequence[Path | str] = (),
    alertmanagers: Sequence[str] = (),
) -> None:
    """A minimal prometheus.yml (JSON strings are valid YAML scalars).

    ``evaluation_interval`` defaults to ``scrape_interval``; ``rule_files`` are
    listed as given (absolute paths are safest); ``alertmanagers`` (``host:port``
    or URLs) get the alerts that fire.
    """
    interval = json.dumps(scrape_interval)
    evaluation = json.dumps(evaluation_interval or scrape_interval)
    listed = ", ".join(json.dumps(_target(t)) for t in targets)
    text = (
        "global:\n"
        f"  scrape_interval: {interval}\n"
        f"  scrape_timeout: {interval}\n"
        f"  evaluation_interval: {evaluation}\n"
    )
    if rule_files:
        text += "rule_files:\n" + "".join(f"  - {json.dumps(str(f))}\n" for f in rule_files)
    if alertmanagers:
        managers = ", ".join(json.dumps(_target(a)) for a in alertmanagers)
        text += (
            "alerting:\n"
            "  alertmanagers:\n"
            "    - static_configs:\n"
            f"        - targets: [{managers}]\n"
        )
    text += (
        "scrape_configs:\n"
        f"  - job_name: {JOB}\n"
        "    static_configs:\n"
        f"      - targets: [{listed}]\n"
    )
    write_private(path, text)


def _ready(session: requests.Session, url: str) -> bool:
    try:
        return session.get(f"{url}/-/ready", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def start_prometheus(
    workdir: Path,
    targets: list[str],
    scrape_interval: str = "1s",
    timeout: float = READY_TIMEOUT,
    *,
    evaluation_interval: str | None = None,
    rule_files: Sequence[Path | str] = (),
    alertmanagers: Sequence[str] = (),
) -> Prometheus:
    """Start prometheus scraping ``targets`` (``host:port`` or URLs) on a free port.

    With ``rule_files`` it evaluates those rules every ``evaluation_interval``
    (default: ``scrape_interval``) and sends firing alerts to ``alertmanagers``.
    Like targets, Alertmanagers are handed over by service discovery up to 5 s
    after start.
    """
    binary = find_prometheus()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    write_config(
        config,
        targets,
        scrape_interval,
        evaluation_interval=evaluation_interval,
        rule_files=rule_files,
        alertmanagers=alertmanagers,
    )
    port = free_port()
    listen = f"--web.listen-address=127.0.0.1:{port}"
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        listen,
    ]
    process = spawn(argv, log=workdir / "prometheus.log", marker=listen, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    session = requests.Session()
    session.trust_env = False  # never send 127.0.0.1 traffic through a proxy
    try:
        wait_until(
            lambda: _ready(session, url), timeout, f"prometheus ({process.log})", process.alive
        )
    except BaseException:
        process.stop()
        session.close()
        raise
    return Prometheus(url=url, port=port, config=config, process=process, session=session)


__all__ = [
    "INSTALL_HINT",
    "Prometheus",
    "PrometheusQueryError",
    "find_prometheus",
    "start_prometheus",
    "write_config",
]
