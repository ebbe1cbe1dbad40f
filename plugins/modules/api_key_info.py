#!/usr/bin/python
# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: api_key_info
short_description: Report a key's rotation record and plan, without its secret
version_added: 0.1.0
description:
  - Reads the key's record from the store and reports its phase, key ids, age and whether a
    rotation is due, and why.
  - Checks the key's inventory settings first and fails, naming the key and the variable, before
    any network call.
  - Never returns a secret. Runs on the controller (action plugin).
  - With O(metadata_only=true) it reads only the record's metadata (KV v2 C(custom_metadata)), which the
    shipped C(docs/policies/monitor.hcl) policy allows without any right to read a key, and returns the
    same result, computed from the non-secret fields the collection publishes there at each write.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - apikeys.rotation.key
  - apikeys.rotation.store
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  force:
    description: Report the key as due whatever its age.
    type: bool
    default: false
  metadata_only:
    description:
      - Read only the record's metadata, never its data (which holds the keys).
      - Enough for monitoring, metrics and reports; needs only the monitor policy.
      - The metadata is written after each write of the record, best effort. When that write failed
        (the run warned), the metadata may lag one step behind the record.
      - A record whose metadata was never written by this collection is reported with
        RV(record.phase=unknown) and a plan that waits.
    type: bool
    default: false
    version_added: 0.2.0
author:
  - apikeys.rotation maintainers (@apikeys)
"""

EXAMPLES = r"""
- name: Is the stripe key due for rotation?
  apikeys.rotation.api_key_info:
    name: sendgrid
    provider: sendgrid
    vault_path: secret/apikeys/sendgrid
    rotation_frequency: 90d
    grace_period: 24h
  register: sendgrid_info

- name: Show the plan
  ansible.builtin.debug:
    msg: "{{ sendgrid_info.plan.reason }}"

- name: The same from the metadata alone (a token with the monitor policy is enough)
  apikeys.rotation.api_key_info:
    name: sendgrid
    provider: sendgrid
    vault_path: secret/apikeys/sendgrid
    rotation_frequency: 90d
    grace_period: 24h
    metadata_only: true
  register: sendgrid_state

- name: When is it due?
  ansible.builtin.debug:
    msg: "age {{ sendgrid_state.schedule.age_seconds }}s, due at {{ sendgrid_state.schedule.due_at }}"
"""

RETURN = r"""
record:
  description: The record without secrets.
  returned: always
  type: dict
  contains:
    exists:
      description: Whether a record exists at the path.
      type: bool
    version:
      description:
        - The record's version in the store, an opaque token compared for equality only.
        - An integer for V(vault_kv2) (0 when there is no record); the C(VersionId) of the C(AWSCURRENT) version
          for V(aws_secretsmanager).
      type: raw
    phase:
      description: C(absent), C(idle), C(intent), C(pending), C(grace) or C(revoking); C(unknown) with
        O(metadata_only) when the record has no metadata written by this collection.
      type: str
    key_id:
      description: Provider id of the current key.
      type: str
    rotated_at:
      description: When the current key became current (UTC, ISO 8601).
      type: str
    previous_key_id:
      description: Provider id of the previous key, during its grace period.
      type: str
    previous_key_revocation_at:
      description: When the previous key may be revoked.
      type: str
    rotation_id:
      description: Id of a rotation in progress.
      type: str
    pending_key_id:
      description: Provider id of a new key not yet promoted.
      type: str
    last_rotation_id:
      description: Id of the last completed rotation (not in the metadata, so null with O(metadata_only)).
      type: str
    revocation_postponed_until:
      description: Until when the revocation of the previous key is postponed (UTC, ISO 8601).
      type: str
    revocation_postponements:
      description: How many times the revocation of the previous key was postponed.
      type: int
    last_revoked_key_id:
      description: Provider id of the last key revoked.
      type: str
    lease_until:
      description: Until when the run that owns a rotation in progress holds it.
      type: str
    last_result:
      description: What the last task that wrote the record did (e.g. C(verified), C(promoted), C(failed)).
      type: str
    last_result_at:
      description: When (UTC, ISO 8601).
      type: str
    last_error:
      description: The last failure's message (scrubbed of secrets), if the last task failed.
      type: str
    provider:
      description: The provider named in the metadata.
      type: str
  sample:
    exists: true
    version: 7
    phase: idle
    key_id: "3u0sR4g7Qy2l9Xw1v8ZbPA"
    rotated_at: "2026-08-01T02:00:00Z"
    revocation_postponements: 0
    last_result: promoted
    last_result_at: "2026-08-01T02:00:00Z"
schedule:
  description: The key's age and when it is due, in every phase (the same in both modes).
  returned: always
  type: dict
  version_added: 0.2.0
  contains:
    rotation_frequency_seconds:
      description: O(rotation_frequency) in seconds (null when not set).
      type: int
    grace_period_seconds:
      description: O(grace_period) in seconds (null when not set).
      type: int
    age_seconds:
      description: Seconds since the current key became current (RV(record.rotated_at)); null without it.
      type: int
    due_at:
      description: When the current key is due for rotation (UTC, ISO 8601), RV(record.rotated_at) plus the
        rotation frequency; null without either.
      type: str
    overdue_seconds:
      description: Seconds past RV(schedule.due_at), 0 when not yet due; null when there is no due time.
      type: int
  sample:
    rotation_frequency_seconds: 7776000
    grace_period_seconds: 86400
    age_seconds: 10108800
    due_at: "2026-10-30T02:00:00Z"
    overdue_seconds: 2332800
metadata_only:
  description: Whether the result was computed from the metadata alone.
  returned: always
  type: bool
  version_added: 0.2.0
history:
  description:
    - The last events of the key's life, oldest first, as kept in the record itself (at most 50; no secret,
      key ids only). The same events, with more detail, go to the audit trail (see docs/audit.md).
    - Empty with O(metadata_only=true) (the history is in the record, which that mode does not read) and for
      records no task of version 0.2.0 or later has written.
  returned: always
  type: list
  elements: dict
  version_added: 0.2.0
  contains:
    at:
      description: When (UTC, the store's clock).
      type: str
    action:
      description: >-
        C(imported), C(intent), C(stored), C(verified), C(promoted), C(postponed), C(revoked), C(deactivated),
        C(rolled_back), C(discarded), C(intent_cleaned), C(intent_cleared), C(taken_over).
      type: str
    result:
      description: C(ok) (failures are in the audit trail and the record's metadata, not here).
      type: str
    rotation_id:
      description: The rotation the event belongs to.
      type: str
      returned: when there is one
    key_id:
      description: The current key's id after the event.
      type: str
    new_key_ids:
      description: Ids of keys the event put into the record.
      type: list
      elements: str
      returned: when any
    revoked_key_ids:
      description: Ids of keys the event took out of the record (revoked, discarded).
      type: list
      elements: str
      returned: when any
    cause:
      description: Why, for revocations and promotions (C(grace ended), C(rollback), C(emergency)...).
      type: str
      returned: when known
    by:
      description: Who (C(user@host), or C(awx job <id> (<launcher>))).
      type: str
    run_id:
      description: The playbook run (see docs/audit.md).
      type: str
  sample:
    - at: "2026-11-26T02:00:00Z"
      action: promoted
      result: ok
      rotation_id: 20261126T020000Z-3f9a1c
      key_id: 3u0sR4g7Qy2l9Xw1v8ZbPA
      by: "awx job 4242 (alice)"
      run_id: awx-job-4242
revocation:
  description: Whether the previous key may be revoked now (grace over, no postponement running).
  returned: always
  type: dict
  contains:
    due:
      description: Whether revoke-after-grace would check usage and revoke now.
      type: bool
    reason:
      description: Why, with the times.
      type: str
  sample:
    due: false
    reason: "previous key 3u0sR4g7Qy2l9Xw1v8ZbPA may be revoked from 2026-11-27T02:00:30Z (in 23h59m)"
plan:
  description: What a rotation would do now.
  returned: always
  type: dict
  contains:
    due:
      description: Whether rotate would act on this key.
      type: bool
    action:
      description: C(rotate), C(resume), C(wait), C(none) or C(refuse).
      type: str
    reason:
      description: Why, with the numbers.
      type: str
    age_seconds:
      description: Age of the current key.
      type: int
      returned: when the record has C(rotated_at)
  sample:
    due: true
    action: rotate
    reason: "age 117d2h >= rotation_frequency 90d"
"""
