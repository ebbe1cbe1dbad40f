# Internal to this collection: not a public API; may change without notice.
"""Every ``apikeys_*`` inventory variable the collection reads; any other one is a typo.

Without this check, ``apikeys_rotation_frequncy: 7d`` on a key would be ignored and the group's
``apikeys_rotation_frequency: 90d`` used instead: a silent fallback a scheduled run never reports.
Each module option ``X`` is read from ``apikeys_X`` (plugin_utils/_action.KeyAction.arguments), so
every option of every module is here, with the variables the roles and reports read.
tests/unit/test_variables.py keeps this list equal to what the code and docs use.
"""
from __future__ import annotations

from typing import Any, Iterable

from ._selection import did_you_mean

#: module options, read as apikeys_<option> by every module that has the option
OPTIONS = frozenset({
    # doc_fragments/key.py
    "provider", "provider_options", "provider_credential", "vault_path",
    "rotation_frequency", "grace_period", "clock_skew", "consumer_cache_ttl", "consumer_cache_margin",
    # doc_fragments/store.py
    "store", "store_options",
    "vault_url", "vault_token", "vault_auth_method", "vault_role_id", "vault_secret_id", "vault_approle_mount",
    "vault_namespace", "vault_ca_cert", "vault_validate_certs", "vault_allow_http", "vault_timeout",
    "vault_auth_mount", "vault_token_file", "vault_role", "vault_username", "vault_password", "vault_jwt",
    "vault_jwt_file", "vault_client_cert", "vault_client_key", "vault_aws_profile", "vault_aws_region",
    "vault_aws_iam_server_id", "vault_token_cache",
    # options of single modules
    "emergency", "force", "incident", "key", "key_id", "metadata_only", "owner", "postpone_by", "reason",
    "resume_after", "return_secret", "rotated_at", "rotation_id", "state", "usage_evidence", "verify",
    # api_key_notify (docs/notifications.md)
    "notify", "notify_attempts", "notify_timeout", "notify_deadline", "event", "stage", "details", "alert_on_failure",
    # docs/schedules.md
    "schedule", "rollback_on_failure", "rollback_watch", "rollback_poll",
})

#: read by roles, reports and people, not by a module option
DESCRIPTIVE = frozenset({"environment", "used_by", "supports_dual_key", "criticality", "schedule"})
#: read from the task's variables by every module that may change a key (plugins/module_utils/_audit.py)
DESCRIPTIVE |= frozenset({"audit_log", "audit_syslog"})
#: where api_key_metrics writes (the roles' run metrics, playbooks/metrics.yml; docs/monitoring.md)
DESCRIPTIVE |= frozenset({"metrics_dir", "metrics_textfile"})
#: rate budgets per provider endpoint and store address (plugins/module_utils/_budget.py, docs/rate-limits.md)
DESCRIPTIVE |= frozenset({"rate_limit"})

KNOWN = frozenset(f"apikeys_{name}" for name in OPTIONS | DESCRIPTIVE)


def unknown_variables(names: Iterable[str], known: Iterable[str] = KNOWN) -> list[str]:
    """One message per ``apikeys_*`` name that the collection does not read, with the closest known one."""
    known = frozenset(known)
    return [f"unknown inventory variable {name}{did_you_mean(name, known)}: the collection does not read it, "
            "so its value would be ignored" for name in sorted(names)
            if isinstance(name, str) and name.startswith("apikeys_") and name not in known]


def check_variables(key: str, task_vars: dict[str, Any]) -> str:
    """The error for key ``key`` if its variables include an unknown ``apikeys_*`` one, else ''."""
    problems = unknown_variables(task_vars)
    if not problems:
        return ""
    return f"key '{key}': " + "; ".join(problems) + "; nothing was changed"
