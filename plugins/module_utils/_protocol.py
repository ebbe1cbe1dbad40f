# Internal to this collection: not a public API; may change without notice.
"""The protocol as one table, and its transitions as pure functions of the record.

``TABLE[action][phase]`` is either the step that action takes in that phase, or a ``Refusal`` whose
reason is formatted from the record. Every workflow (``_rotation``, ``_revocation``, ``_rollback``)
asks ``decide`` first; nothing else refuses on a phase. The transitions below take a record (a dict,
as stored) and return the next one; they read no clock and call nothing, so they are tested alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional, Union

from ._errors import RotationRefused
from ._record import INTENT_FIELDS, PENDING_FIELDS, PREVIOUS_FIELDS, REVOKING_FIELDS, known_ids, phase, \
    with_incident, without
from ._timeutil import add_seconds, from_iso, to_iso


@dataclass(frozen=True)
class Refusal:
    reason: str


NO_RECORD = Refusal("no record at {vault_path}; import the key in use first "
                    "(apikeys.rotation.vault_key_write state=import)")
ROLLBACK_UNFINISHED = Refusal("a rollback did not finish revoking key {revoking_key_id}; re-run rollback.yml first")
IN_PROGRESS = Refusal("rotation {rotation_id} is in progress; roll back once it has finished (or been cleaned up)")
NOTHING_TO_PROMOTE = Refusal("nothing to promote (phase {phase})")
NOTHING_TO_POSTPONE = Refusal("nothing to postpone (phase {phase})")
ALREADY_HELD = Refusal("{vault_path} already holds key {key_id} (phase {phase}); importing over it would lose "
                       "track of a live key")

#: action -> phase -> step (str) or Refusal
TABLE: dict[str, dict[str, Union[str, Refusal]]] = {
    "rotate": {
        "absent": NO_RECORD,
        "idle": "start",
        "intent": "take_over_intent",     # only an expired lease, or resume_after 0
        "pending": "take_over_pending",   # only an expired lease, or resume_after 0
        "grace": Refusal("previous key {previous_key_id} awaits revocation at {previous_key_revocation_at}; "
                         "a second rotation would leave three keys alive"),
        "revoking": ROLLBACK_UNFINISHED,
    },
    "emergency": {
        "absent": NO_RECORD,
        "idle": "start",
        "intent": "contain_intent",       # the lease is ignored: a breach does not wait
        "pending": "contain_pending",
        "grace": "contain_previous",
        "revoking": "finish_revoking",
    },
    "promote": {"absent": NOTHING_TO_PROMOTE, "idle": NOTHING_TO_PROMOTE, "intent": NOTHING_TO_PROMOTE,
                "pending": "promote", "grace": NOTHING_TO_PROMOTE, "revoking": NOTHING_TO_PROMOTE},
    "revoke": {"absent": NO_RECORD, "idle": "nothing", "intent": "nothing", "pending": "nothing",
               "grace": "revoke", "revoking": "nothing"},
    "rollback": {
        "absent": NO_RECORD,
        "idle": Refusal("nothing to roll back to: the record holds no previous key{last_revoked}; "
                        "nothing was changed"),
        "intent": IN_PROGRESS,
        "pending": IN_PROGRESS,
        "grace": "rollback",
        "revoking": "finish_revoking",
    },
    "import": {"absent": "import", "idle": ALREADY_HELD, "intent": ALREADY_HELD, "pending": ALREADY_HELD,
               "grace": ALREADY_HELD, "revoking": ALREADY_HELD},
    "clear_previous": {"absent": NO_RECORD, "idle": "nothing", "intent": "nothing", "pending": "nothing",
                       "grace": "clear_previous", "revoking": "nothing"},
    "postpone": {"absent": NOTHING_TO_POSTPONE, "idle": NOTHING_TO_POSTPONE, "intent": NOTHING_TO_POSTPONE,
                 "pending": NOTHING_TO_POSTPONE, "grace": "postpone", "revoking": NOTHING_TO_POSTPONE},
}

ACTIONS = tuple(TABLE)


def phase_of(data: Optional[dict[str, Any]]) -> str:
    return phase(data) if data else "absent"


def step_for(action: str, data: Optional[dict[str, Any]], vault_path: str) -> Union[str, Refusal]:
    """The table's answer, with a refusal's reason filled in from the record."""
    current = phase_of(data)
    answer = TABLE[action][current]
    if isinstance(answer, Refusal):
        fields = dict(data or {}, phase=current, vault_path=vault_path)
        last = (f" (key {fields['last_revoked_key_id']} was revoked at {fields.get('last_revoked_at')})"
                if fields.get("last_revoked_key_id") else "")
        fields["last_revoked"] = last
        return Refusal(answer.reason.format_map(_Missing(fields)))
    return answer


def no_record(vault_path: str) -> str:
    """The reason every action gives when there is no record."""
    return NO_RECORD.reason.format(vault_path=vault_path)


def decide(action: str, data: Optional[dict[str, Any]], key: str, vault_path: str) -> str:
    """The step ``action`` takes on this record, or RotationRefused naming the key and why."""
    answer = step_for(action, data, vault_path)
    if isinstance(answer, Refusal):
        raise RotationRefused(f"key '{key}': {answer.reason}")
    return answer


class _Missing(dict):
    def __missing__(self, name: str) -> str:
        return "?"


# -- ownership ------------------------------------------------------------------------------------

def lease_until(data: dict[str, Any], resume_after: int) -> Optional[datetime]:
    """When the owning run's lease ends; records from before leases use their intent time."""
    if data.get("lease_until"):
        return from_iso(data["lease_until"])
    if data.get("intent_at"):
        return add_seconds(from_iso(data["intent_at"]), resume_after)
    return None


def lease_expired(data: dict[str, Any], now: datetime, resume_after: int) -> bool:
    """May another run take this rotation over? Only after its lease ended, or at once when resume_after is 0."""
    if resume_after <= 0:
        return True
    until = lease_until(data, resume_after)
    return until is None or now >= until


def leased(data: dict[str, Any], owner: str, now: datetime, lease: int) -> dict[str, Any]:
    """``data`` owned by ``owner`` for ``lease`` more seconds (every write of the owning run renews it)."""
    return dict(data, lease_owner=owner, lease_until=to_iso(add_seconds(now, max(lease, 1))))


def taken_over(data: dict[str, Any], owner: str, now: datetime, lease: int) -> dict[str, Any]:
    return dict(leased(data, owner, now, lease), taken_over_from=data.get("lease_owner") or "an earlier run",
                taken_over_at=to_iso(now))


# -- rotation -------------------------------------------------------------------------------------

def intent(data: dict[str, Any], rotation_id: str, name: str, now: datetime) -> dict[str, Any]:
    return dict(without(data, INTENT_FIELDS, PENDING_FIELDS), rotation_id=rotation_id, pending_key_name=name,
                intent_at=to_iso(now), intent_known_ids=sorted(known_ids(data)))


def pending(data: dict[str, Any], key_id: str, secret: str, now: datetime) -> dict[str, Any]:
    return dict(data, pending_key=secret, pending_key_id=key_id, pending_created_at=to_iso(now))


def verified(data: dict[str, Any], now: datetime) -> dict[str, Any]:
    return dict(data, pending_verified_at=to_iso(now))


def intent_cleared(data: dict[str, Any]) -> dict[str, Any]:
    return without(data, INTENT_FIELDS)


def pending_discarded(data: dict[str, Any]) -> dict[str, Any]:
    return without(data, INTENT_FIELDS, PENDING_FIELDS)


def promoted(data: dict[str, Any], now: datetime, grace: int, emergency: bool, owner: str) -> dict[str, Any]:
    return dict(without(data, INTENT_FIELDS, PENDING_FIELDS, PREVIOUS_FIELDS),
                key=data["pending_key"], key_id=data["pending_key_id"], rotated_at=to_iso(now),
                previous_key=data.get("key"), previous_key_id=data.get("key_id"),
                previous_rotated_at=data.get("rotated_at"),
                **({"previous_key_compromised": True} if emergency else {}),
                previous_key_revocation_at=to_iso(add_seconds(now, grace)),
                last_rotation_id=data["rotation_id"], promoted_by=owner)


def imported(secret: str, key_id: str, created: datetime) -> dict[str, Any]:
    return {"key": secret, "key_id": key_id, "rotated_at": to_iso(created)}


# -- after the rotation ---------------------------------------------------------------------------

def previous_revoked(data: dict[str, Any], now: datetime, incident: Optional[str] = None) -> dict[str, Any]:
    target = data["previous_key_id"]
    after = dict(without(data, PREVIOUS_FIELDS), last_revoked_key_id=target, last_revoked_at=to_iso(now))
    if incident:
        after = with_incident(after, now, kind=incident, action="revoked the compromised key", key_id=target)
    return after


def previous_deactivated(data: dict[str, Any], now: datetime) -> dict[str, Any]:
    return dict(data, previous_key_deactivated_at=to_iso(now))


def previous_forgotten(data: dict[str, Any]) -> dict[str, Any]:
    return without(data, PREVIOUS_FIELDS)


def postponed(data: dict[str, Any], now: datetime, seconds: int, reason: str) -> dict[str, Any]:
    count = int(data.get("revocation_postponements") or 0) + 1
    return dict(data, revocation_postponed_until=to_iso(add_seconds(now, seconds)), revocation_postponements=count,
                revocation_wait_reason=reason[:300])


def rolled_back(data: dict[str, Any], now: datetime, reason: str) -> dict[str, Any]:
    previous_id, faulty = str(data["previous_key_id"]), str(data["key_id"])
    restored = dict(without(data, PREVIOUS_FIELDS), key=data["previous_key"], key_id=previous_id,
                    rotated_at=data.get("previous_rotated_at") or data["rotated_at"], rolled_back_at=to_iso(now),
                    rollback_reason=reason[:300], revoking_key=data["key"], revoking_key_id=faulty)
    return with_incident(restored, now, kind="rollback", action="restored the previous key",
                         key_id=previous_id, revoked_key_id=faulty, reason=reason[:200])


def revoking_done(data: dict[str, Any]) -> dict[str, Any]:
    return without(data, REVOKING_FIELDS)
