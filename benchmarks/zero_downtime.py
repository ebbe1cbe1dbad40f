"""Zero downtime under load: live consumers keep calling the providers while the real playbooks rotate their keys.

Starts OpenBao, moto (AWS Secrets Manager) and the SendGrid and gateway emulators on 127.0.0.1
(each emulator in its own process, so the two cores both work), seeds the keys (--sm-keys-per-cohort
of each cohort in Secrets Manager, the rest in OpenBao), starts the consumers (threads in --processes
worker processes; a key in OpenBao is read in turn through a TTL cache over hvac, a file rendered by
the stand-in agent, and a file rendered by the real OpenBao Agent; a key in Secrets Manager through
aws-secretsmanager-caching's SecretCache) and runs --cycles rotate -> grace -> revoke-after-grace
cycles with ansible-playbook, plus the two negative controls, which must fail requests: (a) the old
key revoked at once, (b) a grace shorter than how long the consumers keep a key (cache TTL, render
interval, refresh interval), for every kind of consumer. Prints consumers, requests, failed
requests, cycles, the max staleness (how long after a new key became current a consumer first used
it; max over consumers), the controls' failures and a scan of the output and the agents' logs for
keys. Exit status 1 when a real request failed, a cycle failed, a control failed no request (for
(b): of some kind of consumer) or a key was found.

Run:  .venv/bin/python benchmarks/zero_downtime.py --consumers 100 --cycles 100 --rate 10
      .venv/bin/python benchmarks/zero_downtime.py --calibrate 500,1000,1500   # sustainable rate
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.bench import start_all  # noqa: E402  pylint: disable=wrong-import-position
from tests.bench.harness.scenario import CONTROL_A, CONTROL_B, Config, Report, run  # noqa: E402  pylint: disable=wrong-import-position


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--consumers", type=int, default=100, help="consumers of the real keys")
    parser.add_argument("--cycles", type=int, default=10, help="rotate -> grace -> revoke cycles, over all cohorts")
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second per consumer")
    parser.add_argument("--ttl", type=float, default=1.0, help="consumers' cache TTL, seconds")
    parser.add_argument("--render-interval", type=float, default=1.0, help="the agent's render interval, seconds")
    parser.add_argument("--grace", type=int, default=12, help="apikeys_grace_period of the real keys, whole seconds")
    parser.add_argument("--cohorts", type=int, default=2, help="key groups cycling independently, staggered")
    parser.add_argument("--keys-per-cohort", type=int, default=4, help="keys per cohort (SendGrid and gateway alternately)")
    parser.add_argument("--sm-keys-per-cohort", type=int, default=1, help="of each cohort's keys, how many are kept in Secrets Manager")
    parser.add_argument("--sm-refresh", type=int, default=2, help="SecretCache secret_refresh_interval of the consumers, whole seconds")
    parser.add_argument("--processes", type=int, default=3, help="consumer worker processes")
    parser.add_argument("--min-requests", type=int, default=0, help="keep cycling beyond --cycles until this many requests")
    parser.add_argument("--max-minutes", type=float, default=40.0, help="start no cycle after this (minus three cycles)")
    parser.add_argument("--control-b-ttl", type=float, default=300.0,
                        help="control (b)'s consumers: cache TTL, agent render interval and SecretCache refresh interval")
    parser.add_argument("--control-b-grace", type=int, default=1, help="grace of control (b)'s keys, seconds")
    parser.add_argument("--no-controls", action="store_true", help="skip the negative controls")
    parser.add_argument("--in-process", action="store_true", help="serve the emulators from threads of this process")
    parser.add_argument("--calibrate", default="", help="comma-separated total request rates: load only, 20 s each")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON (key ids only)")
    return parser.parse_args()


def config(args: argparse.Namespace) -> Config:
    return Config(consumers=args.consumers, cycles=args.cycles, cohorts=args.cohorts, keys_per_cohort=args.keys_per_cohort,
                  sm_keys_per_cohort=args.sm_keys_per_cohort, sm_refresh=args.sm_refresh, rate=args.rate, ttl=args.ttl,
                  render_interval=args.render_interval, grace=args.grace,
                  controls=not args.no_controls, control_b_ttl=args.control_b_ttl, control_b_grace=args.control_b_grace,
                  processes=args.processes, min_requests=args.min_requests, max_seconds=60 * args.max_minutes)


def calibrate(args: argparse.Namespace, bench: object) -> None:
    print("| target req/s | achieved req/s | share | mean latency | max latency | schedule slips | failed |")
    print("|---|---|---|---|---|---|---|")
    for level in (float(text) for text in args.calibrate.split(",") if text.strip()):
        cfg = Config(consumers=args.consumers, cycles=0, cohorts=args.cohorts, keys_per_cohort=args.keys_per_cohort,
                     sm_keys_per_cohort=args.sm_keys_per_cohort, sm_refresh=args.sm_refresh, rate=level / args.consumers, ttl=args.ttl,
                     render_interval=args.render_interval, controls=False,
                     processes=args.processes, settle=10.0)
        report = run(bench, cfg)  # type: ignore[arg-type]
        real = report.real
        achieved = real.requests / report.seconds
        print(f"| {level:.0f} | {achieved:.0f} | {achieved / level:.0%} | {report.latency_mean_ms:.1f} ms "
              f"| {report.latency_max_ms:.0f} ms | {report.slips} | {real.failed} |", flush=True)


def verdict(report: Report) -> list[str]:
    problems = []
    if report.real.failed:
        problems.append(f"{report.real.failed} real requests failed")
    if report.cycles_ok < report.config.cycles:
        problems.append(f"only {report.cycles_ok} of {report.config.cycles} cycles completed")
    if report.config.controls and not (report.failed(CONTROL_A) and report.failed(CONTROL_B)):
        problems.append("a negative control failed no request: the harness cannot see downtime")
    unseen = [kind for kind, (_requests, failed) in report.groups[CONTROL_B].by_source.items() if not failed] if report.config.controls else []
    if unseen:
        problems.append(f"control (b) failed no request of the {unseen} consumers: the harness cannot see their downtime")
    if "none in the summary" not in report.secret_scan():
        problems.append("a key appears in the output or an agent's log")
    return problems


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: the servers and worker processes are stopped


def main() -> int:
    args = parse()
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)  # also when started in the background (SIGINT ignored there)
    with tempfile.TemporaryDirectory(prefix="apikeys-zd-bench-") as workdir:
        services = "openbao,moto,sendgrid,gateway" if args.sm_keys_per_cohort else "openbao,sendgrid,gateway"
        bench = start_all(Path(workdir) / "bench", only=services, detached=not args.in_process)
        try:
            if args.calibrate:
                calibrate(args, bench)
                return 0
            started = time.monotonic()
            report = run(bench, config(args), progress=lambda text: print(text, flush=True))
            print(f"\nwall time {time.monotonic() - started:.0f} s")
            print("\n".join(report.lines()))
            print(report.secret_scan())
            if args.json:
                figures = {"config": asdict(report.config), "seconds": report.seconds,
                           "groups": {name: asdict(group) for name, group in report.groups.items()},
                           "cycles": [asdict(cycle) for cycle in report.cycles],
                           "controls": [asdict(control) for control in report.controls],
                           "staleness_max": report.staleness_max, "staleness_median": report.staleness_median,
                           "staleness_by_source": report.staleness_by_source, "agent_renders": report.agent_renders,
                           "bao_agents": len(report.agent_logs)}
                args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
        finally:
            bench.stop()
    problems = verdict(report)
    passed = "zero downtime: 0 failed requests; both controls failed requests (b: every kind of consumer); no key in the output"
    print("\nRESULT: " + ("; ".join(problems) if problems else passed))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
