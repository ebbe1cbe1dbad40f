"""A new key that never works is revoked, the old one stays current (the test step of the protocol)."""
from __future__ import annotations

from .conftest import World, clear_faults, faults


def test_new_key_rejected_by_the_provider_is_revoked_and_the_old_key_stays(world: World) -> None:
    key = world.key("http")
    # Every call through the gateway's proxy fails: the new key can never be verified.
    faults(world.bench.gateway.url, match="GET /demo/ping", status=401, count=1000)
    try:
        run = world.playbook("rotate.yml", secret=key.host)
    finally:
        clear_faults(world.bench.gateway.url)

    assert run.rc != 0
    assert "was not accepted by http within 3s; it was revoked and the current key stays in use" in run.stdout
    stored = world.record(key)
    data, meta = stored.data, stored.meta
    assert data["key_id"] == key.key_id and data["key"] == key.secret
    assert not [f for f in data if f.startswith(("pending", "previous", "rotation_id"))]
    assert world.live_key_ids(key) == {key.key_id}, "the new key must be revoked at the provider"
    assert world.works(key, key.secret, key.key_id)
    assert meta["phase"] == "idle"


def test_key_cap_stops_before_creating(world: World) -> None:
    key = world.key("aws_iam")
    iam = world.bench.moto.client("iam")
    iam.create_access_key(UserName=key.options["user_name"])  # a second key, made by someone else
    live = world.live_key_ids(key)

    run = world.playbook("rotate.yml", secret=key.host)

    assert run.rc != 0
    assert "already holds 2 keys of a limit of 2; no key was created" in run.stdout
    assert world.live_key_ids(key) == live, "never delete a key the collection did not create"
    assert world.record(key).version == 1
