"""Keys whose record lives in AWS Secrets Manager (moto's server), through ansible-playbook, checked with raw boto3.

The playbooks reach Secrets Manager as a rotator user holding exactly the actions of the shipped policy
(docs/policies/aws-secretsmanager-rotator.json), with moto enforcing IAM.
"""
from __future__ import annotations

import fnmatch
import json

from .conftest import World
from .secretsmanager import POLICY_FILE, admin, consumer_reads, current, rotator, sm_key, stages, tags


def test_rotate_then_revoke_after_grace(world: World) -> None:
    key, name = sm_key(world, apikeys_grace_period="2s", apikeys_clock_skew="1s",
                       apikeys_usage_evidence={"source": "none"})
    credentials = rotator(world)
    run = world.playbook("rotate.yml", extra_env=credentials, secret=key.host)
    assert run.rc == 0, run.output

    record = current(world, name)
    new_id = record["key_id"]
    assert new_id != key.key_id and record["previous_key_id"] == key.key_id
    assert not record.get("pending_key_id") and not record.get("rotation_id")
    assert consumer_reads(world, name, credentials) == record["key"] != key.secret
    assert world.works(key, record["key"], new_id) and world.works(key, key.secret, key.key_id)
    labels = stages(world, name)
    assert not any("AWSPENDING" in s for s in labels.values()), labels
    assert any("AWSPREVIOUS" in s for s in labels.values())
    versions = admin(world).list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]
    assert any(v["VersionId"] == "apikeys-pending-" + record["last_rotation_id"] for v in versions)
    meta = tags(world, name)
    assert meta["apikeys:phase"] == "grace" and meta["apikeys:key_id"] == new_id
    assert "apikeys:pending_key_id" not in meta

    world.wait_past(record["previous_key_revocation_at"])
    run = world.playbook("revoke_after_grace.yml", extra_env=credentials, secret=key.host)
    assert run.rc == 0, run.output
    after = current(world, name)
    assert after["key_id"] == new_id and not after.get("previous_key_id") and not after.get("previous_key"), run.stdout
    assert not world.works(key, key.secret, key.key_id) and world.works(key, after["key"], new_id)
    assert world.live_key_ids(key) == {new_id}
    assert tags(world, name)["apikeys:phase"] == "idle"


def test_rollback_restores_the_previous_key(world: World) -> None:
    key, name = sm_key(world)
    credentials = rotator(world)
    assert world.playbook("rotate.yml", extra_env=credentials, secret=key.host).rc == 0
    faulty = current(world, name)["key_id"]
    run = world.playbook("rollback.yml", extra_env=credentials, secret=key.host, rollback_reason="INC-12 test")
    assert run.rc == 0, run.output
    record = current(world, name)
    assert record["key_id"] == key.key_id and record["key"] == key.secret
    assert world.live_key_ids(key) == {key.key_id}, f"{faulty} revoked"


def test_native_rotation_enabled_is_refused_and_nothing_changes(world: World) -> None:
    key, name = sm_key(world)
    admin(world).rotate_secret(SecretId=name, RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False)
    assert admin(world).describe_secret(SecretId=name)["RotationEnabled"] is True
    before = (current(world, name), stages(world, name))
    run = world.playbook("rotate.yml", extra_env=rotator(world), secret=key.host)
    assert run.rc != 0 and "own rotation enabled" in run.output and "two rotators" in run.output
    assert (current(world, name), stages(world, name)) == before
    assert world.live_key_ids(key) == {key.key_id}, "no key created"


def test_a_stuck_awspending_of_another_tool_is_refused_no_key_made(world: World) -> None:
    key, name = sm_key(world)
    foreign = "lambda-rotation-00000000-0000-0000-0000-000000000001"
    admin(world).put_secret_value(SecretId=name, ClientRequestToken=foreign, VersionStages=["AWSPENDING"],
                                  SecretString=json.dumps({"key": "sk-made-by-the-lambda", "key_id": "x"}))
    before = (current(world, name), stages(world, name))
    run = world.playbook("rotate.yml", extra_env=rotator(world), secret=key.host)
    assert run.rc != 0 and "AWSPENDING" in run.output and foreign in run.output
    assert "sk-made-by-the-lambda" not in run.output
    assert (current(world, name), stages(world, name)) == before
    assert world.live_key_ids(key) == {key.key_id}, "no key created, none lost"
    assert world.works(key, key.secret, key.key_id)


def test_a_missing_permission_is_a_clear_error_before_the_provider(world: World) -> None:
    key, name = sm_key(world)
    before = current(world, name)
    run = world.playbook("rotate.yml", extra_env=rotator(world, without=("secretsmanager:UpdateSecretVersionStage",)),
                         secret=key.host)
    assert run.rc != 0 and "secretsmanager:UpdateSecretVersionStage" in run.output, run.output
    assert "permission denied" in run.output
    assert current(world, name) == before
    assert world.live_key_ids(key) == {key.key_id}, "stopped before the provider"


def test_the_policy_names_the_records_secrets_and_no_dangerous_action(world: World) -> None:
    key, name = sm_key(world)
    arn = admin(world).describe_secret(SecretId=name)["ARN"]
    policy = json.loads(POLICY_FILE.read_text())
    resources = {s["Resource"] for s in policy["Statement"]}
    assert all(fnmatch.fnmatchcase(arn, pattern) for pattern in resources), (arn, resources)
    assert not any(fnmatch.fnmatchcase(arn.replace(":secret:apikeys/", ":secret:other/"), p) for p in resources)
    actions = json.dumps(policy)
    for dangerous in ("DeleteSecret", "RotateSecret", "PutResourcePolicy", '"secretsmanager:*"', '"*"'):
        assert dangerous not in actions
    assert key.host in name
