"""The per-key outcomes the roles publish with set_stats, read from what their tasks registered."""
from __future__ import annotations

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils._outcomes import outcomes

SKIPPED = {"skipped": True, "changed": False}


def test_rotate_outcomes_per_key_with_counts_and_failures() -> None:
    hostvars = {
        "a": {"rotate__plan": {"plan": {"due": True, "action": "rotate", "reason": "age 91d >= 90d"}},
              "rotate__created": {"rotation_id": "r1", "outcome": "created"},
              "rotate__promoted": {"outcome": "promoted", "record": {"key_id": "new", "previous_key_id": "old"}}},
        "b": {"rotate__plan": {"plan": {"due": False, "action": "none", "reason": "age 1d < 90d"}},
              "rotate__created": SKIPPED, "rotate__promoted": SKIPPED},
        "c": {"rotate__plan": {"plan": {"due": True, "action": "rotate"}}, "rotate__error": "key 'c': provider down"},
        "d": {"rotate__plan": {"plan": {"due": True, "action": "resume"}},
              "rotate__created": {"rotation_id": "r0", "outcome": "resumed"},
              "rotate__promoted": {"outcome": "promoted", "record": {"key_id": "n2"}}},
        "e": {},
    }
    out = outcomes(list(hostvars), hostvars, "rotate")
    assert out["keys"]["a"] == {"outcome": "rotated", "key_id": "new", "previous_key_id": "old", "rotation_id": "r1"}
    assert out["keys"]["b"] == {"outcome": "not_due", "reason": "age 1d < 90d"}
    assert out["keys"]["c"] == {"outcome": "failed", "error": "key 'c': provider down"}
    assert out["keys"]["d"]["outcome"] == "resumed"
    assert out["keys"]["e"] == {"outcome": "not_processed"}
    assert out["counts"] == {"failed": 1, "not_due": 1, "not_processed": 1, "resumed": 1, "rotated": 1}
    assert out["failed"] == ["c"]


def test_emergency_and_check_mode() -> None:
    hostvars = {"a": {"rotate__created": {"rotation_id": "r"},
                      "rotate__revoked": {"revoked_key_id": "old", "record": {"key_id": "new"}}},
                "b": {"rotate__plan": {"plan": {"due": True, "action": "rotate", "reason": "due"}}}}
    expected = {"outcome": "emergency_revoked", "revoked_key_id": "old", "key_id": "new"}
    assert outcomes(["a"], hostvars, "rotate")["keys"]["a"] == expected
    assert outcomes(["b"], hostvars, "rotate", True)["keys"]["b"]["outcome"] == "would_rotate"


def test_revoke_after_grace_and_rollback_outcomes() -> None:
    hostvars = {
        "a": {"revoke_after_grace__info": {"revocation": {"due": True}},
              "revoke_after_grace__usage": {"verdict": "revoke", "reason": "new key seen"},
              "revoke_after_grace__revoked": {"revoked_key_id": "old"}},
        "b": {"revoke_after_grace__info": {"revocation": {"due": True}},
              "revoke_after_grace__alert": "old key still used"},
        "c": {"rollback__result": {"changed": True, "restored_key_id": "old", "revoked_key_id": "bad"}},
    }
    grace = outcomes(["a", "b"], hostvars, "revoke_after_grace")
    assert grace["keys"]["a"] == {"outcome": "revoked", "revoked_key_id": "old"}
    assert grace["keys"]["b"]["outcome"] == "alert" and grace["failed"] == ["b"]
    assert outcomes(["c"], hostvars, "rollback")["keys"]["c"] == {
        "outcome": "rolled_back", "restored_key_id": "old", "revoked_key_id": "bad"}


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        outcomes([], {}, "rotat")
