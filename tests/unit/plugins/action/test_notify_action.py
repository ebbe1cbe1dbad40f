"""The api_key_notify action, in-process: targets from the environment, scrubbing, metadata, never failing."""
from __future__ import annotations

import json
from typing import Any, Optional
from unittest.mock import MagicMock

import pytest

from ansible_collections.apikeys.rotation.plugins.action import api_key_notify
from ansible_collections.apikeys.rotation.plugins.module_utils import _notify as notify
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import StoreUnavailable
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._base import Entry, Store

KEY = "billing-mailer"
PATH = "secret/apikeys/billing-mailer"
SECRET = "SG.record-secret-5a4b3c"
URL = "https://hooks.slack.test/services/T0/B0/url-token-77e1"
ROUTING = "pd-routing-key-0f9e8d"
ADMIN = "SG.admin-credential-1d2c"


class MetaStore(Store):
    def __init__(self, fail_metadata: bool = False) -> None:
        self.data = {"key": SECRET, "key_id": "kid-1", "rotated_at": "2026-10-01T00:00:00Z"}
        self.metadata = {"phase": "idle", "last_result": "failed", "last_error": "boom"}
        self.fail_metadata = fail_metadata
        self.metadata_writes: list[dict[str, str]] = []

    def preflight(self, path: str) -> None:
        pass

    def read(self, path: str) -> Optional[Entry]:
        return Entry(data=dict(self.data), version=3, metadata=dict(self.metadata))

    def write(self, path: str, data: dict[str, Any], cas: int) -> int:
        raise AssertionError("api_key_notify must never write the record")

    def set_metadata(self, path: str, metadata: dict[str, str]) -> None:
        if self.fail_metadata:
            raise StoreUnavailable("vault_kv2: update the metadata failed: HTTP 503")
        self.metadata_writes.append(dict(metadata))
        self.metadata = dict(metadata)


class Receiver:
    def __init__(self, *answers: notify.Answer) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, url: str, body: bytes, timeout: float) -> notify.Answer:
        self.sent.append((url, json.loads(body)))
        return self.answers.pop(0)


@pytest.fixture(name="store")
def fixture_store(monkeypatch):
    memory = MetaStore()
    monkeypatch.setattr(api_key_notify, "make_store", lambda key, kind, options: memory)
    monkeypatch.setenv("SLACK_URL", URL)
    monkeypatch.setenv("PD_KEY", ROUTING)
    monkeypatch.setenv("SENDGRID_ADMIN_KEY", ADMIN)
    return memory


def run(args: dict[str, Any], receiver: Receiver, check_mode: bool = False) -> dict[str, Any]:
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.check_mode = check_mode
    task.diff = False
    connection = MagicMock()
    connection._shell.tmpdir = "/nonexistent-tmp"
    templar = MagicMock()
    templar.template.side_effect = lambda value: value
    action = api_key_notify.ActionModule(task, connection, MagicMock(), MagicMock(), templar, MagicMock())
    action.delivery_options = {"post": receiver, "sleep": lambda s: None}
    return action.run(task_vars={})


def args(**over: Any) -> dict[str, Any]:
    base = {"name": KEY, "provider": "sendgrid", "vault_path": PATH, "vault_url": "https://vault.test:8200",
            "vault_token": "hvs.vault-token-9b8a", "event": "rotation_failed",
            "reason": f"sendgrid echoed {SECRET} and {ADMIN}", "details": {"key_id": "kid-1"},
            "notify": [{"format": "slack", "url_env": "SLACK_URL"},
                       {"format": "pagerduty", "routing_key_env": "PD_KEY", "url": "https://pd.test/v2/enqueue"}]}
    base.update(over)
    return base


def everything(result: dict[str, Any], receiver: Receiver, store: MetaStore) -> str:
    return json.dumps([result, [body for _url, body in receiver.sent], store.metadata_writes], default=str)


def test_delivers_to_each_target_and_records_the_outcome_in_metadata(store):
    receiver = Receiver(notify.Answer(200, "ok"), notify.Answer(202, json.dumps({"status": "success", "dedup_key": "d"})))
    result = run(args(), receiver)
    assert not result.get("failed") and result["changed"] is True, result
    assert result["notify_error"] == "" and [d["delivered"] for d in result["deliveries"]] == [True, True]
    assert [sent[0] for sent in receiver.sent] == [URL, "https://pd.test/v2/enqueue"]
    assert receiver.sent[1][1]["routing_key"] == ROUTING, "the routing key goes where PagerDuty wants it, only there"
    assert store.metadata["last_notify_result"] == "delivered" and store.metadata["last_notify_event"] == "rotation_failed"
    assert "last_notify_error" not in store.metadata
    assert store.metadata["last_error"] == "boom", "the rest of the metadata is kept"
    seen = everything(result, receiver, store).replace(json.dumps(ROUTING), "")
    for secret in (SECRET, ADMIN, URL, "hvs.vault-token-9b8a", ROUTING):
        assert secret not in seen


def test_a_failed_delivery_does_not_fail_the_task_and_is_in_the_metadata(store):
    receiver = Receiver(*[notify.Answer(500, "")] * 3)
    result = run(args(notify=[{"format": "slack", "url_env": "SLACK_URL"}]), receiver)
    assert not result.get("failed") and result["changed"] is False
    assert result["notify_error"] == "slack target 1: HTTP 500 after 3 attempts"
    assert store.metadata["last_notify_result"] == "failed"
    assert store.metadata["last_notify_error"] == "slack target 1: HTTP 500 after 3 attempts"
    assert any("not delivered" in w for w in result["warnings"])
    assert URL not in everything(result, receiver, store)


def test_a_metadata_write_that_fails_is_reported(monkeypatch):
    broken = MetaStore(fail_metadata=True)
    monkeypatch.setattr(api_key_notify, "make_store", lambda key, kind, options: broken)
    monkeypatch.setenv("SLACK_URL", URL)
    result = run(args(notify=[{"format": "slack", "url_env": "SLACK_URL"}]), Receiver(notify.Answer(200, "ok")))
    assert result["notify_error"] == "" and "HTTP 503" in result["metadata_error"]


def test_a_bad_target_is_reported_not_raised_and_nothing_is_sent(store):
    receiver = Receiver()
    result = run(args(notify=[{"format": "slack", "url_env": "NO_SUCH_VARIABLE"}]), receiver)
    assert not result.get("failed") and receiver.sent == []
    assert "apikeys_notify[0].url_env" in result["notify_error"] and "NO_SUCH_VARIABLE" in result["notify_error"]


def test_check_mode_sends_and_writes_nothing(store):
    receiver = Receiver()
    result = run(args(), receiver, check_mode=True)
    assert result["would_notify"] == ["slack target 1", "pagerduty target 2"]
    assert receiver.sent == [] and store.metadata_writes == []


def test_an_event_no_target_takes_sends_nothing(store):
    receiver = Receiver()
    result = run(args(event="rotated"), receiver)
    assert result["deliveries"] == [] and receiver.sent == [] and store.metadata_writes == []


def test_a_deprecated_alias_warns(store):
    receiver = Receiver(notify.Answer(204, ""))
    alias = {"format": "json", "url": "https://hook.test/x", "events": ["emergency"],
             "deprecated_name": "rotate_webhook_url"}
    result = run(args(event="emergency", notify=[alias]), receiver)
    assert result["notify_error"] == "" and any("rotate_webhook_url is deprecated" in w for w in result["warnings"])
    assert receiver.sent[0][1]["event"] == "emergency" and receiver.sent[0][1]["key"] == KEY
