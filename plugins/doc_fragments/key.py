# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # Pairs with module_utils/_argspec.py KEY and SCHEDULE.
    DOCUMENTATION = r"""
options:
  name:
    description:
      - The key's name in the key inventory (its inventory host name). Used in messages and in the
        names of the keys created at the provider.
    type: str
    required: true
  provider:
    description:
      - The provider that issues the key (inventory variable C(apikeys_provider)).
      - V(sendgrid) (SendGrid C(/v3/api_keys)), V(aws_iam) (access keys of one IAM user),
        V(http) (a configurable internal API gateway, Kong key-auth by default).
      - V(stripe) (Stripe's Managed API Keys API C(/v2/iam/api_keys), a private preview; see docs/stripe.md).
      - V(twilio) (Twilio API keys, C(iam.twilio.com/v1/Keys); the credential from E(TWILIO_AUTH_TOKEN); see docs/twilio.md).
      - Required; reported as C(apikeys_provider) when missing.
    type: str
  provider_options:
    description:
      - Provider settings (inventory variable C(apikeys_provider_options)); see the README for each provider.
      - Unknown options are refused.
    type: dict
    default: {}
  provider_credential:
    description:
      - The management credential for the provider's key API. By default read from the environment
        (E(SENDGRID_ADMIN_KEY), E(APIKEYS_HTTP_ADMIN_TOKEN) or the one named by C(credential_env));
        AWS uses boto3's usual credential chain.
    type: str
  vault_path:
    description:
      - Where the key's record lives, as C(<mount>/<path>) (inventory variable C(apikeys_vault_path)),
        for example V(secret/apikeys/stripe). Applications read the C(key) field there.
      - Required; reported as C(apikeys_vault_path) when missing.
    type: str
  rotation_frequency:
    description:
      - How old a key may get before it is rotated (inventory variable C(apikeys_rotation_frequency)),
        as a duration such as V(90d), V(12h), V(1h30m). Zero and unknown units are refused.
    type: str
  grace_period:
    description:
      - How long the old key stays valid after a rotation (inventory variable C(apikeys_grace_period)).
        Must not be longer than O(rotation_frequency).
    type: str
  consumer_cache_ttl:
    description:
      - How long the key's consumers may keep a key after the store changed (inventory variable
        C(apikeys_consumer_cache_ttl)) - the largest application cache TTL, plus the Vault Agent render
        interval where there is one. When set, a O(grace_period) shorter than it plus
        O(consumer_cache_margin) is refused before any change, with the numbers in the message.
    type: str
  consumer_cache_margin:
    description:
      - Margin added to O(consumer_cache_ttl) for that check (inventory variable C(apikeys_consumer_cache_margin)).
    type: str
    default: 1m
  clock_skew:
    description:
      - Allowance for clocks that disagree (inventory variable C(apikeys_clock_skew)). Revocation
        deadlines, computed from the record's UTC times, are extended by this much. V(0s) allowed.
    type: str
    default: 30s
  schedule:
    description:
      - When scheduled runs of this key happen (inventory variable C(apikeys_schedule)), as a cron expression of
        five fields (minute hour day-of-month month day-of-week, the host's local time), or V(@daily) and the
        other @ forms but V(@reboot). Checked before anything runs; the error names the bad field.
      - A key that would pass O(rotation_frequency) before the next scheduled run is due at this one.
        A schedule that can wait longer than O(rotation_frequency) minus O(grace_period) between two runs
        is refused. See docs/schedules.md.
    type: str
  alert_on_failure:
    description:
      - Send a notification when a run fails for this key (inventory variable C(apikeys_alert_on_failure));
        see the notification docs for the targets.
    type: bool
    default: true
  rollback_on_failure:
    description:
      - After a scheduled rotation promotes the new key, watch it for O(rollback_watch) by calling the provider
        with it every O(rollback_poll); if the provider rejects it, roll back to the previous key at once
        and record why (inventory variable C(apikeys_rollback_on_failure)).
    type: bool
    default: false
  rollback_watch:
    description:
      - How long a promoted key is watched when O(rollback_on_failure) is on (inventory variable C(apikeys_rollback_watch)).
    type: str
    default: 2m
  rollback_poll:
    description:
      - How often the watched key is tried during O(rollback_watch) (inventory variable C(apikeys_rollback_poll)).
    type: str
    default: 10s
"""
