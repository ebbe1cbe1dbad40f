"""rotate.yml end to end, per provider, against OpenBao, moto and the emulators."""
from __future__ import annotations

from datetime import timedelta

import pytest

from .conftest import PROVIDERS, World, parse_iso


def recap_changed(output: str, host: str) -> int:
    line = next(line for line in output.splitlines() if line.startswith(host + " ") and "changed=" in line)
    return int(line.split("changed=")[1].split()[0])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_rotation_keeps_both_keys_working_and_records_the_grace(world: World, provider: str) -> None:
    key = world.key(provider)
    version_before = world.record(key).version

    run = world.playbook("rotate.yml", secret=key.host)

    assert run.rc == 0, run.output
    stored = world.record(key)
    data, version, meta = stored.data, stored.version, stored.meta
    assert data["key_id"] != key.key_id and data["key"] != key.secret
    assert (data["previous_key_id"], data["previous_key"]) == (key.key_id, key.secret)
    assert world.works(key, data["key"], data["key_id"]), "the new key must authenticate"
    assert world.works(key, key.secret, key.key_id), "the old key must keep working during the grace period"
    revocation = parse_iso(data["previous_key_revocation_at"])
    assert revocation - parse_iso(data["rotated_at"]) == timedelta(hours=1)
    assert not {f for f in data if f.startswith("pending") or f in ("rotation_id", "intent_at")}
    assert world.live_key_ids(key) == {key.key_id, data["key_id"]}, "no other key may exist at the provider"
    assert meta["phase"] == "grace" and meta["key_id"] == data["key_id"] and "key" not in meta
    assert version > version_before
    assert f"{key.host}: rotated (age 40d" in run.stdout


@pytest.mark.parametrize("provider", PROVIDERS)
def test_second_run_right_away_changes_nothing(world: World, provider: str) -> None:
    key = world.key(provider)
    assert world.playbook("rotate.yml", secret=key.host).rc == 0
    stored = world.record(key)
    data, version = stored.data, stored.version
    live = world.live_key_ids(key)

    run = world.playbook("rotate.yml", secret=key.host)

    assert run.rc == 0, run.output
    assert recap_changed(run.stdout, key.host) == 0
    assert world.record(key).version == version
    assert world.live_key_ids(key) == live
    assert f"{key.host}: not rotated: previous key {key.key_id} awaits revocation" in run.stdout


def test_a_key_that_is_not_due_is_left_alone(world: World) -> None:
    key = world.key("sendgrid", age=timedelta(days=3))

    run = world.playbook("rotate.yml", secret=key.host)

    assert run.rc == 0, run.output
    assert recap_changed(run.stdout, key.host) == 0
    assert world.record(key).version == 1
    assert f"{key.host}: not due: age 3d" in run.stdout and "< rotation_frequency 30d" in run.stdout


def test_check_diff_prints_the_plan_and_touches_nothing(world: World) -> None:
    due = world.key("sendgrid")
    fresh = world.key("http", age=timedelta(days=1))
    world.groups["pair"] = [due.host, fresh.host]
    calls_before = world.provider_calls(due)

    run = world.playbook("rotate.yml", "--check", "--diff", secret="pair")

    assert run.rc == 0, run.output
    assert f"{due.host}: would rotate: age 40d" in run.stdout
    assert f"{fresh.host}: not due: age 1d" in run.stdout
    assert '+    "pending_key": "<hidden>"' in run.stdout, "the diff shows the record that would be written"
    assert world.record(due).version == 1 and world.record(fresh).version == 1
    assert world.live_key_ids(due) == {due.key_id} and world.live_key_ids(fresh) == {fresh.key_id}
    calls_after = world.provider_calls(due)
    assert not [c for c in calls_after if c.startswith(("POST", "DELETE")) and calls_after[c] != calls_before.get(c)]


def test_a_group_rotates_every_key_with_one_summary_line_each(world: World) -> None:
    keys = [world.key(p) for p in PROVIDERS]
    world.groups["team"] = [k.host for k in keys]

    run = world.playbook("rotate.yml", secret="team")

    assert run.rc == 0, run.output
    for key in keys:
        data = world.record(key).data
        assert data["previous_key_id"] == key.key_id
        assert sum(1 for line in run.stdout.splitlines() if f'"{key.host}: rotated' in line) == 1


def test_no_rotation_while_the_old_key_awaits_revocation_even_forced(world: World) -> None:
    key = world.key("sendgrid")
    assert world.playbook("rotate.yml", secret=key.host).rc == 0
    version = world.record(key).version
    live = world.live_key_ids(key)

    run = world.playbook("rotate.yml", secret=key.host, rotate_force="true")

    assert run.rc == 0, run.output
    assert "awaits revocation" in run.stdout
    assert world.record(key).version == version and world.live_key_ids(key) == live


def test_a_missing_record_is_refused_without_creating_a_key(world: World) -> None:
    key = world.key("sendgrid", record=False)

    run = world.playbook("rotate.yml", secret=key.host)

    assert run.rc != 0
    assert f"{key.host}: FAILED: no record at {key.vault_path}" in run.stdout
    assert world.live_key_ids(key) == {key.key_id}


def test_no_secret_given_is_refused(world: World) -> None:
    world.key("sendgrid")
    run = world.playbook("rotate.yml")
    assert run.rc != 0
    assert "say which keys to rotate: -e secret=<key or group>" in run.output
