"""Emergency rotation: create(emergency=True) takes over any phase, promote(emergency=True) keeps no grace,
revoke_previous(incident=...) revokes the compromised key at once; and the record's incident log."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Optional

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils._config import KeyConfig
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import CasConflict, ProviderError, RotationRefused
from ansible_collections.apikeys.rotation.plugins.module_utils._record import INCIDENTS_KEPT, INTENT_FIELDS, \
    PENDING_FIELDS, PREVIOUS_FIELDS, REVOKING_FIELDS, known_ids, phase, with_incident
from ansible_collections.apikeys.rotation.plugins.module_utils._revocation import revoke_previous
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import DEFAULT_RESUME_AFTER, Rotation
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import to_iso
from ansible_collections.apikeys.rotation.tests.unit.fakes import NOW, PATH, Clock, FakeProvider, MemoryStore, \
    Sleeps

DAY = 86400
CUR_SECRET = "sk-CUR-compromised-canary-5d0c"
OLD_SECRET = "sk-OLD-canary-7c1a9e"
PEND_SECRET = "sk-PEND-canary-e55b21"
FAULTY_SECRET = "sk-FAULTY-canary-0b3e44"
ORPHAN_SECRET = "sk-ORPHAN-canary-9f9f"
CUR_ID, OLD_ID, PEND_ID, FAULTY_ID, ORPHAN_ID = "key-cur", "key-old", "key-pend", "key-faulty", "key-orphan"
SECRETS = (CUR_SECRET, OLD_SECRET, PEND_SECRET, FAULTY_SECRET, ORPHAN_SECRET)
CUR_ROTATED = NOW - timedelta(days=10)
ROTATION_ID = "20240601T115900Z-live01"
RUN_NAME = f"apikeys-mailer-{ROTATION_ID}"


# -- records and helpers --------------------------------------------------------------------------

def idle(**extra: Any) -> dict[str, Any]:
    return dict({"key": CUR_SECRET, "key_id": CUR_ID, "rotated_at": to_iso(CUR_ROTATED)}, **extra)


def grace() -> dict[str, Any]:
    return idle(previous_key=OLD_SECRET, previous_key_id=OLD_ID, previous_rotated_at=to_iso(NOW - timedelta(days=40)),
                previous_key_revocation_at=to_iso(NOW + timedelta(days=6)))


def intent(age_seconds: float = 60) -> dict[str, Any]:
    """A rotation started ``age_seconds`` ago, younger than resume_after: its run may still be alive."""
    return idle(rotation_id=ROTATION_ID, pending_key_name=RUN_NAME,
                intent_at=to_iso(NOW - timedelta(seconds=age_seconds)), intent_known_ids=[CUR_ID])


def pending(verified: bool = True) -> dict[str, Any]:
    data = dict(intent(), pending_key=PEND_SECRET, pending_key_id=PEND_ID, pending_created_at=to_iso(NOW))
    if verified:
        data["pending_verified_at"] = to_iso(NOW)
    return data


def revoking() -> dict[str, Any]:
    """A rollback restored CUR and stopped before the faulty key was revoked."""
    return idle(rolled_back_at=to_iso(NOW - timedelta(minutes=3)), revoking_key=FAULTY_SECRET,
                revoking_key_id=FAULTY_ID)


# phase -> (record, the keys alive at the provider besides CUR, the key emergency must revoke first)
START = {
    "idle": (idle, {}, None),
    "grace": (grace, {OLD_ID: (OLD_SECRET, "")}, OLD_ID),
    "intent": (intent, {ORPHAN_ID: (ORPHAN_SECRET, RUN_NAME)}, ORPHAN_ID),
    "pending": (pending, {PEND_ID: (PEND_SECRET, RUN_NAME)}, PEND_ID),
    "pending-unverified": (lambda: pending(verified=False), {PEND_ID: (PEND_SECRET, RUN_NAME)}, PEND_ID),
    "revoking": (revoking, {FAULTY_ID: (FAULTY_SECRET, "")}, FAULTY_ID),
}


def cfg(grace_period: Optional[int] = 7 * DAY) -> KeyConfig:
    return KeyConfig(name="mailer", provider="fake", vault_path=PATH, rotation_frequency=30 * DAY,
                     grace_period=grace_period)


def seed(store: MemoryStore, data: dict[str, Any]) -> None:
    store.write(PATH, data, cas=store.version())
    store.writes.clear()


def rotation(store: MemoryStore, provider: FakeProvider, *, check_mode: bool = False, now: datetime = NOW,
             config: Optional[KeyConfig] = None, owner: Optional[str] = None) -> Rotation:
    return Rotation(config or cfg(), store, provider, clock=Clock(now), sleep=Sleeps(), check_mode=check_mode,
                    owner=owner)


def make_provider(extra: dict[str, tuple[str, str]], limit: Optional[int] = None) -> FakeProvider:
    provider = FakeProvider(limit=limit)
    provider.add(CUR_ID, CUR_SECRET)
    provider.add("key-unrelated", "sk-unrelated", name="someone-else")   # not ours: never touched, not counted
    for key_id, (secret, name) in extra.items():
        provider.add(key_id, secret, name=name)
    return provider


def start(store: MemoryStore, name: str, limit: Optional[int] = None) -> tuple[dict[str, Any], FakeProvider, Any]:
    make, extra, contained = START[name]
    record = make()
    seed(store, record)
    provider = make_provider(extra, limit)
    if limit is not None:       # an IAM-like cap counts only this key's lineage: leave the unrelated key out
        del provider.keys["key-unrelated"]
    return record, provider, contained


def assert_no_secret(value: Any, provider: Optional[FakeProvider] = None) -> None:
    text = json.dumps(value, default=str)
    created = [provider.keys[k]["secret"] for k in provider.created] if provider else []
    for secret in SECRETS + tuple(created):
        assert secret not in text


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


# -- create(emergency=True) from each phase -------------------------------------------------------

@pytest.mark.parametrize("name", list(START))
def test_emergency_create_contains_first_then_creates(store, name):
    _record, provider, contained = start(store, name, limit=2)      # two keys at most, as AWS IAM
    at_create: dict[str, Any] = {}

    def inspect(key_id: str) -> None:
        at_create.update(revoked=list(provider.revoked), alive=provider.alive() - {key_id}, data=store.data())

    provider.on_create = inspect
    r = rotation(store, provider)
    result = r.create(emergency=True)

    # the contained key was revoked before the new one was created, and the record forgot it first
    assert at_create["revoked"] == ([contained] if contained else [])
    assert at_create["alive"] == {CUR_ID}
    data_then = at_create["data"]
    assert phase(data_then) == "intent"
    assert contained not in known_ids(data_then)
    assert not set(data_then) & set(PREVIOUS_FIELDS + REVOKING_FIELDS + PENDING_FIELDS)

    assert len(provider.created) == 1
    new_id = provider.created[0]
    data = store.data()
    assert phase(data) == "pending"
    assert data["pending_key_id"] == new_id and data["pending_verified_at"] == to_iso(NOW)
    assert data["rotation_id"] != ROTATION_ID
    assert data["key"] == CUR_SECRET and data["key_id"] == CUR_ID           # the current key stays until promoted
    assert provider.alive() == {CUR_ID, new_id}
    assert result["changed"] is True and result["key_id"] == new_id and result["rotation_id"] == data["rotation_id"]
    assert_no_secret(result, provider)
    assert_no_secret(store.meta, provider)
    assert_no_secret(r.warnings, provider)


def test_emergency_create_from_idle_only_creates(store):
    record, provider, _contained = start(store, "idle")
    rotation(store, provider).create(emergency=True)
    assert provider.revoked == []
    assert [phase(w) for w in store.writes] == ["intent", "pending", "pending"]
    assert "incidents" not in store.data()
    assert {k: v for k, v in store.data().items() if k in record} == record


def test_emergency_create_from_grace_records_the_incident(store):
    _record, provider, _contained = start(store, "grace", limit=2)
    rotation(store, provider).create(emergency=True)
    assert provider.revoked == [OLD_ID]
    assert OLD_ID not in provider.alive()
    first = store.writes[0]
    assert phase(first) == "idle" and not set(first) & set(PREVIOUS_FIELDS)
    assert first["incidents"] == [{"kind": "emergency", "action": "revoked the previous key", "key_id": OLD_ID,
                                   "at": to_iso(NOW)}]
    assert store.data()["incidents"] == first["incidents"]
    assert [phase(w) for w in store.writes] == ["idle", "intent", "pending", "pending"]
    assert_no_secret(store.data()["incidents"])


def test_grace_without_emergency_still_refused_by_the_cap_or_the_phase(store):
    _record, provider, _contained = start(store, "grace", limit=2)
    with pytest.raises(RotationRefused):
        rotation(store, provider).create()
    assert provider.revoked == [] and provider.created == [] and store.writes == []


def test_emergency_takes_over_a_young_intent_at_once(store):
    _record, provider, _contained = start(store, "intent")
    with pytest.raises(RotationRefused):                      # without emergency: a live run is respected
        rotation(store, provider).create(resume_after=DEFAULT_RESUME_AFTER)
    assert provider.revoked == [] and store.writes == []

    r = rotation(store, provider)
    r.create(resume_after=DEFAULT_RESUME_AFTER, emergency=True)
    assert provider.revoked == [ORPHAN_ID]                    # found by the run's key name
    assert "key-unrelated" in provider.alive()
    assert any(ORPHAN_ID in w and ROTATION_ID in w for w in r.warnings)
    assert [phase(w) for w in store.writes] == ["idle", "intent", "pending", "pending"]


def test_emergency_takeover_makes_the_live_run_lose_its_write(store):
    _record, provider, _contained = start(store, "intent")
    stale = store.read(PATH)                                  # what the live run read before the emergency
    rotation(store, provider).create(emergency=True)
    with pytest.raises(CasConflict):
        store.write(PATH, dict(stale.data, pending_key="sk-late", pending_key_id="key-late"), cas=stale.version)


@pytest.mark.parametrize("verified", [True, False])
def test_emergency_revokes_the_pending_key_and_creates_a_fresh_one(store, verified):
    _record, provider, _contained = start(store, "pending" if verified else "pending-unverified")
    rotation(store, provider).create(emergency=True)
    assert provider.revoked == [PEND_ID]
    assert PEND_ID not in provider.alive()
    assert store.data()["pending_key_id"] == provider.created[0] != PEND_ID
    assert [phase(w) for w in store.writes] == ["idle", "intent", "pending", "pending"]
    first = {k: v for k, v in store.writes[0].items() if k not in ("incidents", "history")}
    assert first == idle()                                     # the discarded rotation is forgotten entirely
    assert [(e["action"], e.get("cause")) for e in store.writes[0]["history"]] == [("discarded", "emergency")]


def test_emergency_finishes_a_rollback_first(store):
    record, provider, _contained = start(store, "revoking")
    rotation(store, provider).create(emergency=True)
    assert provider.revoked == [FAULTY_ID]
    assert phase(store.writes[0]) == "idle" and store.writes[0]["key_id"] == CUR_ID
    assert not set(store.data()) & set(REVOKING_FIELDS)
    assert store.data()["rolled_back_at"] == record["rolled_back_at"]


def test_emergency_from_grace_stops_when_the_previous_key_cannot_be_revoked(store):
    record, provider, _contained = start(store, "grace")

    def refuse(key_id: str) -> None:
        raise ProviderError("fake: DELETE /keys/key-old answered HTTP 500", 500)

    provider.on_revoke = refuse
    with pytest.raises(ProviderError):
        rotation(store, provider).create(emergency=True)
    assert store.writes == [] and store.data() == record      # still tracked: nothing forgotten
    assert provider.created == []
    assert OLD_ID in provider.alive()


def test_emergency_from_grace_previous_already_gone(store):
    _record, provider, _contained = start(store, "grace")
    provider.keys[OLD_ID]["alive"] = False
    rotation(store, provider).create(emergency=True)
    assert provider.revoked == [OLD_ID]
    assert phase(store.data()) == "pending"


def test_contain_on_idle_is_a_no_op(store):
    _record, provider, _contained = start(store, "idle")
    r = rotation(store, provider)
    entry = store.read(PATH)
    assert r.contain(entry) is entry
    assert store.writes == [] and provider.revoked == []


# -- check mode -----------------------------------------------------------------------------------

def test_emergency_check_mode_from_idle(store):
    record, provider, _contained = start(store, "idle")
    result = rotation(store, provider, check_mode=True).create(emergency=True)
    assert result["changed"] is True and "would create" in result["msg"]
    assert store.writes == [] and store.data() == record and PATH not in store.meta
    assert provider.created == [] and provider.revoked == []


@pytest.mark.parametrize("name", ["grace", "intent", "pending", "pending-unverified", "revoking"])
def test_emergency_check_mode_writes_and_revokes_nothing(store, name):
    record, provider, _contained = start(store, name)
    rotation(store, provider, check_mode=True).create(emergency=True)
    assert store.writes == [] and store.data() == record and PATH not in store.meta
    assert provider.created == [] and provider.revoked == []


@pytest.mark.parametrize("name", ["grace", "intent", "revoking", "pending", "pending-unverified"])
def test_emergency_check_mode_predicts_a_change(store, name):
    """api_key_create documents full check-mode support; the emergency role runs it under --check."""
    _record, provider, _contained = start(store, name)
    result = rotation(store, provider, check_mode=True).create(emergency=True)
    assert result["changed"] is True
    assert result["msg"].startswith("would")
    assert store.writes == [] and provider.revoked == [] and provider.created == []


# -- each contained key is recorded ----------------------------------------------------------------

@pytest.mark.parametrize("name, revoked", [("intent", ORPHAN_ID), ("pending", PEND_ID), ("grace", OLD_ID)])
def test_emergency_records_each_contained_key(store, name, revoked):
    _record, provider, _contained = start(store, name)
    rotation(store, provider).create(emergency=True)
    incidents = store.data().get("incidents") or []
    assert any(e.get("kind") == "emergency" and e.get("key_id") == revoked for e in incidents)


def test_emergency_takes_over_an_intent_stamped_by_a_clock_slightly_ahead(store):
    _record, provider, _contained = start(store, "intent")
    seed(store, intent(age_seconds=-5))
    rotation(store, provider).create(emergency=True)
    assert provider.revoked == [ORPHAN_ID]


# -- the whole emergency: create, promote with no grace, revoke the compromised key ----------------

@pytest.mark.parametrize("name", list(START))
def test_emergency_end_to_end_leaves_one_live_key(store, name):
    _record, provider, _contained = start(store, name, limit=2)
    created = rotation(store, provider, now=NOW).create(emergency=True)
    promoted_at = NOW + timedelta(minutes=2)
    promoter = rotation(store, provider, now=promoted_at, owner=created["owner"])
    promoted = promoter.promote(created["rotation_id"], emergency=True)

    data = store.data()
    new_id = provider.created[0]
    assert data["key_id"] == new_id and data["previous_key_id"] == CUR_ID
    assert data["rotated_at"] == to_iso(promoted_at)
    assert data["previous_key_revocation_at"] == data["rotated_at"]           # zero grace
    assert data["previous_rotated_at"] == to_iso(CUR_ROTATED)
    assert data["last_rotation_id"] == created["rotation_id"]
    assert not set(data) & set(INTENT_FIELDS + PENDING_FIELDS + REVOKING_FIELDS)
    assert promoted["record"]["previous_key_id"] == CUR_ID

    incidents_before = list(data.get("incidents") or [])
    revoked_at = NOW + timedelta(minutes=3)
    result = revoke_previous(rotation(store, provider, now=revoked_at), key_id=CUR_ID, incident="emergency")
    assert result["changed"] is True and result["revoked_key_id"] == CUR_ID and result["provider_changed"] is True
    assert result["revoked_at"] == to_iso(revoked_at)
    assert isinstance(result["revoked_at_epoch"], float)
    data = store.data()
    assert data["last_revoked_key_id"] == CUR_ID and data["last_revoked_at"] == to_iso(revoked_at)
    assert data["incidents"] == incidents_before + [{"kind": "emergency", "action": "revoked the compromised key",
                                                     "key_id": CUR_ID, "at": to_iso(revoked_at)}]
    assert phase(data) == "idle"
    assert not set(data) & set(PREVIOUS_FIELDS)

    assert provider.alive() == {new_id} == {data["key_id"]}                   # exactly one live key: the current one
    for value in (created, promoted, result, store.meta, data["incidents"]):
        assert_no_secret(value, provider)


def test_emergency_promote_needs_no_grace_period(store):
    _record, provider, _contained = start(store, "pending")
    rotation(store, provider, config=cfg(grace_period=None)).promote(ROTATION_ID, emergency=True)
    data = store.data()
    assert data["previous_key_revocation_at"] == data["rotated_at"] == to_iso(NOW)
    assert data["previous_key_id"] == CUR_ID and data["key_id"] == PEND_ID


def test_ordinary_promote_keeps_the_grace_and_previous_rotated_at(store):
    _record, provider, _contained = start(store, "pending")
    rotation(store, provider).promote(ROTATION_ID)
    data = store.data()
    assert data["previous_key_revocation_at"] == to_iso(NOW + timedelta(days=7))
    assert data["previous_rotated_at"] == to_iso(CUR_ROTATED)


def test_revoke_previous_without_incident_logs_none(store):
    _record, provider, _contained = start(store, "grace")
    result = revoke_previous(rotation(store, provider), key_id=OLD_ID)
    assert "incidents" not in store.data()
    assert isinstance(result["revoked_at_epoch"], float)


def test_revoke_previous_incident_check_mode_changes_nothing(store):
    _record, provider, _contained = start(store, "grace")
    result = revoke_previous(rotation(store, provider, check_mode=True), key_id=OLD_ID, incident="emergency")
    assert result["changed"] is True
    assert result["diff"]["after"]["incidents"][-1]["kind"] == "emergency"
    assert store.writes == [] and provider.revoked == []


# -- the incident log -----------------------------------------------------------------------------

def test_with_incident_appends_newest_last_and_keeps_the_input():
    data = {"key_id": CUR_ID, "incidents": [{"kind": "rollback", "at": "2024-05-01T00:00:00Z"}]}
    out = with_incident(data, NOW, kind="emergency", key_id=OLD_ID)
    assert out["incidents"] == [{"kind": "rollback", "at": "2024-05-01T00:00:00Z"},
                                {"kind": "emergency", "key_id": OLD_ID, "at": to_iso(NOW)}]
    assert out["key_id"] == CUR_ID
    assert len(data["incidents"]) == 1                                        # not mutated


def test_with_incident_keeps_at_most_incidents_kept():
    data: dict[str, Any] = {}
    for n in range(INCIDENTS_KEPT + 5):
        data = with_incident(data, NOW + timedelta(seconds=n), kind="emergency", n=n)
        assert len(data["incidents"]) == min(n + 1, INCIDENTS_KEPT)
    assert [e["n"] for e in data["incidents"]] == list(range(5, INCIDENTS_KEPT + 5))
    assert data["incidents"][-1]["at"] == to_iso(NOW + timedelta(seconds=INCIDENTS_KEPT + 4))


@pytest.mark.parametrize("stored", [None, [], "garbage", ["not a dict", 3, {"kind": "rollback"}]])
def test_with_incident_tolerates_a_damaged_log(stored):
    out = with_incident({"incidents": stored}, NOW, kind="emergency")
    kept = [{"kind": "rollback"}] if isinstance(stored, list) and stored else []
    assert out["incidents"] == kept + [{"kind": "emergency", "at": to_iso(NOW)}]


def test_known_ids_include_the_key_being_revoked():
    assert known_ids(revoking()) == {CUR_ID, FAULTY_ID}
