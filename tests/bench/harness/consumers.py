"""API-key consumers under load: threads in a few worker processes, each calling a provider at a steady rate.

A consumer (:class:`ConsumerSpec`) gets its key from one of four sources:

* ``vault``: a :class:`~.store.VaultSource` (its own TTL cache and hvac session);
* ``file``: a :class:`~.agent.FileSource` over a file rendered by the stand-in
  :class:`~.agent.KeyFileAgent` (one per key and worker process);
* ``agent``: a :class:`~.agent.FileSource` over a file rendered by the real OpenBao Agent
  (:mod:`.bao_agent`; one ``bao agent`` process per worker process and render interval, as one
  sidecar per host, started and stopped by :class:`ConsumerPool` in the parent process);
* ``secretsmanager``: a :class:`~.aws_sm.SecretsManagerSource`, ``aws-secretsmanager-caching``'s
  ``SecretCache`` over a key kept in AWS Secrets Manager (moto);

and calls

* SendGrid: ``GET /v3/user/profile`` with ``Authorization: Bearer <key>``, or
* the Kong-style gateway: ``GET /<consumer>/ping`` with ``apikey: <key>``

``rate`` times a second over a keep-alive ``requests.Session``. It counts successes and failures by
key id and notes when it first used each key (for staleness). Whenever it starts holding another
key it says so to the parent, which tells a :class:`~tests.bench.consumers.ConsumerFleet`
(``/key-versions``, the "http" usage evidence). :class:`ConsumerPool` spreads consumers over
worker processes (``spawn``) so every core works, and collects the figures at the end.
"""
from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any, Protocol

import requests

from .agent import FileSource, KeyFileAgent
from .aws_sm import AwsAccess, SecretsManagerSource, refresh_seconds
from .bao_agent import BaoAgent, agent_interval, parse_rendered, start_agent
from .store import Held, RecordReader, VaultAccess, VaultSource

MAX_SAMPLES = 20  # failure samples kept per consumer
TICK = 2.0  # seconds between progress reports of a worker


@dataclass(frozen=True)
class ConsumerSpec:
    """One consumer: which key (record), which provider endpoint, how it caches, how often it calls."""

    name: str
    group: str  # what the figures are grouped by, e.g. "real", "control-a"
    provider: str  # "sendgrid" or "gateway"
    url: str  # the authenticated endpoint it calls
    vault_path: str  # the record: "<mount>/<path>" in OpenBao, or the secret's name in Secrets Manager
    source: str = "vault"  # "vault", "file" (stand-in agent), "agent" (bao agent) or "secretsmanager" (SecretCache)
    cache_ttl: float = 1.0  # for "secretsmanager": the SecretCache's secret_refresh_interval (whole seconds)
    render_interval: float = 1.0  # the agent's, for sources "file" and "agent"
    rate: float = 10.0  # requests per second
    age: float = 0.0  # how old its cached key is at start (spreads the refreshes)


@dataclass
class ConsumerStats:
    """What one consumer saw. Key ids only, never a secret."""

    name: str
    group: str
    provider: str
    source: str
    vault_path: str
    ok: int = 0
    failed: int = 0
    by_key: dict[str, list[int]] = field(default_factory=dict)  # key id -> [ok, failed]
    first_use: dict[str, float] = field(default_factory=dict)  # key id -> Unix time of its first request
    failures: list[tuple[float, str, int]] = field(default_factory=list)  # (Unix time, key id, HTTP status or 0)
    source_errors: int = 0
    latency_sum: float = 0.0
    latency_max: float = 0.0
    slips: int = 0  # times the schedule fell > 1 s behind and was reset

    @property
    def requests(self) -> int:
        return self.ok + self.failed


class KeySource(Protocol):
    errors: int

    def get(self) -> Held: ...


def _headers(provider: str, key: str) -> dict[str, str]:
    if provider == "sendgrid":
        return {"Authorization": f"Bearer {key}"}
    if provider == "gateway":
        return {"apikey": key}
    raise ValueError(f"unknown provider {provider!r}")


def _call(session: requests.Session, spec: ConsumerSpec, held: Held) -> int:
    try:
        with session.get(spec.url, headers=_headers(spec.provider, held.key), timeout=10) as answer:
            return answer.status_code
    except requests.RequestException:
        return 0


def new_stats(spec: ConsumerSpec) -> ConsumerStats:
    return ConsumerStats(spec.name, spec.group, spec.provider, spec.source, spec.vault_path)


def run_consumer(spec: ConsumerSpec, source: KeySource, stop: threading.Event, offset: float,
                 report: Callable[[str, str], None], deadline: float, stats: ConsumerStats | None = None) -> ConsumerStats:
    """Call ``spec.url`` every ``1/spec.rate`` s until ``stop`` is set or ``deadline`` (monotonic) passes.

    ``stats`` (optional) is updated as requests are made, so others can watch the totals.
    """
    stats = stats if stats is not None else new_stats(spec)
    period = 1.0 / spec.rate
    held = source.get()
    report(spec.name, held.key_id)
    next_at = time.monotonic() + offset
    with requests.Session() as session:
        while not stop.wait(max(0.0, next_at - time.monotonic())) and time.monotonic() < deadline:
            current = source.get()
            if current.key_id != held.key_id:
                held = current
                report(spec.name, held.key_id)
            if held.key_id not in stats.first_use:
                stats.first_use[held.key_id] = time.time()
            started = time.monotonic()
            status = _call(session, spec, held)
            elapsed = time.monotonic() - started
            stats.latency_sum += elapsed
            stats.latency_max = max(stats.latency_max, elapsed)
            counts = stats.by_key.setdefault(held.key_id, [0, 0])
            if status == 200:
                stats.ok += 1
                counts[0] += 1
            else:
                stats.failed += 1
                counts[1] += 1
                if len(stats.failures) < MAX_SAMPLES:
                    stats.failures.append((time.time(), held.key_id, status))
            next_at += period
            if time.monotonic() - next_at > 1.0:
                stats.slips += 1
                next_at = time.monotonic()
    return stats


@dataclass(frozen=True)
class _WorkerArgs:
    index: int
    specs: tuple[ConsumerSpec, ...]
    vault: VaultAccess
    agent_dir: str
    max_seconds: float
    aws: AwsAccess | None = None
    agent_files: tuple[tuple[str, str, str], ...] = ()  # (vault path, render interval, rendered file) of the bao agents


def _agents(args: _WorkerArgs, reader: RecordReader) -> dict[str, KeyFileAgent]:
    agents: dict[str, KeyFileAgent] = {}
    for spec in args.specs:
        if spec.source == "file" and spec.vault_path not in agents:
            slug = spec.vault_path.replace("/", "_")
            agents[spec.vault_path] = KeyFileAgent(reader, spec.vault_path, Path(args.agent_dir) / f"w{args.index}-{slug}.json",
                                                   spec.render_interval)
    return agents


def _source(spec: ConsumerSpec, args: _WorkerArgs, agents: dict[str, KeyFileAgent]) -> KeySource:
    if spec.source == "file":
        return FileSource(agents[spec.vault_path].path, spec.cache_ttl, spec.age)
    if spec.source == "agent":
        rendered = {(path, interval): file for path, interval, file in args.agent_files}
        return FileSource(Path(rendered[spec.vault_path, agent_interval(spec.render_interval)]), spec.cache_ttl, spec.age,
                          parse_rendered)
    if spec.source == "vault":
        return VaultSource(RecordReader(args.vault), spec.vault_path, spec.cache_ttl, spec.age)
    if spec.source == "secretsmanager":
        if args.aws is None:
            raise ValueError("secretsmanager consumers need AWS access")
        return SecretsManagerSource(args.aws, spec.vault_path, refresh_seconds(spec.cache_ttl))
    raise ValueError(f"unknown source {spec.source!r}")


def _worker(args: _WorkerArgs, stop_all: Any, events: Any) -> None:
    """A worker process: agents, then one thread per consumer, until ``stop_all`` is set."""
    stop = threading.Event()
    agents: dict[str, KeyFileAgent] = {}
    try:
        agents = _agents(args, RecordReader(args.vault))
        sources = [_source(spec, args, agents) for spec in args.specs]
        deadline = time.monotonic() + args.max_seconds

        def report(name: str, key_id: str) -> None:
            events.put(("hold", name, key_id))

        results = [new_stats(spec) for spec in args.specs]
        threads = [threading.Thread(target=run_consumer, name=spec.name, daemon=True,
                                    args=(spec, source, stop, (n * 0.618 % 1.0) / spec.rate, report, deadline, stats))
                   for n, (spec, source, stats) in enumerate(zip(args.specs, sources, results))]
        for spec, source in zip(args.specs, sources):
            report(spec.name, source.get().key_id)
        events.put(("ready", args.index, None))
        for thread in threads:
            thread.start()
        while not stop_all.wait(TICK) and time.monotonic() < deadline:
            events.put(("tick", args.index, _totals(results)))
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        for stats, source in zip(results, sources):
            stats.source_errors = source.errors
        events.put(("result", args.index, results))
    except Exception as exc:  # noqa: BLE001 - reported to the parent (type and message only)
        stop.set()
        events.put(("error", args.index, f"{type(exc).__name__}: {exc}"))
    finally:
        for agent in agents.values():
            agent.stop()


def _totals(results: Sequence[ConsumerStats]) -> dict[str, tuple[int, int]]:
    totals: dict[str, tuple[int, int]] = {}
    for stats in results:
        ok, failed = totals.get(stats.group, (0, 0))
        totals[stats.group] = (ok + stats.ok, failed + stats.failed)
    return totals


class ConsumerPool:
    """Consumers spread over ``processes`` worker processes; a context manager.

    ``hold`` (e.g. ``ConsumerFleet.hold``) is called in this process whenever a consumer starts
    holding another key. :meth:`stop` ends every consumer and returns their figures.
    """

    def __init__(self, specs: Sequence[ConsumerSpec], vault: VaultAccess, agent_dir: Path,
                 hold: Callable[[str, str], None] | None = None, processes: int = 2, max_seconds: float = 3600.0,
                 aws: AwsAccess | None = None, agent_vault: VaultAccess | None = None) -> None:
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError("consumer names must be unique")
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = self._ctx.Event()
        self._events: Any = self._ctx.Queue()
        self._hold = hold
        count = max(1, min(processes, len(specs)))
        agent_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._args = [_WorkerArgs(n, tuple(specs[n::count]), vault, str(agent_dir), max_seconds, aws) for n in range(count)]
        self._agent_vault = agent_vault or vault  # the bao agents' token (auto-auth needs lookup-self: default policy)
        self._agent_dir = agent_dir
        self.agents: list[BaoAgent] = []  # the bao agent processes, started in start() and stopped in stop()
        self.agent_logs: dict[str, str] = {}  # agent directory name -> its log, kept when it stops (scanned for secrets)
        self.agent_renders = 0  # files the bao agents rendered, over all of them
        self._procs: list[SpawnProcess] = []
        self._ready: set[int] = set()
        self._results: dict[int, list[ConsumerStats]] = {}
        self._errors: dict[int, str] = {}
        self.holdings: dict[str, str] = {}  # consumer -> key id it holds now
        self._ticks: dict[int, dict[str, tuple[int, int]]] = {}
        self._drainer: threading.Thread | None = None
        self._draining = threading.Event()

    def _start_agents(self) -> None:
        """One ``bao agent`` per worker process and render interval, rendering the records its "agent" consumers read."""
        for number, args in enumerate(self._args):
            wanted: dict[str, list[str]] = {}
            for spec in args.specs:
                if spec.source == "agent":
                    wanted.setdefault(agent_interval(spec.render_interval), []).append(spec.vault_path)
            files = []
            for interval, paths in wanted.items():
                agent = start_agent(self._agent_dir / f"bao-w{args.index}-{interval}", self._agent_vault, paths, interval)
                self.agents.append(agent)
                files += [(path, interval, str(file)) for path, file in agent.files.items()]
            self._args[number] = dataclasses.replace(args, agent_files=tuple(files))

    def _stop_agents(self) -> None:
        while self.agents:
            agent = self.agents.pop()
            agent.stop()
            self.agent_renders += agent.renders()
            with contextlib.suppress(OSError):
                self.agent_logs[agent.directory.name] = agent.log.read_text(errors="replace")

    def start(self, timeout: float = 60.0) -> ConsumerPool:
        try:
            self._start_agents()
            for args in self._args:
                proc = self._ctx.Process(target=_worker, args=(args, self._stop, self._events),
                                         name=f"zd-consumers-{args.index}", daemon=True)
                proc.start()
                self._procs.append(proc)
        except BaseException:  # e.g. a worker that cannot be spawned: no agent may outlive the pool
            self._stop.set()
            for proc in self._procs:
                proc.join(timeout=10)
            self._stop_agents()
            raise
        self._draining.set()
        self._drainer = threading.Thread(target=self._drain, name="zd-consumer-events", daemon=True)
        self._drainer.start()
        limit = time.monotonic() + timeout
        while len(self._ready) + len(self._errors) < len(self._procs) and time.monotonic() < limit:
            time.sleep(0.05)
        if self._errors or len(self._ready) < len(self._procs):
            errors = dict(self._errors)
            with contextlib.suppress(RuntimeError):
                self.stop(timeout=10)
            raise RuntimeError(f"consumer workers did not start: {errors or 'timeout'}")
        return self

    def _drain(self) -> None:
        while self._draining.is_set() or not self._events.empty():
            try:
                kind, who, payload = self._events.get(timeout=0.2)
            except queue.Empty:
                continue
            if kind == "hold":
                self.holdings[who] = payload
                if self._hold is not None:
                    self._hold(who, payload)
            elif kind == "tick":
                self._ticks[who] = payload
            elif kind == "ready":
                self._ready.add(who)
            elif kind == "result":
                self._results[who] = payload
            elif kind == "error":
                self._errors[who] = payload

    def totals(self, group: str | None = None) -> tuple[int, int]:
        """(successful, failed) requests so far of ``group`` (default: all), as of the workers' last reports (every 2 s)."""
        pairs = [pair for tick in list(self._ticks.values()) for name, pair in tick.items() if group in (None, name)]
        return sum(pair[0] for pair in pairs), sum(pair[1] for pair in pairs)

    def stop(self, timeout: float = 60.0) -> list[ConsumerStats]:
        """Stop every consumer; the figures of each, sorted by name. Raises if a worker failed."""
        self._stop.set()
        limit = time.monotonic() + timeout
        while (len(self._results) + len(self._errors) < len(self._procs) and time.monotonic() < limit
               and any(proc.is_alive() for proc in self._procs)):
            time.sleep(0.05)
        for proc in self._procs:
            proc.join(timeout=max(0.1, limit - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        self._draining.clear()
        if self._drainer is not None:
            self._drainer.join(timeout=5)
        self._stop_agents()
        with contextlib.suppress(Exception):
            self._events.close()
        if self._errors:
            raise RuntimeError(f"consumer workers failed: {self._errors}")
        missing = len(self._procs) - len(self._results)
        if missing:
            raise RuntimeError(f"{missing} consumer worker(s) returned no figures")
        return sorted((stats for batch in self._results.values() for stats in batch), key=lambda s: s.name)

    def __enter__(self) -> ConsumerPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if any(proc.is_alive() for proc in self._procs):
            with contextlib.suppress(RuntimeError):
                self.stop()
        self._stop_agents()


__all__ = ["ConsumerPool", "ConsumerSpec", "ConsumerStats", "KeySource", "run_consumer"]
