#!/usr/bin/python
# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: api_key_report
short_description: Write the fleet report of API keys (HTML with SVG pictures, JSON, text table)
version_added: 0.2.0
description:
  - Turns the M(apikeys.rotation.api_key_info) results of many keys (best with
    O(apikeys.rotation.api_key_info#module:metadata_only), so the shipped monitor policy suffices) into one report,
    most urgent first - V(failed) (the last run failed, or the key's metadata could not be read), V(stuck) (a
    rotation left in intent or pending after its lease expired, a grace period over by more than O(stuck_after)
    with the old key not revoked, a postponed revocation, an unfinished rollback, a key with no record),
    V(overdue) (older than its rotation frequency), then the rest by due time.
  - Writes three files into O(output_dir), each through a temporary file and a rename (mode 0644) - C(report.html)
    (self-contained - inline CSS and SVG, no script, no external asset - with a chart of each key's age against its
    rotation frequency with the 1.0x and 1.5x marks, a calendar of what is due in the next O(horizon_days) days, the
    list of what needs attention and the full table), C(report.json) (schema C(apikeys.rotation/report) version 1,
    documented in docs/report.md) and C(report.txt) (the table also returned as RV(table)).
  - Runs once per play whatever the number of hosts, on the controller. No secret is read or written - the input
    holds none. In check mode nothing is written.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: full
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  keys:
    description:
      - The keys to report, C({key name - its api_key_info result}), for example
        C({{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'info'))) }}).
      - A failed result (registered with C(ignore_errors)) is shown as V(failed) with its message.
    type: dict
    required: true
  output_dir:
    description:
      - Directory of the three files, created when missing. A relative path is relative to the directory
        C(ansible-playbook) runs in.
    type: path
    default: apikeys-report
  horizon_days:
    description: How many days ahead the calendar and RV(summary.due_within_horizon) look, today included (1 to 366).
    type: int
    default: 90
  chart_limit:
    description: At most this many keys (the most urgent) are drawn in the age chart; the tables list every key.
    type: int
    default: 200
  title:
    description: The page's title.
    type: str
    default: API key fleet report
  stuck_after:
    description:
      - A key whose grace period (and any postponement) ended more than this long ago, with the old key still
        there, is V(stuck). Shorter is the normal wait for the next revoke-after-grace run.
      - A duration such as V(30m), V(1h) or V(0s).
    type: str
    default: 1h
author:
  - apikeys.rotation maintainers (@apikeys)
"""

EXAMPLES = r"""
- name: Read each key's state from its metadata (the monitor policy suffices)
  apikeys.rotation.api_key_info:
    metadata_only: true
  register: info
  ignore_errors: true  # an unreadable key is shown as failed in the report

- name: Write the report
  apikeys.rotation.api_key_report:
    keys: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'info'))) }}"
    output_dir: /var/www/apikeys
  run_once: true
"""

RETURN = r"""
paths:
  description: The files written (or that would be written, in check mode).
  returned: success
  type: dict
  contains:
    html:
      description: The page.
      type: str
    json:
      description: The JSON report.
      type: str
    text:
      description: The text table.
      type: str
  sample:
    html: /srv/reports/apikeys-report/report.html
    json: /srv/reports/apikeys-report/report.json
    text: /srv/reports/apikeys-report/report.txt
summary:
  description: How many keys are in each status, and how many are due within O(horizon_days).
  returned: success
  type: dict
  contains:
    keys:
      description: Keys in the report.
      type: int
    failed:
      description: Keys whose last run failed or whose metadata could not be read.
      type: int
    stuck:
      description: Keys that cannot finish their cycle on their own.
      type: int
    overdue:
      description: Keys older than their rotation frequency (and neither failed nor stuck).
      type: int
    ok:
      description: The other keys.
      type: int
    due_within_horizon:
      description: Keys due before now + O(horizon_days) (overdue ones included).
      type: int
  sample: {keys: 3, failed: 1, stuck: 0, overdue: 1, ok: 1, due_within_horizon: 3}
table:
  description: The text table, most urgent first, then a count line and one line per reason a key needs attention.
  returned: success
  type: list
  elements: str
  sample:
    - "STATUS   KEY       PROVIDER  PHASE  AGE  FREQUENCY  AGE/FREQ  DUE AT (UTC)      GRACE DEADLINE  LAST RESULT"
    - "failed   mailer    sendgrid  idle   20d  30d        0.67x     2026-12-06 12:00  -               failed 2026-11-26 09:00"
"""
