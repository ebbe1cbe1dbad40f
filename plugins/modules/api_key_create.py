#!/usr/bin/python
# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: api_key_create
short_description: Create a key's successor at the provider, store it as pending, verify it
version_added: 0.1.0
description:
  - Steps 2 to 4 of a rotation, in one run on the controller, each recorded in the store with
    check-and-set before the next begins.
  - "Intent: records a rotation id and the new key's name before the provider is called, so that a
    crash after creation can be cleaned up by finding the key by name."
  - "Create: creates the new key at the provider with the current key's rights, and writes its secret
    into the record's pending slot at once. If that write fails, the new key is revoked."
  - "Verify: calls the provider with the new key until it is accepted or the provider's activation
    timeout passes (AWS IAM keys take seconds to work). If it is never accepted, the new key is
    revoked, the current key stays current, and the task fails."
  - Refuses while a previous key still awaits revocation, and before creating when the provider's
    key cap is reached (the count and the limit are in the message).
  - Re-running after a crash resumes. A pending key is verified again; an intent left by a run that
    died more than O(resume_after) ago is cleaned up (the key it may have created is revoked) and a
    new rotation starts; a younger one is refused as in progress.
  - The secret never reaches Ansible unless O(return_secret=true).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - apikeys.rotation.key
  - apikeys.rotation.store
attributes:
  check_mode:
    support: full
    details: Reads the record and the provider's key count; creates nothing and writes nothing.
  diff_mode:
    support: full
    details: The record before and after, secrets shown as C(<hidden>).
  platform:
    platforms: all
options:
  resume_after:
    description:
      - How old an unfinished intent must be before this module treats its run as dead and cleans it up.
      - V(0s) takes over at once; use it only when you know no other run is working on the key.
    type: str
    default: 10m
  emergency:
    description:
      - Replace the key now, taking over whatever is in progress. An unfinished rotation's intent is
        cleaned up at once (the key it may have made is revoked), a pending key is revoked, and a
        previous key still in its grace period is revoked, each recorded in the record's C(incidents).
        Then the replacement is created, stored and verified as usual.
      - The C(rotate) role uses this with C(--tags emergency), followed by a promotion with no grace
        and the immediate revocation of the compromised key.
    type: bool
    default: false
  return_secret:
    description:
      - Also return the new secret as RV(secret). The whole result is then hidden by Ansible
        (as with C(no_log)). Not needed for rotation; the secret is already in the store.
    type: bool
    default: false
author:
  - apikeys.rotation maintainers (@apikeys)
"""

EXAMPLES = r"""
- name: Create and verify the successor of the sendgrid key
  apikeys.rotation.api_key_create:
    name: sendgrid
    provider: sendgrid
    provider_options:
      api_url: https://api.sendgrid.com
    vault_path: secret/apikeys/sendgrid
  register: created

- name: Promote it
  apikeys.rotation.vault_key_write:
    name: sendgrid
    provider: sendgrid
    vault_path: secret/apikeys/sendgrid
    grace_period: 24h
    state: promote
    rotation_id: "{{ created.rotation_id }}"
"""

RETURN = r"""
rotation_id:
  description: Id of this rotation; pass it to M(apikeys.rotation.vault_key_write) to promote exactly this key.
  returned: success
  type: str
  sample: "20261126T020000Z-4f1c2a"
key_id:
  description: Provider id of the new key (not a secret).
  returned: success, not in check mode
  type: str
  sample: "AKIAIOSFODNN7EXAMPLE"
record:
  description: The record after this step, without secrets (see M(apikeys.rotation.api_key_info)).
  returned: always
  type: dict
msg:
  description: What was done.
  returned: always
  type: str
error:
  description: >-
    On failure, its kind - C(config), C(conflict), C(refused), C(key_cap), C(key_test_failed),
    C(provider), C(store), C(store_sealed), C(store_unavailable), C(store_forbidden).
  returned: failure
  type: str
secret:
  description: The new secret. Only with O(return_secret=true); the result is then hidden.
  returned: when O(return_secret=true)
  type: str
"""
