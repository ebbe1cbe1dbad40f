"""The fleet engine's loop (plugins/plugin_utils/_batch.py): order, isolation, progress, outcome files."""
from __future__ import annotations

import os
import stat
import threading
from typing import Any

from ansible_collections.apikeys.rotation.plugins.plugin_utils import _batch as batch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_keys_run_first_come_first_served_and_one_failure_stops_no_other() -> None:
    started: list[str] = []
    lock = threading.Lock()

    def job(key: str) -> dict[str, Any]:
        with lock:
            started.append(key)
        if key == "k3":
            raise RuntimeError("a bug with a secret: s3cr3t")
        return {"key": key, "changed": True, "failed": key == "k5"}

    outcomes: dict[str, dict[str, Any]] = {}
    progress = batch.Progress("rotate", 10, lambda line: None)
    keys = [f"k{i}" for i in range(10)]
    batch.run_pool(((k, lambda k=k: job(k)) for k in keys), 1, outcomes.__setitem__, progress)
    assert started == keys
    assert set(outcomes) == set(keys)
    assert outcomes["k3"]["failed"] and "s3cr3t" not in str(outcomes["k3"]), "a bug's text may hold a secret"
    assert (progress.done, progress.failed, progress.changed) == (10, 2, 8)


def test_progress_is_quiet_for_short_runs_then_says_done_failed_remaining_rate_eta() -> None:
    lines: list[str] = []
    clock = Clock()
    progress = batch.Progress("rotate", 100, lines.append, interval=5, quiet=3, clock=clock)
    clock.now += 2.9
    progress.count({"failed": False, "changed": True})
    progress.tick()
    assert not lines
    clock.now += 2.1  # 5 s in: first line
    for _line in range(49):
        progress.count({"failed": False, "changed": True})
    progress.count({"failed": True})
    progress.tick()
    assert lines == ["apikeys rotate: 51/100 keys done (1 failed), 49 remaining, 10.2 keys/s, ETA 5s"]
    clock.now += 1
    progress.tick()
    assert len(lines) == 1, "one line every interval"
    assert progress.final().startswith("apikeys rotate: 100 keys in 6.0s: 50 ok (50 changed), 1 failed")


def test_outcomes_go_through_a_private_directory_and_are_removed_once_reported(tmp_path: Any) -> None:
    run_dir = batch.new_run_dir(str(tmp_path / "runs"))
    assert stat.S_IMODE(os.stat(run_dir).st_mode) == 0o700
    batch.write_outcome(run_dir, "a/b key", {"changed": True, "msg": "ok"})
    batch.write_outcome(run_dir, "other", {"changed": False})
    (path,) = [p for p in os.listdir(run_dir) if p == os.path.basename(batch.outcome_path(run_dir, "a/b key"))]
    assert stat.S_IMODE(os.stat(os.path.join(run_dir, path)).st_mode) == 0o600
    assert batch.take_outcome(run_dir, "a/b key") == {"changed": True, "msg": "ok"}
    assert batch.take_outcome(run_dir, "a/b key") is None
    assert os.path.isdir(run_dir)
    assert batch.take_outcome(run_dir, "other") == {"changed": False}
    assert not os.path.exists(run_dir), "the last report removes the run's directory"


class FakeAction:
    """Stands for a step's action class: answers from a table, as KeyAction.run returns."""

    answers: dict[str, dict[str, Any]] = {}
    calls: list[tuple[str, dict[str, Any]]] = []

    def __init__(self, module: str, task: batch.StepTask) -> None:
        self.module = module
        self.task = task

    def run(self, task_vars: dict[str, Any]) -> dict[str, Any]:
        FakeAction.calls.append((self.module, dict(self.task.args)))
        return dict(FakeAction.answers[self.module])


def test_rotate_runs_the_roles_steps_in_order_and_stops_a_key_at_its_failed_step() -> None:
    FakeAction.calls = []
    FakeAction.answers = {
        "api_key_info": {"changed": False, "plan": {"due": True, "action": "rotate", "reason": "old"}, "msg": "p"},
        "api_key_create": {"changed": True, "rotation_id": "r1", "owner": "o1", "msg": "created", "diff": {"a": 1}},
        "vault_key_write": {"failed": True, "changed": False, "msg": "key 'k': store down", "error": "store"},
    }
    run = batch.KeyRun("k", {}, FakeAction, check_mode=False, diff=True)
    out = batch.rotate(run, {"force": False, "resume_after": "10m"})
    assert [c[0] for c in FakeAction.calls] == ["api_key_info", "api_key_create", "vault_key_write"]
    assert FakeAction.calls[2][1] == {"state": "promote", "rotation_id": "r1", "owner": "o1"}
    assert out["failed"] and out["msg"] == "key 'k': store down" and out["error"] == "store"
    assert out["watched"]["skipped"] and out["diff"] == [{"a": 1}] and out["changed"]


def test_a_check_mode_rotation_plans_and_creates_but_neither_promotes_nor_watches() -> None:
    FakeAction.calls = []
    FakeAction.answers = {
        "api_key_info": {"changed": False, "plan": {"due": True, "action": "rotate", "reason": "old"}},
        "api_key_create": {"changed": True, "rotation_id": "r1", "owner": "o1", "msg": "would create"},
    }
    run = batch.KeyRun("k", {"apikeys_rollback_on_failure": True}, FakeAction, check_mode=True, diff=False)
    out = batch.rotate(run, {"force": False, "resume_after": "10m"})
    assert [c[0] for c in FakeAction.calls] == ["api_key_info", "api_key_create"]
    assert not out["failed"] and out["promoted"]["skipped"] and out["msg"] == "would create"


def test_key_outcomes_read_the_fleet_engines_per_key_result() -> None:
    from ansible_collections.apikeys.rotation.plugins.module_utils._outcomes import outcomes

    hostvars = {
        "a": {"rotate__key": {"plan": {"plan": {"due": True, "action": "rotate", "reason": "old"}},
                              "created": {"rotation_id": "r1", "outcome": "created"}, "watched": batch.SKIPPED,
                              "promoted": {"outcome": "promoted", "record": {"key_id": "n", "previous_key_id": "o"}}}},
        "b": {"rotate__key": {"plan": {"plan": {"due": False, "action": "none", "reason": "young"}},
                              "created": batch.SKIPPED, "promoted": batch.SKIPPED}},
        "c": {"rotate__key": {"failed": True, "plan": {"plan": {"due": True}}}, "rotate__error": "key 'c': down"},
        "d": {"rotate__key": {"created": {"rotation_id": "r"}, "promoted": {"record": {}},
                              "revoked": {"revoked_key_id": "old", "record": {"key_id": "new"}}}},
    }
    seen = outcomes(list(hostvars), hostvars, "rotate")
    assert seen["keys"]["a"] == {"outcome": "rotated", "key_id": "n", "previous_key_id": "o", "rotation_id": "r1"}
    assert seen["keys"]["b"] == {"outcome": "not_due", "reason": "young"}
    assert seen["keys"]["d"] == {"outcome": "emergency_revoked", "revoked_key_id": "old", "key_id": "new"}
    assert seen["failed"] == ["c"]


def test_listed_events_are_what_the_roles_expression_picks_handlers_by() -> None:
    """listed_events(targets) equals Ansible's own ``targets | default([], true) | map(attribute='events', default=[])
    | flatten`` for every shape a target list can have: the rotate role's report notifies its handler from it."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    expression = "{{ targets | default([], true) | map(attribute='events', default=[]) | flatten }}"
    shapes: list[Any] = [
        None, [], "", {}, "not a list",
        [{"format": "slack", "url_env": "X"}],
        [{"format": "slack", "events": ["rotated"]}, {"format": "json", "events": ["emergency", "rotation_failed"]}],
        [{"events": None}, {"events": [["rotated"], None]}, {"events": "rotated"}, "a string target", 3],
        [{"events": ["None", "null", "revoked"]}],
    ]
    for targets in shapes:
        templar = Templar(loader=DataLoader(), variables={"targets": targets})
        expected = [str(event) for event in templar.template(trust_as_template(expression))]
        if isinstance(targets, list):
            assert batch.listed_events(targets) == expected, targets
        else:  # not a list: the batch lists nothing (the key's own check of apikeys_notify fails it)
            assert batch.listed_events(targets) == [], targets
    assert batch.listed_events([{"events": ["rotated"]}]) == ["rotated"]
