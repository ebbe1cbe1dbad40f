# Internal to this collection: not a public API; may change without notice.
"""Argument specs shared by every module; each pairs with the doc fragment of the same name."""
from __future__ import annotations

from ansible.module_utils.basic import env_fallback

from . import _defaults, _schedule

# doc_fragments/store.py
STORE = {
    # which store holds the record (stores/_registry.py); the vault_* options serve vault_kv2 only
    "store": {"type": "str", "default": "vault_kv2"},
    "store_options": {"type": "dict", "default": {}},
    "vault_url": {"type": "str", "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_ADDR", "VAULT_ADDR", "BAO_ADDR"])},
    "vault_namespace": {"type": "str", "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_NAMESPACE", "VAULT_NAMESPACE",
                                                                   "BAO_NAMESPACE"])},
    "vault_ca_cert": {"type": "path", "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_CA_CERT", "VAULT_CACERT",
                                                                  "BAO_CACERT"])},
    "vault_validate_certs": {"type": "bool"},
    "vault_allow_http": {"type": "bool", "default": False},
    "vault_timeout": {"type": "int", "default": _defaults.STORE_TIMEOUT,
                      "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_TIMEOUT"])},
    # how to log in: stores/_vault_auth.py
    "vault_auth_method": {"type": "str", "default": "token", "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_AUTH_METHOD"])},
    "vault_auth_mount": {"type": "str", "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_MOUNT_POINT"])},
    "vault_token": {"type": "str", "no_log": True,
                    "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_TOKEN", "VAULT_TOKEN", "BAO_TOKEN"])},
    "vault_token_file": {"type": "path"},
    "vault_role_id": {"type": "str", "no_log": False, "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_ROLE_ID",
                                                                                  "VAULT_ROLE_ID"])},
    "vault_secret_id": {"type": "str", "no_log": True, "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_SECRET_ID",
                                                                                   "VAULT_SECRET_ID"])},
    "vault_approle_mount": {"type": "str"},
    "vault_role": {"type": "str", "fallback": (env_fallback, ["VAULT_AUTH_ROLE"])},
    "vault_username": {"type": "str", "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_USERNAME", "VAULT_USERNAME"])},
    "vault_password": {"type": "str", "no_log": True, "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_PASSWORD",
                                                                                  "VAULT_PASSWORD"])},
    "vault_jwt": {"type": "str", "no_log": True, "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_JWT", "VAULT_JWT"])},
    "vault_jwt_file": {"type": "path", "fallback": (env_fallback, ["VAULT_JWT_FILE"])},
    "vault_client_cert": {"type": "path", "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_CERT_AUTH_PUBLIC_KEY",
                                                                      "VAULT_CLIENT_CERT", "BAO_CLIENT_CERT"])},
    "vault_client_key": {"type": "path", "no_log": True,
                         "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_CERT_AUTH_PRIVATE_KEY", "VAULT_CLIENT_KEY",
                                                     "BAO_CLIENT_KEY"])},
    "vault_aws_profile": {"type": "str", "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_AWS_PROFILE"])},
    "vault_aws_region": {"type": "str", "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_AWS_REGION"])},
    "vault_aws_iam_server_id": {"type": "str", "fallback": (env_fallback, ["ANSIBLE_HASHI_VAULT_AWS_IAM_SERVER_ID"])},
    "vault_token_cache": {"type": "bool", "default": True, "fallback": (env_fallback, ["APIKEYS_VAULT_TOKEN_CACHE"])},
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
    "alert_on_failure": {"type": "bool", "default": True},
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
