"""Run facts (_run_facts.py): kept per process and per run; a finished run's facts are swept away."""
from __future__ import annotations

import os

from ansible_collections.apikeys.rotation.plugins.module_utils import _run_facts
from ansible_collections.apikeys.rotation.plugins.module_utils.stores import _vault_tokens


def test_a_fact_is_kept_and_ages(monkeypatch) -> None:
    monkeypatch.setattr(_run_facts, "_MEMORY", {})
    assert _run_facts.get("vault|x", "clock_offset") is None
    _run_facts.put("vault|x", "clock_offset", -0.4)
    assert _run_facts.get("vault|x", "clock_offset", max_age=300) == -0.4
    assert _run_facts.get("vault|x", "clock_offset", max_age=-1) is None  # too old for that caller
    _run_facts.forget("vault|x")
    assert _run_facts.get("vault|x", "clock_offset") is None


def test_the_facts_of_finished_runs_are_swept_and_running_ones_kept(tmp_path) -> None:
    alive = tmp_path / f"run-{os.getpid()}-{_vault_tokens.start_time(os.getpid())}"
    finished = tmp_path / "run-999999999-12345"
    with_broker = tmp_path / "run-999999998-12345"
    for directory in (alive, finished, with_broker):
        directory.mkdir()
        (directory / "facts.json").write_text("{}")
        (directory / "facts.json.lock").write_text("")
    (with_broker / "broker.sock").write_text("")  # the broker removes its own files and then the directory
    (tmp_path / "unrelated").mkdir()
    _run_facts.sweep(str(tmp_path))
    assert (alive / "facts.json").exists()
    assert not finished.exists()
    assert sorted(p.name for p in with_broker.iterdir()) == ["broker.sock"]
    assert (tmp_path / "unrelated").exists()
