"""A Stripe key end to end: ansible-playbook against the Stripe emulator (real JWE) and OpenBao, checked with raw HTTP.

The emulator answers in live mode (the secret encrypted to the rotation's public key) unless a test switches
it to sandbox mode; an expired key keeps authenticating for ~2 s, as Stripe's expiry takes a while.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest
import requests

from .conftest import Key, World


@pytest.fixture
def stripe(world: World) -> Iterator[str]:
    """The emulator's URL; its settings go back to the bench's after the test (its keys stay)."""
    url = world.bench.stripe.url
    yield url
    requests.post(url + "/__emulator/config", json={"livemode": True, "jwe_alg": "RSA-OAEP-256", "jwe_enc": "A256GCM",
                                                    "jwe_corrupt": False, "drop_permissions": False,
                                                    "expire_delay": 2.0}, timeout=5).raise_for_status()


def emulated(url: str) -> dict[str, dict[str, Any]]:
    return {k["id"]: k for k in requests.get(url + "/__emulator/keys", timeout=5).json()}


def customers(url: str, secret: str) -> int:
    return requests.get(url + "/v1/customers?limit=1", headers={"Authorization": f"Bearer {secret}"}, timeout=5).status_code


def stripe_key(world: World, **inventory: Any) -> Key:
    return world.key("stripe", apikeys_grace_period="2s", apikeys_clock_skew="0s",
                     apikeys_usage_evidence={"source": "none"}, **inventory)


def test_rotate_then_revoke_after_grace_expires_the_old_key_and_waits_until_it_is_dead(world: World, stripe: str) -> None:
    key = stripe_key(world)
    calls = requests.get(stripe + "/__emulator/calls", timeout=5).json()

    run = world.playbook("rotate.yml", secret=key.host)

    assert run.rc == 0, run.output[-3000:]
    data = world.record(key).data
    new = emulated(stripe)[data["key_id"]]
    assert data["key"].startswith("rk_live_") and data["previous_key_id"] == key.key_id
    assert new["status"] == "active" and new["name"].startswith(f"apikeys-{key.host}-")
    assert new["permissions"] == ["customer_read", "charge_read"], "the current key's permissions, copied"
    assert customers(stripe, data["key"]) == 200 and customers(stripe, key.secret) == 200
    after = requests.get(stripe + "/__emulator/calls", timeout=5).json()
    assert after.get("POST /v2/iam/api_keys", 0) == calls.get("POST /v2/iam/api_keys", 0) + 1
    world.wait_past(data["previous_key_revocation_at"])

    revoke = world.playbook("revoke_after_grace.yml", secret=key.host)

    assert revoke.rc == 0, revoke.output[-3000:]
    assert "previous_key_id" not in world.record(key).data
    assert emulated(stripe)[key.key_id]["status"] == "expired"
    assert customers(stripe, key.secret) == 401, "confirmed dead when the run ends, not merely expired"
    assert customers(stripe, data["key"]) == 200
    polls = requests.get(stripe + "/__emulator/calls", timeout=5).json()["GET /v1/customers"]
    assert polls - after.get("GET /v1/customers", 0) >= 3, "the old key was polled until Stripe rejected it"


def test_rollback_restores_the_old_key_and_expires_the_new_one_for_good(world: World, stripe: str) -> None:
    key = stripe_key(world)
    assert world.playbook("rotate.yml", secret=key.host).rc == 0
    faulty = world.record(key).data

    run = world.playbook("rollback.yml", secret=key.host)

    assert run.rc == 0, run.output[-3000:]
    data = world.record(key).data
    assert (data["key_id"], data["key"]) == (key.key_id, key.secret)
    assert not {f for f in data if f.startswith(("revoking", "previous", "pending"))}
    assert emulated(stripe)[faulty["key_id"]]["status"] == "expired"
    assert customers(stripe, faulty["key"]) == 401 and customers(stripe, key.secret) == 200
    assert world.live_key_ids(key) == {key.key_id}


def test_a_sandbox_key_comes_back_as_a_plain_token(world: World, stripe: str) -> None:
    requests.post(stripe + "/__emulator/config", json={"livemode": False}, timeout=5).raise_for_status()
    key = stripe_key(world, apikeys_provider_options={"api_url": stripe, "permissions": ["customer_read"],
                                                      "activation_timeout": 3, "expire_interval": 1})

    run = world.playbook("rotate.yml", secret=key.host)

    assert run.rc == 0, run.output[-3000:]
    data = world.record(key).data
    assert data["key"].startswith("rk_test_") and customers(stripe, data["key"]) == 200
    assert emulated(stripe)[data["key_id"]]["permissions"] == ["customer_read"]


@pytest.mark.parametrize("setting, words", [
    ({"jwe_corrupt": True}, "the JWE's content key does not decrypt with this rotation's private key"),
    ({"jwe_alg": "RSA1_5"}, "the JWE's alg 'RSA1_5' is not one of RSA-OAEP, RSA-OAEP-256"),
    ({"jwe_enc": "A128GCM"}, "the JWE's enc 'A128GCM' is not A256GCM"),
], ids=["does not decrypt", "wrong alg", "wrong enc"])
def test_a_secret_that_does_not_decrypt_fails_clearly_and_the_new_key_is_expired(
        world: World, stripe: str, setting: dict[str, Any], words: str) -> None:
    key = stripe_key(world)
    before = world.record(key)
    requests.post(stripe + "/__emulator/config", json=setting, timeout=5).raise_for_status()

    run = world.playbook("rotate.yml", secret=key.host)

    assert run.rc != 0
    assert words in run.stdout and "was expired at once and the current key stays in use" in run.stdout
    stored = world.record(key)
    assert (stored.data["key"], stored.data["key_id"]) == (key.secret, key.key_id), "no key lost"
    assert not {f for f in stored.data if f.startswith("pending") or f in ("rotation_id", "intent_at")}, \
        "the intent is cleared: the create had a clear answer"
    assert stored.meta["last_result"] == "failed" and words in stored.meta["last_error"]
    made = [k for k in emulated(stripe).values() if (k["name"] or "").startswith(f"apikeys-{key.host}-")]
    assert len(made) == 1 and made[0]["status"] == "expired", "the key made at Stripe is expired, not left alive"
    assert world.live_key_ids(key) == {key.key_id} and customers(stripe, key.secret) == 200
    assert before.version < stored.version
    assert "PRIVATE KEY" not in run.output and key.secret not in run.output
