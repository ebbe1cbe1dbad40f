"""The protocol table and its pure transitions: no store, no provider, no clock."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils import _protocol as protocol
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import RotationRefused
from ansible_collections.apikeys.rotation.plugins.module_utils._record import PHASES, phase

NOW = datetime(2026, 11, 26, 2, 0, 0, tzinfo=timezone.utc)
IDLE = {"key": "sk-cur", "key_id": "k1", "rotated_at": "2026-10-01T00:00:00Z"}
RECORDS = {
    "absent": None,
    "idle": IDLE,
    "intent": dict(IDLE, rotation_id="r1", pending_key_name="apikeys-x-r1", intent_at="2026-11-26T01:59:00Z"),
    "pending": dict(IDLE, rotation_id="r1", pending_key_name="n", intent_at="2026-11-26T01:59:00Z",
                    pending_key="sk-new", pending_key_id="k2"),
    "grace": dict(IDLE, previous_key="sk-old", previous_key_id="k0",
                  previous_key_revocation_at="2026-11-27T00:00:00Z"),
    "revoking": dict(IDLE, revoking_key="sk-bad", revoking_key_id="k9"),
}


def test_the_table_answers_every_action_in_every_phase():
    for action, row in protocol.TABLE.items():
        assert set(row) == {"absent", *PHASES}, action


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_the_sample_records_are_in_their_phase(name):
    assert protocol.phase_of(RECORDS[name]) == name


@pytest.mark.parametrize("action", protocol.ACTIONS)
@pytest.mark.parametrize("current", sorted(RECORDS))
def test_every_refusal_names_the_key_and_fills_its_reason(action, current):
    answer = protocol.step_for(action, RECORDS[current], "secret/apikeys/x")
    if isinstance(answer, protocol.Refusal):
        with pytest.raises(RotationRefused) as info:
            protocol.decide(action, RECORDS[current], "x", "secret/apikeys/x")
        assert str(info.value).startswith("key 'x': ") and "{" not in str(info.value) and "?" not in str(info.value)
    else:
        assert protocol.decide(action, RECORDS[current], "x", "secret/apikeys/x") == answer


@pytest.mark.parametrize("action, current, step", [
    ("rotate", "idle", "start"), ("rotate", "pending", "take_over_pending"), ("emergency", "grace", "contain_previous"),
    ("promote", "pending", "promote"), ("revoke", "idle", "nothing"), ("rollback", "revoking", "finish_revoking"),
])
def test_some_steps(action, current, step):
    assert protocol.step_for(action, RECORDS[current], "p") == step


def test_a_rotation_through_its_transitions():
    data = protocol.leased(protocol.intent(IDLE, "r2", "apikeys-x-r2", NOW), "run-a", NOW, 600)
    assert phase(data) == "intent" and data["intent_known_ids"] == ["k1"]
    assert data["lease_until"] == "2026-11-26T02:10:00Z"
    data = protocol.verified(protocol.pending(data, "k2", "sk-new", NOW), NOW)
    assert phase(data) == "pending"
    later = NOW + timedelta(minutes=1)
    done = protocol.promoted(data, later, 3600, False, "run-a")
    assert phase(done) == "grace" and done["key"] == "sk-new" and done["previous_key"] == "sk-cur"
    assert done["previous_key_revocation_at"] == "2026-11-26T03:01:00Z" and done["promoted_by"] == "run-a"
    assert not {"lease_owner", "lease_until", "rotation_id", "pending_key"} & set(done)
    assert protocol.previous_revoked(done, later)["last_revoked_key_id"] == "k1"


def test_leases():
    data = protocol.leased(RECORDS["pending"], "run-a", NOW, 600)
    assert not protocol.lease_expired(data, NOW + timedelta(minutes=9), 600)
    assert protocol.lease_expired(data, NOW + timedelta(minutes=10), 600)
    assert protocol.lease_expired(data, NOW, 0), "resume_after 0s takes over at once"
    legacy = RECORDS["intent"]  # written before leases: its intent time counts
    assert protocol.lease_until(legacy, 600) == datetime(2026, 11, 26, 2, 9, tzinfo=timezone.utc)
    taken = protocol.taken_over(data, "run-b", NOW, 600)
    assert taken["lease_owner"] == "run-b" and taken["taken_over_from"] == "run-a"
