"""A token that expires in the middle of a run is renewed (AppRole); IAM never gets a third key."""
from __future__ import annotations

import time

from .conftest import ROOT, World
from .faults import run_with_fault

ROTATOR_POLICY = (ROOT / "docs" / "policies" / "rotator.hcl").read_text()


def test_an_approle_token_that_expires_mid_run_is_renewed(world: World) -> None:
    vault = world.vault
    if "approle/" not in vault.sys.list_auth_methods()["data"]:
        vault.sys.enable_auth_method("approle")
    policy = f"apikeys-rotator-{world.prefix}"
    vault.sys.create_or_update_policy(name=policy, policy=ROTATOR_POLICY)
    role = f"rotator-{world.prefix}"
    vault.auth.approle.create_or_update_approle(role, token_policies=[policy], token_ttl="3s", token_max_ttl="3s",
                                                token_no_default_policy=True)
    role_id = vault.auth.approle.read_role_id(role)["data"]["role_id"]
    secret_id = vault.auth.approle.generate_secret_id(role)["data"]["secret_id"]
    key = world.key("sendgrid", root="apikeys/", apikeys_vault_auth_method="approle")
    env = {"VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id, "VAULT_TOKEN": "",
           "APIKEYS_TEST_PAUSE_AT": f"before_pending_write:{world.tmp}"}
    process, _home = world.start_playbook("rotate.yml", extra_env=env, secret=key.host)
    deadline = time.monotonic() + 60
    while not list(world.tmp.glob("before_pending_write.reached.*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(4)  # the run's token expires while it waits, right after the provider made the key
    (world.tmp / "before_pending_write.go").touch()
    stdout, _stderr = process.communicate(timeout=120)

    assert process.returncode == 0, stdout[-3000:]
    data = world.record(key).data
    assert data["previous_key_id"] == key.key_id and world.works(key, data["key"], data["key_id"])
    assert world.live_key_ids(key) == {key.key_id, data["key_id"]}
    assert secret_id not in stdout and role_id not in stdout


def test_iam_crash_after_create_never_leaves_a_third_key(world: World) -> None:
    key = world.key("aws_iam")
    run = run_with_fault(world, "rotate.yml", "before_pending_write", "killed", faults=None,  # type: ignore[arg-type]
                         env={}, secret=key.host)
    assert run.rc != 0
    assert len(world.live_key_ids(key)) == 2, "the old key and the dead run's new one, which the record's intent names"

    rerun = world.playbook("rotate.yml", secret=key.host, rotate_resume_after="0s")

    assert rerun.rc == 0, rerun.output[-3000:]
    data = world.record(key).data
    assert world.live_key_ids(key) == {key.key_id, data["key_id"]}, "IAM allows two: the orphan went first"
    assert world.works(key, key.secret, key.key_id) and world.works(key, data["key"], data["key_id"])
