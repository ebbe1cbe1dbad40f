"""Provider.confirm_revoked: a key leaves the record only once the provider confirms it is dead.

Stripe's expiry takes a while to take effect, so its provider polls the key after the expire call; a key
still accepted when the provider gives up fails the step with the record unchanged, for the next run.
"""
from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ProviderError
from ansible_collections.apikeys.rotation.plugins.module_utils._revocation import revoke_previous
from ansible_collections.apikeys.rotation.plugins.module_utils._rollback import rollback
from ansible_collections.apikeys.rotation.tests.unit.fakes import FakeProvider, MemoryStore
from ansible_collections.apikeys.rotation.tests.unit.plugins.module_utils.test_revocation import (
    CUR_ID, CUR_SECRET, OLD_ID, OLD_SECRET, at, grace, rotation, seed)


class SlowExpiry(FakeProvider):
    """Revoked keys keep working until ``confirm_revoked`` has polled ``polls`` times; None: forever."""

    def __init__(self, polls: Any = 2) -> None:
        super().__init__()
        self.polls = polls
        self.confirmed: list[tuple[str, str]] = []

    def confirm_revoked(self, key_id: str, secret: str) -> None:
        self.confirmed.append((key_id, secret))
        if self.polls is None:
            raise ProviderError(f"fake: key {key_id} still works 0s after its expiry")


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def provider(polls: Any = 2) -> SlowExpiry:
    made = SlowExpiry(polls)
    made.add(CUR_ID, CUR_SECRET)
    made.add(OLD_ID, OLD_SECRET)
    return made


def test_revoke_after_grace_confirms_with_the_old_secret_before_forgetting(store):
    seed(store, grace())
    slow = provider()
    revoke_previous(rotation(store, slow, now=at(3600)))
    assert slow.confirmed == [(OLD_ID, OLD_SECRET)]
    assert "previous_key_id" not in store.data()


def test_an_unconfirmed_revocation_keeps_the_old_key_in_the_record(store):
    seed(store, grace())
    version = store.version()
    with pytest.raises(ProviderError, match="still works"):
        revoke_previous(rotation(store, provider(None), now=at(3600)))
    assert store.data()["previous_key_id"] == OLD_ID and store.version() == version
    slow = provider()
    revoke_previous(rotation(store, slow, now=at(3600)))  # the next run: expired again, confirmed, forgotten
    assert slow.revoked == [OLD_ID] and "previous_key_id" not in store.data()


def test_rollback_confirms_the_faulty_key_is_dead_before_forgetting_it(store):
    seed(store, grace())
    slow = provider()
    rollback(rotation(store, slow, now=at(-60)), "bad key")
    assert slow.confirmed == [(CUR_ID, CUR_SECRET)]
    assert store.data()["key_id"] == OLD_ID and "revoking_key_id" not in store.data()


def test_a_rollback_whose_faulty_key_still_works_keeps_it_as_revoking(store):
    seed(store, grace())
    with pytest.raises(ProviderError):
        rollback(rotation(store, provider(None), now=at(-60)), "bad key")
    data = store.data()
    assert data["key_id"] == OLD_ID and data["revoking_key_id"] == CUR_ID, "tracked until confirmed dead"
