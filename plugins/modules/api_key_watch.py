#!/usr/bin/python
# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: api_key_watch
short_description: Watch a newly promoted key and roll back at once if the provider rejects it
version_added: 1.1.0
description:
  - What C(apikeys_rollback_on_failure) does after a rotation promoted a new key; the role
    apikeys.rotation.rotate runs it only when that variable is true.
  - Calls the provider with the current key (the provider's test call, as before promotion) every
    O(rollback_poll) for O(rollback_watch). If the provider rejects it, rolls back as
    M(apikeys.rotation.api_key_rollback) does (the previous key current again, the new one revoked) with
    the reason in the record (C(rollback_reason), C(incidents)), and returns C(rolled_back=true).
  - A check without a clear answer (5xx, timeout) is counted in C(unclear), never a reason to roll back.
  - Stops at once, changing nothing, when the current key is no longer O(key_id).
  - Runs on the controller (action plugin). Never returns a secret.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - apikeys.rotation.key
  - apikeys.rotation.store
attributes:
  check_mode:
    support: full
    details: Says it would watch; makes no provider call.
  diff_mode:
    support: full
    details: The record before and after a rollback, secrets shown as C(<hidden>).
  platform:
    platforms: all
options:
  key_id:
    description: The key just promoted. Only this key is watched and rolled back.
    type: str
    required: true
author:
  - apikeys.rotation maintainers (@apikeys)
"""

EXAMPLES = r"""
- name: Watch the new key, roll back if it fails
  apikeys.rotation.api_key_watch:
    key_id: "{{ promoted.record.key_id }}"
    rollback_watch: 2m
    rollback_poll: 10s
  register: watched
"""

RETURN = r"""
rolled_back:
  description: Whether the key was rolled back.
  returned: success
  type: bool
reason:
  description: Why it was rolled back, as recorded in the record.
  returned: when rolled back
  type: str
checks:
  description: How many provider checks were made.
  returned: success
  type: int
unclear:
  description: Checks that got no clear answer.
  returned: when not rolled back
  type: int
restored_key_id:
  description: The previous key, current again.
  returned: when rolled back
  type: str
revoked_key_id:
  description: The rejected new key, revoked at the provider.
  returned: when rolled back
  type: str
record:
  description: The record, without secrets.
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
