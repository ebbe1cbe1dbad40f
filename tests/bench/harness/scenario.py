"""A whole zero-downtime run: keys, consumers under load, real cycles and the two controls, and the figures.

:func:`run` seeds ``cohorts * keys_per_cohort`` keys (SendGrid and gateway alternately) plus two keys
per control, starts the consumers, lets them settle, runs the cohorts' cycles (cohorts are started a
fraction of a cycle apart, so their rotations interleave) and the controls at the same time, lets the
consumers run a little longer, stops them and returns a :class:`Report`. Every server it starts
(the usage-evidence endpoint, the worker processes) is stopped before it returns.
"""
from __future__ import annotations

import math
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import hvac

from ..bench import Bench
from ..consumers import ConsumerFleet
from .consumers import ConsumerPool, ConsumerSpec, ConsumerStats
from .cycles import Control, Cycle, Playbooks, Records, SeenSecrets, control_revoke_at_once, control_short_grace, ensure_collection_link, run_cycles
from .keys import PROVIDERS, SECRETS_MANAGER, VAULT, BenchKey, consumer_access, consumer_aws_access, make_key, write_inventory

REAL, CONTROL_A, CONTROL_B = "real", "control-a", "control-b"


@dataclass
class Config:
    """A run. Times in seconds; ``grace`` and ``control_b_grace`` whole seconds (the record has 1 s resolution)."""

    consumers: int = 20  # consumers of the real keys
    cycles: int = 5  # rotate -> grace -> revoke cycles, over all cohorts
    cohorts: int = 1  # groups of keys cycling independently, staggered
    keys_per_cohort: int = 4
    sm_keys_per_cohort: int = 0  # of those, kept in AWS Secrets Manager (moto); each control then gets one more such key
    sm_refresh: int = 2  # the SecretCache consumers' secret_refresh_interval, whole seconds
    rate: float = 10.0  # requests per second, per consumer
    ttl: float = 1.0  # the consumers' cache TTL
    render_interval: float = 1.0  # the agent's
    grace: int = 12
    vault_sources: tuple[str, ...] = ("vault", "file", "agent")  # how the consumers of a key in OpenBao read it, in turn
    postpone_by: str = "2s"  # revoke_after_grace_postpone_by
    # apikeys_clock_skew, whole seconds. 1, not 0: the collection checks the controller's clock against OpenBao's
    # (sys/health, whole seconds) with skew + 1 s of slack, and under load a slow answer alone exceeded it with 0
    clock_skew: int = 1
    controls: bool = True
    control_consumers: int = 8  # per control, spread over its two keys
    # control (b)'s cache TTL, agent render interval and SecretCache refresh interval: well above the time from the
    # consumers' start to the revocation (its playbooks took up to 20 s each on the shared machine); the agent reads
    # at start and then not before 0.85 x this, SecretCache not before 0.5 x this
    control_b_ttl: float = 300.0
    control_b_grace: int = 1
    processes: int = 2
    settle: float = 2.0  # load before the first cycle and after the last
    max_seconds: float = 3600.0  # no cycle starts later than this minus three cycles' worth
    min_requests: int = 0  # keep cycling (beyond ``cycles``) until the consumers made this many requests


@dataclass
class GroupFigures:
    consumers: int = 0
    requests: int = 0
    failed: int = 0
    by_provider: dict[str, list[int]] = field(default_factory=dict)  # provider -> [requests, failed]
    by_source: dict[str, list[int]] = field(default_factory=dict)  # consumer kind -> [requests, failed]
    failure_samples: list[str] = field(default_factory=list)


@dataclass
class Report:
    config: Config
    seconds: float
    groups: dict[str, GroupFigures]
    cycles: list[Cycle]
    controls: list[Control]
    staleness_max: float  # max over consumers of each consumer's max staleness (real keys)
    staleness_median: float  # median over consumers of each consumer's max staleness
    staleness_by_source: dict[str, float]  # "vault"/"file" -> max
    source_errors: int
    slips: int
    latency_mean_ms: float
    latency_max_ms: float
    keys: list[BenchKey] = field(default_factory=list)  # the run's keys (ids and locations; no secret)
    agent_logs: dict[str, str] = field(default_factory=dict)  # each bao agent's log (to scan for secrets)
    agent_renders: int = 0  # files rendered by the bao agents
    seen: SeenSecrets = field(default_factory=SeenSecrets, repr=False)  # every key the driver read: scan text with seen.leaked()

    def secret_scan(self) -> str:
        """Whether a key read during the run appears in the summary or an agent's log (key ids only)."""
        texts = {"summary": "\n".join(self.lines()), **{f"{name}/agent.log": log for name, log in self.agent_logs.items()}}
        leaks = {name: self.seen.leaked(text) for name, text in texts.items()}
        found = {name: ids for name, ids in leaks.items() if ids}
        return (f"secret scan        {len(self.seen)} keys read during the run; none in the summary or the {len(self.agent_logs)}"
                f" agent logs" if not found else f"secret scan        KEYS FOUND (ids): {found}")

    @property
    def real(self) -> GroupFigures:
        return self.groups.get(REAL, GroupFigures())

    @property
    def cycles_ok(self) -> int:
        return sum(cycle.ok for cycle in self.cycles)

    @property
    def key_rotations(self) -> int:
        return sum(len(cycle.promoted) for cycle in self.cycles if cycle.ok)

    def failed(self, group: str) -> int:
        return self.groups.get(group, GroupFigures()).failed

    def lines(self) -> list[str]:
        cfg, real = self.config, self.real
        target = (real.consumers * cfg.rate) or 1.0
        lines = [
            f"consumers          {real.consumers} (+{self.groups.get(CONTROL_A, GroupFigures()).consumers}"
            f" +{self.groups.get(CONTROL_B, GroupFigures()).consumers} on the controls' keys)",
            f"requests           {real.requests} in {self.seconds:.0f} s ({real.requests / max(self.seconds, 1e-9):.0f}/s; "
            f"target {target:.0f}/s); by provider {real.by_provider}",
            f"by consumer kind   {real.by_source} ([requests, failed])",
            f"failed requests    {real.failed}",
            f"cycles             {self.cycles_ok} of {len(self.cycles)} ok ({cfg.cohorts} cohort(s) x {cfg.keys_per_cohort} keys;"
            f" {self.key_rotations} key rotations, each old key revoked after the grace)",
            f"max staleness      {self.staleness_max:.2f} s (max over consumers; median of the per-consumer max"
            f" {self.staleness_median:.2f} s; by source {self.staleness_by_source})",
            f"latency            mean {self.latency_mean_ms:.1f} ms, max {self.latency_max_ms:.0f} ms; schedule slips {self.slips};"
            f" store/file read errors {self.source_errors}",
            f"openbao agents     {len(self.agent_logs)} bao agent processes, {self.agent_renders} files rendered",
        ]
        for control, group in zip(self.controls, (CONTROL_A, CONTROL_B)):
            figures = self.groups.get(group, GroupFigures())
            after = ", ".join(f"{value:.2f} s" for value in control.revoked_after.values())
            lines.append(f"control {control.name:18} failed {figures.failed} of {figures.requests} requests"
                         f" (old keys revoked {after} after promotion){' PROBLEM: ' + control.problem if control.problem else ''}")
            lines.append(f"  by consumer kind        {figures.by_source}")
        lines += [f"cycle problem      {cycle.group}#{cycle.number}: {cycle.problem}" for cycle in self.cycles if not cycle.ok]
        lines += [f"failure sample     {sample}" for sample in real.failure_samples[:5]]
        return lines


def _specs(keys: list[BenchKey], count: int, cfg: Config, ttl: float, sources: tuple[str, ...], group: str,
           render_interval: float | None = None, sm_ttl: float | None = None) -> list[ConsumerSpec]:
    """``count`` consumers over ``keys``; per key, their caches' ages are spread evenly over the TTL.

    The consumers of a key in OpenBao take ``sources`` in turn; those of a key in Secrets Manager
    use ``SecretCache`` (refresh interval ``ttl``).
    """
    per_key: dict[str, int] = {}
    specs = []
    for number in range(count):
        key = keys[number % len(keys)]
        rank = per_key.get(key.host, 0)
        per_key[key.host] = rank + 1
        share = math.ceil(count / len(keys))
        source = sources[rank % len(sources)] if key.store == VAULT else "secretsmanager"
        specs.append(ConsumerSpec(name=f"{key.host}-app{rank}", group=group, provider=key.provider, url=key.endpoint,
                                  vault_path=key.vault_path, source=source,
                                  cache_ttl=sm_ttl if source == "secretsmanager" and sm_ttl is not None else ttl,
                                  render_interval=cfg.render_interval if render_interval is None else render_interval,
                                  rate=cfg.rate, age=ttl * (rank / share)))
    return specs


def _figures(stats: list[ConsumerStats]) -> dict[str, GroupFigures]:
    groups: dict[str, GroupFigures] = {}
    for one in stats:
        figures = groups.setdefault(one.group, GroupFigures())
        figures.consumers += 1
        figures.requests += one.requests
        figures.failed += one.failed
        for tally in (figures.by_provider.setdefault(one.provider, [0, 0]), figures.by_source.setdefault(one.source, [0, 0])):
            tally[0] += one.requests
            tally[1] += one.failed
        figures.failure_samples += [f"{one.name}: key {key_id} -> HTTP {status} at {when:.3f}"
                                    for when, key_id, status in one.failures[:2]]
    return groups


def _staleness(stats: list[ConsumerStats], promoted: dict[str, float]) -> tuple[float, float, dict[str, float]]:
    per_consumer: list[float] = []
    by_source: dict[str, float] = {}
    for one in stats:
        seen = [one.first_use[key_id] - promoted[key_id] for key_id in one.first_use if key_id in promoted]
        if seen:
            worst = max(seen)
            per_consumer.append(worst)
            by_source[one.source] = round(max(by_source.get(one.source, 0.0), worst), 2)
    if not per_consumer:
        return 0.0, 0.0, by_source
    return max(per_consumer), statistics.median(per_consumer), by_source


def _keys(bench: Bench, vault: hvac.Client, prefix: str, cfg: Config, evidence_url: str) -> list[BenchKey]:
    real_vars = {"apikeys_grace_period": f"{cfg.grace}s", "revoke_after_grace_postpone_by": cfg.postpone_by,
                 "apikeys_usage_evidence": {"source": "http", "url": evidence_url}}
    keys = []
    first_sm = cfg.keys_per_cohort - cfg.sm_keys_per_cohort
    for cohort in range(cfg.cohorts):
        for number in range(cfg.keys_per_cohort):
            keys.append(make_key(bench, vault, prefix, PROVIDERS[(number + cohort) % 2], number, REAL, f"cohort{cohort}", real_vars,
                                 SECRETS_MANAGER if number >= first_sm else VAULT))
    if cfg.controls:
        stores = [(provider, VAULT) for provider in PROVIDERS] + ([(PROVIDERS[0], SECRETS_MANAGER)] if cfg.sm_keys_per_cohort else [])
        for number, (provider, store) in enumerate(stores):
            keys.append(make_key(bench, vault, prefix, provider, number, CONTROL_A, "control_a",
                                 {"apikeys_grace_period": f"{cfg.grace}s", "apikeys_usage_evidence": {"source": "none"}}, store))
            keys.append(make_key(bench, vault, prefix, provider, number, CONTROL_B, "control_b",
                                 {"apikeys_grace_period": f"{cfg.control_b_grace}s", "apikeys_usage_evidence": {"source": "none"}}, store))
    return keys


def run(bench: Bench, cfg: Config, progress: Callable[[str], None] | None = None) -> Report:
    """One run on a started bench (OpenBao, SendGrid and gateway emulators)."""
    say = progress or (lambda text: None)
    ensure_collection_link()
    prefix = "zd" + uuid.uuid4().hex[:6]
    vault = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)
    with tempfile.TemporaryDirectory(prefix="apikeys-zd-") as tmp, ConsumerFleet() as fleet:
        workdir = Path(tmp)
        keys = _keys(bench, vault, prefix, cfg, fleet.url + "/key-versions")
        inventory = write_inventory(workdir / "inventory.yml", keys, {"apikeys_clock_skew": f"{cfg.clock_skew}s"})
        playbooks = Playbooks(bench, inventory, workdir, cfg.clock_skew)
        with_sm = any(key.store == SECRETS_MANAGER for key in keys)
        records = Records(vault, bench.moto.client("secretsmanager") if with_sm else None)
        for key in keys:
            records.read(key)  # notes the seeded keys for the secret scan
        vault_for_control = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)  # its own session: polls fast
        control_records = Records(vault_for_control, bench.moto.client("secretsmanager") if with_sm else None, records.seen)
        real = [key for key in keys if key.group == REAL]
        specs = _specs(real, cfg.consumers, cfg, cfg.ttl, cfg.vault_sources, REAL, sm_ttl=cfg.sm_refresh)
        if cfg.controls:
            specs += _specs([k for k in keys if k.group == CONTROL_A], cfg.control_consumers, cfg, cfg.ttl, cfg.vault_sources, CONTROL_A,
                            sm_ttl=cfg.sm_refresh)
            # control (b): every kind of consumer holds its key longer than the grace (cache TTL, render interval, refresh)
            specs += _specs([k for k in keys if k.group == CONTROL_B], cfg.control_consumers, cfg, cfg.control_b_ttl, cfg.vault_sources,
                            CONTROL_B, render_interval=cfg.control_b_ttl)
        say(f"{len(keys)} keys, {len(specs)} consumers in {cfg.processes} worker processes at {cfg.rate:g} req/s each")
        stop = threading.Event()
        pool = ConsumerPool(specs, consumer_access(vault, bench.openbao.url, prefix), workdir / "agent", fleet.hold,
                            cfg.processes, cfg.max_seconds + 120,
                            agent_vault=consumer_access(vault, bench.openbao.url, prefix, agent=True),
                            aws=consumer_aws_access(bench, prefix) if with_sm else None)
        cycles: list[list[Cycle]] = [[] for _unused in range(cfg.cohorts)]
        controls: list[Control] = []
        started = time.monotonic()
        with pool:
            stop.wait(cfg.settle)
            round_seconds = cfg.grace + 4.0
            more = _Budget(cfg, pool, started)
            threads = [threading.Thread(target=run_cycles, name=f"cohort{n}", daemon=True,
                                        args=(playbooks, records, [k for k in real if k.inventory_group == f"cohort{n}"],
                                              f"cohort{n}", more, stop, n * round_seconds / cfg.cohorts, cycles[n]))
                       for n in range(cfg.cohorts)]
            if cfg.controls:
                threads.append(threading.Thread(target=lambda: controls.append(control_revoke_at_once(
                    bench, playbooks, control_records, [k for k in keys if k.group == CONTROL_A], "control_a")), daemon=True))
                threads.append(threading.Thread(target=lambda: controls.append(control_short_grace(
                    playbooks, records, [k for k in keys if k.group == CONTROL_B], "control_b", stop)), daemon=True))
            for thread in threads:
                thread.start()
            _watch(threads, pool, cycles, say, started, cfg.max_seconds)
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            time.sleep(cfg.settle)
            stats = pool.stop()
        seconds = time.monotonic() - started
    controls.sort(key=lambda control: control.name != "revoke at once")
    report = _report(cfg, seconds, stats, [c for batch in cycles for c in batch], controls)
    report.keys, report.seen = keys, records.seen
    report.agent_logs, report.agent_renders = pool.agent_logs, pool.agent_renders
    return report


class _Budget:
    """Whether a cohort may start another cycle: until ``cycles`` were started and ``min_requests`` were made."""

    def __init__(self, cfg: Config, pool: ConsumerPool, started: float) -> None:
        self._cfg = cfg
        self._pool = pool
        self._started = started
        self._claimed = 0
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        with self._lock:
            wanted = self._claimed < self._cfg.cycles or sum(self._pool.totals(REAL)) < self._cfg.min_requests
            if wanted and time.monotonic() - self._started < self._cfg.max_seconds - 3 * (self._cfg.grace + 10):
                self._claimed += 1
                return True
            return False


def _watch(threads: list[threading.Thread], pool: ConsumerPool, cycles: list[list[Cycle]], say: Callable[[str], None],
           started: float, max_seconds: float) -> None:
    last = time.monotonic()
    while any(thread.is_alive() for thread in threads) and time.monotonic() - started < max_seconds:
        time.sleep(0.5)
        if time.monotonic() - last >= 30:
            last = time.monotonic()
            ok, failed = pool.totals(REAL)
            done = sum(c.ok for batch in cycles for c in batch)
            say(f"{last - started:5.0f} s: {ok + failed} requests, {failed} failed, {done} cycles done")


def _report(cfg: Config, seconds: float, stats: list[ConsumerStats], cycles: list[Cycle], controls: list[Control]) -> Report:
    promoted = {key_id: when for cycle in cycles for key_id, when in cycle.promoted.items()}
    real = [one for one in stats if one.group == REAL]
    worst, median, by_source = _staleness(real, promoted)
    requests_total = sum(one.requests for one in stats) or 1
    return Report(cfg, seconds, _figures(stats), cycles, controls, worst, median, by_source,
                  sum(one.source_errors for one in stats), sum(one.slips for one in stats),
                  1000 * sum(one.latency_sum for one in stats) / requests_total,
                  1000 * max((one.latency_max for one in stats), default=0.0))


__all__ = ["CONTROL_A", "CONTROL_B", "REAL", "Config", "GroupFigures", "Report", "run"]
