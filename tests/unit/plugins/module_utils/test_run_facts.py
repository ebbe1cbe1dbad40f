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


def test_threads_starting_together_ask_once_and_a_failure_is_not_serialised(monkeypatch) -> None:
    import threading  # pylint: disable=import-outside-toplevel
    import time  # pylint: disable=import-outside-toplevel

    monkeypatch.setattr(_run_facts, "_MEMORY", {})
    monkeypatch.setattr(_run_facts, "_ASKING", {})
    asked: list[float] = []

    def lookup(fail: bool) -> None:
        with _run_facts.asking("vault|y", "clock_offset"):
            if _run_facts.get("vault|y", "clock_offset") is None:
                asked.append(time.time())
                time.sleep(0.2)  # the store's answer
                if not fail:
                    _run_facts.put("vault|y", "clock_offset", 0.5)

    threads = [threading.Thread(target=lookup, args=(False,)) for _index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(asked) == 1  # eight threads, one request

    monkeypatch.setattr(_run_facts, "_MEMORY", {})
    monkeypatch.setattr(_run_facts, "_ASKING", {})
    asked.clear()
    began = time.time()
    threads = [threading.Thread(target=lookup, args=(True,)) for _index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(asked) == 8  # the store failed: each asks...
    assert time.time() - began < 0.2 * 8 * 0.75  # ...in parallel after the first, not one after another
