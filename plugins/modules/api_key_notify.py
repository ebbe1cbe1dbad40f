#!/usr/bin/python
# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: api_key_notify
short_description: Tell people what happened to a key (Slack, Microsoft Teams, PagerDuty, generic JSON)
version_added: 0.2.0
description:
  - Delivers one event of one key (a failed rotation, an emergency rotation, a rollback, a revocation postponed
    too many times, an old key still used after its grace period, and, when asked, a successful rotation) to the
    key's notification targets (inventory variable C(apikeys_notify)), each in the shape its receiver documents.
  - V(slack) is a Slack incoming webhook (C(text) and C(blocks)); V(teams) a Microsoft Teams Workflows webhook
    ("when a Teams webhook request is received"; a C(message) with an Adaptive Card, which the retiring Office 365
    connector webhooks also take); V(pagerduty) the PagerDuty Events API v2 (a C(trigger) per problem with a
    C(dedup_key) per key and kind, a C(resolve) of the key's rotation-failed alert for V(rotated)); V(json) a flat
    JSON object.
  - Webhook URLs and PagerDuty routing keys are secrets. Give them as environment variables named in the target
    (C(url_env), C(routing_key_env)) or as values kept in Ansible Vault (C(url), C(routing_key)). They never
    appear in a payload, a message, the result or the record's metadata. Every text of the event is scrubbed
    of the key's secrets (read from its record) and of every credential the task holds before a payload is built.
  - Each delivery is retried with a bound (O(notify_attempts) attempts, exponential backoff from 1 s, a
    C(Retry-After) honoured up to 20 s, at most O(notify_deadline) seconds per target). HTTP 429, 5xx and no
    answer are retried; any other refusal is final.
  - Never fails the task (the change it reports is already made). A delivery that failed, or a wrong target
    setting, is returned as RV(notify_error), given as a warning, and written to the record's metadata
    (C(last_notify_at), C(last_notify_event), C(last_notify_result), C(last_notify_error)) with the rest of the
    metadata kept. Use C(failed_when) to fail on it.
  - Runs on the controller (action plugin). See docs/notifications.md.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - apikeys.rotation.key
  - apikeys.rotation.store
attributes:
  check_mode:
    support: full
    details: Sends nothing and writes nothing; returns RV(would_notify).
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  event:
    description:
      - What happened. V(rotation_failed) (severity critical), V(emergency) (warning), V(rollback) (warning),
        V(postponement_limit) (error), V(alert) (warning, the old key is still used after its grace period),
        V(rotated) (info).
    type: str
    required: true
    choices: [rotation_failed, emergency, rollback, postponement_limit, alert, rotated]
  reason:
    description: Why, or the error message (scrubbed before it is sent).
    type: str
    default: ""
  stage:
    description: What failed, for V(rotation_failed) (V(rotation), V(revocation after grace), V(rollback)...).
    type: str
    default: rotation
  details:
    description: Non-secret facts to carry (key ids, rotation id, times); scrubbed before they are sent.
    type: dict
    default: {}
  notify:
    description:
      - The targets (inventory variable C(apikeys_notify)). Empty sends nothing.
    type: list
    elements: dict
    default: []
    suboptions:
      format:
        description: The receiver's format.
        type: str
        required: true
        choices: [slack, teams, pagerduty, json]
      name:
        description: How messages name this target (default C(<format> target <n>)); never the URL.
        type: str
      url:
        description:
          - The webhook URL, a secret (keep it in Ansible Vault). Or use O(notify[].url_env).
          - For V(pagerduty) it defaults to C(https://events.pagerduty.com/v2/enqueue).
        type: str
      url_env:
        description: The name of the environment variable holding the webhook URL on the controller.
        type: str
      routing_key:
        description: The PagerDuty integration (routing) key, a secret. Or use O(notify[].routing_key_env).
        type: str
      routing_key_env:
        description: The name of the environment variable holding the PagerDuty routing key.
        type: str
      events:
        description: The events this target receives. By default every event but V(rotated).
        type: list
        elements: str
        choices: [rotation_failed, emergency, rollback, postponement_limit, alert, rotated]
      deprecated_name:
        description: Set by the roles for a target made from a deprecated C(*_webhook_url) variable (a warning names it).
        type: str
  notify_attempts:
    description: Attempts per target (inventory variable C(apikeys_notify_attempts)).
    type: int
    default: 3
  notify_timeout:
    description: Seconds to wait for one answer (inventory variable C(apikeys_notify_timeout)).
    type: float
    default: 10.0
  notify_deadline:
    description: Seconds a target may take in all, retries included (inventory variable C(apikeys_notify_deadline)).
    type: float
    default: 30.0
author:
  - apikeys.rotation maintainers (@apikeys)
"""

EXAMPLES = r"""
# Inventory (group_vars/all.yml): the URL and the routing key come from the controller's environment.
# apikeys_notify:
#   - {format: slack, url_env: SLACK_WEBHOOK_URL}
#   - {format: pagerduty, routing_key_env: PD_ROUTING_KEY}
#   - {format: teams, url_env: TEAMS_WORKFLOW_URL, events: [rotation_failed, emergency, rotated]}

- name: Tell on-call that the rotation failed
  apikeys.rotation.api_key_notify:
    event: rotation_failed
    reason: "{{ rotate__error }}"
    details:
      key_id: "{{ rotate__plan.record.key_id | default('') }}"
  register: notified

- name: Fail when nobody could be told
  apikeys.rotation.api_key_notify:
    event: alert
    reason: old key still in use
  register: alerted
  failed_when: alerted.notify_error | length > 0
"""

RETURN = r"""
event:
  description: The event.
  returned: success
  type: str
  sample: rotation_failed
deliveries:
  description: One entry per target that takes the event.
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: The target's name (never its URL).
      type: str
    format:
      description: slack, teams, pagerduty or json.
      type: str
    delivered:
      description: Whether the receiver accepted it.
      type: bool
    attempts:
      description: How many requests were made.
      type: int
    status:
      description: The last HTTP status, if any answer came.
      type: int
    error:
      description: Why it was not delivered.
      type: str
    dedup_key:
      description: PagerDuty's dedup_key from its answer.
      type: str
  sample:
    - {target: "slack target 1", format: slack, delivered: true, attempts: 1, status: 200}
notify_error:
  description: Empty when every target took the event; else which did not and why (no secret, no URL).
  returned: always
  type: str
  sample: "pagerduty target 2: HTTP 500 after 3 attempts"
notify_summary:
  description: What a summary line appends for this key; empty when every target took the event.
  returned: when something was sent or tried
  type: str
  sample: " [rotation_failed notification NOT DELIVERED: slack target 1: HTTP 500 after 3 attempts]"
metadata_error:
  description: Why the outcome could not be written to the record's metadata (empty when it was).
  returned: when something was sent or tried
  type: str
would_notify:
  description: In check mode, the targets that would be sent the event.
  returned: check mode
  type: list
  elements: str
msg:
  description: What was done.
  returned: always
  type: str
"""
