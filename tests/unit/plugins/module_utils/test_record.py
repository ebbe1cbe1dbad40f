"""The key record: phase derivation, redaction, summary and Vault metadata."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils._record import (
    HIDDEN, SECRET_FIELDS, known_ids, metadata, new_rotation_id, phase, redacted, summary, without, INTENT_FIELDS,
    PENDING_FIELDS)

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
CUR, PREV, PEND = "sk-CURRENT-canary-111", "sk-PREVIOUS-canary-222", "sk-PENDING-canary-333"

IDLE = {"key": CUR, "key_id": "k1", "rotated_at": "2024-01-01T00:00:00Z"}
INTENT = dict(IDLE, rotation_id="20240506T070809Z-abcdef", pending_key_name="apikeys-x-20240506T070809Z-abcdef",
              intent_at="2024-05-06T07:08:09Z", intent_known_ids=["k1"])
PENDING = dict(INTENT, pending_key=PEND, pending_key_id="k2", pending_created_at="2024-05-06T07:08:09Z")
VERIFIED = dict(PENDING, pending_verified_at="2024-05-06T07:08:10Z")
GRACE = {"key": PEND, "key_id": "k2", "rotated_at": "2024-05-06T07:09:00Z", "previous_key": CUR,
         "previous_key_id": "k1", "previous_key_revocation_at": "2024-05-13T07:09:00Z",
         "last_rotation_id": "20240506T070809Z-abcdef"}
RECORDS = {"idle": IDLE, "intent": INTENT, "pending": PENDING, "verified": VERIFIED, "grace": GRACE}
SECRETS = (CUR, PREV, PEND)


@pytest.mark.parametrize("data, expected", [
    ({}, "idle"),
    ({"key": "s"}, "idle"),
    (IDLE, "idle"),
    (INTENT, "intent"),
    (PENDING, "pending"),
    (VERIFIED, "pending"),
    (GRACE, "grace"),
    ({"rotation_id": "r"}, "intent"),
    ({"pending_key_id": "p"}, "pending"),
    ({"previous_key_id": "p"}, "grace"),
    ({"rotation_id": "r", "pending_key_id": "p"}, "pending"),
    ({"rotation_id": "r", "previous_key_id": "p"}, "intent"),
    ({"pending_key_id": "p", "previous_key_id": "q"}, "pending"),
    ({"rotation_id": "r", "pending_key_id": "p", "previous_key_id": "q"}, "pending"),
    # empty values do not count as present
    ({"key": "s", "rotation_id": "", "pending_key_id": None, "previous_key_id": ""}, "idle"),
    # the secret alone does not make a phase: the id does
    ({"key": "s", "pending_key": "p", "previous_key": "q"}, "idle"),
])
def test_phase(data, expected):
    assert phase(data) == expected


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_redacted_hides_secrets_keeps_the_rest(name):
    data = RECORDS[name]
    shown = redacted(data)
    assert set(shown) == set(data)
    for field, value in data.items():
        if field in SECRET_FIELDS:
            assert shown[field] == HIDDEN
        else:
            assert shown[field] == value
    text = json.dumps(shown)
    assert not any(secret in text for secret in SECRETS)


def test_redacted_all_three_secret_fields():
    shown = redacted({"key": CUR, "previous_key": PREV, "pending_key": PEND, "key_id": "k"})
    assert shown == {"key": HIDDEN, "previous_key": HIDDEN, "pending_key": HIDDEN, "key_id": "k"}


def test_redacted_empty_and_unset_secret():
    assert redacted(None) == {}
    assert redacted({}) == {}
    assert redacted({"key": "", "key_id": "k"}) == {"key": "", "key_id": "k"}


def test_redacted_does_not_modify_input():
    data = dict(GRACE)
    redacted(data)
    assert data == GRACE


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_summary_has_no_secret(name):
    out = summary(RECORDS[name], version=7)
    assert not set(out) & set(SECRET_FIELDS)
    assert not any(secret in json.dumps(out) for secret in SECRETS)
    assert out["exists"] is True
    assert out["version"] == 7
    assert out["phase"] == phase(RECORDS[name])
    assert out["key_id"] == RECORDS[name]["key_id"]


def test_summary_of_absent_record():
    out = summary(None)
    assert out["exists"] is False and out["phase"] == "absent" and out["version"] == 0
    assert out["key_id"] is None


def test_summary_fields_of_grace():
    out = summary(GRACE, 3)
    assert out["previous_key_id"] == "k1"
    assert out["previous_key_revocation_at"] == "2024-05-13T07:09:00Z"
    assert out["last_rotation_id"] == GRACE["last_rotation_id"]


@pytest.mark.parametrize("name", sorted(RECORDS))
@pytest.mark.parametrize("error", ["", "sendgrid: POST /v3/api_keys answered HTTP 500"])
def test_metadata_values_are_non_empty_strings_without_secrets(name, error):
    out = metadata(RECORDS[name], "sendgrid", "verified", error, NOW)
    assert out, "metadata must not be empty"
    for k, v in out.items():
        assert isinstance(k, str) and isinstance(v, str) and v != "", (k, v)
    assert not set(out) & set(SECRET_FIELDS)
    assert not any(secret in json.dumps(out) for secret in SECRETS)
    assert out["phase"] == phase(RECORDS[name])
    assert out["provider"] == "sendgrid"
    assert out["last_result"] == "verified"
    assert out["updated_at"] == "2024-05-06T07:08:09Z"
    assert out["managed_by"] == "apikeys.rotation"
    assert ("last_error" in out) == bool(error)


def test_metadata_of_empty_record_is_still_non_empty_strings():
    out = metadata({}, "http", "failed", "boom", NOW)
    assert all(isinstance(v, str) and v for v in out.values())
    assert out["phase"] == "absent"
    assert out["last_error"] == "boom"


def test_metadata_truncates_long_error():
    out = metadata(IDLE, "http", "failed", "e" * 2000, NOW)
    assert out["last_error"] == "e" * 500


def test_metadata_of_pending_names_ids():
    out = metadata(PENDING, "http", "pending", "", NOW)
    assert out["pending_key_id"] == "k2"
    assert out["rotation_id"] == PENDING["rotation_id"]
    assert out["key_id"] == "k1"


def test_known_ids():
    assert known_ids(dict(GRACE, pending_key_id="k3")) == {"k1", "k2", "k3"}
    assert known_ids({"key": "s"}) == set()


def test_without_drops_whole_groups():
    assert without(VERIFIED, INTENT_FIELDS, PENDING_FIELDS) == IDLE


def test_new_rotation_id_is_timestamped_and_unique():
    ids = {new_rotation_id(NOW) for _count in range(20)}
    assert len(ids) == 20
    assert all(i.startswith("20240506T070809Z-") for i in ids)
