"""The alert rules (monitoring/prometheus/apikeys-rules.yml): valid, unit-tested by promtool, on the metrics we write.

promtool (Debian's prometheus package, installed by ``make tools``) checks the file and runs its tests
(apikeys-rules.test.yml: each rule fires when it should and stays silent when it should). A test that
breaks one threshold shows the tests can fail. The metric names the rules use must be names the
api_key_metrics action writes (read from the exposition it produces), or the gateway's request counter.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.apikeys.rotation.plugins.module_utils import _metrics as metrics

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "monitoring" / "prometheus" / "apikeys-rules.yml"
TESTS = REPO / "monitoring" / "prometheus" / "apikeys-rules.test.yml"
INSTALL_HINT = "run `make tools` (tests/bench/install_prometheus.sh installs Debian's prometheus package, which ships promtool)"
FIVE = ("ApiKeyRotationFailed", "ApiKeyApproachingMaxAge", "ApiKeyOldKeyUsedAfterGrace", "ApiKeyAuthFailureSpike",
        "ApiKeyRevokedKeyUsed")
SEVERITY = {"ApiKeyRotationFailed": ("critical", "true"), "ApiKeyApproachingMaxAge": ("high", None),
            "ApiKeyOldKeyUsedAfterGrace": ("warning", None), "ApiKeyAuthFailureSpike": ("critical", "true"),
            "ApiKeyRevokedKeyUsed": ("high", None)}


def promtool() -> str:
    found = shutil.which("promtool") or ("/usr/bin/promtool" if os.access("/usr/bin/promtool", os.X_OK) else None)
    if found is None:
        pytest.fail(f"promtool not found on PATH or at /usr/bin/promtool: {INSTALL_HINT}")
    return found


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False)


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_promtool_checks_the_rules():
    done = run("check", "rules", str(RULES), cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_pass():
    done = run("test", "rules", str(TESTS), cwd=TESTS.parent)
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("old, new", [
    ("> 1.5 * apikeys_key_rotation_frequency_seconds", "> 1.4 * apikeys_key_rotation_frequency_seconds"),
    ("< time() - 120", "< time()"),
    ("[5m])) > 0.1", "[5m])) > 0.001"),
])
def test_the_unit_tests_can_fail(tmp_path: Path, old: str, new: str):
    text = RULES.read_text()
    assert old in text
    (tmp_path / RULES.name).write_text(text.replace(old, new))
    shutil.copy(TESTS, tmp_path / TESTS.name)
    done = run("test", "rules", TESTS.name, cwd=tmp_path)
    assert done.returncode != 0, f"the tests pass with {new!r} instead of {old!r}"


def test_the_five_rules_and_their_severities():
    by_name = {rule["alert"]: rule for rule in rules()}
    assert set(FIVE) <= set(by_name)
    for name, (severity, page) in SEVERITY.items():
        labels = by_name[name]["labels"]
        assert labels["severity"] == severity and labels.get("page") == page, name
    for rule in by_name.values():
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
        assert "docs/monitoring.md#" + rule["alert"].lower() in rule["annotations"]["runbook"]


def test_each_rule_is_tested_firing_and_silent():
    tests = yaml.safe_load(TESTS.read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    for rule in rules():
        mine = [case for case in cases if case["alertname"] == rule["alert"]]
        assert any(case["exp_alerts"] for case in mine), f"{rule['alert']}: no test where it fires"
        assert any(not case["exp_alerts"] for case in mine), f"{rule['alert']}: no test where it stays silent"


def written_names() -> set[str]:
    """The metric names in what the metrics code writes, read back with prometheus_client's parser."""
    now = datetime(2026, 11, 26, tzinfo=timezone.utc)
    result = {"record": {"exists": True, "phase": "grace", "key_id": "k2", "previous_key_id": "k1",
                         "previous_key_revocation_at": "2026-11-26T01:00:00Z", "last_revoked_key_id": "k0",
                         "rotated_at": "2026-11-25T00:00:00Z", "last_result": "promoted",
                         "last_result_at": "2026-11-25T00:00:00Z", "revocation_postponements": 0},
              "schedule": {"rotation_frequency_seconds": 86400, "grace_period_seconds": 3600, "age_seconds": 86400,
                           "due_at": "2026-11-26T00:00:00Z"}}
    texts = [metrics.exposition(metrics.key_registry({"k": {"result": result, "provider": "http"}}, now)),
             metrics.exposition(metrics.run_registry("rotate", {"rotated": 1}, 1.0, now))]
    return {sample.name for text in texts for family in text_string_to_metric_families(text) for sample in family.samples}


def test_the_rules_use_only_metrics_that_are_written():
    used = set()
    for rule in rules():
        used |= set(re.findall(r"\b(apikeys_[a-z_]+|api_key_[a-z_]+)\b", rule["expr"]))
    ours = {name for name in used if name.startswith("apikeys_")}
    assert ours <= written_names(), f"the rules use metrics nobody writes: {sorted(ours - written_names())}"
    assert used - ours == {metrics.REQUESTS}, f"request metrics other than the gateway contract: {used - ours}"
    assert ours, "the rules use none of our metrics?"


def test_the_request_metric_labels_used_are_the_contract():
    for rule in rules():
        for selector in re.findall(metrics.REQUESTS + r"\{([^}]*)\}", rule["expr"]):
            labels = {part.split("=")[0].strip().rstrip("!~") for part in selector.split(",") if part.strip()}
            assert labels <= set(metrics.REQUESTS_LABELS), (rule["alert"], labels)


def test_the_bench_gateway_exports_the_request_metric_of_the_contract():
    source = (REPO / "tests" / "bench" / "emulators" / "gateway.py").read_text()
    assert f'REQUESTS_METRIC = "{metrics.REQUESTS}"' in source
    assert str(metrics.REQUESTS_LABELS).replace("'", '"') in source
