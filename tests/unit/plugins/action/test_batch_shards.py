"""A large batch in more than one process (plugins/plugin_utils/_batch.py run_sharded): real forks, real pipes."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils.stores import _vault_tokens
from ansible_collections.apikeys.rotation.plugins.plugin_utils import _batch as batch


@pytest.fixture
def alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process runs no other thread, as an Ansible worker (pytest's may: a server of another test)."""
    monkeypatch.setattr(batch.threading, "active_count", lambda: 1)


def writer(run_dir: str, behave: Callable[[str], dict[str, Any]]) -> Callable[[list[str], batch.Report], None]:
    """A part runner as the action's: each key's outcome is written, then reported, with the key's pid and events."""
    def run_part(part: list[str], report: batch.Report) -> None:
        for key in part:
            outcome = dict(behave(key), key=key, pid=os.getpid(), controller=_vault_tokens.controller(),
                           alive=batch.controller_alive()())
            batch.write_outcome(run_dir, key, outcome)
            report(key, outcome, ["rotated"] if key.endswith("7") else [])
    return run_part


def test_each_process_takes_every_nth_key_and_reports_counts_and_events(tmp_path: Path) -> None:
    keys = [f"k{i:02d}" for i in range(20)]
    lines: list[str] = []
    progress = batch.Progress("rotate", len(keys), lines.append, interval=0)
    events = batch.run_sharded(keys, 2, writer(str(tmp_path), lambda key: {
        "changed": key != "k05", "failed": key == "k05"}), progress, str(tmp_path))

    outcomes = {key: batch.take_outcome(str(tmp_path), key) for key in keys}
    assert all(outcomes.values())
    pids = {key: o["pid"] for key, o in outcomes.items()}
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values(), "two forked processes"
    assert {k for k in keys if pids[k] == pids["k00"]} == set(keys[0::2]), "process 0 took keys 0, 2, 4..."
    assert {k for k in keys if pids[k] == pids["k01"]} == set(keys[1::2])
    assert all(o["controller"] == os.getppid() for o in outcomes.values()), "a shard's controller is its worker's"
    assert all(o["alive"] for o in outcomes.values()), "a shard sees its run alive"
    assert (progress.done, progress.failed, progress.changed) == (20, 1, 19)
    assert events == {"k07": ["rotated"], "k17": ["rotated"]}
    assert not tmp_path.exists() or not list(tmp_path.iterdir())


def test_a_killed_process_leaves_its_unreported_keys_failed_and_its_reported_ones_as_they_were(tmp_path: Path) -> None:
    keys = [f"k{i}" for i in range(6)]
    run_dir = str(tmp_path)

    def run_part(part: list[str], report: batch.Report) -> None:
        for key in part:
            outcome = {"key": key, "changed": True, "failed": False}
            batch.write_outcome(run_dir, key, outcome)
            if key == "k3":  # process 1 (k1, k3, k5): k1 reported, k3 written but never reported, k5 never started
                os.kill(os.getpid(), signal.SIGKILL)
            report(key, outcome, [])

    progress = batch.Progress("rotate", len(keys), lambda line: None, interval=0)
    batch.run_sharded(keys, 2, run_part, progress, run_dir)

    outcomes = {key: batch.take_outcome(run_dir, key) for key in keys}
    assert all(not outcomes[k]["failed"] for k in ("k0", "k1", "k2", "k3", "k4"))
    assert outcomes["k5"]["failed"] and outcomes["k5"]["error"] == "internal"
    assert "k5" in outcomes["k5"]["msg"] and "was killed" in outcomes["k5"]["msg"]
    assert "run again to resume" in outcomes["k5"]["msg"]
    assert (progress.done, progress.failed, progress.changed) == (6, 1, 5)


def test_a_part_that_raises_is_reported_lost_never_its_exception_text(tmp_path: Path) -> None:
    def run_part(part: list[str], report: batch.Report) -> None:
        raise RuntimeError("a bug that quotes sk_live_s3cr3t")

    progress = batch.Progress("rotate", 2, lambda line: None, interval=0)
    batch.run_sharded(["a", "b"], 2, run_part, progress, str(tmp_path))
    for key in ("a", "b"):
        outcome = batch.take_outcome(str(tmp_path), key)
        assert outcome is not None and outcome["failed"]
        assert f"status {batch.SHARD_FAILED}" in outcome["msg"] and "s3cr3t" not in json.dumps(outcome)


def test_progress_lines_come_from_the_parent_while_the_processes_run(tmp_path: Path) -> None:
    lines: list[str] = []
    keys = [f"k{i}" for i in range(8)]
    progress = batch.Progress("rotate", len(keys), lines.append, interval=0.05, quiet=0.05)

    def run_part(part: list[str], report: batch.Report) -> None:
        for key in part:
            time.sleep(0.1)
            report(key, {"changed": True}, [])

    batch.run_sharded(keys, 2, run_part, progress, str(tmp_path))
    assert lines and lines[0].startswith("apikeys rotate: ") and "/8 keys done" in lines[0]
    assert progress.done == 8
    assert lines[-1].startswith("apikeys rotate: 8 keys in ") and lines[-1].endswith(": 8 ok (8 changed), 0 failed")


def test_a_part_that_cannot_be_forked_runs_here_with_its_progress_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list[str] = []
    keys = [f"k{i}" for i in range(6)]
    progress = batch.Progress("rotate", len(keys), lines.append, interval=0.05, quiet=0.05)
    here = os.getpid()

    def no_fork() -> int:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(batch.os, "fork", no_fork)
    ran_in: dict[str, int] = {}

    def run_part(part: list[str], report: batch.Report) -> None:
        for key in part:
            time.sleep(0.05)
            ran_in[key] = os.getpid()
            report(key, {"changed": True}, ["rotated"] if key == "k3" else [])

    events = batch.run_sharded(keys, 2, run_part, progress, str(tmp_path))
    assert set(ran_in) == set(keys) and set(ran_in.values()) == {here}, "both parts ran in this process"
    assert events == {"k3": ["rotated"]} and progress.done == 6
    during = [line for line in lines if "keys done" in line]
    assert during, "progress lines while the unforked parts ran"
    assert lines[-1].startswith("apikeys rotate: 6 keys in ") and lines[-1].endswith(": 6 ok (6 changed), 0 failed")


@pytest.mark.parametrize(("keys", "workers", "processes", "cpus", "expected"), [
    (1, 8, None, 2, 1),        # one key: no fork
    (16, 8, None, 2, 1),       # up to 2 x workers: one process
    (17, 8, None, 2, 2),
    (1000, 8, None, 2, 2),     # default: 2
    (1000, 8, None, 1, 1),     # ... or 1 on one CPU
    (1000, 8, None, 16, 2),
    (1000, 8, 4, 16, 4),
    (40, 8, 4, 16, 3),         # one per 2 x workers keys
    (1000, 8, 1, 16, 1),
])
def test_how_many_processes(alone: None, monkeypatch: pytest.MonkeyPatch, keys: int, workers: int, processes: Any, cpus: int,
                            expected: int) -> None:
    monkeypatch.setattr(batch, "usable_cpus", lambda: cpus)
    assert batch.shard_count(keys, workers, processes) == expected


def test_an_emergency_runs_in_one_process_unless_told_otherwise(alone: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """First key first: measured over 100 keys, a second process did not revoke the last key sooner."""
    monkeypatch.setattr(batch, "usable_cpus", lambda: 2)
    assert batch.shard_count(1000, 8, None, "emergency") == 1
    assert batch.shard_count(1000, 8, 2, "emergency") == 2
    assert batch.shard_count(1000, 8, None, "revoke_after_grace") == 2


def test_one_process_when_the_budgets_cannot_be_shared_or_other_threads_run(monkeypatch: pytest.MonkeyPatch) -> None:
    real_count = threading.active_count
    monkeypatch.setattr(batch, "usable_cpus", lambda: 2)
    monkeypatch.setattr(batch.threading, "active_count", lambda: 1)
    assert batch.shard_count(1000, 8, None) == 2
    monkeypatch.setattr(batch._budget, "shared_between_processes", lambda: False)
    assert batch.shard_count(1000, 8, None) == 1, "two processes would each spend the whole rate budget"
    monkeypatch.undo()
    monkeypatch.setattr(batch, "usable_cpus", lambda: 2)
    baseline = real_count()  # pytest's process may run threads of its own (another test's server)
    monkeypatch.setattr(batch.threading, "active_count", lambda: real_count() - baseline + 1)
    assert batch.shard_count(1000, 8, None) == 2
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert batch.shard_count(1000, 8, None) == 1, "a fork copies no other thread"
    finally:
        stop.set()
        other.join()


def test_a_shard_sees_the_run_gone_when_its_worker_is(tmp_path: Path) -> None:
    """A forked 'worker' forks a shard, then dies: the shard's controller check turns false."""
    verdict = tmp_path / "verdict"
    worker = os.fork()
    if worker == 0:
        try:
            me, controller = os.getpid(), os.getppid()
            if os.fork() == 0:
                _vault_tokens.enter_shard(me, controller)
                alive = batch.controller_alive()
                before = alive()
                deadline = time.monotonic() + 10
                while _vault_tokens.parent_of(os.getpid()) == me and time.monotonic() < deadline:
                    time.sleep(0.01)
                verdict.write_text(json.dumps([before, alive()]))
                os._exit(0)
            time.sleep(0.2)
        finally:
            os._exit(0)
    os.waitpid(worker, 0)
    deadline = time.monotonic() + 10
    while not verdict.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert json.loads(verdict.read_text()) == [True, False]
