"""The rotation protocol against an in-memory store (real check-and-set) and a scripted provider."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Optional

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils._config import KeyConfig
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import (
    ApiKeysError, CasConflict, ConfigError, KeyCapReached, KeyTestFailed, ProviderError, RotationRefused)
from ansible_collections.apikeys.rotation.plugins.module_utils._record import INTENT_FIELDS, PENDING_FIELDS, phase
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import to_iso
from ansible_collections.apikeys.rotation.tests.unit.fakes import NOW, PATH, Clock, FakeProvider, MemoryStore, \
    Sleeps

DAY = 86400
OLD_SECRET = "sk-OLD-canary-7c1a9e"
OLD_ID = "key-old"


# -- helpers --------------------------------------------------------------------------------------

def cfg(frequency: Optional[int] = 30 * DAY, grace: Optional[int] = 7 * DAY) -> KeyConfig:
    return KeyConfig(name="mailer", provider="fake", vault_path=PATH, rotation_frequency=frequency,
                     grace_period=grace)


def idle_record(age_days: float = 40) -> dict[str, Any]:
    return {"key": OLD_SECRET, "key_id": OLD_ID, "rotated_at": to_iso(NOW - timedelta(days=age_days))}


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture
def provider():
    p = FakeProvider()
    p.add(OLD_ID, OLD_SECRET)
    return p


def seed(store: MemoryStore, data: dict[str, Any]) -> None:
    store.write(PATH, data, cas=store.version())
    store.writes.clear()


def rotation(store, provider, *, check_mode=False, clock=None, config=None, sleep=None, owner=None) -> Rotation:
    return Rotation(config or cfg(), store, provider, clock=clock or Clock(),
                    sleep=sleep if sleep is not None else Sleeps(),
                    check_mode=check_mode, owner=owner)


def assert_no_secret(value: Any, *secrets: str) -> None:
    text = json.dumps(value, default=str)
    for secret in secrets:
        assert secret not in text


def new_secrets(provider: FakeProvider) -> list[str]:
    return [provider.keys[k]["secret"] for k in provider.created]


# -- plan -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("age_days, force, due, action", [
    (40, False, True, "rotate"),     # older than the frequency
    (30, False, True, "rotate"),     # exactly due
    (29.9, False, False, "none"),
    (10, True, True, "rotate"),      # forced
])
def test_plan_by_age(store, provider, age_days, force, due, action):
    seed(store, idle_record(age_days))
    r = rotation(store, provider)
    plan = r.plan(store.read(PATH), force=force)
    assert (plan["due"], plan["action"]) == (due, action)
    assert plan["age_seconds"] == int(age_days * DAY)
    if force:
        assert "forced" in plan["reason"]
    if action == "none":
        assert to_iso(NOW - timedelta(days=age_days) + timedelta(days=30)) in plan["reason"]


def test_plan_without_rotated_at_is_due(store, provider):
    seed(store, {"key": OLD_SECRET, "key_id": OLD_ID})
    assert rotation(store, provider).plan(store.read(PATH))["action"] == "rotate"


@pytest.mark.parametrize("force", [False, True])
def test_plan_grace_waits(store, provider, force):
    seed(store, dict(idle_record(1), previous_key="sk-prev", previous_key_id="key-prev",
                     previous_key_revocation_at=to_iso(NOW + timedelta(days=6))))
    plan = rotation(store, provider).plan(store.read(PATH), force=force)
    assert (plan["due"], plan["action"]) == (False, "wait")
    assert "key-prev" in plan["reason"]


@pytest.mark.parametrize("extra, current", [
    ({"rotation_id": "r-1", "pending_key_name": "n", "intent_at": to_iso(NOW)}, "intent"),
    ({"rotation_id": "r-1", "pending_key_name": "n", "intent_at": to_iso(NOW), "pending_key": "sk-p",
      "pending_key_id": "key-p"}, "pending"),
])
def test_plan_unfinished_rotation_resumes(store, provider, extra, current):
    seed(store, dict(idle_record(1), **extra))
    plan = rotation(store, provider).plan(store.read(PATH))
    assert (plan["due"], plan["action"]) == (True, "resume")
    assert "r-1" in plan["reason"] and current in plan["reason"]


def test_plan_without_record_refuses(store, provider):
    plan = rotation(store, provider).plan(None)
    assert (plan["due"], plan["action"]) == (False, "refuse")
    assert PATH in plan["reason"]


def test_plan_without_frequency_is_config_error(store, provider):
    seed(store, idle_record(1))
    with pytest.raises(ConfigError) as info:
        rotation(store, provider, config=cfg(frequency=None)).plan(store.read(PATH))
    assert info.value.field == "apikeys_rotation_frequency"


def test_plan_reads_nothing_writes_nothing(store, provider):
    seed(store, idle_record())
    rotation(store, provider).plan(store.read(PATH))
    assert store.writes == [] and provider.created == []


# -- create ---------------------------------------------------------------------------------------

def test_create_happy_path(store, provider):
    seed(store, idle_record())
    clock = Clock()
    r = rotation(store, provider, clock=clock)
    result = r.create()
    assert result["changed"] is True
    assert len(provider.created) == 1
    new_id = provider.created[0]
    new_secret = provider.keys[new_id]["secret"]
    data = store.data()
    assert phase(data) == "pending"
    assert data["pending_key_id"] == new_id and data["pending_key"] == new_secret
    assert data["pending_verified_at"] == to_iso(NOW)
    assert data["key"] == OLD_SECRET and data["key_id"] == OLD_ID          # current key untouched
    assert data["pending_key_name"] == f"apikeys-mailer-{data['rotation_id']}"
    assert data["intent_known_ids"] == [OLD_ID]
    assert provider.keys[new_id]["name"] == data["pending_key_name"]
    assert result["rotation_id"] == data["rotation_id"] and result["key_id"] == new_id
    assert result["record"]["phase"] == "pending"
    assert_no_secret(result, OLD_SECRET, new_secret)
    # intent, then pending, then verified: three check-and-set writes
    assert [phase(w) for w in store.writes] == ["intent", "pending", "pending"]
    assert "pending_key" not in store.writes[0]
    # the metadata is published by the intent and pending writes; the verification mark (same phase, same key
    # ids) leaves it as the pending write set it, and the promotion publishes next
    assert store.meta[PATH]["last_result"] == "pending"
    assert store.meta[PATH]["phase"] == "pending" and store.meta[PATH]["pending_key_id"] == new_id
    assert store.meta[PATH]["rotation_id"] == data["rotation_id"]
    assert_no_secret(store.meta, OLD_SECRET, new_secret)
    assert provider.revoked == []


def test_create_polls_until_accepted(store):
    provider = FakeProvider(accept_after=3)
    provider.add(OLD_ID, OLD_SECRET)
    seed(store, idle_record())
    sleeps = Sleeps()
    rotation(store, provider, sleep=sleeps).create()
    assert provider.accept_calls == [provider.created[0]] * 3
    assert sleeps == [provider.activation_interval] * 2
    assert store.data()["pending_verified_at"] == to_iso(NOW)


def test_create_check_mode_writes_and_creates_nothing(store, provider):
    seed(store, idle_record())
    before = (store.data(), store.version())
    result = rotation(store, provider, check_mode=True).create()
    assert result["changed"] is True
    assert "would create" in result["msg"]
    assert provider.created == [] and provider.revoked == []
    assert store.writes == [] and PATH not in store.meta
    assert (store.data(), store.version()) == before
    assert_no_secret(result, OLD_SECRET)


def test_create_key_test_failure_revokes_and_restores_idle(store):
    provider = FakeProvider(accept_after=None)
    provider.activation_timeout = 0.0
    provider.add(OLD_ID, OLD_SECRET)
    original = idle_record()
    seed(store, original)
    with pytest.raises(KeyTestFailed) as info:
        rotation(store, provider).create()
    new_id = provider.created[0]
    assert provider.revoked == [new_id]
    assert provider.alive() == {OLD_ID}
    assert without_history(store.data()) == original
    assert [e["action"] for e in store.data()["history"]] == ["intent", "stored", "discarded"]
    assert phase(store.data()) == "idle"
    assert new_id in str(info.value)
    assert_no_secret(str(info.value), OLD_SECRET, *new_secrets(provider))


def test_create_key_cap_reached_before_any_create(store):
    provider = FakeProvider(limit=1)
    provider.add(OLD_ID, OLD_SECRET)
    seed(store, idle_record())
    version = store.version()
    with pytest.raises(KeyCapReached):
        rotation(store, provider).create()
    assert provider.created == []
    assert store.writes == [] and store.version() == version


def test_create_refused_in_grace(store, provider):
    seed(store, dict(idle_record(1), previous_key="sk-prev", previous_key_id="key-prev",
                     previous_key_revocation_at=to_iso(NOW + timedelta(days=6))))
    with pytest.raises(RotationRefused) as info:
        rotation(store, provider).create()
    assert "key-prev" in str(info.value)
    assert provider.created == [] and store.writes == []


def test_create_refuses_without_record(store, provider):
    with pytest.raises(RotationRefused):
        rotation(store, provider).create()
    assert provider.created == [] and store.writes == []


def test_create_needs_provider(store):
    seed(store, idle_record())
    with pytest.raises(ConfigError) as info:
        Rotation(cfg(), store, None).create()
    assert info.value.field == "apikeys_provider"


def test_concurrent_writer_between_intent_and_pending(store, provider):
    seed(store, idle_record())
    theirs = dict(idle_record(), note="written by another run")

    def other_run_writes(key_id):
        store.write(PATH, theirs, cas=store.version())

    provider.on_create = other_run_writes
    with pytest.raises(CasConflict) as info:
        rotation(store, provider).create()
    new_id = provider.created[0]
    assert provider.revoked == [new_id]              # no orphan left at the provider
    assert provider.alive() == {OLD_ID}
    assert store.data() == theirs                    # the other run's record is not overwritten
    assert "mailer" in str(info.value)
    assert_no_secret(str(info.value), *new_secrets(provider))


def test_concurrent_writer_before_intent(store, provider):
    seed(store, idle_record())
    r = rotation(store, provider)
    real_read = store.read

    def read_then_race(path):
        entry = real_read(path)
        store.write(PATH, dict(idle_record(), note="race"), cas=store.version())
        return entry

    store.read = read_then_race
    with pytest.raises(CasConflict):
        r.create()
    assert provider.created == []


def test_create_refused_by_the_provider_cleans_intent(store):
    provider = FakeProvider(create_error=ProviderError("fake: POST /keys answered HTTP 400", 400))
    provider.add(OLD_ID, OLD_SECRET)
    original = idle_record()
    seed(store, original)
    with pytest.raises(ProviderError):
        rotation(store, provider).create()
    assert provider.created == []
    assert without_history(store.data()) == original
    assert [e["action"] for e in store.data()["history"]] == ["intent", "intent_cleared"]


@pytest.mark.parametrize("error", [ProviderError("fake: POST /keys answered HTTP 502", 502),
                                   ProviderError("fake: POST /keys failed: ReadTimeout (no answer)")])
def test_create_without_a_clear_answer_keeps_the_intent_until_the_key_can_be_looked_for_again(store, error):
    provider = FakeProvider(create_error=error)
    provider.add(OLD_ID, OLD_SECRET)
    seed(store, idle_record())
    first = rotation(store, provider)
    with pytest.raises(ProviderError):
        first.create()
    data = store.data()
    assert phase(data) == "intent", "the name stays in the record: the key may still be on its way"
    assert any("intent stays" in w for w in first.warnings)
    # the key lands after the run gave up; the run after the lease finds it by name and revokes it
    provider.add("key-late", "sk-LATE-canary", name=data["pending_key_name"])
    provider.create_error = None
    later = rotation(store, provider, clock=Clock(NOW + timedelta(minutes=11)))
    later.create()
    assert "key-late" in provider.revoked and provider.alive() == {OLD_ID, store.data()["pending_key_id"]}


def test_create_lost_answer_orphan_revoked(store):
    provider = FakeProvider(create_error=ProviderError("fake: POST /keys failed: ReadTimeout"), lose_answer=True)
    provider.add(OLD_ID, OLD_SECRET)
    original = idle_record()
    seed(store, original)
    with pytest.raises(ProviderError):
        rotation(store, provider).create()
    assert len(provider.created) == 1
    assert provider.revoked == provider.created    # found by name and revoked
    assert provider.alive() == {OLD_ID}
    assert without_history(store.data()) == original
    assert [e["action"] for e in store.data()["history"]] == ["intent", "intent_cleared"]


def intent_record(age_seconds: float, name: str = "apikeys-mailer-20240601T000000Z-dead01") -> dict[str, Any]:
    return dict(idle_record(), rotation_id="20240601T000000Z-dead01", pending_key_name=name,
                intent_at=to_iso(NOW - timedelta(seconds=age_seconds)), intent_known_ids=[OLD_ID])


def test_young_intent_refused(store, provider):
    seed(store, intent_record(age_seconds=120))
    provider.add("key-orphan", "sk-orphan", name="apikeys-mailer-20240601T000000Z-dead01")
    with pytest.raises(RotationRefused) as info:
        rotation(store, provider).create(resume_after=600)
    assert "in progress" in str(info.value)
    assert provider.created == [] and provider.revoked == []
    assert store.writes == []


def test_old_intent_orphan_revoked_and_rotation_completes(store, provider):
    seed(store, intent_record(age_seconds=1200))
    provider.add("key-orphan", "sk-ORPHAN-canary", name="apikeys-mailer-20240601T000000Z-dead01")
    provider.add("key-other", "sk-other", name="someone-else")
    r = rotation(store, provider)
    result = r.create(resume_after=600)
    assert "key-orphan" in provider.revoked
    assert "key-other" not in provider.revoked and OLD_ID not in provider.revoked
    assert any("key-orphan" in w for w in r.warnings)
    data = store.data()
    assert phase(data) == "pending" and data["pending_verified_at"]
    assert data["rotation_id"] != "20240601T000000Z-dead01"
    assert data["pending_key_id"] == provider.created[0]
    assert provider.alive() == {OLD_ID, "key-other", provider.created[0]}
    assert_no_secret(result, OLD_SECRET, "sk-ORPHAN-canary", *new_secrets(provider))


def test_old_intent_check_mode_changes_nothing(store, provider):
    seed(store, intent_record(age_seconds=1200))
    provider.add("key-orphan", "sk-orphan", name="apikeys-mailer-20240601T000000Z-dead01")
    rotation(store, provider, check_mode=True).create(resume_after=600)
    assert provider.revoked == [] and provider.created == [] and store.writes == []


def unverified_pending(age_seconds: float = 1200) -> dict[str, Any]:
    """A pending key of a run whose lease has expired (the default resume_after is 10m)."""
    return dict(intent_record(age_seconds), pending_key="sk-PEND-canary", pending_key_id="key-pend",
                pending_created_at=to_iso(NOW))


def test_resume_pending_verifies(store, provider):
    provider.add("key-pend", "sk-PEND-canary", name="apikeys-mailer-20240601T000000Z-dead01")
    seed(store, unverified_pending())
    result = rotation(store, provider).create()
    assert result["changed"] is True and provider.created == []
    assert store.data()["pending_verified_at"] == to_iso(NOW)
    assert_no_secret(result, "sk-PEND-canary", OLD_SECRET)


def test_resume_verified_pending_only_claims_it(store, provider):
    seed(store, dict(unverified_pending(), pending_verified_at=to_iso(NOW)))
    r = rotation(store, provider)
    result = r.create()
    assert result["outcome"] == "resumed" and "of a dead run" in result["msg"]
    assert provider.created == [] and provider.accept_calls == []
    assert len(store.writes) == 1 and store.data()["lease_owner"] == r.owner   # the takeover, nothing else


def test_resume_pending_check_mode(store, provider):
    provider.add("key-pend", "sk-PEND-canary")
    seed(store, unverified_pending())
    result = rotation(store, provider, check_mode=True).create()
    assert result["changed"] is True
    assert store.writes == [] and provider.accept_calls == []


# -- promote --------------------------------------------------------------------------------------

def verified_pending() -> dict[str, Any]:
    return dict(unverified_pending(), pending_verified_at=to_iso(NOW - timedelta(minutes=1)))


@pytest.mark.parametrize("grace", [7 * DAY, 3600, 1])
def test_promote(store, provider, grace):
    seed(store, verified_pending())
    clock = Clock(NOW + timedelta(minutes=5))
    result = rotation(store, provider, clock=clock, config=cfg(grace=grace)).promote("20240601T000000Z-dead01")
    data = store.data()
    assert data["key"] == "sk-PEND-canary" and data["key_id"] == "key-pend"
    assert data["previous_key"] == OLD_SECRET and data["previous_key_id"] == OLD_ID
    assert data["rotated_at"] == to_iso(clock.now)
    assert data["previous_key_revocation_at"] == to_iso(clock.now + timedelta(seconds=grace))
    assert data["last_rotation_id"] == "20240601T000000Z-dead01"
    assert not set(data) & set(INTENT_FIELDS + PENDING_FIELDS)
    assert phase(data) == "grace"
    assert result["changed"] is True and result["rotation_id"] == "20240601T000000Z-dead01"
    assert_no_secret(result, OLD_SECRET, "sk-PEND-canary")


def test_promote_without_rotation_id(store, provider):
    seed(store, verified_pending())
    rotation(store, provider).promote()
    assert store.data()["key_id"] == "key-pend"


def test_promote_wrong_rotation_id_refused(store, provider):
    seed(store, verified_pending())
    with pytest.raises(RotationRefused) as info:
        rotation(store, provider).promote("20240601T000000Z-other9")
    assert "20240601T000000Z-other9" in str(info.value)
    assert store.writes == []


def test_promote_unverified_refused(store, provider):
    seed(store, unverified_pending())
    with pytest.raises(RotationRefused):
        rotation(store, provider).promote()
    assert store.writes == []


def test_promote_idle_refused_unless_already_promoted(store, provider):
    seed(store, dict(idle_record(), last_rotation_id="r-done"))
    assert rotation(store, provider).promote("r-done")["changed"] is False
    with pytest.raises(RotationRefused):
        rotation(store, provider).promote("r-other")
    assert store.writes == []


def test_promote_check_mode(store, provider):
    seed(store, verified_pending())
    result = rotation(store, provider, check_mode=True).promote()
    assert result["changed"] is True and store.writes == []
    assert_no_secret(result, OLD_SECRET, "sk-PEND-canary")


def test_promote_needs_grace_period(store, provider):
    seed(store, verified_pending())
    with pytest.raises(ConfigError) as info:
        rotation(store, provider, config=cfg(grace=None)).promote()
    assert info.value.field == "apikeys_grace_period"
    assert store.writes == []


# -- import ---------------------------------------------------------------------------------------

def test_import_refuses_over_a_different_key(store, provider):
    seed(store, idle_record())
    with pytest.raises(RotationRefused) as info:
        rotation(store, provider).import_key("sk-IMPORT-canary", "key-import")
    assert OLD_ID in str(info.value)
    assert_no_secret(str(info.value), "sk-IMPORT-canary", OLD_SECRET)
    assert store.data() == idle_record() and store.writes == []


def test_import_same_key_unchanged(store, provider):
    seed(store, idle_record())
    assert rotation(store, provider).import_key(OLD_SECRET, OLD_ID)["changed"] is False
    assert store.writes == []


def test_import_into_empty_store(store, provider):
    provider.add("key-import", "sk-IMPORT-canary")
    result = rotation(store, provider).import_key("sk-IMPORT-canary", "key-import")
    assert result["changed"] is True
    assert [e["action"] for e in store.data()["history"]] == ["imported"]
    assert without_history(store.data()) == {"key": "sk-IMPORT-canary", "key_id": "key-import", "rotated_at": to_iso(NOW)}
    assert_no_secret(result, "sk-IMPORT-canary")


def test_import_rejected_key(store, provider):
    with pytest.raises(KeyTestFailed):
        rotation(store, provider).import_key("sk-WRONG-canary", "key-nope")
    assert PATH not in store.records


def test_import_without_verify_or_in_check_mode(store, provider):
    rotation(store, provider, check_mode=True).import_key("sk-x", "key-x", verify=False)
    assert PATH not in store.records
    rotation(store, provider).import_key("sk-x", "key-x", verify=False)
    assert store.data()["key_id"] == "key-x"


# -- clear_previous -------------------------------------------------------------------------------

def grace_record() -> dict[str, Any]:
    return {"key": "sk-CUR-canary", "key_id": "key-cur", "rotated_at": to_iso(NOW),
            "previous_key": OLD_SECRET, "previous_key_id": OLD_ID,
            "previous_key_revocation_at": to_iso(NOW + timedelta(days=7))}


def test_clear_previous_refused_while_previous_still_works(store, provider):
    seed(store, grace_record())
    with pytest.raises(RotationRefused) as info:
        rotation(store, provider).clear_previous()
    assert OLD_ID in str(info.value)
    assert_no_secret(str(info.value), OLD_SECRET)
    assert store.data() == grace_record() and store.writes == []


def test_clear_previous_after_revocation(store, provider):
    seed(store, grace_record())
    provider.revoke(OLD_ID)
    result = rotation(store, provider).clear_previous()
    assert result["changed"] is True
    data = store.data()
    assert phase(data) == "idle"
    assert "previous_key" not in data and "previous_key_id" not in data
    assert data["key_id"] == "key-cur"
    assert_no_secret(result, OLD_SECRET, "sk-CUR-canary")


def test_clear_previous_nothing_to_do(store, provider):
    seed(store, idle_record())
    assert rotation(store, provider).clear_previous()["changed"] is False


# -- a whole rotation -----------------------------------------------------------------------------

def test_full_cycle(store, provider):
    seed(store, idle_record(40))
    clock = Clock()
    r = rotation(store, provider, clock=clock)
    assert r.plan(store.read(PATH))["action"] == "rotate"
    created = r.create()
    clock.now += timedelta(minutes=1)
    r.promote(created["rotation_id"])
    assert r.plan(store.read(PATH))["action"] == "wait"
    provider.revoke(OLD_ID)
    r.clear_previous()
    data = store.data()
    assert phase(data) == "idle" and data["key_id"] == created["key_id"]
    assert r.plan(store.read(PATH))["action"] == "none"
    assert provider.alive() == {created["key_id"]}
    assert_no_secret(store.meta, OLD_SECRET, *new_secrets(provider))


def test_scrub_and_record_failure_hide_secrets(store, provider):
    seed(store, idle_record())
    r = rotation(store, provider)
    r.read()
    error = ApiKeysError(f"provider echoed {OLD_SECRET} back")
    r.record_failure(error)
    assert store.meta[PATH]["last_result"] == "failed"
    assert OLD_SECRET not in store.meta[PATH]["last_error"]
    assert "<hidden>" in store.meta[PATH]["last_error"]


def test_activation_wait_follows_injected_sleep(store):
    provider = FakeProvider(accept_after=None)
    provider.activation_timeout = 5.0
    provider.activation_interval = 1.0
    provider.add(OLD_ID, OLD_SECRET)
    seed(store, idle_record())

    class TooMany(Exception):
        pass

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) > 50:
            raise TooMany("the wait ignores the injected sleep")

    sleeps: list[float] = []
    with pytest.raises(KeyTestFailed):
        rotation(store, provider, sleep=sleep).create()
    assert len(sleeps) <= 6


def without_history(data):
    """The record without its ``history`` (the log of its own events, which a failed rotation adds to)."""
    return {k: v for k, v in data.items() if k != "history"}
