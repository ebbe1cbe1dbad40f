"""api_key_info: ``metadata_only`` gives the result the full read gives, in every phase, from the metadata alone."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from typing import Any, Optional
from unittest.mock import MagicMock

import hvac.exceptions
import pytest

from ansible_collections.apikeys.rotation.plugins.action.api_key_info import ActionModule
from ansible_collections.apikeys.rotation.plugins.module_utils._info import read_metadata
from ansible_collections.apikeys.rotation.plugins.module_utils._record import metadata
from ansible_collections.apikeys.rotation.plugins.module_utils._session import Session
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._base import Entry, Store
from ansible_collections.apikeys.rotation.plugins.plugin_utils import _action

PATH = "secret/apikeys/mailer"
NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc)
SECRETS = ("SG.current-secret-1", "SG.previous-secret-2", "SG.pending-secret-3", "SG.revoking-secret-4")
BASE = {"key": SECRETS[0], "key_id": "k2", "rotated_at": "2026-10-01T00:00:00Z", "last_rotation_id": "r1"}
RECORDS = {
    "idle": dict(BASE),
    "intent": dict(BASE, rotation_id="20261126T115900Z-abc123", pending_key_name="apikeys-mailer-x",
                   intent_at="2026-11-26T11:59:00Z", lease_until="2026-11-26T12:14:00Z"),
    "pending": dict(BASE, rotation_id="20261126T115900Z-abc123", pending_key_name="apikeys-mailer-x",
                    intent_at="2026-11-26T11:59:00Z", lease_until="2026-11-26T11:30:00Z",
                    pending_key=SECRETS[2], pending_key_id="k3"),
    "grace": dict(BASE, rotated_at="2026-11-26T10:00:00Z", previous_key=SECRETS[1], previous_key_id="k1",
                  previous_key_revocation_at="2026-11-26T11:00:00Z", revocation_postponed_until="2026-11-26T13:00:00Z",
                  revocation_postponements=2),
    "grace_over": dict(BASE, rotated_at="2026-11-26T10:00:00Z", previous_key=SECRETS[1], previous_key_id="k1",
                       previous_key_revocation_at="2026-11-26T11:00:00Z"),
    "revoking": dict(BASE, revoking_key=SECRETS[3], revoking_key_id="k9", last_revoked_key_id="k8"),
}


class MetaStore(Store):
    """Holds records and their metadata; counts data reads (metadata_only must make none)."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[dict[str, Any], int]] = {}
        self.meta: dict[str, dict[str, str]] = {}
        self.data_reads = 0

    def preflight(self, path: str) -> None:
        pass

    def read(self, path: str) -> Optional[Entry]:
        self.data_reads += 1
        if path not in self.records:
            return None
        data, version = self.records[path]
        return Entry(copy.deepcopy(data), version, dict(self.meta.get(path, {})))

    def read_metadata(self, path: str) -> Optional[Entry]:
        if path not in self.records:
            return None
        return Entry({}, self.records[path][1], dict(self.meta.get(path, {})))

    def write(self, path: str, data: dict[str, Any], cas: int) -> int:
        raise AssertionError("api_key_info must not write")

    def set_metadata(self, path: str, metadata: dict[str, str]) -> None:
        raise AssertionError("api_key_info must not write metadata")


@pytest.fixture
def store(monkeypatch) -> MetaStore:
    memory = MetaStore()
    monkeypatch.setattr(_action, "make_store", lambda key, kind, options: memory)
    monkeypatch.setattr(Session, "now", lambda self: NOW)
    return memory


def run(**over: Any) -> dict[str, Any]:
    args = {"name": "mailer", "provider": "sendgrid", "vault_path": PATH, "rotation_frequency": "30d",
            "grace_period": "1h", "vault_url": "https://vault.example.test:8200", "vault_token": "hvs.token"}
    args.update(over)
    task = MagicMock(args=args, async_val=0, check_mode=False, diff=False, action="apikeys.rotation.api_key_info")
    templar = MagicMock()
    templar.template.side_effect = lambda value: value
    return ActionModule(task, MagicMock(), MagicMock(), MagicMock(), templar, MagicMock()).run(task_vars={})


def put(store: MetaStore, data: dict[str, Any], result: str = "promoted", error: str = "") -> None:
    store.records[PATH] = (copy.deepcopy(data), 4)
    store.meta[PATH] = metadata(data, "sendgrid", result, error, NOW)


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_metadata_only_equals_the_full_read(store, name):
    put(store, RECORDS[name])
    full = run()
    reads = store.data_reads
    meta = run(metadata_only=True)
    assert store.data_reads == reads, "metadata_only read the record's data"
    assert not full.get("failed") and not meta.get("failed"), (full, meta)
    for part in ("schedule", "plan", "revocation"):
        assert meta[part] == full[part], part
    expected = dict(full["record"], last_rotation_id=None)  # not published in the metadata
    assert meta["record"] == expected
    assert meta["metadata_only"] is True and full["metadata_only"] is False
    assert not any(secret in json.dumps(meta) + json.dumps(full) for secret in SECRETS)


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_age_and_due_in_every_phase(store, name):
    put(store, RECORDS[name])
    schedule = run(metadata_only=True)["schedule"]
    rotated = datetime.fromisoformat(RECORDS[name]["rotated_at"].replace("Z", "+00:00"))
    assert schedule["age_seconds"] == int((NOW - rotated).total_seconds())
    assert schedule["rotation_frequency_seconds"] == 30 * 86400 and schedule["grace_period_seconds"] == 3600
    due = datetime.fromisoformat(schedule["due_at"].replace("Z", "+00:00"))
    assert (due - rotated).total_seconds() == 30 * 86400
    assert schedule["overdue_seconds"] == max(0, int((NOW - due).total_seconds()))


def test_overdue_key(store):
    put(store, dict(BASE, rotated_at="2026-10-20T12:00:00Z"))
    out = run(metadata_only=True)
    assert out["schedule"]["due_at"] == "2026-11-19T12:00:00Z"
    assert out["schedule"]["overdue_seconds"] == 7 * 86400
    assert out["plan"]["due"] is True and out["plan"]["action"] == "rotate"


def test_grace_fields_and_postponements(store):
    put(store, RECORDS["grace"], result="postponed")
    record = run(metadata_only=True)["record"]
    assert record["phase"] == "grace" and record["previous_key_id"] == "k1"
    assert record["revocation_postponements"] == 2
    assert record["revocation_postponed_until"] == "2026-11-26T13:00:00Z"
    assert record["last_result"] == "postponed" and record["last_result_at"] == "2026-11-26T12:00:00Z"
    assert record["provider"] == "sendgrid" and record["last_error"] is None


def test_last_error_is_reported(store):
    put(store, RECORDS["idle"], result="failed", error="sendgrid: POST /v3/api_keys answered HTTP 500")
    record = run(metadata_only=True)["record"]
    assert record["last_result"] == "failed" and "HTTP 500" in record["last_error"]


def test_no_record(store):
    out = run(metadata_only=True)
    assert out["record"]["exists"] is False and out["record"]["phase"] == "absent"
    assert out["plan"]["action"] == "refuse"
    assert out["schedule"]["age_seconds"] is None and out["schedule"]["due_at"] is None


def test_record_without_published_metadata_is_unknown(store):
    store.records[PATH] = (dict(BASE), 1)
    out = run(metadata_only=True)
    assert out["record"]["exists"] is True and out["record"]["phase"] == "unknown"
    assert out["plan"]["due"] is False and "never written" in out["plan"]["reason"]
    assert out["schedule"]["age_seconds"] is None


# -- read_metadata against Vault KV v2's metadata endpoint (hvac's answer shape) --------------------

class FakeKV:
    """hvac's ``client.secrets.kv.v2`` as far as read_metadata uses it; forbids reading data."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str]] = []

    def read_secret_metadata(self, path: str, mount_point: str) -> Any:
        self.calls.append((mount_point, path))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def read_secret_version(self, **kwargs: Any) -> Any:
        raise AssertionError("metadata_only read the data")


class VaultLike(Store):
    kind = "vault_kv2"

    def __init__(self, answer: Any) -> None:
        self.client = MagicMock()
        self.client.secrets.kv.v2 = FakeKV(answer)

    def _split(self, path: str) -> tuple[str, str]:
        mount, sub = path.split("/", 1)
        return mount, sub

    def _call(self, what: str, fn: Any) -> Any:
        return fn()

    def preflight(self, path: str) -> None:
        pass

    def read(self, path: str) -> Optional[Entry]:
        raise AssertionError("metadata_only read the data")

    def write(self, path: str, data: dict[str, Any], cas: int) -> int:
        raise AssertionError

    def set_metadata(self, path: str, metadata: dict[str, str]) -> None:
        raise AssertionError


def metadata_answer(version: int, custom: Optional[dict[str, str]], **state: Any) -> dict[str, Any]:
    versions = {str(version): dict({"deletion_time": "", "destroyed": False}, **state)} if version else {}
    return {"data": {"current_version": version, "custom_metadata": custom, "versions": versions}}


def test_read_metadata_from_vault_kv2():
    store = VaultLike(metadata_answer(7, {"phase": "idle", "key_id": "k2"}))
    entry = read_metadata(store, PATH)
    assert entry is not None and entry.version == 7 and entry.data == {} and entry.metadata["key_id"] == "k2"
    assert store.client.secrets.kv.v2.calls == [("secret", "apikeys/mailer")]


@pytest.mark.parametrize("answer", [
    metadata_answer(3, {"phase": "idle"}, deletion_time="2026-11-01T00:00:00Z"),
    metadata_answer(3, {"phase": "idle"}, destroyed=True),
    metadata_answer(0, None),
])
def test_read_metadata_of_a_deleted_or_missing_record_is_none(answer):
    assert read_metadata(VaultLike(answer), PATH) is None


def test_read_metadata_of_no_path_is_none():
    assert read_metadata(VaultLike(hvac.exceptions.InvalidPath("no")), PATH) is None
