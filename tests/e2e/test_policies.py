"""The least-privilege policies shipped in docs/policies/ are enough, and no more."""
from __future__ import annotations

import hvac
import pytest

from .conftest import ROOT, World

POLICIES = ROOT / "docs" / "policies"


def token_with(world: World, policy: str) -> str:
    world.vault.sys.create_or_update_policy(name=f"apikeys-{policy}", policy=(POLICIES / f"{policy}.hcl").read_text())
    created = world.vault.auth.token.create(policies=[f"apikeys-{policy}"], no_default_policy=True, ttl="10m")
    return created["auth"]["client_token"]


def test_the_rotator_policy_is_enough_to_rotate(world: World) -> None:
    key = world.key("sendgrid", root="apikeys/")
    token = token_with(world, "rotator")

    run = world.playbook("rotate.yml", secret=key.host, extra_env={"VAULT_TOKEN": token})

    assert run.rc == 0, run.output
    assert world.record(key).data["previous_key_id"] == key.key_id


def test_the_rotator_policy_cannot_destroy_history(world: World) -> None:
    key = world.key("sendgrid", root="apikeys/")
    rotator = hvac.Client(url=world.bench.openbao.url, token=token_with(world, "rotator"))
    with pytest.raises(hvac.exceptions.Forbidden):
        path = key.vault_path.split("/", 1)[1]
        rotator.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point="secret")


def test_the_monitor_policy_sees_the_state_but_no_key(world: World) -> None:
    key = world.key("sendgrid", root="apikeys/")
    assert world.playbook("rotate.yml", secret=key.host).rc == 0
    monitor = hvac.Client(url=world.bench.openbao.url, token=token_with(world, "monitor"))
    path = key.vault_path.split("/", 1)[1]

    meta = monitor.secrets.kv.v2.read_secret_metadata(path=path, mount_point="secret")["data"]["custom_metadata"]

    assert meta["phase"] == "grace" and meta["previous_key_id"] == key.key_id
    with pytest.raises(hvac.exceptions.Forbidden):
        monitor.secrets.kv.v2.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)
