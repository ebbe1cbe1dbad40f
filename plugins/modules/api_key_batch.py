#!/usr/bin/python
# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: api_key_batch
short_description: Rotate, replace or revoke many keys at once, concurrently, in one controller-side task
version_added: 1.2.0
description:
  - The fleet engine of the C(rotate) and C(revoke_after_grace) roles (docs/fleet.md). Run it with C(run_once)
    over the keys of the play; then M(apikeys.rotation.api_key_result) reports each key's outcome on its own host,
    so the play recap, AWX's host summaries, C(--diff) and per-key failure handling stay per key.
  - For each key it runs the same steps the roles ran as separate tasks, through the same code
    (M(apikeys.rotation.api_key_info), M(apikeys.rotation.api_key_create), M(apikeys.rotation.vault_key_write),
    M(apikeys.rotation.api_key_watch), M(apikeys.rotation.api_key_revoke), M(apikeys.rotation.key_usage_check));
    each option falls back to the key's C(apikeys_*) inventory variable, the same checks refuse bad input, the same
    check-and-set, lease and resume protect the record. One key's failure never stops the others.
  - Keys run concurrently in a pool of O(workers) threads, first come first served in the order of O(keys) (an
    emergency starts on the first key at once). Each key's steps run in order.
  - A batch of more than 2 x O(workers) keys runs in up to O(processes) processes forked from the task's worker, each
    with its own pool of O(workers) threads, so the batch uses more than one CPU (Python runs one thread at a time
    per process). Process N takes keys N, N + O(processes), ... of the list, so every process starts with the
    first keys. They share the run's id, Vault login, rate budgets and outcome directory. A process that is killed
    before it reports a key leaves that key failed with a message saying its outcome is unknown (its old key still
    works; the next run resumes it).
  - Each key's outcome (never a secret) is written to a new directory only the controller's user can read, one JSON
    file per key; the task returns the directory as C(run_dir). M(apikeys.rotation.api_key_result) removes each file
    as it reports it.
  - Runs that last longer than 3 seconds print a progress line every O(progress_interval) seconds (keys done,
    failed, remaining, rate, ETA) and a final line with the counts.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Each step runs in check mode, as the roles' tasks did; promotion and revocation are skipped for rotations.
  diff_mode:
    support: full
    details: Each key's diffs are returned by M(apikeys.rotation.api_key_result) on the key's host.
  platform:
    platforms: all
options:
  operation:
    description:
      - V(rotate) is the scheduled rotation (plan, create, promote, and the watch when C(apikeys_rollback_on_failure)).
      - V(emergency) replaces each key now and revokes the compromised key at once.
      - V(revoke_after_grace) checks usage and revokes the previous key, or postpones the revocation.
    type: str
    required: true
    choices: [rotate, emergency, revoke_after_grace]
  keys:
    description: The keys (inventory hosts). Default, the hosts of the play's current batch (C(ansible_play_batch)).
    type: list
    elements: str
  workers:
    description: How many keys run at the same time in each of the batch's processes (see O(processes)).
    type: int
    default: 8
  processes:
    description:
      - At most how many processes run the batch. A batch of N keys uses no more than one per 2 x O(workers) keys,
        so at most O(processes) x O(workers) keys run at the same time.
      - Default, 2, or 1 when the controller process may use one CPU only; for O(operation=emergency), 1 (measured
        over 100 keys, a second process revoked the first compromised key later and the last one no sooner). On a
        controller with more CPUs than that, a larger value may help; with a CPU limit (a container), keep it at
        most the CPUs allowed.
    type: int
  progress_interval:
    description: Seconds between progress lines (none before 3 seconds); V(0) prints none.
    type: float
    default: 5.0
  run_dir:
    description: The parent of the run's directory. Default, the controller's temporary directory.
    type: path
  force:
    description: V(rotate) only. Rotate keys that are not due yet, as M(apikeys.rotation.api_key_info)'s O(force).
    type: bool
    default: false
  resume_after:
    description: V(rotate) only. The lease, as M(apikeys.rotation.api_key_create)'s O(resume_after).
    type: str
    default: 10m
  postpone_by:
    description: V(revoke_after_grace) only. How long a revocation is postponed when the new key is not yet seen in use.
    type: str
    default: 10m
  max_postponements:
    description: V(revoke_after_grace) only. From this many postponements on, the key is reported as an alert.
    type: int
    default: 6
author:
  - apikeys.rotation maintainers (@apikeys)
"""

EXAMPLES = r"""
- name: Rotate every due key of the play, 8 at a time
  apikeys.rotation.api_key_batch:
    operation: rotate
  run_once: true
  register: fleet

- name: Each key's outcome on its own host
  apikeys.rotation.api_key_result:
    run_dir: "{{ fleet.run_dir }}"
  register: outcome
"""

RETURN = r"""
run_dir:
  description: The directory holding each key's outcome, for M(apikeys.rotation.api_key_result).
  returned: always
  type: str
keys:
  description: How many keys the batch ran.
  returned: always
  type: int
processes:
  description: How many processes ran the batch (1 for a batch of 2 x O(workers) keys or fewer).
  returned: always
  type: int
failed_keys:
  description: How many keys failed (or, for V(revoke_after_grace), need a person).
  returned: always
  type: int
changed_keys:
  description: How many keys were changed.
  returned: always
  type: int
notify_events:
  description:
    - For each key whose notification targets (C(apikeys_notify)) list C(events), those events, so that a per-key
      task can choose its handlers from this one result instead of templating each key's variables. Keys whose
      targets list no events are left out. Empty in check mode, where nothing is notified.
  returned: always
  type: dict
  sample: {"stripe": ["rotated", "rotation_failed"]}
seconds:
  description: How long the batch took.
  returned: always
  type: float
"""
