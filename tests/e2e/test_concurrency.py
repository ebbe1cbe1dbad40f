"""Two runs on one key at the same instant: exactly one wins, nothing is left behind; retries are bounded."""
from __future__ import annotations


import requests

from .conftest import World, clear_faults, faults

ROUNDS = 20


def test_two_rotations_at_the_same_instant_twenty_times(world: World) -> None:
    """Both runs read the record, stop just before their first write, and are let go together."""
    outcomes = []
    for number in range(ROUNDS):
        key = world.key("sendgrid")
        results = [(run.rc, run.stdout) for run in world.race(key.host, world.tmp / f"gate-{number}")]

        winners = [out for rc, out in results if rc == 0]
        losers = [out for rc, out in results if rc != 0]
        data = world.record(key).data
        assert len(winners) == 1 and len(losers) == 1, [rc for rc, _out in results]
        assert "another run is working on this key" in losers[0] or "is in progress" in losers[0]
        assert data["previous_key_id"] == key.key_id
        assert world.live_key_ids(key) == {key.key_id, data["key_id"]}, "no orphan: the loser created nothing"
        outcomes.append("one winner")
    assert outcomes == ["one winner"] * ROUNDS


def test_a_429_storm_makes_at_most_the_configured_number_of_attempts(world: World) -> None:
    key = world.key("sendgrid")
    key.options["max_attempts"] = 3
    url = world.bench.sendgrid.url
    requests.delete(url + "/__emulator/calls", timeout=5)
    faults(url, match="GET /v3/api_keys", status=429, retry_after=0, count=1000)
    try:
        run = world.playbook("rotate.yml", secret=key.host)
    finally:
        clear_faults(url)

    calls = requests.get(url + "/__emulator/calls", timeout=5).json()
    assert run.rc != 0 and "answered HTTP 429" in run.stdout
    assert sum(n for call, n in calls.items() if call.startswith("GET /v3/api_keys")) == 3
    assert not any(call.startswith("POST") for call in calls), "nothing was created"
    assert world.record(key).version == 1


def test_a_create_answered_429_is_retried_and_no_other_create_happens(world: World) -> None:
    key = world.key("sendgrid")
    key.options["max_attempts"] = 3
    url = world.bench.sendgrid.url
    requests.delete(url + "/__emulator/calls", timeout=5)
    faults(url, match="POST /v3/api_keys", status=429, retry_after=0, count=2)
    try:
        run = world.playbook("rotate.yml", secret=key.host)
    finally:
        clear_faults(url)

    calls = requests.get(url + "/__emulator/calls", timeout=5).json()
    assert run.rc == 0, run.output
    assert calls.get("POST /v3/api_keys") == 3, calls
    assert world.live_key_ids(key) == {key.key_id, world.record(key).data["key_id"]}
