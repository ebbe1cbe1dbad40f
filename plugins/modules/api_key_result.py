#!/usr/bin/python
# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: api_key_result
short_description: Report one key's outcome of an api_key_batch run on the key's own host
version_added: 1.2.0
description:
  - Reads the key's outcome that M(apikeys.rotation.api_key_batch) wrote and returns it as this host's task result, with
    C(changed), C(failed) (the key failed, or needs a person), C(msg), the diffs with C(--diff), the warnings, and
    each step's result under the name the roles registered it with (docs/fleet.md). Removes the outcome file.
  - Costs a few milliseconds per key; makes no network call. Never returns a secret (there is none in the outcome).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: all
options:
  run_dir:
    description: The C(run_dir) that M(apikeys.rotation.api_key_batch) returned.
    type: path
    required: true
  name:
    description: The key. Default, C(inventory_hostname).
    type: str
author:
  - apikeys.rotation maintainers (@apikeys)
"""

EXAMPLES = r"""
- name: Each key's outcome on its own host
  apikeys.rotation.api_key_result:
    run_dir: "{{ fleet.run_dir }}"
  register: outcome
"""

RETURN = r"""
operation:
  description: V(rotate), V(emergency) or V(revoke_after_grace).
  returned: always
  type: str
error:
  description: The kind of error, for a failed key.
  returned: when failed
  type: str
alert:
  description: V(revoke_after_grace) only, why the key needs a person.
  returned: when the key needs a person
  type: str
plan:
  description: V(rotate), the result of the plan step (as M(apikeys.rotation.api_key_info)); C(skipped) when not run.
  returned: rotate
  type: dict
created:
  description: The create step's result (M(apikeys.rotation.api_key_create)); C(skipped) when not run.
  returned: rotate, emergency
  type: dict
promoted:
  description: The promote step's result (M(apikeys.rotation.vault_key_write)); C(skipped) when not run.
  returned: rotate, emergency
  type: dict
watched:
  description: V(rotate), the watch step's result (M(apikeys.rotation.api_key_watch)); C(skipped) when not run.
  returned: rotate
  type: dict
revoked:
  description: The revoke step's result (M(apikeys.rotation.api_key_revoke)); C(skipped) when not run.
  returned: emergency, revoke_after_grace
  type: dict
info:
  description: V(revoke_after_grace), the first step's result (M(apikeys.rotation.api_key_info)).
  returned: revoke_after_grace
  type: dict
usage:
  description: V(revoke_after_grace), the usage check's result (M(apikeys.rotation.key_usage_check)).
  returned: revoke_after_grace
  type: dict
postponed:
  description: V(revoke_after_grace), the postponement's result (M(apikeys.rotation.vault_key_write)).
  returned: revoke_after_grace
  type: dict
emergency_started:
  description: V(emergency), when the batch began (epoch seconds).
  returned: emergency
  type: float
"""
