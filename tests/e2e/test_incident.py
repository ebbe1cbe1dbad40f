"""Rollback and emergency rotation, each one command, end to end."""
from __future__ import annotations

from typing import Any

import requests

from .conftest import Key, Webhook, World, iso


def rotated(world: World, key: Key) -> dict[str, Any]:
    run = world.playbook("rotate.yml", secret=key.host)
    assert run.rc == 0, run.output
    return world.record(key).data


def test_rollback_restores_the_previous_key_and_revokes_the_new_one(world: World, webhook: Webhook) -> None:
    key = world.key("sendgrid")
    data = rotated(world, key)

    run = world.playbook("rollback.yml", secret=key.host, rollback_reason="INC-7 new key rejected by mail",
                         rollback_webhook_url=webhook.url)

    assert run.rc == 0, run.output
    assert f"{key.host}: rolled back to key {key.key_id}; faulty key {data['key_id']} revoked at" in run.stdout
    assert "s after the rollback began" in run.stdout
    after = world.record(key).data
    assert (after["key_id"], after["key"]) == (key.key_id, key.secret)
    assert after["rotated_at"] == data["previous_rotated_at"], "the restored key keeps its own age"
    assert after["rollback_reason"] == "INC-7 new key rejected by mail" and after["rolled_back_at"]
    assert not [f for f in after if f.startswith(("previous", "revoking", "pending"))]
    assert after["incidents"][-1]["kind"] == "rollback" and after["incidents"][-1]["revoked_key_id"] == data["key_id"]
    assert world.works(key, key.secret, key.key_id)
    assert not world.works(key, data["key"], data["key_id"])
    assert world.live_key_ids(key) == {key.key_id}
    expected = {"key": key.host, "event": "rollback", "restored_key_id": key.key_id,
                "revoked_key_id": data["key_id"], "reason": "INC-7 new key rejected by mail"}
    assert len(webhook.bodies) == 1 and {k: webhook.bodies[0].get(k) for k in expected} == expected


def test_rollback_is_refused_once_the_previous_key_is_revoked(world: World) -> None:
    key = world.key("sendgrid", apikeys_grace_period="1s", apikeys_clock_skew="0s",
                    apikeys_usage_evidence={"source": "none"})
    data = rotated(world, key)
    world.wait_past(data["previous_key_revocation_at"])
    assert world.playbook("revoke_after_grace.yml", secret=key.host).rc == 0
    before = world.record(key)

    run = world.playbook("rollback.yml", secret=key.host)

    assert run.rc != 0
    assert f"nothing to roll back to: the record holds no previous key (key {key.key_id} was revoked at" in run.stdout
    assert world.record(key).version == before.version
    assert world.works(key, data["key"], data["key_id"])


def test_rollback_is_refused_when_the_previous_key_no_longer_works(world: World) -> None:
    key = world.key("http")
    data = rotated(world, key)
    requests.delete(f"{world.bench.gateway.url}/consumers/demo/key-auth/{key.key_id}", timeout=5,
                    headers={"Kong-Admin-Token": world.bench.gateway_admin_token}).raise_for_status()
    version = world.record(key).version

    run = world.playbook("rollback.yml", secret=key.host)

    assert run.rc != 0
    assert f"previous key {key.key_id} no longer works at http" in run.stdout
    assert world.record(key).version == version and world.works(key, data["key"], data["key_id"])


def test_emergency_replaces_one_key_and_the_old_key_is_rejected_when_the_command_returns(
        world: World, webhook: Webhook) -> None:
    key = world.key("sendgrid", age=__import__("datetime").timedelta(days=1))  # not due: emergency ignores age

    run = world.playbook("rotate.yml", "--tags", "emergency", secret=key.host, rotate_webhook_url=webhook.url)

    assert run.rc == 0, run.output
    assert not world.works(key, key.secret, key.key_id), "the compromised key must be rejected at once"
    data = world.record(key).data
    assert world.works(key, data["key"], data["key_id"]) and data["key_id"] != key.key_id
    assert "previous_key_id" not in data and data["last_revoked_key_id"] == key.key_id
    assert data["incidents"][-1]["kind"] == "emergency" and data["incidents"][-1]["key_id"] == key.key_id
    assert f"{key.host}: EMERGENCY: compromised key {key.key_id} revoked at" in run.stdout
    assert "Consumers still holding the compromised key fail until they re-read the store" in run.stdout
    assert world.live_key_ids(key) == {data["key_id"]}
    assert len(webhook.bodies) == 1 and webhook.bodies[0]["revoked_key_id"] == key.key_id


def test_emergency_for_a_group_of_twelve_keys_across_two_providers(world: World) -> None:
    keys = [world.key("sendgrid" if n % 2 else "http") for n in range(12)]
    world.groups["breach"] = [k.host for k in keys]

    run = world.playbook("rotate.yml", "--tags", "emergency", secret="breach", confirm="breach")

    assert run.rc == 0, run.output
    for key in keys:
        data = world.record(key).data
        assert not world.works(key, key.secret, key.key_id), key.host
        assert world.works(key, data["key"], data["key_id"]), key.host
        assert world.live_key_ids(key) == {data["key_id"]}, key.host
    assert run.stdout.count(": EMERGENCY: compromised key") == 12


def test_emergency_while_a_normal_rotation_is_mid_grace(world: World) -> None:
    key = world.key("aws_iam")
    data = rotated(world, key)  # K1 previous (in grace), K2 current; IAM holds 2 of 2 keys

    run = world.playbook("rotate.yml", "--tags", "emergency", secret=key.host)

    assert run.rc == 0, run.output
    after = world.record(key).data
    assert not world.works(key, key.secret, key.key_id), "the key in its grace period is revoked too"
    assert not world.works(key, data["key"], data["key_id"]), "the compromised current key is revoked"
    assert world.works(key, after["key"], after["key_id"])
    assert world.live_key_ids(key) == {after["key_id"]}
    kinds = [(e["kind"], e["key_id"]) for e in after["incidents"]]
    assert kinds == [("emergency", key.key_id), ("emergency", data["key_id"])]


def test_emergency_takes_over_a_rotation_in_progress_and_orphans_nothing(world: World) -> None:
    key = world.key("sendgrid")
    # Another run recorded its intent and created its key, then (as far as we know) is still working.
    name = f"apikeys-{key.host}-20261126T000000Z-abcdef"
    made = requests.post(world.bench.sendgrid.url + "/v3/api_keys", json={"name": name, "scopes": ["mail.send"]},
                         headers={"Authorization": f"Bearer {world.bench.sendgrid_admin_key}"}, timeout=5).json()
    record = world.record(key).data
    world.write_record(key, dict(record, rotation_id="20261126T000000Z-abcdef", pending_key_name=name,
                                 intent_at=iso(__import__("datetime").datetime.now(__import__("datetime").timezone.utc)),
                                 intent_known_ids=[key.key_id]))

    run = world.playbook("rotate.yml", "--tags", "emergency", secret=key.host)

    assert run.rc == 0, run.output
    after = world.record(key).data
    assert world.live_key_ids(key) == {after["key_id"]}, "the other run's key must not survive"
    assert made["api_key_id"] not in world.live_key_ids(key)
    assert not world.works(key, key.secret, key.key_id)
