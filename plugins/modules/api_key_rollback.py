#!/usr/bin/python
# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: api_key_rollback
short_description: Put a key's previous key back and revoke the faulty new one
version_added: 0.1.0
description:
  - Valid only while the record still holds the previous key (its grace period, before revocation).
  - Checks at the provider that the previous key still works; then, with check-and-set, makes it
    C(key) again (with its original C(rotated_at)), records C(rolled_back_at), C(rollback_reason)
    and an entry in C(incidents); then revokes the faulty key at the provider.
  - The faulty key stays in the record as C(revoking_key_id) until the provider confirms the
    revocation, so a crash between the two steps loses nothing; running the module again finishes.
  - With no previous key, a previous key that no longer works, or a deactivated one, refuses with
    a clear message and changes nothing.
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
  reason:
    description: Why, kept in the record.
    type: str
    default: rolled back by an operator
author:
  - apikeys.rotation maintainers (@apikeys)
"""

EXAMPLES = r"""
- name: The new sendgrid key is rejected by the mail service; go back to the previous one
  apikeys.rotation.api_key_rollback:
    reason: "INC-1234: new key lacks the mail.send scope"
"""

RETURN = r"""
restored_key_id:
  description: The previous key, current again.
  returned: when rolled back
  type: str
  sample: "PO2SkcWRqAVgx98NPtuE2w"
revoked_key_id:
  description: The faulty key, revoked at the provider.
  returned: when rolled back
  type: str
  sample: "dH66AKU7DLvuXHDwcXt9jg"
revoked_at:
  description: When the faulty key was revoked (UTC).
  returned: when rolled back
  type: str
revoked_at_epoch:
  description: The same, as a Unix time with sub-second precision.
  returned: when rolled back
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
