"""Zero downtime under load, with a measurement that can fail (issue 6), with the real clients (issue 12 item 6).

20 consumers call the SendGrid and gateway emulators 10 times a second each while rotate.yml and
revoke_after_grace.yml run 5 real cycles on 4 keys (cache TTL 0.5 s, grace 6 s: production's 5 min
TTL and 1 h grace scaled 1:600). Three keys are in OpenBao, read through a TTL cache over hvac, a
file rendered by the stand-in agent, and a file rendered by the real OpenBao Agent (``bao agent``,
template ``{{ with secret "secret/data/..." }}{{ .Data.data.key }}...``); one key is in AWS Secrets
Manager (moto), read through ``aws-secretsmanager-caching``'s ``SecretCache``. At the same time two
negative controls run on keys of their own: (a) the old key deleted at the provider the moment the
new key is current, (b) a grace (1 s) shorter than how long every kind of consumer keeps its key
(cache TTL, agent render interval, SecretCache refresh interval: 300 s). The real cycles must fail no
request; each control must fail some, (b) for every kind of consumer, or the harness could not see
downtime at all. The bao agents are started and stopped by the run; none may be left, and no key
may appear in what the run prints or in the agents' logs.
"""
from __future__ import annotations

import json
import time

import hvac

from tests.bench.bench import Bench
from tests.bench.harness.bao_agent import leftover_agents
from tests.bench.harness.keys import SECRETS_MANAGER, BenchKey
from tests.bench.harness.scenario import CONTROL_A, CONTROL_B, REAL, Config, Report, run
from tests.bench.harness.store import split_path

CONFIG = Config(consumers=20, cycles=5, cohorts=1, keys_per_cohort=4, sm_keys_per_cohort=1, sm_refresh=2, rate=10.0, ttl=0.5, render_interval=0.5,
                grace=6, control_consumers=12, control_b_ttl=300.0, control_b_grace=1, processes=2, settle=1.0, max_seconds=200.0)
KINDS = {"vault", "file", "agent"} | ({"secretsmanager"} if CONFIG.sm_keys_per_cohort else set())
SECRET_FIELDS = ("key", "previous_key", "pending_key", "revoking_key")


def stored_secrets(bench: Bench, keys: list[BenchKey]) -> set[str]:
    """The key values the stores still hold for the run's records (every retained version), read straight from OpenBao and moto."""
    vault = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)
    sm = bench.moto.client("secretsmanager")
    found: set[str] = set()
    for key in keys:
        if key.store == SECRETS_MANAGER:
            versions = sm.list_secret_version_ids(SecretId=key.vault_path, IncludeDeprecated=True)["Versions"]
            records = [json.loads(sm.get_secret_value(SecretId=key.vault_path, VersionId=v["VersionId"])["SecretString"]) for v in versions]
        else:
            mount, path = split_path(key.vault_path)
            meta = vault.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount)["data"]["versions"]
            records = [vault.secrets.kv.v2.read_secret_version(path=path, mount_point=mount, version=int(number),
                                                               raise_on_deleted_version=True)["data"]["data"]
                       for number, state in meta.items() if not state["destroyed"] and not state["deletion_time"]]
        found |= {str(record[name]) for record in records for name in SECRET_FIELDS if record.get(name)}
    return found


def check_no_secret(report: Report, bench: Bench, printed: str) -> None:
    """No key in what the run printed or in the bao agents' logs; the scan knows every key the stores still hold."""
    stored = stored_secrets(bench, report.keys)
    unseen = [secret for secret in stored if not report.seen.leaked(secret)]
    assert not unseen and len(report.seen) >= 2 * len(report.keys), f"the scan misses {len(unseen)} stored keys"
    assert report.agent_logs and all(" rendered " in log for log in report.agent_logs.values()), report.agent_logs.keys()
    for name, text in {**report.agent_logs, "printed": printed}.items():
        assert not report.seen.leaked(text), f"{name} contains key(s) {report.seen.leaked(text)}"
    assert "none in the summary" in report.secret_scan(), report.secret_scan()


def test_rotation_cycles_under_load_fail_no_request_and_both_controls_do(bench: Bench) -> None:
    started = time.monotonic()
    before = set(leftover_agents())

    report = run(bench, CONFIG)

    summary = "\n".join(report.lines())
    print(summary)  # key ids only; shown with pytest -rP
    assert report.cycles_ok == CONFIG.cycles, summary
    assert report.key_rotations == CONFIG.cycles * CONFIG.keys_per_cohort, summary
    assert report.real.consumers == CONFIG.consumers, summary
    assert report.real.requests >= 0.8 * CONFIG.consumers * CONFIG.rate * (report.seconds - 2 * CONFIG.settle), summary
    assert set(report.real.by_provider) == {"sendgrid", "gateway"}, summary
    assert set(report.real.by_source) == KINDS, summary
    assert report.real.failed == 0, summary
    # every kind of consumer, the bao agent's and SecretCache's included, took up the new keys within the grace
    assert set(report.staleness_by_source) == KINDS, summary
    assert report.staleness_max < CONFIG.grace, summary
    assert report.failed(CONTROL_A) > 0, "revoking at once must fail requests:\n" + summary
    assert report.failed(CONTROL_B) > 0, "a grace shorter than the cache TTL must fail requests:\n" + summary
    control_b = report.groups[CONTROL_B].by_source
    assert set(control_b) == KINDS and all(failed > 0 for _requests, failed in control_b.values()), \
        "every kind of consumer that keeps its key longer than the grace must fail:\n" + summary
    assert all(not control.problem for control in report.controls), summary
    # the agents were started for the run and are gone; nothing printed or logged holds a key
    assert report.agent_renders > len([k for k in report.keys if k.group == REAL]), summary
    assert set(leftover_agents()) <= before, "bao agent processes left running"
    check_no_secret(report, bench, summary)
    assert time.monotonic() - started < 120, summary
