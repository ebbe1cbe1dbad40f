#!/usr/bin/python
# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: key_usage_check
short_description: Is it safe to revoke a key's previous key now? A verdict with evidence
version_added: 0.1.0
description:
  - Reads the record and asks an evidence source whether the new key has been used since its
    promotion, and when the old key was last used.
  - The verdict is V(revoke), V(wait) or V(alert), with the reason.
  - V(alert) when the old key was used after its grace period ended (a consumer has not switched).
  - V(revoke) when the grace is over and the new key was seen in use, or when O(usage_evidence)
    says V(none) (the clock alone, said as such in the reason).
  - V(wait) when the grace is not over, or the new key was not seen, or the source cannot tell.
  - Deadlines come from the record, extended by O(clock_skew).
  - Changes nothing, even when it fails. It writes neither the record nor its metadata (no C(last_result) or
    C(last_error) is written) nor the audit trail. A failure is only in the task's result.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - apikeys.rotation.key
  - apikeys.rotation.store
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  usage_evidence:
    description:
      - Where the evidence comes from (inventory variable C(apikeys_usage_evidence)), a mapping with C(source).
      - "V(provider): the provider's last-used data (AWS IAM C(GetAccessKeyLastUsed)). SendGrid's and Kong's
        APIs have none: choose another source for them."
      - "V(prometheus): C(url) of the Prometheus server and C(last_used_query), a PromQL expression with a
        C({key_id}) placeholder returning the Unix time the key was last used, over the consumers' own metrics."
      - "V(http): C(url) of a JSON endpoint reporting which key id each consumer holds
        (C({\"consumers\": [{\"name\": ..., \"key_id\": ...}]}); C(list_field), C(key_id_field), C(min_consumers))."
      - "V(none): no evidence; the verdict follows the clock alone."
    type: dict
    default: {source: provider}
author:
  - apikeys.rotation maintainers (@apikeys)
"""

EXAMPLES = r"""
- name: Ask Prometheus whether the new key is in use
  apikeys.rotation.key_usage_check:
    usage_evidence:
      source: prometheus
      url: http://prometheus.internal:9090
      # The last time the consumers' request counter for this key grew (scrape interval 15s):
      last_used_query: >-
        max(max_over_time(timestamp(
          (app_api_key_requests_total{key_id="{key_id}"}
            > last_over_time(app_api_key_requests_total{key_id="{key_id}"}[1h] offset 15s))
          or (app_api_key_requests_total{key_id="{key_id}"}
            unless last_over_time(app_api_key_requests_total{key_id="{key_id}"}[1h] offset 15s))
        )[1h:15s]))
  register: usage

- name: Say what was decided
  ansible.builtin.debug:
    msg: "{{ usage.verdict }}: {{ usage.reason }}"
"""

RETURN = r"""
verdict:
  description: V(revoke), V(wait), V(alert), or V(none) when no previous key awaits revocation.
  returned: always
  type: str
  sample: revoke
reason:
  description: Why, with the key ids and times.
  returned: always
  type: str
  sample: "new key 95c6 seen in use at 2026-11-26T01:02:03Z, since its promotion at 2026-11-26T01:00:00Z"
evidence:
  description: What the source saw.
  returned: when a previous key awaits revocation
  type: dict
  contains:
    source:
      description: The evidence source.
      type: str
    new_key_seen:
      description: Whether the new key was seen in use since its promotion (null when unknown).
      type: bool
    new_key_last_seen:
      description: When the new key was last seen in use (UTC).
      type: str
    old_key_last_seen:
      description: When the old key was last seen in use (UTC).
      type: str
    detail:
      description: What the source was.
      type: str
record:
  description: The record, without secrets.
  returned: always
  type: dict
"""
