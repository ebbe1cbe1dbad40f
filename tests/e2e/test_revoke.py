"""revoke_after_grace.yml end to end: the old key goes only once the new one is in use."""
from __future__ import annotations

from typing import Any

import requests

from .conftest import Key, Webhook, World

FAST = {"apikeys_grace_period": "2s", "apikeys_clock_skew": "0s"}


def rotated(world: World, key: Key) -> dict[str, Any]:
    run = world.playbook("rotate.yml", secret=key.host)
    assert run.rc == 0, run.output
    return world.record(key).data


def http_evidence(consumers: Any) -> dict[str, Any]:
    return {"source": "http", "url": consumers.url + "/key-versions"}


def test_new_key_in_use_and_grace_over_revokes_the_old_key(world: World, consumers: Any) -> None:
    key = world.key("sendgrid", apikeys_usage_evidence=http_evidence(consumers), **FAST)
    data = rotated(world, key)
    consumers.hold(f"{key.host}-app", data["key_id"])
    world.wait_past(data["previous_key_revocation_at"])

    run = world.playbook("revoke_after_grace.yml", secret=key.host)

    assert run.rc == 0, run.output
    assert f"{key.host}: revoked: previous key {key.key_id} revoked" in run.stdout
    assert not world.works(key, key.secret, key.key_id), "the old key must be rejected by the provider"
    assert world.works(key, data["key"], data["key_id"])
    after = world.record(key)
    assert not [f for f in after.data if f.startswith(("previous", "revocation"))]
    assert after.data["last_revoked_key_id"] == key.key_id and after.meta["phase"] == "idle"
    assert world.live_key_ids(key) == {data["key_id"]}

    again = world.playbook("revoke_after_grace.yml", secret=key.host)

    assert again.rc == 0, again.output
    assert world.record(key).version == after.version
    assert f"{key.host}: not due: no previous key awaits revocation" in again.stdout


def test_iam_last_used_data_is_the_evidence(world: World) -> None:
    key = world.key("aws_iam", apikeys_usage_evidence={"source": "provider"}, apikeys_grace_period="2s",
                    apikeys_clock_skew="1s")
    data = rotated(world, key)
    world.wait_past(data["previous_key_revocation_at"], extra=1)
    assert world.works(key, data["key"], data["key_id"])  # the application's first call with the new key

    run = world.playbook("revoke_after_grace.yml", secret=key.host)

    assert run.rc == 0, run.output
    assert "aws_iam last-used data" in run.stdout
    assert world.live_key_ids(key) == {data["key_id"]}


def test_new_key_not_yet_used_postpones_and_records_why(world: World, consumers: Any) -> None:
    key = world.key("http", apikeys_usage_evidence=http_evidence(consumers), **FAST)
    data = rotated(world, key)
    world.wait_past(data["previous_key_revocation_at"])

    run = world.playbook("revoke_after_grace.yml", secret=key.host, revoke_after_grace_postpone_by="1h")

    assert run.rc == 0, run.output
    assert f"{key.host}: postponed: revocation of {key.key_id} postponed to" in run.stdout
    after = world.record(key).data
    assert after["revocation_postponements"] == 1
    assert f"new key {data['key_id']} not seen in use" in after["revocation_wait_reason"]
    assert world.works(key, key.secret, key.key_id), "the old key must keep working"

    later = world.playbook("revoke_after_grace.yml", secret=key.host)

    assert later.rc == 0 and f"{key.host}: not due: previous key {key.key_id} may be revoked from" in later.stdout


def test_old_key_still_used_after_grace_raises_an_alert(world: World, consumers: Any, webhook: Webhook) -> None:
    key = world.key("sendgrid", apikeys_usage_evidence=http_evidence(consumers), **FAST)
    data = rotated(world, key)
    consumers.hold(f"{key.host}-app-1", data["key_id"])
    consumers.hold(f"{key.host}-app-2", key.key_id)  # this one never re-read the store
    world.wait_past(data["previous_key_revocation_at"])

    run = world.playbook("revoke_after_grace.yml", secret=key.host, revoke_after_grace_webhook_url=webhook.url)

    assert run.rc != 0
    assert f"{key.host}: ALERT: old key {key.key_id} was still used at" in run.stdout
    assert world.works(key, key.secret, key.key_id), "not revoked"
    assert world.record(key).data["previous_key_id"] == key.key_id
    assert len(webhook.bodies) == 1 and webhook.bodies[0]["key"] == key.host
    assert webhook.bodies[0]["previous_key_id"] == key.key_id and "a consumer has not switched" in webhook.bodies[0]["reason"]


def test_too_many_postponements_raise_an_alert(world: World, consumers: Any) -> None:
    key = world.key("sendgrid", apikeys_usage_evidence=http_evidence(consumers), **FAST)
    data = rotated(world, key)
    world.wait_past(data["previous_key_revocation_at"])

    first = world.playbook("revoke_after_grace.yml", secret=key.host, revoke_after_grace_postpone_by="1s",
                           revoke_after_grace_max_postponements=2)
    world.wait_past(world.record(key).data["revocation_postponed_until"])
    second = world.playbook("revoke_after_grace.yml", secret=key.host, revoke_after_grace_postpone_by="1s",
                            revoke_after_grace_max_postponements=2)

    assert first.rc == 0, first.output
    assert second.rc != 0 and f"{key.host}: ALERT: revocation postponed 2 times" in second.stdout
    assert world.works(key, key.secret, key.key_id)


def test_grace_not_over_leaves_the_key_untouched(world: World, consumers: Any) -> None:
    key = world.key("sendgrid", apikeys_usage_evidence=http_evidence(consumers))  # grace 1h
    data = rotated(world, key)
    consumers.hold(f"{key.host}-app", data["key_id"])
    version = world.record(key).version

    run = world.playbook("revoke_after_grace.yml", secret=key.host)

    assert run.rc == 0, run.output
    assert f"{key.host}: not due: previous key {key.key_id} may be revoked from" in run.stdout
    assert world.record(key).version == version and world.works(key, key.secret, key.key_id)


def test_old_key_deleted_by_hand_is_success_and_the_record_is_cleaned(world: World) -> None:
    key = world.key("sendgrid", apikeys_usage_evidence={"source": "none"}, **FAST)
    data = rotated(world, key)
    deleted = requests.delete(f"{world.bench.sendgrid.url}/v3/api_keys/{key.key_id}", timeout=5,
                              headers={"Authorization": f"Bearer {world.bench.sendgrid_admin_key}"})
    assert deleted.status_code == 204
    world.wait_past(data["previous_key_revocation_at"])

    run = world.playbook("revoke_after_grace.yml", secret=key.host)

    assert run.rc == 0, run.output
    assert f"previous key {key.key_id} was already gone at the provider; forgotten" in run.stdout
    assert "no usage evidence configured: the clock alone" in run.stdout
    assert "previous_key_id" not in world.record(key).data


def test_the_current_key_can_never_be_revoked(world: World) -> None:
    key = world.key("sendgrid", **FAST)
    data = rotated(world, key)
    play = world.tmp / "revoke_current.yml"
    play.write_text(f"""
- hosts: {key.host}
  gather_facts: false
  tasks:
    - name: Try to revoke the current key
      apikeys.rotation.api_key_revoke:
        key_id: {data['key_id']}
      register: attempt
      ignore_errors: true
    - name: Try to revoke a key outside the lineage
      apikeys.rotation.api_key_revoke:
        key_id: not-a-key-of-this-record
      register: outsider
      ignore_errors: true
    - ansible.builtin.assert:
        that:
          - attempt is failed and 'it is the current key' in attempt.msg
          - outsider is failed and 'only keys of the managed lineage' in outsider.msg
""")

    run = world.playbook(str(play))

    assert run.rc == 0, run.output
    assert world.works(key, data["key"], data["key_id"])
    assert world.record(key).data["key_id"] == data["key_id"]


def test_iam_soft_revoke_deactivates_first_then_deletes(world: World) -> None:
    key = world.key("aws_iam", **FAST)
    data = rotated(world, key)
    play = world.tmp / "soft_revoke.yml"
    play.write_text(f"""
- hosts: {key.host}
  gather_facts: false
  tasks:
    - name: Deactivate the old key (reversible)
      apikeys.rotation.api_key_revoke:
        state: inactive
      register: deactivated
    - name: Deactivating again changes nothing
      apikeys.rotation.api_key_revoke:
        state: inactive
      register: again
    - ansible.builtin.assert:
        that: [deactivated is changed, again is not changed]
""")
    iam = world.bench.moto.client("iam")

    run = world.playbook(str(play))

    assert run.rc == 0, run.output
    statuses = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=key.options["user_name"])["AccessKeyMetadata"]}
    assert statuses == {key.key_id: "Inactive", data["key_id"]: "Active"}
    record = world.record(key).data
    assert record["previous_key_id"] == key.key_id and record["previous_key_deactivated_at"]

    play.write_text(f"""
- hosts: {key.host}
  gather_facts: false
  tasks:
    - name: Delete it
      apikeys.rotation.api_key_revoke:
        key_id: {key.key_id}
""")
    run = world.playbook(str(play))

    assert run.rc == 0, run.output
    assert world.live_key_ids(key) == {data["key_id"]}
    assert "previous_key_id" not in world.record(key).data
