"""A second run facing a live rotation: refused while the first run's lease lasts; after the lease
ended, it finishes the rotation, and the first run, back, stops without touching the provider.

Run A is paused after its pending write (``before_verify``); run B starts meanwhile. The provider's
side is read from the emulator's own call log, the record straight from OpenBao. The worker that
outlives its playbook is a column of the fault matrix (``orphaned_worker``).
"""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

from .conftest import Key, Run, World, parse_iso


def paused_at_verify(world: World, key: Key, **extra_vars: Any) -> tuple[subprocess.Popen[str], Path, Path]:
    """Start run A and wait until it has written its pending key and stopped before verifying it."""
    gate = world.tmp / f"gate-{len(list(world.tmp.glob('gate-*')))}"
    gate.mkdir()
    process, home = world.start_playbook("rotate.yml", extra_env={"APIKEYS_TEST_PAUSE_AT": f"before_verify:{gate}"},
                                         secret=key.host, **extra_vars)
    deadline = time.monotonic() + 120
    while not list(gate.glob("before_verify.reached.*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(gate.glob("before_verify.reached.*")), "run A reached before_verify"
    return process, home, gate


def error_kinds(run: Run) -> set[str]:
    return set(re.findall(r'"error": "(\w+)"', run.stdout))


def summary(run: Run, key: Key) -> str:
    lines = [line.strip().strip('",') for line in run.stdout.splitlines() if line.strip().startswith(f'"{key.host}: ')]
    assert len(lines) == 1, run.stdout[-3000:]
    return lines[0]


def test_a_live_rotation_is_refused_and_left_alone(world: World) -> None:
    key = world.key("sendgrid")
    process, home, gate = paused_at_verify(world, key)
    paused = world.record(key)
    assert paused.data["pending_key_id"] and paused.data["lease_owner"], "A wrote its pending key, and owns it"
    calls, keys = world.provider_calls(key), world.live_key_ids(key)

    b = world.playbook("rotate.yml", "-v", secret=key.host)  # the default rotate_resume_after: 10m

    assert b.rc != 0 and error_kinds(b) == {"refused"}, b.output[-3000:]
    assert "in progress" in summary(b, key) and summary(b, key).startswith(f"{key.host}: FAILED: ")
    assert world.record(key).version == paused.version and world.record(key).data == paused.data, "B changed nothing"
    assert world.provider_calls(key) == calls, "B made no provider request"
    assert world.live_key_ids(key) == keys

    (gate / "before_verify.go").touch()
    a = world.finish(process, home)

    assert a.rc == 0, a.output[-3000:]
    assert summary(a, key).startswith(f"{key.host}: rotated (")
    final = world.record(key).data
    assert final["key_id"] == paused.data["pending_key_id"] and final["previous_key_id"] == key.key_id
    assert world.live_key_ids(key) == {key.key_id, final["key_id"]}


def test_an_expired_lease_is_taken_over_and_its_run_stops_without_touching_the_provider(world: World) -> None:
    key = world.key("sendgrid")
    process, home, gate = paused_at_verify(world, key, rotate_resume_after="2s")
    paused = world.record(key).data
    rotation, pending = paused["rotation_id"], paused["pending_key_id"]
    world.wait_past(paused["lease_until"], extra=1.0)  # A is still alive, paused: its lease ran out

    b = world.playbook("rotate.yml", "-v", secret=key.host, rotate_resume_after="2s")

    assert b.rc == 0, b.output[-3000:]
    assert summary(b, key).startswith(f"{key.host}: rotated: finished rotation {rotation} of a dead run"), \
        summary(b, key)
    taken = world.record(key)
    assert taken.data["key_id"] == pending and taken.data["previous_key_id"] == key.key_id
    assert "lease_owner" not in taken.data or taken.data["lease_owner"] != paused["lease_owner"]
    assert parse_iso(taken.data["rotated_at"]) > parse_iso(paused["lease_until"])

    calls = world.provider_calls(key)
    (gate / "before_verify.go").touch()
    a = world.finish(process, home)

    assert a.rc != 0 and error_kinds(a) == {"lost_ownership"}, a.output[-3000:]
    assert summary(a, key).startswith(f"{key.host}: FAILED: ") and "another run" in summary(a, key)
    assert "without touching the provider" in summary(a, key)
    assert world.provider_calls(key) == calls, "A, back, made no provider request"
    assert world.record(key).version == taken.version, "A wrote nothing"
    final = world.record(key).data
    assert world.works(key, final["key"], final["key_id"]) and world.works(key, key.secret, key.key_id)
    assert world.live_key_ids(key) == {key.key_id, pending}, "exactly two keys alive: the old and the new"
