# Internal to this collection: not a public API; may change without notice.
"""Step 6 of the protocol: revoke the old key after its grace period, once the new key is in use.

Never revokes the current key, nor a key the record does not know; an already revoked key is
success. Every deadline is computed from the record, with an allowance for clock skew.
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Optional

from . import _protocol as protocol
from ._checkpoint import checkpoint
from ._errors import RotationRefused
from ._record import phase
from ._results import result
from ._rotation import Rotation
from ._timeutil import add_seconds, format_duration, from_iso, to_iso
from .evidence._base import Observation


def revocation_plan(data: dict[str, Any], now: datetime, skew: int) -> dict[str, Any]:
    """Is the previous key due for revocation (grace over, no postponement running)?"""
    if phase(data) != "grace":
        return {"due": False, "reason": f"no previous key awaits revocation (phase {phase(data)})"}
    deadline = add_seconds(from_iso(data["previous_key_revocation_at"]), skew)
    if data.get("revocation_postponed_until"):
        deadline = max(deadline, from_iso(data["revocation_postponed_until"]))
    if now < deadline:
        return {"due": False, "reason": f"previous key {data['previous_key_id']} may be revoked from "
                f"{to_iso(deadline)} (in {format_duration((deadline - now).total_seconds())})"}
    return {"due": True, "reason": f"grace of previous key {data['previous_key_id']} ended at "
            f"{data['previous_key_revocation_at']}"}


def verdict(data: dict[str, Any], seen: Observation, now: datetime, skew: int) -> tuple[str, str]:
    """``revoke``, ``wait`` or ``alert``, and why, from the record and what the evidence saw."""
    old_id, new_id = data.get("previous_key_id"), data.get("key_id")
    grace_end = from_iso(data["previous_key_revocation_at"])
    if now < add_seconds(grace_end, skew):
        return "wait", f"the grace period of old key {old_id} runs until {data['previous_key_revocation_at']}"
    if seen.old_last_seen is not None and seen.old_last_seen > add_seconds(grace_end, skew):
        return "alert", (f"old key {old_id} was still used at {to_iso(seen.old_last_seen)}, after its grace ended "
                         f"at {data['previous_key_revocation_at']}: a consumer has not switched ({seen.detail})")
    if seen.new_seen is None and seen.source == "none":
        return "revoke", (f"grace of old key {old_id} ended at {data['previous_key_revocation_at']}; new key {new_id}: "
                          f"{seen.detail}")
    if seen.new_seen:
        when = f" at {to_iso(seen.new_last_seen)}" if seen.new_last_seen else ""
        return "revoke", f"new key {new_id} seen in use{when}, since its promotion at {data['rotated_at']} ({seen.detail})"
    if seen.new_seen is None:
        return "wait", f"cannot tell whether new key {new_id} is in use ({seen.detail})"
    return "wait", f"new key {new_id} not seen in use since its promotion at {data['rotated_at']} ({seen.detail})"


def revoke_previous(rotation: Rotation, key_id: Optional[str] = None, soft: bool = False,
                    incident: Optional[str] = None) -> dict[str, Any]:
    """Revoke the record's previous key at the provider, then forget it (check-and-set).

    ``incident`` (e.g. ``emergency``) records the revocation in the record's incident log.
    """
    entry = rotation.require()
    data = entry.data
    name = rotation.cfg.name
    if key_id and key_id in (data.get("key_id"), data.get("pending_key_id")):
        raise RotationRefused(f"key '{name}': refusing to revoke {key_id}: it is the "
                              f"{'current' if key_id == data.get('key_id') else 'pending'} key")
    target = data.get("previous_key_id")
    if key_id and key_id != target:
        raise RotationRefused(f"key '{name}': refusing to revoke {key_id}: the record does not hold it as its "
                              "previous key (only keys of the managed lineage are revoked)")
    if protocol.decide("revoke", data, name, rotation.cfg.vault_path) == "nothing":
        return result(False, "no previous key to revoke", data, None, entry.version)
    if target == data.get("key_id"):  # a corrupt record; never revoke what applications read
        raise RotationRefused(f"key '{name}': previous and current key are the same ({target}); not revoked")
    provider = rotation.need_provider()
    now = rotation.clock()
    if soft:
        if data.get("previous_key_deactivated_at"):
            return result(False, f"previous key {target} is already deactivated", data, None, entry.version)
        return rotation.commit(entry, protocol.previous_deactivated(data, now), "deactivated",
                               f"deactivated previous key {target} (reversible)",
                               would=f"would deactivate previous key {target}", effect=lambda: provider.deactivate(target))
    after = protocol.previous_revoked(data, now, incident)
    seen: dict[str, Any] = {}

    def revoke() -> None:
        rotation.store.preflight(rotation.cfg.vault_path)
        checkpoint("before_revoke")
        revoked = provider.revoke(target)
        if data.get("previous_key"):
            provider.confirm_revoked(target, str(data["previous_key"]))
        seen.update(revoked=revoked, confirmed=time.time())

    out = rotation.commit(entry, after, "revoked", f"previous key {target} revoked",
                          would=f"would revoke previous key {target}", effect=revoke, before_write="before_revoke_write")
    if seen:
        if not seen["revoked"]:
            out["msg"] = f"previous key {target} was already gone at the provider; forgotten"
        out.update(revoked_key_id=target, provider_changed=seen["revoked"], revoked_at=after["last_revoked_at"],
                   revoked_at_epoch=seen["confirmed"])
    return out


def postpone(rotation: Rotation, seconds: int, reason: str) -> dict[str, Any]:
    """Put the revocation off by ``seconds``, counting postponements and recording why."""
    entry = rotation.require()
    data = entry.data
    protocol.decide("postpone", data, rotation.cfg.name, rotation.cfg.vault_path)
    after = protocol.postponed(data, rotation.clock(), seconds, reason)
    until, count = after["revocation_postponed_until"], after["revocation_postponements"]
    msg = f"revocation of {data['previous_key_id']} postponed to {until} (postponement {count}): {reason}"
    return rotation.commit(entry, after, "postponed", msg, would=msg, postponements=count)
