#!/usr/bin/python
# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: api_key_metrics
short_description: Write the keys' or a run's Prometheus metrics as a node_exporter textfile
version_added: 0.2.0
description:
  - Writes Prometheus metrics, built with the C(prometheus-client) library, to a file that node_exporter's
    textfile collector (C(--collector.textfile.directory)) exposes. The file is replaced atomically
    (written beside, then renamed), so a scrape never reads half a file.
  - Key metrics (default) come from the keys' M(apikeys.rotation.api_key_info) results, which
    O(apikeys.rotation.api_key_info#module:metadata_only=true) produces with only the monitor policy -
    per key its age, rotation frequency, next due time, phase, grace deadline, postponements, last
    result and its time, last rotation, current, previous and last revoked key ids.
    See C(docs/monitoring.md) for every metric and the alert rules built on them.
  - Run metrics (O(run)) describe the run of one of the collection's roles that is ending - its duration,
    whether any key failed, and how many keys had each outcome - each role's file apart
    (C(apikeys_run_<role>.prom)), so the playbooks never overwrite each other's metrics.
  - Runs once on the controller (action plugin); use it with C(run_once=true).
  - Never writes a secret - only key names, providers, key ids, phases, counts and times.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Writes nothing; reports whether the file would change.
  diff_mode:
    support: full
    details: The file's text before and after, when a value other than the ages and times changes.
  platform:
    platforms: all
options:
  path:
    description:
      - The file to write, normally in node_exporter's textfile directory; its name must end in C(.prom).
      - Default C(<dir>/apikeys.prom) for key metrics and C(<dir>/apikeys_run_<run>.prom) for run metrics.
    type: path
  dir:
    description:
      - The directory of the default O(path). Falls back to the inventory variable C(apikeys_metrics_dir).
    type: path
  results:
    description:
      - Key name to its M(apikeys.rotation.api_key_info) result.
      - When not given, each host of O(hosts) is a key and its result is its variable O(info_var)
        (the provider label from its C(apikeys_provider)).
      - A failed result (the key's metadata could not be read) gives only
        C(apikeys_key_metadata_read_success 0) for that key.
    type: dict
  info_var:
    description: The variable, on each host, holding its registered M(apikeys.rotation.api_key_info) result.
    type: str
    default: key_info
  hosts:
    description: The keys (inventory hosts) to report. Default all hosts of the play (C(ansible_play_hosts_all)).
    type: list
    elements: str
  run:
    description:
      - Write the run metrics of this role's run instead of key metrics. The outcomes are those of
        P(apikeys.rotation.key_outcomes#filter); a run is successful when no key has outcome C(failed).
    type: str
    choices: [revoke_after_grace, rollback, rotate]
  started_at:
    description:
      - When the run started (Unix time). Default the start of the C(ansible-playbook) process, read from
        C(/proc) (Linux); elsewhere, without it, no duration is written.
    type: float
requirements:
  - prometheus-client (Python library, on the controller)
seealso:
  - module: apikeys.rotation.api_key_info
author:
  - apikeys.rotation maintainers (@apikeys)
"""

EXAMPLES = r"""
# playbooks/metrics.yml, every few minutes from cron or AWX
- name: Read every key's state from its metadata (the monitor policy is enough)
  apikeys.rotation.api_key_info:
    metadata_only: true
  register: key_info
  ignore_errors: true  # the key is reported with apikeys_key_metadata_read_success 0

- name: Write the metrics for node_exporter
  apikeys.rotation.api_key_metrics:
    path: /var/lib/prometheus/node-exporter/apikeys.prom
  run_once: true

- name: At the end of a rotation run, its duration, success and outcomes
  apikeys.rotation.api_key_metrics:
    run: rotate
    dir: /var/lib/prometheus/node-exporter
  run_once: true
"""

RETURN = r"""
path:
  description: The file written (or that would be written, in check mode).
  returned: success
  type: str
  sample: /var/lib/prometheus/node-exporter/apikeys.prom
written:
  description: Whether the file was written (false in check mode).
  returned: success
  type: bool
keys:
  description: How many keys the key metrics describe.
  returned: key metrics
  type: int
  sample: 12
unread:
  description: Keys whose M(apikeys.rotation.api_key_info) result is missing or failed.
  returned: key metrics
  type: list
  elements: str
  sample: []
counts:
  description: Keys per outcome of the run.
  returned: run metrics
  type: dict
  sample: {"not_due": 11, "rotated": 1}
"""
