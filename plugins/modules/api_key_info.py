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
      description: The record's version in the store.
      type: int
    phase:
      description: C(absent), C(idle), C(intent), C(pending) or C(grace).
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
      description: Id of the last completed rotation.
      type: str
  sample:
    exists: true
    version: 7
    phase: idle
    key_id: "3u0sR4g7Qy2l9Xw1v8ZbPA"
    rotated_at: "2026-08-01T02:00:00Z"
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
