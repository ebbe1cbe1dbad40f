"""Step 7: rollback (put the previous key back, then revoke the faulty one), against the shared fakes."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Optional

import pytest

from ansible_collections.apikeys.rotation.plugins.action.api_key_rollback import ActionModule
from ansible_collections.apikeys.rotation.plugins.module_utils._config import KeyConfig
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import CasConflict, ConfigError, \
    ProviderError, RotationRefused
from ansible_collections.apikeys.rotation.plugins.module_utils._record import PREVIOUS_FIELDS, REVOKING_FIELDS, \
    known_ids, phase
from ansible_collections.apikeys.rotation.plugins.module_utils._rollback import rollback
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import to_iso
from ansible_collections.apikeys.rotation.tests.unit.fakes import NOW, PATH, Clock, FakeProvider, MemoryStore, \
    Sleeps

DAY = 86400
OLD_SECRET = "sk-OLD-canary-7c1a9e"       # the previous key, which works
NEW_SECRET = "sk-FAULTY-canary-0b3e44"    # the new key, current but faulty
OLD_ID = "key-old"
NEW_ID = "key-faulty"
SECRETS = (OLD_SECRET, NEW_SECRET)
OLD_ROTATED = NOW - timedelta(days=40)
NEW_ROTATED = NOW - timedelta(hours=1)
REASON = "INC-1234: new key lacks the mail.send scope"


# -- records and helpers --------------------------------------------------------------------------

def grace(**extra: Any) -> dict[str, Any]:
    """Just after a rotation: the faulty new key is current, the previous one in its grace period."""
    return dict({"key": NEW_SECRET, "key_id": NEW_ID, "rotated_at": to_iso(NEW_ROTATED),
                 "previous_key": OLD_SECRET, "previous_key_id": OLD_ID, "previous_rotated_at": to_iso(OLD_ROTATED),
                 "previous_key_revocation_at": to_iso(NOW + timedelta(days=7)),
                 "last_rotation_id": "20240601T110000Z-abc123"}, **extra)


def idle(**extra: Any) -> dict[str, Any]:
    return dict({"key": NEW_SECRET, "key_id": NEW_ID, "rotated_at": to_iso(NEW_ROTATED)}, **extra)


def intent(**extra: Any) -> dict[str, Any]:
    return dict(idle(), rotation_id="20240601T115900Z-def456", pending_key_name="apikeys-mailer-x",
                intent_at=to_iso(NOW - timedelta(minutes=1)), intent_known_ids=[NEW_ID], **extra)


def pending() -> dict[str, Any]:
    return intent(pending_key="sk-PEND-canary-77aa", pending_key_id="key-pend",
                  pending_created_at=to_iso(NOW), pending_verified_at=to_iso(NOW))


def cfg() -> KeyConfig:
    return KeyConfig(name="mailer", provider="fake", vault_path=PATH, rotation_frequency=30 * DAY,
                     grace_period=7 * DAY)


def seed(store: MemoryStore, data: dict[str, Any]) -> None:
    store.write(PATH, data, cas=store.version())
    store.writes.clear()


def rotation(store: MemoryStore, provider: Optional[FakeProvider], *, check_mode: bool = False,
             clock: Optional[Clock] = None) -> Rotation:
    return Rotation(cfg(), store, provider, clock=clock or Clock(), sleep=Sleeps(), check_mode=check_mode)


def assert_no_secret(value: Any, *extra: str) -> None:
    text = json.dumps(value, default=str)
    for secret in SECRETS + extra:
        assert secret not in text


def fail_once(provider: FakeProvider, error: Exception) -> list[str]:
    """Make the provider's next revoke raise ``error`` (before revoking anything); returns the attempts."""
    attempts: list[str] = []

    def hook(key_id: str) -> None:
        attempts.append(key_id)
        if len(attempts) == 1:
            raise error

    provider.on_revoke = hook
    return attempts


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def provider() -> FakeProvider:
    p = FakeProvider()
    p.add(OLD_ID, OLD_SECRET)
    p.add(NEW_ID, NEW_SECRET)
    return p


# -- happy path -----------------------------------------------------------------------------------

def test_rollback_restores_previous_then_revokes_faulty(store, provider):
    seed(store, grace())
    seen_at_revoke: list[dict[str, Any]] = []
    provider.on_revoke = lambda key_id: seen_at_revoke.append(store.data())
    clock = Clock(NOW)
    result = rollback(rotation(store, provider, clock=clock), REASON)

    # the store was switched before the provider was asked to revoke the faulty key
    assert provider.revoked == [NEW_ID]
    assert len(seen_at_revoke) == 1
    during = seen_at_revoke[0]
    assert during["key"] == OLD_SECRET and during["key_id"] == OLD_ID
    assert during["revoking_key_id"] == NEW_ID and during["revoking_key"] == NEW_SECRET
    assert phase(during) == "revoking"

    data = store.data()
    assert data["key"] == OLD_SECRET and data["key_id"] == OLD_ID
    assert data["rotated_at"] == to_iso(OLD_ROTATED)         # the previous key's own age, not the faulty one's
    assert data["rolled_back_at"] == to_iso(NOW)
    assert data["rollback_reason"] == REASON
    assert data["last_rotation_id"] == "20240601T110000Z-abc123"
    assert not set(data) & set(PREVIOUS_FIELDS + REVOKING_FIELDS)
    assert phase(data) == "idle"
    assert data["incidents"] == [{"kind": "rollback", "action": "restored the previous key", "key_id": OLD_ID,
                                  "revoked_key_id": NEW_ID, "reason": REASON, "at": to_iso(NOW)}]
    assert [phase(w) for w in store.writes] == ["revoking", "idle"]
    assert store.version() == 3
    assert provider.alive() == {OLD_ID}
    assert provider.created == []

    assert result["changed"] is True
    assert result["restored_key_id"] == OLD_ID and result["revoked_key_id"] == NEW_ID
    assert result["revoked_at"] == to_iso(NOW)
    assert isinstance(result["revoked_at_epoch"], float)
    assert result["record"]["phase"] == "idle" and result["record"]["key_id"] == OLD_ID
    assert result["record"]["version"] == 3
    assert OLD_ID in result["msg"] and NEW_ID in result["msg"]
    assert_no_secret(result)
    assert_no_secret(store.meta)
    assert store.meta[PATH]["last_result"] == "rolled back"
    assert_no_secret(data["incidents"])


def test_rollback_appends_to_existing_incidents(store, provider):
    earlier = {"kind": "emergency", "action": "revoked the previous key", "key_id": "key-older", "at": "2024-05-01T00:00:00Z"}
    seed(store, grace(incidents=[earlier]))
    rollback(rotation(store, provider), REASON)
    incidents = store.data()["incidents"]
    assert incidents[0] == earlier
    assert [e["kind"] for e in incidents] == ["emergency", "rollback"]


def test_rollback_truncates_a_long_reason(store, provider):
    seed(store, grace())
    rollback(rotation(store, provider), "x" * 1000)
    data = store.data()
    assert data["rollback_reason"] == "x" * 300
    assert data["incidents"][-1]["reason"] == "x" * 200


def test_rollback_without_previous_rotated_at_keeps_rotated_at(store, provider):
    record = grace()
    del record["previous_rotated_at"]                       # written before previous_rotated_at existed
    seed(store, record)
    rollback(rotation(store, provider), REASON)
    assert store.data()["rotated_at"] == to_iso(NEW_ROTATED)
    assert store.data()["key_id"] == OLD_ID


def test_rollback_faulty_key_already_gone_at_provider(store, provider):
    provider.keys[NEW_ID]["alive"] = False
    seed(store, grace())
    result = rollback(rotation(store, provider), REASON)
    assert provider.revoked == [NEW_ID]
    assert phase(store.data()) == "idle" and store.data()["key_id"] == OLD_ID
    assert result["revoked_key_id"] == NEW_ID


def test_action_passes_the_reason(store, provider):
    seed(store, grace())
    assert ActionModule.ARGSPEC["reason"]["default"]
    result = ActionModule.execute(None, rotation(store, provider), {"reason": REASON})
    assert result["restored_key_id"] == OLD_ID
    assert store.data()["rollback_reason"] == REASON


# -- refusals change nothing ----------------------------------------------------------------------

@pytest.mark.parametrize("record, provider_alive, expected", [
    pytest.param(idle(last_revoked_key_id=OLD_ID, last_revoked_at=to_iso(NOW - timedelta(hours=1))), True,
                 ["nothing to roll back to", f"key {OLD_ID} was revoked at {to_iso(NOW - timedelta(hours=1))}",
                  "nothing was changed"], id="no-previous-key-last-revoked"),
    pytest.param(idle(), True, ["nothing to roll back to", "nothing was changed"], id="no-previous-key"),
    pytest.param({k: v for k, v in grace().items() if k != "previous_key"}, True,
                 ["no longer holds the secret", OLD_ID, "nothing was changed"], id="previous-secret-missing"),
    pytest.param(grace(previous_key_deactivated_at=to_iso(NOW - timedelta(minutes=5))), True,
                 [OLD_ID, "deactivated at " + to_iso(NOW - timedelta(minutes=5)), "reactivate"],
                 id="previous-deactivated"),
    pytest.param(grace(), False, [OLD_ID, "no longer works", "nothing was changed"], id="previous-rejected"),
    pytest.param(intent(), True, ["20240601T115900Z-def456", "in progress"], id="intent"),
    pytest.param(pending(), True, ["20240601T115900Z-def456", "in progress"], id="pending"),
])
def test_rollback_refusals_change_nothing(store, provider, record, provider_alive, expected):
    provider.keys[OLD_ID]["alive"] = provider_alive
    seed(store, record)
    version = store.version()
    with pytest.raises(RotationRefused) as info:
        rollback(rotation(store, provider), REASON)
    message = str(info.value)
    for text in expected:
        assert text in message
    assert "mailer" in message
    assert store.version() == version and store.writes == [] and PATH not in store.meta
    assert store.data() == record
    assert provider.revoked == [] and provider.created == []
    assert provider.alive() == ({OLD_ID, NEW_ID} if provider_alive else {NEW_ID})
    assert_no_secret(message, "sk-PEND-canary-77aa")


def test_rollback_refusal_without_last_revoked_names_no_key(store, provider):
    seed(store, idle())
    with pytest.raises(RotationRefused) as info:
        rollback(rotation(store, provider), REASON)
    assert "was revoked at" not in str(info.value)


def test_rollback_previous_rejected_checks_the_previous_secret(store, provider):
    provider.keys[OLD_ID]["secret"] = "sk-rotated-elsewhere"     # the provider's key no longer matches the record
    seed(store, grace())
    with pytest.raises(RotationRefused):
        rollback(rotation(store, provider), REASON)
    assert provider.accept_calls == [OLD_ID]
    assert store.writes == [] and provider.revoked == []


def test_rollback_without_record_refused(store, provider):
    with pytest.raises(RotationRefused):
        rollback(rotation(store, provider), REASON)
    assert store.writes == [] and provider.revoked == []


def test_rollback_needs_provider(store):
    seed(store, grace())
    with pytest.raises(ConfigError) as info:
        rollback(rotation(store, None), REASON)
    assert info.value.field == "apikeys_provider"
    assert store.writes == []


def test_rollback_concurrent_writer_revokes_nothing(store, provider):
    seed(store, grace())
    real_read = store.read

    def read_then_race(path):
        entry = real_read(path)
        store.write(PATH, grace(note="another run"), cas=store.version())
        return entry

    store.read = read_then_race
    with pytest.raises(CasConflict):
        rollback(rotation(store, provider), REASON)
    assert provider.revoked == []
    assert store.data() == grace(note="another run")


def test_rollback_refuses_when_previous_is_the_current_key(store, provider):
    seed(store, grace(previous_key=NEW_SECRET, previous_key_id=NEW_ID))
    with pytest.raises(RotationRefused, match="previous and current key are the same"):
        rollback(rotation(store, provider), REASON)
    assert NEW_ID in provider.alive()          # the key applications read must never be revoked
    assert provider.revoked == []


def test_rollback_never_puts_back_a_key_replaced_in_an_emergency(store, provider):
    record = grace(previous_key_compromised=True)
    seed(store, record)
    with pytest.raises(RotationRefused, match="replaced in an emergency as compromised"):
        rollback(rotation(store, provider), REASON)
    assert store.data() == record and store.writes == [] and provider.revoked == []


# -- a crash between the two steps ----------------------------------------------------------------

def test_crash_between_store_write_and_revoke_then_rerun_finishes(store, provider):
    seed(store, grace())
    attempts = fail_once(provider, ProviderError("fake: DELETE /keys/key-faulty answered HTTP 503", 503))
    with pytest.raises(ProviderError):
        rollback(rotation(store, provider), REASON)

    data = store.data()
    assert phase(data) == "revoking"
    assert data["revoking_key_id"] == NEW_ID and data["revoking_key"] == NEW_SECRET
    assert data["key"] == OLD_SECRET and data["key_id"] == OLD_ID   # consumers already get the working key
    assert NEW_ID in known_ids(data)
    assert provider.alive() == {OLD_ID, NEW_ID}
    assert len(data["incidents"]) == 1

    # while revoking, nothing else may start
    r = rotation(store, provider)
    plan = r.plan(store.read(PATH))
    assert (plan["due"], plan["action"]) == (False, "wait")
    assert NEW_ID in plan["reason"] and "rollback" in plan["reason"]
    assert rotation(store, provider).plan(store.read(PATH), force=True)["action"] == "wait"
    version = store.version()
    with pytest.raises(RotationRefused) as info:
        rotation(store, provider).create()
    assert NEW_ID in str(info.value)
    assert provider.created == [] and store.version() == version

    # the re-run finishes the job
    result = rollback(rotation(store, provider), "second attempt")
    assert attempts == [NEW_ID, NEW_ID]
    assert provider.revoked == [NEW_ID]
    assert provider.alive() == {OLD_ID}
    data = store.data()
    assert phase(data) == "idle" and not set(data) & set(REVOKING_FIELDS)
    assert data["key_id"] == OLD_ID and data["rollback_reason"] == REASON
    assert len(data["incidents"]) == 1                           # the re-run does not log a second incident
    assert result["changed"] is True and result["revoked_key_id"] == NEW_ID
    assert "finished" in result["msg"]
    assert isinstance(result["revoked_at_epoch"], float)
    assert_no_secret(result)

    # and a third run has nothing left to do (no previous key any more)
    with pytest.raises(RotationRefused):
        rollback(rotation(store, provider), REASON)
    assert provider.revoked == [NEW_ID]


def test_revoking_record_check_mode_changes_nothing(store, provider):
    record = dict(idle(), key=OLD_SECRET, key_id=OLD_ID, revoking_key=NEW_SECRET, revoking_key_id=NEW_ID)
    seed(store, record)
    result = rollback(rotation(store, provider, check_mode=True), REASON)
    assert result["changed"] is True and "would finish" in result["msg"] and NEW_ID in result["msg"]
    assert store.writes == [] and store.data() == record
    assert provider.revoked == []
    assert_no_secret(result)


# -- check mode -----------------------------------------------------------------------------------

def test_rollback_check_mode_writes_and_revokes_nothing(store, provider):
    record = grace()
    seed(store, record)
    result = rollback(rotation(store, provider, check_mode=True), REASON)
    assert result["changed"] is True
    assert result["msg"].startswith("would have rolled back")
    assert store.writes == [] and store.data() == record and PATH not in store.meta
    assert provider.revoked == [] and provider.alive() == {OLD_ID, NEW_ID}
    after = result["diff"]["after"]
    assert after["key_id"] == OLD_ID and after["key"] == "<hidden>"
    assert "revoking_key_id" not in after and "previous_key_id" not in after
    assert result["record"]["phase"] == "idle"
    assert_no_secret(result)


def test_rollback_check_mode_still_refuses_a_rejected_previous_key(store, provider):
    provider.keys[OLD_ID]["alive"] = False
    seed(store, grace())
    with pytest.raises(RotationRefused):
        rollback(rotation(store, provider, check_mode=True), REASON)
    assert store.writes == [] and provider.revoked == []
