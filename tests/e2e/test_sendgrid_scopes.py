"""SendGrid scopes end to end: a new key gets exactly the current key's scopes (or the ``scopes`` option), never
Full Access, which SendGrid gives a key created without scopes.

The bench's SendGrid emulator is shared by the whole session: every setting changed here is put back.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest
import requests

from .conftest import Key, World

SEEDED_SCOPES = ["mail.send", "user.profile.read"]  # what World.key gives a SendGrid key


@pytest.fixture(name="get_key_shape")
def fixture_get_key_shape(world: World) -> Iterator[Callable[[str], None]]:
    """Set how the emulator answers GET /v3/api_keys/{id}; back to the documented shape afterwards."""
    url = world.bench.sendgrid.url + "/__emulator/config"

    def set_shape(shape: str) -> None:
        requests.post(url, json={"get_key_shape": shape}, timeout=5).raise_for_status()

    try:
        yield set_shape
    finally:
        set_shape("documented")


def provider_keys(world: World, key: Key) -> list[dict[str, Any]]:
    """Every key the rotations of ``key`` made at the provider, revoked ones included (the emulator's books)."""
    keys = requests.get(world.bench.sendgrid.url + "/__emulator/keys", timeout=5).json()
    return [k for k in keys if k["name"].startswith(f"apikeys-{key.host}-")]


def scopes_at_sendgrid(world: World, key_id: str) -> list[str]:
    """The key's scopes as SendGrid's own API tells them, read with the admin key."""
    answer = requests.get(f"{world.bench.sendgrid.url}/v3/api_keys/{key_id}", timeout=5,
                          headers={"Authorization": f"Bearer {world.bench.sendgrid_admin_key}"})
    answer.raise_for_status()
    body = answer.json()
    item = body["result"][0] if "result" in body else body
    return sorted(item["scopes"])


def test_an_answer_in_an_unknown_shape_stops_the_rotation_before_any_key_is_made(
        world: World, get_key_shape: Callable[[str], None]) -> None:
    key = world.key("sendgrid")
    before = world.record(key)
    get_key_shape("unknown")

    run = world.playbook("rotate.yml", secret=key.host)
    get_key_shape("documented")

    assert run.rc != 0, run.output
    assert f"key '{key.host}'" in run.output and "apikeys_provider_options.scopes" in run.output, run.output
    assert "shape" in run.output
    assert world.record(key).version == before.version, "nothing was written: the scopes are read before the intent"
    assert provider_keys(world, key) == [], "no create reached the provider, not even one revoked since"
    assert world.live_key_ids(key) == {key.key_id}
    assert world.works(key, key.secret, key.key_id), "the current key keeps working"
    assert key.secret not in run.output


@pytest.mark.parametrize("shape", ["documented", "flat"])
def test_a_rotation_gives_the_new_key_exactly_the_current_keys_scopes(
        world: World, get_key_shape: Callable[[str], None], shape: str) -> None:
    key = world.key("sendgrid")
    get_key_shape(shape)

    run = world.playbook("rotate.yml", secret=key.host)
    get_key_shape("documented")

    assert run.rc == 0, run.output
    new_id = world.record(key).data["key_id"]
    assert new_id != key.key_id
    assert scopes_at_sendgrid(world, new_id) == sorted(SEEDED_SCOPES)
    assert [(k["id"], sorted(k["scopes"])) for k in provider_keys(world, key)] == [(new_id, sorted(SEEDED_SCOPES))]
    assert world.live_key_ids(key) == {key.key_id, new_id}


def test_the_scopes_option_gives_the_new_key_exactly_those_scopes(world: World) -> None:
    key = world.key("sendgrid")
    world.hosts[key.host]["apikeys_provider_options"]["scopes"] = ["mail.send"]

    run = world.playbook("rotate.yml", secret=key.host)

    assert run.rc == 0, run.output
    new_id = world.record(key).data["key_id"]
    assert scopes_at_sendgrid(world, new_id) == ["mail.send"]
    assert scopes_at_sendgrid(world, key.key_id) == sorted(SEEDED_SCOPES)
