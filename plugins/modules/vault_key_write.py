#!/usr/bin/python
# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_key_write
short_description: Change a key's record in the store - promote, import, clear previous
version_added: 0.1.0
description:
  - Every write is conditional on the version read (check-and-set).
  - "O(state=promote): the verified pending key becomes C(key); the old key becomes C(previous_key),
    valid until C(previous_key_revocation_at) = now + O(grace_period)."
  - "O(state=import): adopt a key that is in use today: writes a new record with O(key) and O(key_id)
    after checking at the provider that the key works. Refuses if the path already holds another key."
  - "O(state=clear_previous): forget the previous key, only once the provider no longer accepts it."
  - "O(state=postpone): put the previous key's revocation off by O(postpone_by), counting postponements
    and recording O(reason) (what M(apikeys.rotation.key_usage_check) said)."
  - Runs on the controller (action plugin). Never returns a secret.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - apikeys.rotation.key
  - apikeys.rotation.store
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The record before and after, secrets shown as C(<hidden>).
  platform:
    platforms: all
options:
  state:
    description: The change to make.
    type: str
    required: true
    choices: [promote, import, clear_previous, postpone]
  emergency:
    description: With O(state=promote), promote with no grace period (the old key may be revoked at once).
    type: bool
    default: false
  postpone_by:
    description: With O(state=postpone), how long to wait before the next usage check.
    type: str
    default: 10m
  reason:
    description: With O(state=postpone), why (kept in the record as C(revocation_wait_reason)).
    type: str
    default: new key not yet seen in use
  rotation_id:
    description:
      - With O(state=promote), promote only the pending key of this rotation (the RV(apikeys.rotation.api_key_create#module:rotation_id)
        of the create step); a pending key of another run is refused.
    type: str
  owner:
    description:
      - With O(state=promote), the run that owns the rotation (the RV(apikeys.rotation.api_key_create#module:owner)
        of the create step). A rotation that another run has taken over is then refused (error C(lost_ownership)).
      - Without it, only a rotation whose owner's lease has expired (or that has none) is promoted.
    type: str
  key:
    description: With O(state=import), the secret of the key in use today.
    type: str
  key_id:
    description: With O(state=import), the provider's id of that key.
    type: str
  rotated_at:
    description:
      - With O(state=import), when the key was created (UTC ISO 8601), so that its age counts from then.
        Default is now.
    type: str
  verify:
    description: With O(state=import), check at the provider that the key works before importing it.
    type: bool
    default: true
author:
  - apikeys.rotation maintainers (@apikeys)
"""

EXAMPLES = r"""
- name: Adopt the SendGrid key that the application uses today
  apikeys.rotation.vault_key_write:
    name: sendgrid
    provider: sendgrid
    vault_path: secret/apikeys/sendgrid
    state: import
    key: "{{ lookup('ansible.builtin.env', 'CURRENT_SENDGRID_KEY') }}"
    key_id: "{{ current_sendgrid_key_id }}"
  no_log: true

- name: Promote the key created by api_key_create
  apikeys.rotation.vault_key_write:
    name: sendgrid
    provider: sendgrid
    vault_path: secret/apikeys/sendgrid
    grace_period: 24h
    state: promote
    rotation_id: "{{ created.rotation_id }}"
    owner: "{{ created.owner }}"
"""

RETURN = r"""
record:
  description: The record after the change, without secrets (see M(apikeys.rotation.api_key_info)).
  returned: always
  type: dict
postponements:
  description: How many times the revocation has been postponed, this time included.
  returned: when O(state=postpone)
  type: int
  sample: 2
rotation_id:
  description: The promoted rotation.
  returned: when O(state=promote) changed the record
  type: str
outcome:
  description:
    - With O(state=promote), V(promoted), or V(promoted_by_other) when another run (which had taken the
      rotation over) already promoted it; then nothing is changed and the task does not fail.
  returned: when O(state=promote)
  type: str
msg:
  description: What was done.
  returned: always
  type: str
error:
  description: On failure, its kind (see M(apikeys.rotation.api_key_create)).
  returned: failure
  type: str
"""
