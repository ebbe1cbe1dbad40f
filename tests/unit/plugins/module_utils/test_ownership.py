"""Issue 9, cases 1, 2, 4 and 5 against an in-memory store with real check-and-set:
lost answers are resolved by reading back, a live rotation is never taken over, a test that cannot
be made discards the pending key, and time is checked against the store's clock."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Optional

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils._config import KeyConfig
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import CasConflict, ClockSkew, ProviderError, \
    KeyTestFailed, LostOwnership, OutcomeUnknown, RotationRefused, StoreUnavailable
from ansible_collections.apikeys.rotation.plugins.module_utils._record import phase
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import to_iso
from ansible_collections.apikeys.rotation.tests.unit.fakes import NOW, PATH, Clock, FakeProvider, MemoryStore, \
    Sleeps

DAY = 86400
OLD_SECRET = "sk-OLD-canary-31b7"
OLD_ID = "key-old"
WRITES = {"intent": 1, "pending": 2, "verified": 3}


def cfg(skew: int = 30) -> KeyConfig:
    return KeyConfig(name="mailer", provider="fake", vault_path=PATH, rotation_frequency=30 * DAY,
                     grace_period=7 * DAY, clock_skew=skew)


def seeded(data: Optional[dict[str, Any]] = None, **kwargs: Any) -> MemoryStore:
    store = MemoryStore(**kwargs)
    store.write(PATH, data or {"key": OLD_SECRET, "key_id": OLD_ID, "rotated_at": to_iso(NOW - timedelta(days=40))},
                cas=0)
    store.writes.clear()
    return store


def make_provider() -> FakeProvider:
    provider = FakeProvider()
    provider.add(OLD_ID, OLD_SECRET)
    return provider


def run(store: MemoryStore, provider: FakeProvider, clock: Optional[Clock] = None, owner: Optional[str] = None,
        skew: int = 30) -> Rotation:
    return Rotation(cfg(skew), store, provider, clock=clock or Clock(), sleep=Sleeps(), owner=owner)


# -- case 1: a lost answer is not "another run", and never a reason to revoke -----------------------------

@pytest.mark.parametrize("retry_conflicts", [False, True], ids=["no-answer", "retry-conflicts-with-itself"])
@pytest.mark.parametrize("lost", sorted(WRITES))
def test_a_lost_answer_on_any_create_write_is_read_back_and_the_run_goes_on(lost, retry_conflicts):
    store, provider = seeded(), make_provider()
    store.lose_answers = {WRITES[lost]}
    store.retry_conflicts = retry_conflicts
    r = run(store, provider)
    result = r.create()
    new_id = provider.created[0]
    assert provider.revoked == [] and provider.alive() == {OLD_ID, new_id}
    data = store.data()
    assert data["pending_key_id"] == new_id and data["pending_verified_at"]
    assert result["outcome"] == "created" and result["key_id"] == new_id
    assert any("answer to the " + lost + " write was lost" in w for w in r.warnings)


@pytest.mark.parametrize("retry_conflicts", [False, True])
def test_a_lost_answer_on_promote_reports_the_rotation_not_a_failure(retry_conflicts):
    store, provider = seeded(), make_provider()
    created = run(store, provider).create()
    store.lose_answers = {len(store.writes) + 1}
    store.retry_conflicts = retry_conflicts
    result = run(store, provider, owner=created["owner"]).promote(created["rotation_id"])
    assert result["changed"] is True and result["outcome"] == "promoted"
    assert store.data()["key_id"] == created["key_id"] and store.data()["previous_key_id"] == OLD_ID


def test_a_lost_pending_answer_with_an_unreadable_store_compensates_nothing():
    store, provider = seeded(), make_provider()
    store.lose_answers = {WRITES["pending"]}
    provider.on_create = lambda _key_id: None

    def store_gone(*_args: Any) -> None:
        store.reads_fail = True

    real_write = store.write

    def write(path: str, data: dict[str, Any], cas: int) -> int:
        try:
            return real_write(path, data, cas)
        except StoreUnavailable:
            store_gone()
            raise

    store.write = write  # type: ignore[method-assign]
    with pytest.raises(OutcomeUnknown) as info:
        run(store, provider).create()
    new_id = provider.created[0]
    assert provider.revoked == [], "the store may hold the new key: it must not be revoked"
    assert store.data()["pending_key_id"] == new_id          # it did: the next run verifies it
    assert "unknown" in str(info.value) and "nothing was revoked" in str(info.value)


def test_a_store_write_surely_not_made_revokes_the_new_key():
    store, provider = seeded(), make_provider()
    real_write = store.write

    def refuse_pending(path: str, data: dict[str, Any], cas: int) -> int:
        if "pending_key" in data:
            raise StoreUnavailable("memory store: connection refused", maybe_applied=False)
        return real_write(path, data, cas)

    store.write = refuse_pending  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable):
        run(store, provider).create()
    assert provider.revoked == provider.created and provider.alive() == {OLD_ID}


def test_another_runs_write_is_named_and_the_key_it_holds_is_not_revoked():
    store, provider = seeded(), make_provider()
    theirs: dict[str, Any] = {}

    def other_run_takes_over(key_id: str) -> None:
        # a run forcing a takeover (resume_after 0s) after our pending write landed and its answer was lost
        data = dict(store.data(), pending_key_id=key_id, pending_key=provider.keys[key_id]["secret"],
                    lease_owner="run-other", lease_until=to_iso(NOW + timedelta(minutes=10)))
        theirs.update(data)

    provider.on_create = other_run_takes_over
    real_write = store.write

    def write(path: str, data: dict[str, Any], cas: int) -> int:
        if "pending_key" in data and theirs:
            real_write(path, theirs, cas)
            raise StoreUnavailable("memory store: no answer", maybe_applied=True)
        return real_write(path, data, cas)

    store.write = write  # type: ignore[method-assign]
    with pytest.raises(CasConflict) as info:
        run(store, provider).create()
    assert "run-other" in str(info.value)
    assert provider.revoked == [], "the record holds the new key: never revoke it"


# -- case 2: a live rotation is never taken over; a dead one is, and says so ------------------------------

def after_the_pending_write(store: MemoryStore, other_run: Any) -> dict[str, Any]:
    """Run ``other_run(seen)`` once, right after the first run's pending write (the first run paused there)."""
    real_write = store.write
    seen: dict[str, Any] = {}

    def write(path: str, data: dict[str, Any], cas: int) -> int:
        version = real_write(path, data, cas)
        if "pending_key" in data and not seen:
            seen["started"] = True
            other_run(seen)
        return version

    store.write = write  # type: ignore[method-assign]
    return seen


def test_a_second_run_refuses_a_live_pending_rotation_without_touching_the_provider():
    store, provider = seeded(), make_provider()
    first = run(store, provider)

    def second_run(seen: dict[str, Any]) -> None:
        with pytest.raises(RotationRefused) as info:
            run(store, provider, clock=Clock(NOW + timedelta(minutes=9))).create()
        seen.update(error=str(info.value), accepts=list(provider.accept_calls))

    second = after_the_pending_write(store, second_run)
    result = first.create()
    assert "in progress" in second["error"] and first.owner in second["error"]
    assert second["accepts"] == [] and len(provider.created) == 1
    assert result["outcome"] == "created"
    promoted = run(store, provider, owner=result["owner"]).promote(result["rotation_id"])
    assert promoted["outcome"] == "promoted" and promoted["changed"] is True


def test_an_expired_lease_is_taken_over_and_the_first_run_stops_without_touching_the_provider():
    store, provider = seeded(), make_provider()
    first = run(store, provider)

    def taking_run(seen: dict[str, Any]) -> None:
        later = Clock(NOW + timedelta(minutes=11))
        created = run(store, provider, clock=later).create()
        promoted = run(store, provider, clock=later, owner=created["owner"]).promote(created["rotation_id"])
        seen.update(created=created, promoted=promoted, accepts=len(provider.accept_calls))

    taker = after_the_pending_write(store, taking_run)
    with pytest.raises(LostOwnership) as info:
        first.create()
    assert taker["created"]["outcome"] == "resumed" and "of a dead run" in taker["created"]["msg"]
    assert taker["promoted"]["outcome"] == "promoted"
    assert len(provider.accept_calls) == taker["accepts"], "the first run must not call the provider again"
    assert provider.revoked == [] and "finished by another run" in str(info.value)
    data = store.data()
    assert data["key_id"] == provider.created[0] and provider.alive() == {OLD_ID, data["key_id"]}


def test_a_promote_finds_the_rotation_promoted_by_another_run():
    store, provider = seeded(), make_provider()
    created = run(store, provider).create()
    later = Clock(NOW + timedelta(minutes=11))
    taken = run(store, provider, clock=later).create()                     # the first run looked dead
    run(store, provider, clock=later, owner=taken["owner"]).promote(created["rotation_id"])
    late = run(store, provider, clock=later, owner=created["owner"]).promote(created["rotation_id"])
    assert late["changed"] is False and late["outcome"] == "promoted_by_other"
    assert "already promoted by another run" in late["msg"]


def test_a_run_that_lost_its_rotation_may_not_promote_it():
    store, provider = seeded(), make_provider()
    created = run(store, provider).create()
    run(store, provider, clock=Clock(NOW + timedelta(minutes=11))).create()  # taken over, not yet promoted
    with pytest.raises(LostOwnership):
        run(store, provider, owner=created["owner"]).promote(created["rotation_id"])


def test_promote_without_owner_waits_for_the_lease():
    store, provider = seeded(), make_provider()
    created = run(store, provider).create()
    with pytest.raises(RotationRefused, match="in progress"):
        run(store, provider).promote(created["rotation_id"])
    done = run(store, provider, clock=Clock(NOW + timedelta(minutes=11))).promote(created["rotation_id"])
    assert done["outcome"] == "promoted"


# -- case 4: a test that cannot even be made discards the pending key ----------------------------------------

def test_a_secret_that_cannot_be_sent_discards_the_pending_key():
    store, provider = seeded(), make_provider()

    def cannot_send(secret: str, key_id: str) -> bool:
        secret.encode("latin-1")
        return True

    provider.accepts = lambda secret, key_id: cannot_send("sk-\u2603-snowman", key_id)  # type: ignore
    with pytest.raises(KeyTestFailed) as info:
        run(store, provider).create()
    assert "UnicodeEncodeError" in str(info.value) and "\u2603" not in str(info.value)
    assert provider.revoked == provider.created and provider.alive() == {OLD_ID}
    assert phase(store.data()) == "idle" and store.data()["key_id"] == OLD_ID


# -- case 5: the store's clock ---------------------------------------------------------------------------

def test_a_controller_five_minutes_slow_is_stopped_before_any_change():
    store, provider = seeded(clock=Clock(NOW + timedelta(minutes=5))), make_provider()
    with pytest.raises(ClockSkew) as info:
        run(store, provider).create()
    assert "5m behind" in str(info.value) and "apikeys_clock_skew" in str(info.value)
    assert store.writes == [] and provider.created == []


def test_within_the_skew_deadlines_follow_the_stores_clock():
    store_now = NOW + timedelta(seconds=20)
    store, provider = seeded(clock=Clock(store_now)), make_provider()
    created = run(store, provider).create()
    run(store, provider, owner=created["owner"]).promote(created["rotation_id"])
    data = store.data()
    assert data["rotated_at"] == to_iso(store_now)
    assert data["previous_key_revocation_at"] == to_iso(store_now + timedelta(days=7))


# -- case 3, the core's part: what create needs is read before anything is written ----------------------

@pytest.mark.parametrize("check_mode", [False, True])
def test_a_doubt_about_the_new_keys_rights_stops_the_run_before_the_intent(check_mode):
    store, provider = seeded(), make_provider()

    def unsure(like_key_id: Optional[str]) -> None:
        assert like_key_id == OLD_ID
        raise ProviderError("fake: the current key's rights answered in an unknown shape")

    provider.prepare = unsure  # type: ignore[method-assign]
    r = Rotation(cfg(), store, provider, clock=Clock(), sleep=Sleeps(), check_mode=check_mode)
    with pytest.raises(ProviderError):
        r.create()
    assert store.writes == [] and provider.created == []


def test_a_record_rewritten_under_the_run_is_not_called_another_runs_rotation():
    store, provider = seeded(), make_provider()

    def rewrite(_key_id: str) -> None:
        store.write(PATH, store.data(), cas=store.version())  # same content, new version: someone else wrote

    provider.on_create = rewrite
    r = run(store, provider)
    with pytest.raises(CasConflict) as info:
        r.create()
    assert "rewritten by another writer" in str(info.value) and r.owner not in str(info.value)
    assert provider.revoked == provider.created, "the new key is not in the record: revoked"
