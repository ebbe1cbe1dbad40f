# Internal to this collection: not a public API; may change without notice.
"""Per-key outcomes of a run, for machines: AWX workflow nodes (``set_stats``), notifications, reports.

Each role registers its tasks' results under its own prefix (``rotate__``, ``revoke_after_grace__``,
``rollback__``); this reads them back from ``hostvars`` and says, per key, what happened in one word
plus the ids an automation needs. No secret is ever in a registered result, so none is here.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

Vars = dict[str, Any]

#: the fleet engine's per-key result (api_key_result, registered as ``<role>__key``): each step's result under the
#: name the role's task registered it with before (docs/fleet.md)
PACKED: dict[str, tuple[str, dict[str, str]]] = {
    "rotate": ("rotate__key", {"plan": "rotate__plan", "created": "rotate__created", "promoted": "rotate__promoted",
                               "revoked": "rotate__revoked"}),
    "revoke_after_grace": ("revoke_after_grace__key", {
        "info": "revoke_after_grace__info", "usage": "revoke_after_grace__usage",
        "revoked": "revoke_after_grace__revoked", "postponed": "revoke_after_grace__postponed"}),
}


def unpacked(v: Vars, role: str) -> Vars:
    """``v`` with the steps of the role's ``<role>__key`` result under their former names."""
    name, steps = PACKED.get(role, ("", {}))
    packed = v.get(name) if name else None
    if not isinstance(packed, dict):
        return v
    return dict(v, **{old: packed[new] for new, old in steps.items() if new in packed})


def _done(v: Vars, name: str) -> Optional[Vars]:
    """The registered result ``name`` if its task ran (not skipped), else None."""
    result = v.get(name)
    if isinstance(result, dict) and not result.get("skipped"):
        return result
    return None


def _rotate(v: Vars, check_mode: bool) -> Vars:
    if "rotate__error" in v:
        return {"outcome": "failed", "error": v["rotate__error"]}
    revoked = _done(v, "rotate__revoked")
    if revoked:
        return {"outcome": "emergency_revoked", "revoked_key_id": revoked.get("revoked_key_id"),
                "key_id": (revoked.get("record") or {}).get("key_id")}
    created = _done(v, "rotate__created")
    plan = (v.get("rotate__plan") or {}).get("plan")
    if created and plan is None:
        return {"outcome": "would_replace" if check_mode else "emergency_unfinished"}
    if plan is None:
        return {"outcome": "not_processed"}
    if not plan.get("due"):
        return {"outcome": "waiting" if plan.get("action") == "wait" else "not_due", "reason": plan.get("reason")}
    if check_mode:
        return {"outcome": "would_rotate", "reason": plan.get("reason")}
    promoted = _done(v, "rotate__promoted") or {}
    record = promoted.get("record") or {}
    outcome = {"promoted_by_other": "promoted_by_other"}.get(str(promoted.get("outcome")), "rotated")
    if outcome == "rotated" and (created or {}).get("outcome") == "resumed":
        outcome = "resumed"
    return {"outcome": outcome, "key_id": record.get("key_id"), "previous_key_id": record.get("previous_key_id"),
            "rotation_id": (created or {}).get("rotation_id")}


def _revoke_after_grace(v: Vars, check_mode: bool) -> Vars:
    if "revoke_after_grace__error" in v:
        return {"outcome": "failed", "error": v["revoke_after_grace__error"]}
    if "revoke_after_grace__alert" in v:
        return {"outcome": "alert", "reason": v["revoke_after_grace__alert"]}
    info = v.get("revoke_after_grace__info")
    if not isinstance(info, dict) or "revocation" not in info:
        return {"outcome": "not_processed"}
    if not info["revocation"].get("due"):
        return {"outcome": "not_due", "reason": info["revocation"].get("reason")}
    revoked = _done(v, "revoke_after_grace__revoked")
    if revoked:
        return {"outcome": "would_revoke" if check_mode else "revoked", "revoked_key_id": revoked.get("revoked_key_id")}
    if _done(v, "revoke_after_grace__postponed"):
        return {"outcome": "postponed", "reason": (v.get("revoke_after_grace__usage") or {}).get("reason")}
    usage = v.get("revoke_after_grace__usage") or {}
    return {"outcome": str(usage.get("verdict") or "unchanged"), "reason": usage.get("reason")}


def _rollback(v: Vars, check_mode: bool) -> Vars:
    if "rollback__error" in v:
        return {"outcome": "failed", "error": v["rollback__error"]}
    result = _done(v, "rollback__result")
    if not result:
        return {"outcome": "not_processed"}
    if check_mode:
        return {"outcome": "would_roll_back"}
    return {"outcome": "rolled_back" if result.get("changed") else "unchanged",
            "restored_key_id": result.get("restored_key_id"), "revoked_key_id": result.get("revoked_key_id")}


ROLES: dict[str, Callable[[Vars, bool], Vars]] = {
    "rotate": _rotate,
    "revoke_after_grace": _revoke_after_grace,
    "rollback": _rollback,
}


def outcomes(hosts: list[str], hostvars: Any, role: str, check_mode: bool = False) -> dict[str, Any]:
    """``{"keys": {key: {"outcome": ..., ...}}, "counts": {outcome: n}, "failed": [keys]}`` for ``role``'s run."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (known: {', '.join(sorted(ROLES))})")
    keys: dict[str, Vars] = {}
    counts: dict[str, int] = {}
    for host in hosts:
        own = hostvars[host]
        names = ["rotate__error", "revoke_after_grace__error", "revoke_after_grace__alert", "rollback__error",
                 "rollback__result"] + [n for name, steps in PACKED.values() for n in (name, *steps.values())]
        found = {n: own[n] for n in names if n in own}  # only what the roles registered: not every variable
        entry = {k: val for k, val in ROLES[role](unpacked(found, role), bool(check_mode)).items() if val is not None}
        keys[host] = entry
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    failed = sorted(k for k, e in keys.items() if e["outcome"] in ("failed", "alert"))
    return {"keys": keys, "counts": dict(sorted(counts.items())), "failed": failed}
