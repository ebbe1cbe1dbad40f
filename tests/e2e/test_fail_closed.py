"""Issue 9, cases 4 and 5 end to end: a key that cannot even be tested is not left stuck, and the
controller's clock is checked against OpenBao's."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests

from .conftest import World, parse_iso

SLOW_CLOCK = Path(__file__).parent / "slow_clock"  # a sitecustomize that sets the wall clock back


def gateway_keys(world: World) -> dict[str, dict[str, Any]]:
    return {k["id"]: k for k in requests.get(world.bench.gateway.url + "/__emulator/keys", timeout=5).json()}


def test_a_new_key_that_cannot_be_sent_is_revoked_and_the_next_run_rotates(world: World) -> None:
    key = world.key("http")
    snowman = "sk-\u2603-" + world.prefix  # not Latin-1: no HTTP header can carry it
    requests.post(world.bench.gateway.url + "/__emulator/config", json={"next_keys": [snowman]},
                  timeout=5).raise_for_status()
    before = world.record(key)

    run = world.playbook("rotate.yml", "-vvv", secret=key.host)

    assert run.rc != 0 and '"error": "key_test_failed"' in run.stdout, run.output[-3000:]
    assert "could not be tested" in run.stdout and "UnicodeEncodeError" in run.stdout
    made = [i for i, k in gateway_keys(world).items()
            if any(t.startswith(f"apikeys-{key.host}-") for t in k["tags"] or [])]
    assert len(made) == 1 and gateway_keys(world)[made[0]]["revoked"], "the untestable key was revoked"
    after = world.record(key)
    assert [e["action"] for e in after.data.pop("history")] == ["intent", "stored", "discarded"], "its own log says so"
    assert after.data == before.data, "the record is back to the old key, nothing pending"
    assert world.works(key, key.secret, key.key_id)
    assert snowman not in run.output and key.secret not in run.output

    again = world.playbook("rotate.yml", secret=key.host)

    assert again.rc == 0, again.output[-3000:]
    final = world.record(key).data
    assert final["previous_key_id"] == key.key_id and world.works(key, final["key"], final["key_id"])


def slow_controller(seconds: int) -> dict[str, str]:
    return {"PYTHONPATH": str(SLOW_CLOCK), "APIKEYS_TEST_CLOCK_BEHIND": str(seconds)}


def test_a_controller_five_minutes_slow_changes_nothing(world: World) -> None:
    key = world.key("sendgrid")
    before = world.record(key)

    run = world.playbook("rotate.yml", secret=key.host, extra_env=slow_controller(300))

    assert run.rc != 0 and '"error": "clock_skew"' in run.stdout, run.output[-3000:]
    assert re.search(r"clock is (4m5\ds|5m|5m\ds) behind the store's", run.stdout), run.stdout[-2000:]
    assert "apikeys_clock_skew" in run.stdout
    assert world.record(key).version == before.version
    assert world.live_key_ids(key) == {key.key_id}


def test_within_the_allowance_the_record_follows_the_stores_clock(world: World) -> None:
    key = world.key("sendgrid", apikeys_clock_skew="10m")

    run = world.playbook("rotate.yml", secret=key.host, extra_env=slow_controller(300))

    assert run.rc == 0, run.output[-3000:]
    data = world.record(key).data
    lag = (datetime.now(timezone.utc) - parse_iso(data["rotated_at"])).total_seconds()
    assert 0 <= lag < 60, f"rotated_at is {lag:.0f}s behind OpenBao's clock: the controller's slow clock was used"
    grace = (parse_iso(data["previous_key_revocation_at"]) - parse_iso(data["rotated_at"])).total_seconds()
    assert grace == 3600
