"""Keys kept in AWS Secrets Manager that another rotator or a narrow policy makes unsafe: each refused before any
change, with an error that says why (moto's server, IAM enforced, checked with raw boto3)."""
from __future__ import annotations

import fnmatch
import json

from .conftest import World
from .secretsmanager import POLICY_FILE, admin, current, rotator, sm_key, stages


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
