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

from . import _protocol as protocol
from ._errors import RotationRefused
from ._results import result
from ._rotation import Rotation
from ._timeutil import to_iso


def rollback(rotation: Rotation, reason: str) -> dict[str, Any]:
    entry = rotation.require()
    data = entry.data
    name = rotation.cfg.name
    step = protocol.decide("rollback", data, name, rotation.cfg.vault_path)
    if step == "finish_revoking":  # an earlier rollback stopped between its two steps
        faulty = data["revoking_key_id"]
        if rotation.check_mode:
            return result(True, f"would finish revoking faulty key {faulty}", data, None, entry.version)
        entry = rotation.finish_revoking(entry)
        return result(True, f"finished the rollback: faulty key {faulty} revoked", data, entry.data,
                      entry.version, revoked_key_id=faulty, revoked_at=to_iso(rotation.clock()),
                      revoked_at_epoch=time.time())
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
    restored = protocol.rolled_back(data, now, reason)
    msg = f"rolled back to key {previous_id}; faulty key {faulty} revoked"
    if rotation.check_mode:
        return result(True, "would have " + msg, data, protocol.revoking_done(restored), entry.version)
    entry = rotation.write(entry, restored, "rolling back")
    entry = rotation.finish_revoking(entry)
    return result(True, msg, data, entry.data, entry.version, restored_key_id=previous_id,
                  revoked_key_id=faulty, revoked_at=to_iso(rotation.clock()), revoked_at_epoch=time.time())
