# Internal to this collection: not a public API; may change without notice.
"""The record kept at a key's ``vault_path``: the single source of truth of a rotation.

Applications read ``key`` (``.Data.data.key`` in a Vault Agent template).
The phase is derived from which fields are present, never stored twice:

* ``idle``    ``key`` only
* ``intent``  a rotation id and the new key's name, written before the provider is called
* ``pending`` the new key, stored by the run that received it (``pending_verified_at`` once it authenticated)
* ``grace``   the old key kept as ``previous_key`` until ``previous_key_revocation_at``
* ``revoking`` a rollback restored the previous key and is revoking the faulty one

From intent to promotion the rotation belongs to one run: ``lease_owner`` (a token of that run)
until ``lease_until`` (store time), renewed by each of its writes. What each action may do in each
phase is the table in ``_protocol``; the transitions there are pure functions of this record.

``incidents`` keeps the last emergency and rollback actions (what was revoked, when; no secret);
``history`` the last HISTORY_KEPT events of the key's life (the audit trail's events, shortened).
"""
from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, Optional

from ._timeutil import to_iso

SECRET_FIELDS = ("key", "previous_key", "pending_key", "revoking_key")
#: from intent to promotion; ``lease_*`` say which run owns the rotation and until when (renewed at each step)
INTENT_FIELDS = ("rotation_id", "pending_key_name", "intent_at", "intent_known_ids", "lease_owner", "lease_until",
                 "taken_over_from", "taken_over_at")
PENDING_FIELDS = ("pending_key", "pending_key_id", "pending_created_at", "pending_verified_at")
PREVIOUS_FIELDS = ("previous_key", "previous_key_id", "previous_key_revocation_at", "previous_key_deactivated_at",
                   "previous_rotated_at", "previous_key_compromised", "revocation_postponed_until", "revocation_postponements",
                   "revocation_wait_reason")
#: a key a rollback took out of use and is revoking (kept until the provider confirms, so a crash loses nothing)
REVOKING_FIELDS = ("revoking_key", "revoking_key_id")
INCIDENTS_KEPT = 20
#: ``history``: the last events of the key's life (see ``_audit``), shown by api_key_info
HISTORY_KEPT = 50
HISTORY_FIELDS = ("action", "result", "rotation_id", "key_id", "new_key_ids", "revoked_key_ids", "cause", "run_id", "by")
HIDDEN = "<hidden>"

PHASES = ("idle", "intent", "pending", "grace", "revoking")


def phase(data: dict[str, Any]) -> str:
    if data.get("revoking_key_id"):
        return "revoking"
    if data.get("pending_key_id"):
        return "pending"
    if data.get("rotation_id"):
        return "intent"
    if data.get("previous_key_id"):
        return "grace"
    return "idle"


def new_rotation_id(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def known_ids(data: dict[str, Any]) -> set[str]:
    return {str(data[f]) for f in ("key_id", "previous_key_id", "pending_key_id", "revoking_key_id") if data.get(f)}


def with_logged(data: dict[str, Any], log_field: str, kept: int, entry: dict[str, Any]) -> dict[str, Any]:
    """``data`` with ``entry`` appended to its bounded log ``log_field`` (the last ``kept`` are kept)."""
    log = [e for e in data.get(log_field) or [] if isinstance(e, dict)]
    log.append(entry)
    return dict(data, **{log_field: log[-kept:]})


def with_incident(data: dict[str, Any], now: datetime, **event: Any) -> dict[str, Any]:
    """``data`` with one more entry in its ``incidents`` log (the last INCIDENTS_KEPT are kept)."""
    return with_logged(data, "incidents", INCIDENTS_KEPT, dict(event, at=to_iso(now)))


def with_history(data: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """``data`` with one more entry in its ``history`` (the last HISTORY_KEPT events of its life, no secret)."""
    entry = {"at": event.get("time")}
    entry.update({k: event[k] for k in HISTORY_FIELDS if event.get(k) not in (None, "", [], {})})
    return with_logged(data, "history", HISTORY_KEPT, entry)


def history(data: Optional[dict[str, Any]]) -> list[dict[str, Any]]:
    """The record's ``history``: its last events, oldest first (no secret: ids, times, actions)."""
    return [dict(e) for e in (data or {}).get("history") or [] if isinstance(e, dict)]


def without(data: dict[str, Any], *groups: tuple[str, ...]) -> dict[str, Any]:
    drop = {name for group in groups for name in group}
    return {k: v for k, v in data.items() if k not in drop}


def redacted(data: Optional[dict[str, Any]]) -> dict[str, Any]:
    """The record as shown in diffs and results: secret fields replaced, everything else as stored."""
    if not data:
        return {}
    return {k: (HIDDEN if k in SECRET_FIELDS and v else v) for k, v in sorted(data.items())}


def summary(data: Optional[dict[str, Any]], version: int = 0) -> dict[str, Any]:
    """What an operator or a monitor needs to know of a record, with no secret in it."""
    data = data or {}
    return {
        "exists": bool(data),
        "version": version,
        "phase": phase(data) if data else "absent",
        "key_id": data.get("key_id"),
        "rotated_at": data.get("rotated_at"),
        "previous_key_id": data.get("previous_key_id"),
        "previous_key_revocation_at": data.get("previous_key_revocation_at"),
        "rotation_id": data.get("rotation_id"),
        "pending_key_id": data.get("pending_key_id"),
        "last_rotation_id": data.get("last_rotation_id"),
        "revocation_postponed_until": data.get("revocation_postponed_until"),
        "revocation_postponements": int(data.get("revocation_postponements") or 0),
        "last_revoked_key_id": data.get("last_revoked_key_id"),
        "lease_until": data.get("lease_until"),
    }


def metadata(data: dict[str, Any], provider: str, result: str, error: str, now: datetime) -> dict[str, str]:
    """``custom_metadata``: readable with a metadata-only policy, so monitoring needs no secret access."""
    fields = summary(data)
    shown = ("phase", "key_id", "rotated_at", "previous_key_id", "previous_key_revocation_at",
             "rotation_id", "pending_key_id", "revocation_postponed_until", "revocation_postponements",
             "last_revoked_key_id", "lease_until")
    out = {k: str(fields[k]) for k in shown if fields[k] is not None}
    if data.get("revoking_key_id"):  # the phase ``revoking`` seen from the metadata alone
        out["revoking_key_id"] = str(data["revoking_key_id"])
    out.update(provider=provider, last_result=result, last_result_at=to_iso(now), updated_at=to_iso(now),
               managed_by="apikeys.rotation")
    if error:  # Vault refuses empty metadata values
        out["last_error"] = error[:500]
    return out
