"""apikeys_rollback_on_failure end to end: the gateway emulator rejects the new key right after its promotion.

The run is paused at the code's ``after_promote`` checkpoint (APIKEYS_TEST_PAUSE_AT), the emulator is told to
answer the next key check with 401, and the run goes on into its watch window.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests

from .conftest import Key, Run, World, clear_faults, faults
from .test_canary import bench_secrets

REJECT = {"match": "GET /demo/ping", "status": 401, "count": 1}


def fired(world: World) -> int:
    return requests.get(world.bench.gateway.url + "/__emulator/faults/fired", timeout=5).json()["by_match"].get(
        REJECT["match"], 0)


def pending(world: World) -> list[dict[str, Any]]:
    return requests.get(world.bench.gateway.url + "/__emulator/faults", timeout=5).json()


def watch_outcome(run: Run, key: Key) -> str:
    """What the summary line of ``key`` says of the watch (the roles drive keys from one task: docs/fleet.md)."""
    line = next(line for line in run.stdout.splitlines() if f'"{key.host}: ' in line)
    if f'"{key.host}: FAILED: ' in line and "rolled back to key" in line:
        return "rolled back"
    if "still accepted by" in line:
        return "kept"
    return "not watched"


def rotate_with_fault_after_promote(world: World, key: Key, gate: Path) -> Run:
    """Rotate ``key``; once the new key is promoted, make the gateway reject the next check of a key."""
    gate.mkdir()
    process, home = world.start_playbook("rotate.yml", extra_env={"APIKEYS_TEST_PAUSE_AT": f"after_promote:{gate}"},
                                         secret=key.host)
    deadline = time.monotonic() + 120
    while not list(gate.glob("after_promote.reached.*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not list(gate.glob("after_promote.reached.*")):
        raise AssertionError("the run never promoted:\n" + world.finish(process, home).output[-3000:])
    faults(world.bench.gateway.url, **REJECT)
    (gate / "after_promote.go").touch()
    return world.finish(process, home)


def test_a_new_key_rejected_after_promotion_is_rolled_back_with_the_reason_recorded(world: World) -> None:
    key = world.key("http", apikeys_rollback_on_failure=True, apikeys_rollback_watch="6s", apikeys_rollback_poll="1s")
    before = fired(world)
    try:
        run = rotate_with_fault_after_promote(world, key, world.tmp / "gate")
    finally:
        clear_faults(world.bench.gateway.url)

    assert fired(world) == before + 1, "the gateway's rejection must have been met"
    assert run.rc != 0, "a rolled-back rotation fails the run"
    stored = world.record(key)
    data = stored.data
    assert (data["key_id"], data["key"]) == (key.key_id, key.secret), "the old key is current again"
    assert world.works(key, key.secret, key.key_id), "and it works"
    assert "previous_key_id" not in data and "revoking_key_id" not in data
    assert data["rollback_reason"].startswith("rollback_on_failure: http rejected the new key ")
    assert watch_outcome(run, key) == "rolled back"
    assert data["incidents"][-1]["kind"] == "rollback" and "rollback_on_failure" in data["incidents"][-1]["reason"]
    assert world.live_key_ids(key) == {key.key_id}, "the rejected new key is revoked at the gateway"
    line = next(line for line in run.stdout.splitlines() if f'"{key.host}: FAILED: ' in line)
    assert f"key '{key.host}': rollback_on_failure: http rejected the new key" in line
    assert f"rolled back to key {key.key_id}" in line
    for name, secret in bench_secrets(world).items():
        assert secret not in run.output, f"{name} printed"
    assert key.secret not in run.output


def test_a_new_key_that_keeps_working_stays_after_the_watch(world: World) -> None:
    key = world.key("http", apikeys_rollback_on_failure=True, apikeys_rollback_watch="3s", apikeys_rollback_poll="1s")

    run = world.playbook("rotate.yml", secret=key.host)

    assert run.rc == 0, run.output[-3000:]
    data = world.record(key).data
    assert data["previous_key_id"] == key.key_id and data["key_id"] != key.key_id
    assert watch_outcome(run, key) == "kept" and "rollback_reason" not in data


def test_with_the_option_off_nothing_is_watched(world: World) -> None:
    key = world.key("http")
    try:
        run = rotate_with_fault_after_promote(world, key, world.tmp / "gate")
        left = pending(world)
    finally:
        clear_faults(world.bench.gateway.url)

    assert run.rc == 0, run.output[-3000:]
    assert [(f["match"], f["count"]) for f in left] == [(REJECT["match"], 1)], "no check of the key was made"
    assert world.record(key).data["previous_key_id"] == key.key_id, "the new key stays current"
    assert watch_outcome(run, key) == "not watched"
