"""Zero downtime under load, with a measurement that can fail (issue 6).

20 consumers (half with a TTL cache over OpenBao, half reading a file an agent renders) call the
SendGrid and gateway emulators 10 times a second each while rotate.yml and revoke_after_grace.yml
run 5 real cycles on 4 keys (cache TTL 0.5 s, grace 6 s: production's 5 min TTL and 1 h grace
scaled 1:600). At the same time two negative controls run on keys of their own: (a) the old key
deleted at the provider the moment the new key is current, (b) a grace (1 s) shorter than the
consumers' cache TTL (30 s). The real cycles must fail no request; each control must fail some,
or the harness could not see downtime at all.
"""
from __future__ import annotations

import time

from tests.bench.bench import Bench
from tests.bench.harness.scenario import CONTROL_A, CONTROL_B, Config, run

CONFIG = Config(consumers=20, cycles=5, cohorts=1, keys_per_cohort=4, rate=10.0, ttl=0.5, render_interval=0.5, grace=6,
                control_consumers=8, control_b_ttl=30.0, control_b_grace=1, processes=2, settle=1.0, max_seconds=150.0)


def test_rotation_cycles_under_load_fail_no_request_and_both_controls_do(bench: Bench) -> None:
    started = time.monotonic()

    report = run(bench, CONFIG)

    summary = "\n".join(report.lines())
    print(summary)  # key ids only; shown with pytest -rP
    assert report.cycles_ok == CONFIG.cycles, summary
    assert report.key_rotations == CONFIG.cycles * CONFIG.keys_per_cohort, summary
    assert report.real.consumers == CONFIG.consumers, summary
    assert report.real.requests >= 0.8 * CONFIG.consumers * CONFIG.rate * (report.seconds - 2 * CONFIG.settle), summary
    assert set(report.real.by_provider) == {"sendgrid", "gateway"}, summary
    assert report.real.failed == 0, summary
    assert report.staleness_max < CONFIG.grace, summary
    assert report.failed(CONTROL_A) > 0, "revoking at once must fail requests:\n" + summary
    assert report.failed(CONTROL_B) > 0, "a grace shorter than the cache TTL must fail requests:\n" + summary
    assert all(not control.problem for control in report.controls), summary
    assert time.monotonic() - started < 90, summary
