"""Runs nobody watches: a typo fails loudly, an emergency over many keys needs the pattern typed twice,
every run ends with per-key outcomes for machines, and a failed key fails the run."""
from __future__ import annotations

import ast
import re
from datetime import timedelta
from typing import Any

import requests

from .conftest import World, clear_faults, faults


def custom_stats(stdout: str) -> dict[str, Any]:
    """The set_stats data the default callback prints with ANSIBLE_SHOW_CUSTOM_STATS (a Python/JSON literal)."""
    found = re.search(r"CUSTOM STATS: \**\n\s*RUN: (\{.*\})\s*$", stdout, re.MULTILINE)
    assert found, stdout[-3000:]
    return ast.literal_eval(found.group(1).replace("true", "True").replace("false", "False").replace("null", "None"))


def test_a_pattern_that_matches_no_key_fails_and_names_the_closest(world: World) -> None:
    key = world.key("sendgrid")
    calls = world.provider_calls(key)

    run = world.playbook("rotate.yml", secret=key.host + "x")

    assert run.rc != 0
    assert f"'{key.host}x' is no key or group of this inventory (did you mean '{key.host}'" in run.output
    assert world.record(key).version == 1 and world.provider_calls(key) == calls


def test_an_unknown_apikeys_variable_fails_naming_the_closest_known_one(world: World) -> None:
    key = world.key("sendgrid", apikeys_rotation_frequncy="7d")
    calls = world.provider_calls(key)

    run = world.playbook("rotate.yml", secret=key.host)
    assert run.rc != 0
    assert (f"key '{key.host}': unknown inventory variable apikeys_rotation_frequncy (did you mean "
            "'apikeys_rotation_frequency'") in run.output
    assert world.record(key).version == 1 and world.provider_calls(key) == calls


def test_an_emergency_over_several_keys_needs_confirmation(world: World) -> None:
    keys = [world.key("http"), world.key("http")]
    world.groups["leaked"] = [k.host for k in keys]

    refused = world.playbook("rotate.yml", "--tags", "emergency", secret="leaked")

    assert refused.rc != 0
    assert "an emergency over 2 keys" in refused.output and "-e confirm=leaked" in refused.output
    for key in keys:
        assert world.record(key).version == 1 and world.works(key, key.secret, key.key_id)

    confirmed = world.playbook("rotate.yml", "--tags", "emergency", secret="leaked", confirm="leaked")

    assert confirmed.rc == 0, confirmed.output[-3000:]
    for key in keys:
        assert not world.works(key, key.secret, key.key_id), "the compromised key must be rejected"


def test_per_key_outcomes_for_machines_and_a_failed_key_fails_the_run(world: World) -> None:
    good, bad, fresh = world.key("http"), world.key("sendgrid"), world.key("http", age=timedelta(days=1))
    world.groups["nightly"] = [good.host, bad.host, fresh.host]
    fired_url = world.bench.sendgrid.url + "/__emulator/faults/fired"
    before = requests.get(fired_url, timeout=5).json()["total"]
    faults(world.bench.sendgrid.url, match="POST /v3/api_keys", status=503, count=100)
    try:
        run = world.playbook("rotate.yml", secret="nightly", extra_env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
        fired = requests.get(fired_url, timeout=5).json()["total"] - before
    finally:
        clear_faults(world.bench.sendgrid.url)

    assert fired >= 1, "the injected 503 never fired"
    assert run.rc != 0, "a failed key must fail the run"
    stats = custom_stats(run.stdout)["rotate_outcomes"]
    assert stats["keys"][good.host]["outcome"] == "rotated"
    assert stats["keys"][good.host]["key_id"] == world.record(good).data["key_id"] != good.key_id
    assert stats["keys"][bad.host]["outcome"] == "failed" and "HTTP 503" in stats["keys"][bad.host]["error"]
    assert stats["keys"][fresh.host]["outcome"] == "not_due"
    assert stats["counts"] == {"failed": 1, "not_due": 1, "rotated": 1} and stats["failed"] == [bad.host]


def test_a_malformed_notification_target_fails_before_any_change(world: World) -> None:
    key = world.key("sendgrid", apikeys_notify=[{"format": "slak", "url_env": "SLACK_WEBHOOK_URL"}])
    calls = world.provider_calls(key)

    run = world.playbook("rotate.yml", secret=key.host)

    assert run.rc != 0
    assert f"key '{key.host}': apikeys_notify[0].format" in run.output, run.output[-3000:]
    assert world.record(key).version == 1 and world.provider_calls(key) == calls
