"""api_key_metrics: the textfile's metrics from api_key_info results, run metrics, check mode, diff, errors."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.apikeys.rotation.plugins.action.api_key_metrics import ActionModule, process_started
from ansible_collections.apikeys.rotation.plugins.module_utils import _metrics as metrics

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc)


def info(phase: str = "grace", **record: Any) -> dict[str, Any]:
    """An api_key_info result as the action returns it (only what the metrics read)."""
    base = {"exists": True, "phase": phase, "key_id": "k2", "rotated_at": "2026-11-26T10:00:00Z",
            "previous_key_id": "k1" if phase == "grace" else None,
            "previous_key_revocation_at": "2026-11-26T11:00:00Z" if phase == "grace" else None,
            "revocation_postponements": 2, "last_revoked_key_id": "k0", "last_result": "promoted",
            "last_result_at": "2026-11-26T10:00:05Z", "provider": "sendgrid"}
    base.update(record)
    return {"changed": False, "record": base,
            "schedule": {"rotation_frequency_seconds": 2592000, "grace_period_seconds": 3600, "age_seconds": 7200,
                         "due_at": "2026-12-26T10:00:00Z", "overdue_seconds": 0}}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def names(text: str) -> set[str]:
    return {name for name, labels in samples(text)}


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[(name, tuple(sorted(labels.items())))]


def ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_key_metrics_from_an_info_result():
    text = metrics.exposition(metrics.key_registry({"mailer": {"result": info(), "provider": "sendgrid"}}, NOW))
    key = {"key": "mailer", "provider": "sendgrid"}
    assert value(text, "apikeys_key_info", key_id="k2", phase="grace", **key) == 1
    assert value(text, "apikeys_key_previous_info", key_id="k1", **key) == 1
    assert value(text, "apikeys_key_revoked_info", key_id="k0", **key) == 1
    assert value(text, "apikeys_key_age_seconds", **key) == 7200
    assert value(text, "apikeys_key_rotation_frequency_seconds", **key) == 2592000
    assert value(text, "apikeys_key_grace_period_seconds", **key) == 3600
    assert value(text, "apikeys_key_next_due_timestamp_seconds", **key) == ts("2026-12-26T10:00:00Z")
    assert value(text, "apikeys_key_grace_deadline_timestamp_seconds", **key) == ts("2026-11-26T11:00:00Z")
    assert value(text, "apikeys_key_revocation_postponements", **key) == 2
    assert value(text, "apikeys_key_last_result_timestamp_seconds", **key) == ts("2026-11-26T10:00:05Z")
    assert value(text, "apikeys_key_last_rotation_timestamp_seconds", **key) == ts("2026-11-26T10:00:00Z")
    assert value(text, "apikeys_key_last_failed", **key) == 0
    assert value(text, "apikeys_key_metadata_read_success", **key) == 1
    assert value(text, "apikeys_metrics_collected_timestamp_seconds") == NOW.timestamp()
    for phase in ("idle", "intent", "pending", "grace", "revoking"):
        assert value(text, "apikeys_key_phase", phase=phase, **key) == (1 if phase == "grace" else 0)


def test_every_key_metric_name_is_written():
    text = metrics.exposition(metrics.key_registry({"mailer": {"result": info()}}, NOW))
    run = metrics.exposition(metrics.run_registry("rotate", {"rotated": 1}, 3.5, NOW))
    written = names(text) | names(run)
    assert written == metrics.metric_names()


def test_idle_key_has_no_grace_metrics_and_a_failed_last_result():
    text = metrics.exposition(metrics.key_registry({"m": {"result": info("idle", last_result="failed")}}, NOW))
    seen = names(text)
    assert "apikeys_key_grace_deadline_timestamp_seconds" not in seen and "apikeys_key_previous_info" not in seen
    assert value(text, "apikeys_key_last_failed", key="m", provider="sendgrid") == 1


def test_a_failed_read_is_only_a_zero_read_success():
    text = metrics.exposition(metrics.key_registry({"m": {"result": {"failed": True, "msg": "403"}, "provider": "http"}},
                                                   NOW))
    assert value(text, "apikeys_key_metadata_read_success", key="m", provider="http") == 0
    assert names(text) == {"apikeys_key_metadata_read_success", "apikeys_metrics_collected_timestamp_seconds"}


def test_run_metrics_success_and_counts():
    text = metrics.exposition(metrics.run_registry("rotate", {"failed": 1, "rotated": 2}, 12.5, NOW))
    assert value(text, "apikeys_run_success", playbook="rotate") == 0
    assert value(text, "apikeys_run_duration_seconds", playbook="rotate") == 12.5
    assert value(text, "apikeys_run_keys", playbook="rotate", outcome="rotated") == 2
    assert value(text, "apikeys_run_keys", playbook="rotate", outcome="failed") == 1
    assert value(text, "apikeys_run_last_timestamp_seconds", playbook="rotate") == NOW.timestamp()
    ok = metrics.exposition(metrics.run_registry("rotate", {"not_due": 3}, None, NOW))
    assert value(ok, "apikeys_run_success", playbook="rotate") == 1
    assert "apikeys_run_duration_seconds{" not in ok


# -- the action ------------------------------------------------------------------------------------

def action(args: dict[str, Any], check_mode: bool = False, diff: bool = False) -> ActionModule:
    task = MagicMock(args=args, async_val=0, check_mode=check_mode, diff=diff, action="apikeys.rotation.api_key_metrics")
    templar = MagicMock()
    templar.template.side_effect = lambda v: v
    return ActionModule(task, MagicMock(), MagicMock(), MagicMock(), templar, MagicMock())


def hostvars(**keys: dict[str, Any]) -> dict[str, Any]:
    return {"ansible_play_hosts_all": sorted(keys), "hostvars": keys}


def test_action_writes_the_keys_of_the_play_from_hostvars(tmp_path: Path):
    task_vars = hostvars(a={"key_info": info(), "apikeys_provider": "sendgrid"},
                         b={"key_info": {"failed": True, "msg": "permission denied"}, "apikeys_provider": "http"})
    task_vars["apikeys_metrics_dir"] = str(tmp_path)
    out = action({}).run(task_vars=task_vars)
    assert not out.get("failed"), out
    path = tmp_path / "apikeys.prom"
    assert out["path"] == str(path) and out["written"] is True and out["keys"] == 2 and out["unread"] == ["b"]
    text = path.read_text()
    assert value(text, "apikeys_key_age_seconds", key="a", provider="sendgrid") == 7200
    assert value(text, "apikeys_key_metadata_read_success", key="b", provider="http") == 0
    assert [p.name for p in tmp_path.iterdir()] == ["apikeys.prom"], "a temporary file was left behind"


def test_check_mode_writes_nothing_and_diff_shows_the_change(tmp_path: Path):
    path = tmp_path / "keys.prom"
    out = action({"path": str(path), "results": {"a": info()}}, check_mode=True, diff=True).run(task_vars={})
    assert out["changed"] is True and out["written"] is False and not path.exists()
    assert "apikeys_key_info{" in out["diff"]["after"] and out["diff"]["before"] == ""
    action({"path": str(path), "results": {"a": info()}}).run(task_vars={})
    again = action({"path": str(path), "results": {"a": info(age=1)}}, check_mode=True, diff=True).run(task_vars={})
    assert again["changed"] is False and "diff" not in again, "only the volatile values changed"
    later = action({"path": str(path), "results": {"a": info("idle")}}, check_mode=True).run(task_vars={})
    assert later["changed"] is True


def test_run_metrics_of_a_role_go_to_their_own_file(tmp_path: Path):
    task_vars = hostvars(a={"rotate__error": "boom"}, b={"rotate__plan": {"plan": {"due": False, "action": "none"}}})
    out = action({"run": "rotate", "dir": str(tmp_path), "started_at": 0.0}).run(task_vars=task_vars)
    assert not out.get("failed"), out
    assert out["counts"] == {"failed": 1, "not_due": 1}
    text = (tmp_path / "apikeys_run_rotate.prom").read_text()
    assert value(text, "apikeys_run_success", playbook="rotate") == 0
    assert value(text, "apikeys_run_keys", playbook="rotate", outcome="not_due") == 1
    action({"run": "rollback", "dir": str(tmp_path)}).run(task_vars=hostvars(a={}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["apikeys_run_rollback.prom", "apikeys_run_rotate.prom"]


@pytest.mark.parametrize("args, words", [
    ({}, "say where to write"),
    ({"path": "/nonexistent-dir-h2/apikeys.prom"}, "does not exist"),
    ({"run": "deploy", "dir": "/tmp"}, "run"),
])
def test_bad_arguments_fail_clearly(args, words):
    out = action(args).run(task_vars={})
    assert out["failed"] is True and words in out["msg"], out


def test_process_start_time_is_in_the_past():
    started = process_started(os.getpid())
    assert started is not None and 0 < datetime.now(timezone.utc).timestamp() - started < 3600
