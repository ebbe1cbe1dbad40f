"""The record held between one key's steps on one thread (Session.read_held): fewer reads, and a record changed
since the previous step left it is a change under the step: its check-and-set write fails, nothing changes.

The store here is the in-memory one with a real check-and-set and a ``facts_scope`` (as Vault's store has),
counting its reads; each step is a new Rotation (as each task of the role and each step of the batch is).
"""
from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any, Optional

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils import _session
from ansible_collections.apikeys.rotation.plugins.module_utils._config import KeyConfig
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import CasConflict, LostOwnership
from ansible_collections.apikeys.rotation.plugins.module_utils._protocol import intent, leased, promoted
from ansible_collections.apikeys.rotation.plugins.module_utils._record import phase
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import to_iso
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._base import Entry
from ansible_collections.apikeys.rotation.tests.unit.fakes import NOW, PATH, Clock, FakeProvider, MemoryStore, \
    Sleeps

OLD_SECRET = "sk-OLD-canary-held-41d2"
OLD_ID = "key-old"


class ScopedStore(MemoryStore):
    """MemoryStore with a run-facts scope (so records are held) and a count of reads."""

    facts_scope = "memory|test"

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read(self, path: str) -> Optional[Entry]:
        self.reads += 1
        return super().read(path)


@pytest.fixture(autouse=True)
def nothing_held():
    _session.forget_held()
    yield
    _session.forget_held()


@pytest.fixture
def store() -> ScopedStore:
    s = ScopedStore()
    s.write(PATH, {"key": OLD_SECRET, "key_id": OLD_ID, "rotated_at": to_iso(NOW - timedelta(days=40))}, cas=None)
    s.writes.clear()
    return s


@pytest.fixture
def provider() -> FakeProvider:
    p = FakeProvider()
    p.add(OLD_ID, OLD_SECRET)
    return p


def step(store, provider, owner: Optional[str] = None, read_only: bool = False) -> Rotation:
    cfg = KeyConfig(name="mailer", provider="fake", vault_path=PATH, rotation_frequency=30 * 86400,
                    grace_period=7 * 86400)
    return Rotation(cfg, store, provider, clock=Clock(), sleep=Sleeps(), owner=owner, read_only=read_only)


def plan_create_promote(store, provider) -> dict[str, Any]:
    plan = step(store, provider, read_only=True)
    assert plan.plan(plan.read())["due"]
    created = step(store, provider).create()
    return step(store, provider, owner=created["owner"]).promote(rotation_id=created["rotation_id"])


def test_a_rotation_reads_the_record_three_times(store, provider):
    """The plan's read, then only the lease checks before the create and before the test call."""
    out = plan_create_promote(store, provider)
    assert out["outcome"] == "promoted"
    assert store.reads == 3
    assert [phase(w) for w in store.writes] == ["intent", "pending", "pending", "grace"]
    assert store.data()["previous_key_id"] == OLD_ID and store.meta[PATH]["phase"] == "grace"


def test_without_a_held_record_every_step_reads(store, provider):
    created = step(store, provider).create()
    _session.forget_held()
    step(store, provider, owner=created["owner"]).promote(rotation_id=created["rotation_id"])
    assert store.reads == 4  # create's first read, its two lease checks, promote's read


def test_a_record_changed_after_the_plan_stops_the_create(store, provider):
    """Another run wrote its intent after this run's plan read: a conflict at the intent write, no key made."""
    planner = step(store, provider, read_only=True)
    planner.plan(planner.read())
    theirs = leased(intent(store.data(), "20260801T000000Z-aaaaaa", "apikeys-mailer-other", NOW), "run-other", NOW,
                    3600)
    store.write(PATH, theirs, cas=store.version())
    with pytest.raises(CasConflict, match=r"another run \(run run-other, rotation 20260801T000000Z-aaaaaa\) "
                                          "changed the record"):
        step(store, provider).create()
    assert provider.created == [] and store.data() == theirs


def test_a_record_changed_after_the_create_stops_the_promotion(store, provider):
    """Another run finished this rotation between the steps: the promotion stops, naming it, and writes nothing."""
    created = step(store, provider).create()
    done = promoted(store.data(), NOW, 3600, False, "run-other")
    store.write(PATH, done, cas=store.version())
    writes = len(store.writes)
    with pytest.raises(LostOwnership, match="was finished by another run"):
        step(store, provider, owner=created["owner"]).promote(rotation_id=created["rotation_id"])
    assert len(store.writes) == writes and store.data()["promoted_by"] == "run-other"
    assert provider.revoked == []


def test_emergency_reads_the_record_itself(store, provider):
    planner = step(store, provider, read_only=True)
    planner.plan(planner.read())
    reads = store.reads
    step(store, provider).create(emergency=True)
    assert store.reads == reads + 3  # its own read, then the two lease checks


def test_a_held_record_not_idle_is_read_again(store, provider):
    theirs = leased(intent(store.data(), "20260801T000000Z-bbbbbb", "apikeys-mailer-dead", NOW - timedelta(days=1)),
                    "run-dead", NOW - timedelta(days=1), 60)
    store.write(PATH, theirs, cas=store.version())
    planner = step(store, provider, read_only=True)
    planner.plan(planner.read())
    reads = store.reads
    out = step(store, provider).create()
    assert out["outcome"] == "created"
    assert store.reads == reads + 3  # the take-over reads before it looks the dead run's key up at the provider


def test_a_record_is_held_for_its_thread_only_and_not_for_long(store, provider, monkeypatch):
    planner = step(store, provider, read_only=True)
    planner.read()
    seen: list[bool] = []
    other = threading.Thread(target=lambda: seen.append(_session.take_held(store, PATH)[0]))
    other.start()
    other.join()
    assert seen == [False]
    monkeypatch.setattr(_session, "HELD_FOR", 0.0)
    assert _session.take_held(store, PATH)[0] is False


def test_a_store_without_a_scope_holds_nothing(provider):
    plain = MemoryStore()
    plain.write(PATH, {"key": OLD_SECRET, "key_id": OLD_ID, "rotated_at": to_iso(NOW - timedelta(days=40))}, cas=None)
    step(plain, provider, read_only=True).read()
    assert _session.take_held(plain, PATH) == (False, None)


def test_a_held_record_serves_once(store, provider):
    planner = step(store, provider, read_only=True)
    planner.read()
    assert _session.take_held(store, PATH)[0] is True
    assert _session.take_held(store, PATH)[0] is False
