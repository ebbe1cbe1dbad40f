"""Keys whose record lives in AWS Secrets Manager (moto's server), through ansible-playbook, checked with raw boto3.

The playbooks reach Secrets Manager as a rotator user holding exactly the actions of the shipped policy
(docs/policies/aws-secretsmanager-rotator.json), with moto enforcing IAM.
"""
from __future__ import annotations

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


def test_import_creates_the_secret_and_a_monitor_reads_the_state_without_the_value(world: World) -> None:
    """vault_key_write state=import (the design card's module, any store) makes the secret; api_key_info
    metadata_only works with DescribeSecret alone (a monitor that may not read the key)."""
    key, name = sm_key(world, record=False)
    run = world.playbook("import.yml", extra_env=dict(rotator(world), APIKEYS_IMPORT_KEY=key.secret),
                         secret=key.host, key_id=key.key_id)
    assert run.rc == 0, run.output
    assert current(world, name)["key"] == key.secret and key.secret not in run.output
    described = admin(world).describe_secret(SecretId=name)
    assert {t["Key"]: t["Value"] for t in described["Tags"]}["apikeys:phase"] == "idle"
    again = world.playbook("import.yml", extra_env=dict(rotator(world), APIKEYS_IMPORT_KEY="sk-another-key"),
                           secret=key.host, key_id="other")
    assert again.rc != 0 and "already holds key" in again.output and current(world, name)["key"] == key.secret

    monitor = world.tmp / "monitor.yml"
    monitor.write_text(f"""
- hosts: {key.host}
  gather_facts: false
  tasks:
    - apikeys.rotation.api_key_info:
        metadata_only: true
      register: info
    - ansible.builtin.debug:
        msg: "PHASE={{{{ info.record.phase }}}} KEY_ID={{{{ info.record.key_id }}}}"
""")
    iam = world.bench.moto.client("iam")
    user = f"monitor-{world.prefix}"
    iam.create_user(UserName=user)
    shipped = json.loads((POLICY_FILE.parent / "aws-secretsmanager-monitor.json").read_text())
    for statement in shipped["Statement"]:
        statement["Resource"] = "*"  # moto evaluates actions against the resource "*" only
    iam.put_user_policy(UserName=user, PolicyName="monitor", PolicyDocument=json.dumps(shipped))
    made = iam.create_access_key(UserName=user)["AccessKey"]
    seen = world.playbook(str(monitor), extra_env={"AWS_ACCESS_KEY_ID": made["AccessKeyId"],
                                                   "AWS_SECRET_ACCESS_KEY": made["SecretAccessKey"]})
    assert seen.rc == 0, seen.output
    assert "PHASE=idle" in seen.output and f"KEY_ID={key.key_id}" in seen.output
