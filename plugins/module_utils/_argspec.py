# Internal to this collection: not a public API; may change without notice.
"""Argument specs shared by every module; each pairs with the doc fragment of the same name."""
from __future__ import annotations

from ansible.module_utils.basic import env_fallback

from . import _defaults, _schedule

# doc_fragments/store.py
STORE = {
    "vault_url": {"type": "str", "fallback": (env_fallback, ["VAULT_ADDR"])},
    "vault_token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["VAULT_TOKEN"])},
    "vault_auth_method": {"type": "str", "choices": ["token", "approle"], "default": "token"},
    "vault_role_id": {"type": "str", "no_log": False, "fallback": (env_fallback, ["VAULT_ROLE_ID"])},
    "vault_secret_id": {"type": "str", "no_log": True, "fallback": (env_fallback, ["VAULT_SECRET_ID"])},
    "vault_approle_mount": {"type": "str", "default": "approle"},
    "vault_namespace": {"type": "str", "fallback": (env_fallback, ["VAULT_NAMESPACE"])},
    "vault_ca_cert": {"type": "path", "fallback": (env_fallback, ["VAULT_CACERT"])},
    "vault_validate_certs": {"type": "bool", "default": True},
    "vault_allow_http": {"type": "bool", "default": False},
    "vault_timeout": {"type": "int", "default": _defaults.STORE_TIMEOUT},
}

# doc_fragments/key.py: not "required" here, so that a missing inventory variable is
# reported by name (apikeys_provider, apikeys_vault_path) with the key it belongs to.
KEY = {
    "name": {"type": "str", "required": True},
    "provider": {"type": "str"},
    "provider_options": {"type": "dict", "default": {}},
    "provider_credential": {"type": "str", "no_log": True},
    "vault_path": {"type": "str"},
}

# doc_fragments/key.py too
SCHEDULE = {
    "rotation_frequency": {"type": "str"},
    "grace_period": {"type": "str"},
    "clock_skew": {"type": "str", "default": _defaults.CLOCK_SKEW},
    "consumer_cache_ttl": {"type": "str"},
    "consumer_cache_margin": {"type": "str", "default": _defaults.CACHE_MARGIN},
    # docs/schedules.md: when scheduled runs happen, and what a run does when something fails
    "schedule": {"type": "str"},
    "alert_on_failure": {"type": "bool", "default": False},
    "rollback_on_failure": {"type": "bool", "default": False},
    "rollback_watch": {"type": "str", "default": _schedule.ROLLBACK_WATCH},
    "rollback_poll": {"type": "str", "default": _schedule.ROLLBACK_POLL},
}


def spec(*parts: dict, **own: dict) -> dict:
    merged: dict = {}
    for part in parts:
        merged.update(part)
    merged.update(own)
    return merged
