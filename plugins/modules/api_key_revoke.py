#!/usr/bin/python
# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: api_key_revoke
short_description: Revoke a key's previous key at the provider, then forget it
version_added: 0.1.0
description:
  - Revokes the record's C(previous_key_id) at the provider, then removes C(previous_*) from the
    record (check-and-set), keeping C(last_revoked_key_id) and C(last_revoked_at).
  - Idempotent. A key already gone at the provider is success; with no previous key in the record
    nothing changes.
  - Only the managed lineage is revoked. The current key, the pending key, and any key id that the record
    does not hold as its previous key are refused.
  - With O(state=inactive), where the provider has a reversible soft revoke (AWS IAM C(Inactive)),
    the key is deactivated and stays in the record; a later run with O(state=absent) deletes it.
  - Does not check usage; M(apikeys.rotation.key_usage_check) does, and the C(revoke_after_grace) role
    combines the two.
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
  key_id:
    description:
      - The key id to revoke. When given, it must be the record's previous key; this guards against
        revoking the wrong key when the record changed since it was read.
    type: str
  incident:
    description:
      - Record the revocation in the record's C(incidents) log under this kind (the C(rotate) role uses
        V(emergency)).
    type: str
  state:
    description:
      - V(absent) revokes (deletes) the key. V(inactive) deactivates it, where the provider can.
    type: str
    choices: [absent, inactive]
    default: absent
author:
  - apikeys.rotation maintainers (@apikeys)
"""

EXAMPLES = r"""
- name: Revoke the old sendgrid key (after key_usage_check said revoke)
  apikeys.rotation.api_key_revoke:
    name: sendgrid
    provider: sendgrid
    vault_path: secret/apikeys/sendgrid
    key_id: "{{ usage.record.previous_key_id }}"

- name: Deactivate an old IAM key first, delete it on a later run
  apikeys.rotation.api_key_revoke:
    state: inactive
"""

RETURN = r"""
revoked_key_id:
  description: The key that was revoked (or found already gone).
  returned: when a key was revoked
  type: str
  sample: "AKIAIOSFODNN7EXAMPLE"
provider_changed:
  description: False when the key was already gone at the provider.
  returned: when a key was revoked
  type: bool
revoked_at:
  description: When the key was revoked (UTC).
  returned: when a key was revoked
  type: str
revoked_at_epoch:
  description: When the provider confirmed the revocation, as a Unix time with sub-second precision.
  returned: when a key was revoked
  type: float
record:
  description: The record after the change, without secrets.
  returned: always
  type: dict
msg:
  description: What was done.
  returned: always
  type: str
error:
  description: On failure, its kind (see M(apikeys.rotation.api_key_create)).
  returned: failure
  type: str
"""
