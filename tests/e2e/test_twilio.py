"""Twilio API keys end to end: rotate.yml, revoke_after_grace.yml and rollback.yml against the Twilio emulator.

Every check reads Twilio's side with raw HTTP (the Key resource v1 with the account's Auth Token, and the
key itself with HTTP Basic ``SID:secret``), and the store with raw hvac: never the collection's own code.
"""
from __future__ import annotations

from typing import Any

import requests

from .conftest import Key, World

ALLOW = ["/twilio/messaging/messages/read"]


def twilio(world: World, method: str, path: str, **kwargs: Any) -> requests.Response:
    """A raw call to the emulator's Twilio API with the account's SID and Auth Token."""
    bench = world.bench
    return requests.request(method, bench.twilio.url + path, auth=(bench.twilio_account_sid, bench.twilio_auth_token),
                            timeout=5, **kwargs)


def fetched(world: World, sid: str) -> requests.Response:
    return twilio(world, "GET", f"/v1/Keys/{sid}")


def balance(world: World, sid: str, secret: str) -> int:
    """What Twilio answers the key itself on the account's balance (what the rotation's test calls)."""
    url = f"{world.bench.twilio.url}/2010-04-01/Accounts/{world.bench.twilio_account_sid}/Balance.json"
    return requests.get(url, auth=(sid, secret), timeout=5).status_code


def configure(world: World, **settings: Any) -> None:
    requests.post(world.bench.twilio.url + "/__emulator/config", json=settings, timeout=5).raise_for_status()


def rotated(world: World, key: Key) -> dict[str, Any]:
    run = world.playbook("rotate.yml", secret=key.host)
    assert run.rc == 0, run.output[-3000:]
    data: dict[str, Any] = world.record(key).data
    return data


def test_rotate_then_revoke_after_grace(world: World) -> None:
    key = world.key("twilio", apikeys_grace_period="2s", apikeys_clock_skew="0s",
                    apikeys_usage_evidence={"source": "none"})

    data = rotated(world, key)

    new_sid, new_secret = data["key_id"], data["key"]
    assert new_sid.startswith("SK") and len(new_sid) == 34 and new_sid != key.key_id
    assert (data["previous_key_id"], data["previous_key"]) == (key.key_id, key.secret)
    assert balance(world, new_sid, new_secret) == 200, "consumers read key + key_id: Basic SID:secret works"
    assert balance(world, key.key_id, key.secret) == 200, "the old key works during the grace"
    made = fetched(world, new_sid).json()
    assert made["friendly_name"].startswith(f"apikeys-{key.host}-") and made["policy"] is None  # standard, as before
    assert "secret" not in made, "Twilio shows the secret once, in the create answer only"
    assert world.live_key_ids(key) == {key.key_id, new_sid}

    world.wait_past(data["previous_key_revocation_at"])
    run = world.playbook("revoke_after_grace.yml", secret=key.host)

    assert run.rc == 0, run.output[-3000:]
    after = world.record(key).data
    assert after["key_id"] == new_sid and "previous_key_id" not in after
    assert fetched(world, key.key_id).status_code == 404, "the old key is deleted at Twilio"
    assert balance(world, key.key_id, key.secret) == 401 and balance(world, new_sid, new_secret) == 200
    assert world.live_key_ids(key) == {new_sid}


def test_rollback_restores_the_old_key_and_deletes_the_new_one(world: World) -> None:
    key = world.key("twilio")
    data = rotated(world, key)

    run = world.playbook("rollback.yml", secret=key.host, rollback_reason="INC-9 new Twilio key refused")

    assert run.rc == 0, run.output[-3000:]
    after = world.record(key).data
    assert (after["key_id"], after["key"]) == (key.key_id, key.secret)
    assert fetched(world, data["key_id"]).status_code == 404
    assert balance(world, data["key_id"], data["key"]) == 401 and balance(world, key.key_id, key.secret) == 200
    assert world.live_key_ids(key) == {key.key_id}


def test_a_restricted_key_is_replaced_by_a_restricted_key_with_its_policy(world: World) -> None:
    made = requests.post(world.bench.twilio.url + "/__emulator/seed", timeout=5,
                         json={"name": "x", "type": "restricted", "policy": {"allow": ALLOW}}).json()
    key = world.key("twilio")
    world.write_record(key, {"key": made["secret"], "key_id": made["sid"], "rotated_at": "2020-01-01T00:00:00Z"})
    twilio(world, "DELETE", f"/v1/Keys/{key.key_id}").raise_for_status()  # the seeded standard key is not this key

    data = rotated(world, key)

    assert fetched(world, data["key_id"]).json()["policy"] == {"allow": ALLOW}
    assert balance(world, data["key_id"], data["key"]) == 403, "alive, and as restricted as the old key"


def test_a_key_created_without_its_secret_is_deleted_and_the_old_key_stays(world: World) -> None:
    key = world.key("twilio")
    before = world.record(key)
    calls = world.provider_calls(key).get("POST /v1/Keys", 0)
    configure(world, create_answer="no_secret")
    try:
        run = world.playbook("rotate.yml", secret=key.host)
    finally:
        configure(world, create_answer="documented")

    assert run.rc != 0
    assert world.provider_calls(key)["POST /v1/Keys"] == calls + 1, "the create was made"
    assert "holds no secret" in run.stdout and "the new key was deleted at once and the current key stays" in run.stdout
    data = world.record(key).data
    assert (data["key_id"], data["key"]) == (key.key_id, key.secret)
    assert not {f for f in data if f.startswith("pending") or f in ("rotation_id", "intent_at")}, "intent cleared"
    assert world.live_key_ids(key) == {key.key_id}, "no key left alive untracked"
    names = [k["name"] for k in requests.get(world.bench.twilio.url + "/__emulator/keys", timeout=5).json()
             if k["revoked"]]
    assert any(n.startswith(f"apikeys-{key.host}-") for n in names), "the key was made, then deleted"
    assert balance(world, key.key_id, key.secret) == 200 and world.record(key).version > before.version

    again = world.playbook("rotate.yml", secret=key.host)

    assert again.rc == 0, again.output[-3000:]
    assert world.live_key_ids(key) == {key.key_id, world.record(key).data["key_id"]}


def test_import_checks_the_pair_at_twilio_and_the_plan_creates_nothing(world: World) -> None:
    key = world.key("twilio", record=False)
    wrong = world.playbook("import.yml", secret=key.host, key_id=key.key_id, rotated_at="2020-01-01T00:00:00Z",
                           extra_env={"APIKEYS_IMPORT_KEY": key.secret[::-1]})
    assert wrong.rc != 0 and key.secret[::-1] not in wrong.output, "a secret that is not the SID's is refused"

    run = world.playbook("import.yml", secret=key.host, key_id=key.key_id, rotated_at="2020-01-01T00:00:00Z",
                         extra_env={"APIKEYS_IMPORT_KEY": key.secret})

    assert run.rc == 0, run.output[-3000:]
    stored = world.record(key)
    assert (stored.data["key"], stored.data["key_id"]) == (key.secret, key.key_id)
    creates = world.provider_calls(key).get("POST /v1/Keys", 0)
    plan = world.playbook("rotate.yml", "--check", "--diff", secret=key.host)
    assert plan.rc == 0 and f"{key.host}: would rotate: age" in plan.stdout, plan.output[-3000:]
    assert world.provider_calls(key).get("POST /v1/Keys", 0) == creates and world.record(key).version == stored.version
    assert world.live_key_ids(key) == {key.key_id} and key.secret not in plan.output
