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
    into the record's pending slot at once. If that write surely failed, the new key is revoked. If its
    answer was lost, the record is read back: the run goes on when the write was made, and when the
    record cannot be read the key is left for the next run, which finds it in the record or by name."
  - "Ownership: the run that records the intent owns the rotation until its promotion, by a lease
    (C(lease_owner), C(lease_until) in the record, renewed at each step). Before each call to the
    provider the run checks that the record is still as it left it; if another run took over, it
    stops without touching the provider (error C(lost_ownership))."
  - "Time: the controller's clock is checked against the store's (Vault's C(sys/health) server time)
    before anything changes; beyond O(clock_skew) the task fails (error C(clock_skew))."
  - "Verify: calls the provider with the new key until it is accepted or the provider's activation
    timeout passes (AWS IAM keys take seconds to work). If it is never accepted, the new key is
    revoked, the current key stays current, and the task fails."
  - Refuses while a previous key still awaits revocation, and before creating when the provider's
    key cap is reached (the count and the limit are in the message).
  - Re-running after a crash resumes, once the dead run's lease has expired. Its pending key is
    claimed, verified and returned for promotion (RV(outcome=resumed)); its intent is cleaned up (the
    key it may have created is found by name and revoked) and a new rotation starts. A rotation whose
    lease is still running is refused as in progress, and nothing is changed.
  - An error while the new key is being tested that keeps the test from being made at all (for example
    a secret that cannot be sent in an HTTP header) revokes the pending key; the current key stays.
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
      - The lease this run holds on its rotation, renewed at each of its steps. Another run takes the
        rotation over only once the lease has expired.
      - V(0s) takes over another run's rotation at once, whatever its lease; use it only when you know
        that run is dead.
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
    owner: "{{ created.owner }}"
"""

RETURN = r"""
rotation_id:
  description: Id of this rotation; pass it to M(apikeys.rotation.vault_key_write) to promote exactly this key.
  returned: success
  type: str
  sample: "20261126T020000Z-4f1c2a"
owner:
  description:
    - This run's token, written as the rotation's C(lease_owner); pass it to M(apikeys.rotation.vault_key_write)
      (O(apikeys.rotation.vault_key_write#module:owner)) so that the promotion is made by the run that owns it.
    - Not a secret.
  returned: success
  type: str
  sample: "run-3f9a1c2b7d4e"
outcome:
  description:
    - V(created) (this run made and verified the new key) or V(resumed) (it finished the rotation of a run
      whose lease had expired).
  returned: success
  type: str
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
    On failure, its kind - C(config), C(conflict) (another run's write is in the record),
    C(lost_ownership) (another run took this run's rotation over), C(refused) (for example a rotation in
    progress), C(key_cap), C(key_test_failed), C(provider), C(store), C(store_sealed), C(store_unavailable),
    C(store_forbidden), C(unknown_outcome) (a store write got no answer and the record could not be read
    back: nothing was compensated; the next run finds out), C(clock_skew).
  returned: failure
  type: str
secret:
  description: The new secret. Only with O(return_secret=true); the result is then hidden.
  returned: when O(return_secret=true)
  type: str
"""
