# Internal to this collection: not a public API; may change without notice.
"""Step 7 of the protocol: put the previous key back, and revoke the faulty new one.

Valid only while the previous key is still in the record and still works at the provider.
The store changes first (so consumers re-reading it get the working key), then the faulty key
is revoked; it is kept in the record as ``revoking_*`` until the provider confirms, so a crash
between the two leaves nothing untracked, and a re-run finishes the job.
"""
from __future__ import annotations

import time
from typing import Any

from ._errors import RotationRefused
from ._record import PREVIOUS_FIELDS, phase, with_incident, without
from ._rotation import Rotation
from ._timeutil import to_iso


def rollback(rotation: Rotation, reason: str) -> dict[str, Any]:
    entry = rotation.require()
    data = entry.data
    name = rotation.cfg.name
    if phase(data) == "revoking":  # an earlier rollback stopped between its two steps
        faulty = data["revoking_key_id"]
        if rotation.check_mode:
            return rotation.result(True, f"would finish revoking faulty key {faulty}", data, None, entry.version)
        entry = rotation.finish_revoking(entry)
        return rotation.result(True, f"finished the rollback: faulty key {faulty} revoked", data, entry.data,
                               entry.version, revoked_key_id=faulty, revoked_at=to_iso(rotation.clock()),
                               revoked_at_epoch=time.time())
    if phase(data) in ("intent", "pending"):
        raise RotationRefused(f"key '{name}': rotation {data.get('rotation_id')} is in progress; roll back once it "
                              "has finished (or cleaned up)")
    if not data.get("previous_key_id"):
        last = f" (key {data['last_revoked_key_id']} was revoked at {data['last_revoked_at']})" \
            if data.get("last_revoked_key_id") else ""
        raise RotationRefused(f"key '{name}': nothing to roll back to: the record holds no previous key{last}; "
                              "nothing was changed")
    previous_id = str(data["previous_key_id"])
    if previous_id == str(data.get("key_id")):  # a corrupt record: never revoke what applications read
        raise RotationRefused(f"key '{name}': previous and current key are the same ({previous_id}); "
                              "nothing was changed")
    if data.get("previous_key_compromised"):
        raise RotationRefused(f"key '{name}': previous key {previous_id} was replaced in an emergency as "
                              "compromised; it will not be put back. Revoke it (api_key_revoke); nothing was changed")
    if not data.get("previous_key"):
        raise RotationRefused(f"key '{name}': the record no longer holds the secret of previous key {previous_id}; "
                              "nothing was changed")
    if data.get("previous_key_deactivated_at"):
        raise RotationRefused(f"key '{name}': previous key {previous_id} was deactivated at "
                              f"{data['previous_key_deactivated_at']}; reactivate it at the provider first")
    provider = rotation.need_provider()
    if not provider.accepts(str(data["previous_key"]), previous_id):
        raise RotationRefused(f"key '{name}': previous key {previous_id} no longer works at {rotation.cfg.provider}; "
                              "rolling back to it would break every consumer; nothing was changed")
    faulty = str(data["key_id"])
    now = rotation.clock()
    restored = dict(without(data, PREVIOUS_FIELDS), key=data["previous_key"], key_id=previous_id,
                    rotated_at=data.get("previous_rotated_at") or data["rotated_at"], rolled_back_at=to_iso(now),
                    rollback_reason=reason[:300], revoking_key=data["key"], revoking_key_id=faulty)
    restored = with_incident(restored, now, kind="rollback", action="restored the previous key",
                             key_id=previous_id, revoked_key_id=faulty, reason=reason[:200])
    msg = f"rolled back to key {previous_id}; faulty key {faulty} revoked"
    if rotation.check_mode:
        return rotation.result(True, "would have " + msg, data, without(restored, ("revoking_key", "revoking_key_id")),
                               entry.version)
    entry = rotation.write(entry, restored, "rolling back")
    entry = rotation.finish_revoking(entry)
    return rotation.result(True, msg, data, entry.data, entry.version, restored_key_id=previous_id,
                           revoked_key_id=faulty, revoked_at=to_iso(rotation.clock()), revoked_at_epoch=time.time())
