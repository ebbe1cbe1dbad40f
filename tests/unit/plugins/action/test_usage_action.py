"""The key_usage_check and api_key_revoke action plugins, in-process, with the shared in-memory fakes."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Optional
from unittest.mock import MagicMock

import pytest

from ansible_collections.apikeys.rotation.plugins.action import api_key_revoke, key_usage_check
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import to_iso
from ansible_collections.apikeys.rotation.plugins.plugin_utils import _action
from ansible_collections.apikeys.rotation.tests.unit.fakes import PATH, FakeProvider, MemoryStore

KEY = "mailer"
CUR_SECRET = "sk-CUR-canary-31f0aa"
OLD_SECRET = "sk-OLD-canary-7c1a9e"
VAULT_TOKEN = "hvs.token-canary-77"
CUR_ID = "key-cur"
OLD_ID = "key-old"
# The action plugins run on the real clock: records are written relative to it, with wide margins.
REAL_NOW = datetime.now(timezone.utc).replace(microsecond=0)
PROMOTED = REAL_NOW - timedelta(days=8)
GRACE_END = REAL_NOW - timedelta(days=1)


class LastUsedProvider(FakeProvider):
    name = "lastused"

    def __init__(self, times: Optional[dict[str, Optional[datetime]]] = None) -> None:
        super().__init__()
        self.times = times
        self.add(CUR_ID, CUR_SECRET)
        self.add(OLD_ID, OLD_SECRET)

    def last_used(self, key_id: str) -> Optional[datetime]:
        if self.times is None:
            return super().last_used(key_id)
        return self.times.get(key_id)


def grace_record() -> dict[str, Any]:
    return {"key": CUR_SECRET, "key_id": CUR_ID, "rotated_at": to_iso(PROMOTED), "previous_key": OLD_SECRET,
            "previous_key_id": OLD_ID, "previous_key_revocation_at": to_iso(GRACE_END)}


@pytest.fixture(autouse=True)
def no_vault_env(monkeypatch):
    for name in ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_ROLE_ID", "VAULT_SECRET_ID", "VAULT_NAMESPACE", "VAULT_CACERT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store(monkeypatch) -> MemoryStore:
    memory = MemoryStore()
    memory.write(PATH, grace_record(), cas=0)
    memory.writes.clear()
    monkeypatch.setattr(_action, "make_store", lambda key, kind, options: memory)
    return memory


@pytest.fixture
def provider(monkeypatch) -> LastUsedProvider:
    fake = LastUsedProvider({CUR_ID: REAL_NOW - timedelta(hours=1), OLD_ID: GRACE_END - timedelta(days=2)})
    monkeypatch.setattr(_action, "make_provider", lambda key, name, options, credential: fake)
    return fake


def run(module, args: dict[str, Any], check_mode: bool = False) -> dict[str, Any]:
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.check_mode = check_mode
    task.diff = True
    task.action = f"apikeys.rotation.{module.__name__.rsplit('.', 1)[-1]}"
    connection = MagicMock()
    connection._shell.tmpdir = "/nonexistent-tmp"
    templar = MagicMock()
    templar.template.side_effect = lambda value: value
    action = module.ActionModule(task, connection, MagicMock(), MagicMock(), templar, MagicMock())
    return action.run(task_vars={})


def task_args(**over: Any) -> dict[str, Any]:
    base = {"name": KEY, "provider": "sendgrid", "vault_path": PATH, "rotation_frequency": "30d",
            "grace_period": "7d", "vault_url": "https://vault.example.test:8200", "vault_token": VAULT_TOKEN}
    base.update(over)
    return base


def assert_no_secret(result: dict[str, Any]) -> None:
    text = json.dumps(result, default=str)
    for secret in (CUR_SECRET, OLD_SECRET, VAULT_TOKEN):
        assert secret not in text


# -- key_usage_check ------------------------------------------------------------------------------

@pytest.mark.parametrize("check_mode", [False, True])
def test_usage_check_revoke(store, provider, check_mode):
    result = run(key_usage_check, task_args(), check_mode=check_mode)
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["verdict"] == "revoke"
    assert CUR_ID in result["reason"] and "seen in use" in result["reason"]
    assert result["evidence"] == {
        "source": "provider", "new_key_seen": True, "new_key_last_seen": to_iso(REAL_NOW - timedelta(hours=1)),
        "old_key_last_seen": to_iso(GRACE_END - timedelta(days=2)), "detail": "lastused last-used data"}
    assert result["record"]["phase"] == "grace" and result["record"]["previous_key_id"] == OLD_ID
    assert store.writes == [] and PATH not in store.meta
    assert provider.revoked == []
    assert_no_secret(result)


def test_usage_check_alert_when_old_key_used_after_grace(store, provider):
    provider.times[OLD_ID] = REAL_NOW - timedelta(hours=2)
    result = run(key_usage_check, task_args())
    assert result["verdict"] == "alert", result
    assert OLD_ID in result["reason"] and to_iso(REAL_NOW - timedelta(hours=2)) in result["reason"]
    assert_no_secret(result)


def test_usage_check_wait_when_new_key_unused(store, provider):
    provider.times[CUR_ID] = PROMOTED + timedelta(seconds=10)     # the rotation's own verification, within skew
    result = run(key_usage_check, task_args())
    assert result["verdict"] == "wait", result
    assert result["evidence"]["new_key_seen"] is False
    assert CUR_ID in result["reason"]


def test_usage_check_clock_alone(store, provider):
    result = run(key_usage_check, task_args(usage_evidence={"source": "none"}))
    assert result["verdict"] == "revoke", result
    assert "clock alone" in result["reason"]
    assert result["evidence"]["source"] == "none" and result["evidence"]["new_key_seen"] is None
    assert_no_secret(result)


def test_usage_check_outside_grace(store, provider):
    store.write(PATH, {"key": CUR_SECRET, "key_id": CUR_ID, "rotated_at": to_iso(PROMOTED)}, cas=store.version())
    result = run(key_usage_check, task_args())
    assert result["verdict"] == "none" and "phase idle" in result["reason"]
    assert "evidence" not in result
    assert_no_secret(result)


def test_usage_check_provider_without_last_used(store, monkeypatch):
    fake = LastUsedProvider(None)
    monkeypatch.setattr(_action, "make_provider", lambda key, name, options, credential: fake)
    result = run(key_usage_check, task_args())
    assert result["failed"] is True and result["error"] == "config"
    assert f"key '{KEY}'" in result["msg"] and "apikeys_usage_evidence.source" in result["msg"]
    assert_no_secret(result)


def test_usage_check_bad_evidence_options(store, provider):
    result = run(key_usage_check, task_args(usage_evidence={"source": "prometheus", "url": "http://p:9090"}))
    assert result["failed"] is True and result["error"] == "config"
    assert "apikeys_usage_evidence.last_used_query" in result["msg"]


# -- api_key_revoke -------------------------------------------------------------------------------

def test_revoke_action(store, provider):
    result = run(api_key_revoke, task_args(key_id=OLD_ID))
    assert not result.get("failed"), result
    assert result["changed"] is True and result["revoked_key_id"] == OLD_ID
    assert result["provider_changed"] is True
    assert provider.revoked == [OLD_ID]
    assert "previous_key_id" not in store.data() and store.data()["last_revoked_key_id"] == OLD_ID
    assert result["diff"]["before"]["previous_key"] == "<hidden>"
    assert_no_secret(result)


def test_revoke_action_refuses_the_current_key(store, provider):
    result = run(api_key_revoke, task_args(key_id=CUR_ID))
    assert result["failed"] is True and result["error"] == "refused"
    assert CUR_ID in result["msg"]
    assert provider.revoked == [] and store.writes == []
    assert_no_secret(result)


def test_revoke_action_check_mode(store, provider):
    result = run(api_key_revoke, task_args(), check_mode=True)
    assert result["changed"] is True and "would revoke" in result["msg"]
    assert provider.revoked == [] and store.writes == []
