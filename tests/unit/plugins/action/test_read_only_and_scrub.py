"""Issue 11 item 7: read-only checks write nothing; every credential the task holds is scrubbed everywhere."""
from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any, Optional
from unittest.mock import MagicMock
from urllib.parse import quote

import pytest

from ansible_collections.apikeys.rotation.plugins.action import api_key_info, api_key_revoke, key_usage_check, \
    vault_key_write
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ProviderError
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import to_iso
from ansible_collections.apikeys.rotation.plugins.plugin_utils import _action
from ansible_collections.apikeys.rotation.tests.unit.fakes import PATH, FakeProvider, MemoryStore
from ansible_collections.apikeys.rotation.tests.unit.plugins.action.test_usage_action import CUR_ID, CUR_SECRET, \
    OLD_ID, OLD_SECRET, VAULT_TOKEN, grace_record, task_args

ADMIN = "SG.admin-management-credential-canary-5e1f"
STORE_TOKEN = "s.login-token-canary-obtained-mid-run"


def echoing(text: str) -> str:
    """What a provider that echoes the request's credentials answers (a 401 body quoting the headers)."""
    basic = base64.b64encode(f"apikey:{ADMIN}".encode()).decode()
    return (f"invalid credentials: Authorization: Bearer {ADMIN}; Basic {basic}; url-encoded {quote(ADMIN, safe='')}; "
            f"vault {VAULT_TOKEN} / {STORE_TOKEN}: {text}")


class EchoProvider(FakeProvider):
    """Fails every call with a message quoting the management credential, like some real APIs."""

    name = "echo"

    def __init__(self) -> None:
        super().__init__()
        self.credential = ADMIN
        self.add(CUR_ID, CUR_SECRET)
        self.add(OLD_ID, OLD_SECRET)

    def last_used(self, key_id: str) -> Optional[datetime]:
        raise ProviderError("echo: GET /keys answered HTTP 401: " + echoing("last used"), 401)

    def revoke(self, key_id: str) -> bool:
        raise ProviderError("echo: DELETE /keys answered HTTP 500: " + echoing("revoke"), 500)

    def accepts(self, secret: str, key_id: str) -> bool:
        raise ProviderError("echo: GET /test answered HTTP 401: " + echoing(secret), 401)


class TokenStore(MemoryStore):
    """A store whose client obtained a token during the run (a login), as H8's Vault store does."""

    def secrets(self) -> list[str]:
        return [STORE_TOKEN]


@pytest.fixture
def store(monkeypatch) -> TokenStore:
    memory = TokenStore()
    memory.write(PATH, grace_record(), cas=0)
    memory.writes.clear()
    monkeypatch.setattr(_action, "make_store", lambda key, kind, options: memory)
    return memory


@pytest.fixture
def provider(monkeypatch) -> EchoProvider:
    fake = EchoProvider()
    monkeypatch.setattr(_action, "make_provider", lambda key, name, options, credential: fake)
    return fake


def run(module, args: dict[str, Any], check_mode: bool = False, task_vars: Optional[dict[str, Any]] = None):
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
    return action.run(task_vars=task_vars or {})


def assert_scrubbed(text: str) -> None:
    basic = base64.b64encode(f"apikey:{ADMIN}".encode()).decode()
    for secret in (ADMIN, VAULT_TOKEN, STORE_TOKEN, CUR_SECRET, OLD_SECRET, basic, basic[8:-4], quote(ADMIN, safe="")):
        assert secret not in text, secret


# -- defect 1: read-only means nothing written -------------------------------------------------------------

def test_actions_documented_read_only_say_so():
    assert key_usage_check.ActionModule.READ_ONLY is True
    assert api_key_info.ActionModule.READ_ONLY is True
    assert api_key_revoke.ActionModule.READ_ONLY is False and vault_key_write.ActionModule.READ_ONLY is False


def test_a_failing_usage_check_writes_nothing(store, provider, audit_state_in_tmp):
    version = store.version()
    result = run(key_usage_check, task_args())
    assert result["failed"] is True and result["error"] == "provider"
    assert "HTTP 401" in result["msg"]                        # the failure is shown...
    assert store.writes == [] and PATH not in store.meta      # ...but neither the record nor its metadata changed
    assert store.version() == version
    assert not audit_state_in_tmp.exists()                    # and no audit line: a read-only task leaves no trace
    assert_scrubbed(json.dumps(result))


@pytest.mark.parametrize("module, args", [
    (api_key_revoke, {}),
    (vault_key_write, {"state": "postpone"}),
    (vault_key_write, {"state": "clear_previous"}),
])
def test_check_mode_of_a_failing_module_writes_nothing(store, provider, module, args, audit_state_in_tmp):
    result = run(module, task_args(**args), check_mode=True)
    assert store.writes == [] and PATH not in store.meta, result
    assert not audit_state_in_tmp.exists()
    assert_scrubbed(json.dumps(result))


def test_a_read_only_session_refuses_to_write(store, provider):
    from ansible_collections.apikeys.rotation.plugins.module_utils._config import KeyConfig
    from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ReadOnlyViolation
    from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation

    rotation = Rotation(KeyConfig(name="mailer", provider="sendgrid", vault_path=PATH), store, provider, read_only=True)
    entry = rotation.require()
    with pytest.raises(ReadOnlyViolation):
        rotation.write(entry, dict(entry.data, key_id="other"), "rotated")
    rotation.record_failure(ProviderError("boom"))
    rotation.session.publish(entry.data, "failed", "boom")
    assert store.writes == [] and PATH not in store.meta


# -- defect 2: the management credential, the Vault token, in any encoding, nowhere ----------------------------

def test_a_provider_error_echoing_credentials_is_scrubbed_from_msg_and_metadata(store, provider, audit_state_in_tmp):
    result = run(api_key_revoke, task_args())
    assert result["failed"] is True and result["error"] == "provider"
    assert "<hidden>" in result["msg"]
    assert_scrubbed(json.dumps(result))
    meta = store.meta[PATH]                                   # the failure is published, scrubbed
    assert meta["last_result"] == "failed" and "<hidden>" in meta["last_error"]
    assert_scrubbed(json.dumps(meta))
    lines = audit_state_in_tmp.read_text().splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["failed"]
    assert_scrubbed(audit_state_in_tmp.read_text())


def test_an_unexpected_error_and_its_traceback_are_scrubbed(store, provider, monkeypatch):
    def broken(self, rotation, args):
        raise RuntimeError(f"bug with {ADMIN} and {VAULT_TOKEN} in it")

    monkeypatch.setattr(api_key_revoke.ActionModule, "execute", broken)
    result = run(api_key_revoke, task_args())
    assert result["error"] == "internal" and "RuntimeError" in result["msg"]
    assert_scrubbed(json.dumps(result))


def test_warnings_and_returned_values_are_scrubbed(store, provider, monkeypatch):
    def leaky(self, rotation, args):
        rotation.warnings.append(f"warning quoting {STORE_TOKEN}")
        return {"changed": False, "nested": {"list": [f"Bearer {ADMIN}"], ADMIN: "as a key"}}

    monkeypatch.setattr(api_key_revoke.ActionModule, "execute", leaky)
    result = run(api_key_revoke, task_args())
    assert result["warnings"] == ["warning quoting <hidden>"]
    assert result["nested"] == {"list": ["Bearer <hidden>"], "<hidden>": "as a key"}


def test_a_secret_returned_on_purpose_stays_with_no_log(store, provider, monkeypatch):
    def asked(self, rotation, args):
        rotation.session.remember(CUR_SECRET)
        return {"changed": False, "secret": CUR_SECRET, "msg": f"made {CUR_SECRET}", "_ansible_no_log": True}

    monkeypatch.setattr(api_key_revoke.ActionModule, "execute", asked)
    result = run(api_key_revoke, task_args())
    assert result["secret"] == CUR_SECRET and result["_ansible_no_log"] is True
    assert result["msg"] == "made <hidden>"


def test_the_history_of_a_key_is_returned_by_api_key_info(store, provider):
    store.records[PATH][0]["history"] = [{"at": to_iso(datetime(2026, 1, 1)), "action": "promoted", "key_id": CUR_ID}]
    result = run(api_key_info, task_args())
    assert result["history"] == [{"at": "2026-01-01T00:00:00Z", "action": "promoted", "key_id": CUR_ID}]
    assert store.writes == []


# -- the audit trail, from the action ------------------------------------------------------------------------------

def test_an_audit_file_that_cannot_be_opened_stops_the_task_before_any_change(store, provider, tmp_path):
    (tmp_path / "a-file").write_text("")
    result = run(api_key_revoke, task_args(), task_vars={"apikeys_audit_log": str(tmp_path / "a-file" / "audit.log")})
    assert result["failed"] is True and result["error"] == "config"
    assert "apikeys_audit_log" in result["msg"] and "nothing was changed" in result["msg"]
    assert store.writes == [] and PATH not in store.meta and provider.revoked == []


def test_an_audit_syslog_that_is_down_is_a_warning_of_the_task(store, monkeypatch, tmp_path):
    fake = FakeProvider()
    fake.add(CUR_ID, CUR_SECRET)
    fake.add(OLD_ID, OLD_SECRET)
    monkeypatch.setattr(_action, "make_provider", lambda key, name, options, credential: fake)
    log = tmp_path / "audit.log"
    result = run(api_key_revoke, task_args(), task_vars={"apikeys_audit_log": str(log),
                                                         "apikeys_audit_syslog": f"unix://{tmp_path}/no-listener"})
    assert not result.get("failed"), result
    assert fake.revoked == [OLD_ID]
    assert any("audit syslog" in w and '"action":"revoked"' in w for w in result["warnings"])
    assert [json.loads(line)["action"] for line in log.read_text().splitlines()] == ["revoked"]
