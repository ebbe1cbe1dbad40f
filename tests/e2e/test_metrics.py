"""Metrics end to end: rotate on the real bench, then playbooks/metrics.yml with a monitor-policy token.

The textfile is read back with prometheus_client's parser and checked against the record read with the
root token (age, due time, phase, grace deadline, key ids); api_key_info with only the monitor policy
returns what the full read returns and the token cannot read the key; check mode writes nothing; a real
node_exporter serves the files and a real Prometheus evaluates the shipped rules on them; no secret in any
output or file. Run time ~60 s.
"""
from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import hvac
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.bench._proc import wait_until
from tests.bench.node_exporter import start_node_exporter
from tests.bench.prometheus import start_prometheus

from .conftest import ROOT, World, clear_faults, faults, parse_iso
from .test_canary import assert_nowhere, bench_secrets
from .test_policies import token_with

RULES = ROOT / "monitoring" / "prometheus" / "apikeys-rules.yml"
DAY = 86400
INFO_PLAYBOOK = """
- name: api_key_info both ways
  hosts: m
  gather_facts: false
  tasks:
    - name: From the metadata only
      apikeys.rotation.api_key_info:
        metadata_only: true
      register: meta
    - name: The full read (needs the right to read the key)
      apikeys.rotation.api_key_info:
      register: full
      ignore_errors: true
    - name: Keep both
      ansible.builtin.copy:
        content: "{{ {'meta': meta, 'full': full} | to_json }}"
        dest: "{{ out }}/{{ inventory_hostname }}.json"
        mode: "0600"
"""


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(path.read_text()) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def info_results(world: World, out: Path, token: str | None) -> dict[str, dict[str, Any]]:
    playbook = world.tmp / "info.yml"
    playbook.write_text(INFO_PLAYBOOK)
    out.mkdir()
    run = world.playbook(str(playbook), extra_env={"VAULT_TOKEN": token} if token else None, out=str(out))
    assert run.rc == 0, run.output[-3000:]
    return {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


@pytest.fixture
def textfiles(world: World) -> Path:
    folder = world.tmp / "textfile"
    folder.mkdir()
    return folder


def test_metrics_from_the_metadata_with_the_monitor_policy(world: World, textfiles: Path) -> None:
    ok = world.key("sendgrid", root="apikeys/")
    bad = world.key("http", root="apikeys/", age=timedelta(days=50))
    outside = world.key("sendgrid")  # its record is outside secret/apikeys/: the monitor policy may not read it
    world.groups["m"] = [ok.host, bad.host]
    world.groups["metrics"] = [ok.host, bad.host, outside.host]
    monitor = token_with(world, "monitor")

    # a rotation run: one key rotated, one failing at the provider (a 503 on create)
    faults(world.bench.gateway.url, match="POST /consumers/demo/key-auth", status=503, count=100)
    try:
        started = time.time()
        rotated = world.playbook("rotate.yml", secret="m", apikeys_metrics_dir=str(textfiles))
        took = time.time() - started
        fired = requests.get(world.bench.gateway.url + "/__emulator/faults/fired", timeout=5).json()["total"]
    finally:
        clear_faults(world.bench.gateway.url)
    assert fired >= 1, "the injected 503 never fired: " + rotated.output[-3000:]
    assert rotated.rc != 0 and "failed=1" in rotated.stdout, rotated.output[-3000:]
    record = world.record(ok).data
    assert record["previous_key_id"] == ok.key_id

    # check mode writes nothing
    checked = world.playbook("metrics.yml", "--check", extra_env={"VAULT_TOKEN": monitor}, secret="metrics",
                             apikeys_metrics_dir=str(textfiles))
    assert "changed" in checked.stdout and not (textfiles / "apikeys.prom").exists(), checked.output[-3000:]

    # metrics.yml with only the monitor policy, at -vvvv for the secret scan
    run = world.playbook("metrics.yml", "-vvvv", "--diff", extra_env={"VAULT_TOKEN": monitor}, secret="metrics",
                         apikeys_metrics_dir=str(textfiles))
    # the key the token may not read fails the run, and is still in the file, as unread
    assert run.rc != 0 and f"{outside.host}" in run.stdout and "permission denied" in run.stdout, run.output[-3000:]
    now = time.time()
    found = samples(textfiles / "apikeys.prom")
    good = {"key": ok.host, "provider": "sendgrid"}
    rotated_at = parse_iso(record["rotated_at"]).timestamp()
    assert value(found, "apikeys_key_info", key_id=record["key_id"], phase="grace", **good) == 1
    assert value(found, "apikeys_key_previous_info", key_id=ok.key_id, **good) == 1
    assert value(found, "apikeys_key_phase", phase="grace", **good) == 1
    assert value(found, "apikeys_key_phase", phase="idle", **good) == 0
    assert abs(value(found, "apikeys_key_age_seconds", **good) - (now - rotated_at)) < 30
    assert value(found, "apikeys_key_rotation_frequency_seconds", **good) == 30 * DAY
    assert value(found, "apikeys_key_next_due_timestamp_seconds", **good) == rotated_at + 30 * DAY
    assert value(found, "apikeys_key_grace_deadline_timestamp_seconds", **good) == \
        parse_iso(record["previous_key_revocation_at"]).timestamp()
    assert value(found, "apikeys_key_last_rotation_timestamp_seconds", **good) == rotated_at
    assert value(found, "apikeys_key_last_failed", **good) == 0
    assert value(found, "apikeys_key_metadata_read_success", **good) == 1
    failing = {"key": bad.host, "provider": "http"}
    assert value(found, "apikeys_key_last_failed", **failing) == 1
    assert abs(value(found, "apikeys_key_age_seconds", **failing) - 50 * DAY) < 60
    unread = {"key": outside.host, "provider": "sendgrid"}
    assert value(found, "apikeys_key_metadata_read_success", **unread) == 0
    assert not [name for name, labels in found if ("key", outside.host) in labels and
                name != "apikeys_key_metadata_read_success"]

    runs = samples(textfiles / "apikeys_run_rotate.prom")
    assert value(runs, "apikeys_run_success", playbook="rotate") == 0
    assert value(runs, "apikeys_run_keys", playbook="rotate", outcome="rotated") == 1
    assert value(runs, "apikeys_run_keys", playbook="rotate", outcome="failed") == 1
    assert 0 < value(runs, "apikeys_run_duration_seconds", playbook="rotate") <= took + 1

    # api_key_info with the monitor policy: the same result as the full read; the key stays unreadable
    meta = info_results(world, world.tmp / "as-monitor", monitor)
    full = info_results(world, world.tmp / "as-root", None)
    for key in (ok, bad):
        seen, truth = meta[key.host]["meta"], full[key.host]["full"]
        assert seen["record"] == dict(truth["record"], last_rotation_id=None), key.host
        assert seen["plan"]["action"] == truth["plan"]["action"], key.host
        assert seen["revocation"]["due"] == truth["revocation"]["due"], key.host  # its reason says "in <time>"
        for field in ("due_at", "rotation_frequency_seconds", "grace_period_seconds"):
            assert seen["schedule"][field] == truth["schedule"][field], field
        assert abs(seen["schedule"]["age_seconds"] - truth["schedule"]["age_seconds"]) < 30
        assert meta[key.host]["full"].get("failed"), "the monitor policy read the record's data"
    assert meta[ok.host]["meta"]["schedule"]["due_at"] and meta[ok.host]["meta"]["record"]["phase"] == "grace"
    reader = hvac.Client(url=world.bench.openbao.url, token=monitor)
    with pytest.raises(hvac.exceptions.Forbidden):
        reader.secrets.kv.v2.read_secret_version(path=ok.vault_path.split("/", 1)[1], mount_point="secret",
                                                 raise_on_deleted_version=True)

    # no secret anywhere: outputs, the textfiles, the info results
    secrets = dict(bench_secrets(world), monitor_token=monitor, old=ok.secret, new=record["key"], other=bad.secret,
                   outside=outside.secret)
    assert_nowhere(secrets, run, world)
    for earlier in (rotated, checked):
        assert not any(secret in earlier.output for secret in secrets.values())

    # the other two roles write their own run files beside (the rotated key rolled back, nothing due after grace)
    graced = world.playbook("revoke_after_grace.yml", secret=ok.host, apikeys_metrics_dir=str(textfiles))
    rolled = world.playbook("rollback.yml", secret=ok.host, apikeys_metrics_dir=str(textfiles))
    assert graced.rc == 0 and rolled.rc == 0, graced.output[-2000:] + rolled.output[-2000:]
    for playbook, outcome in (("revoke_after_grace", "not_due"), ("rollback", "rolled_back")):
        each = samples(textfiles / f"apikeys_run_{playbook}.prom")
        assert value(each, "apikeys_run_success", playbook=playbook) == 1
        assert value(each, "apikeys_run_keys", playbook=playbook, outcome=outcome) == 1, each
    assert value(samples(textfiles / "apikeys_run_rotate.prom"), "apikeys_run_success", playbook="rotate") == 0

    # a real node_exporter serves the four files, a real Prometheus evaluates the shipped rules on them
    exporter = start_node_exporter(world.tmp / "node", textfiles)
    prometheus = start_prometheus(world.tmp / "prometheus", [exporter.target], scrape_interval="1s", rule_files=[RULES])
    try:
        wait_until(prometheus.targets_up, 20, "prometheus scraping node_exporter")
        assert prometheus.value("max(node_textfile_scrape_error)") == 0, exporter.metrics()[-2000:]

        def firing() -> set[tuple[str, str]]:
            return {(a["labels"]["alertname"], a["labels"].get("key") or a["labels"].get("playbook", ""))
                    for a in prometheus.alerts() if a["state"] == "firing"}

        expected = {("ApiKeyApproachingMaxAge", bad.host), ("ApiKeyRotationFailed", bad.host),
                    ("ApiKeyRotationFailed", "rotate")}
        wait_until(lambda: expected <= firing(), 20, "the age and failure alerts")
        assert ("ApiKeyApproachingMaxAge", ok.host) not in firing()
        assert ("ApiKeyRotationFailed", ok.host) not in firing()
        health = {r["name"]: r["health"] for g in prometheus.rule_groups() for r in g["rules"]}
        assert set(health.values()) == {"ok"}, health
    finally:
        prometheus.stop()
        exporter.stop()
