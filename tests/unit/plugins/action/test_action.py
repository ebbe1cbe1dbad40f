"""The api_key_info action plugin, run in-process with a mocked task and an in-memory store."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Any, Optional
from unittest.mock import MagicMock

import pytest

from ansible_collections.apikeys.rotation.plugins.action.api_key_info import ActionModule
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import CasConflict
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import to_iso
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._base import Entry, Store
from ansible_collections.apikeys.rotation.plugins.plugin_utils import _action

KEY = "billing-mailer"
PATH = "secret/apikeys/billing-mailer"
CANARY = "CANARY-value-8d7f3b"
SECRET = "SG.secret-canary-value-0042"


class MemoryStore(Store):
    def __init__(self, records: Optional[dict[str, dict[str, Any]]] = None) -> None:
        self.records = {p: (copy.deepcopy(d), 1) for p, d in (records or {}).items()}
        self.writes = 0

    def preflight(self, path: str) -> None:
        pass

    def read(self, path: str) -> Optional[Entry]:
        if path not in self.records:
            return None
        data, version = self.records[path]
        return Entry(data=copy.deepcopy(data), version=version)

    def write(self, path: str, data: dict[str, Any], cas: int) -> int:
        version = self.records.get(path, ({}, 0))[1]
        if cas != version:
            raise CasConflict(path)
        self.writes += 1
        self.records[path] = (copy.deepcopy(data), version + 1)
        return version + 1

    def set_metadata(self, path: str, metadata: dict[str, str]) -> None:
        pass


@pytest.fixture(autouse=True)
def no_vault_env(monkeypatch):
    for name in ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_ROLE_ID", "VAULT_SECRET_ID", "VAULT_NAMESPACE", "VAULT_CACERT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store(monkeypatch):
    rotated = to_iso(datetime.now(timezone.utc) - timedelta(days=40))
    memory = MemoryStore({PATH: {"key": SECRET, "key_id": "kid-1", "rotated_at": rotated}})
    calls = []

    def factory(key, kind, options):
        calls.append((key, options.get("vault_url")))
        return memory

    monkeypatch.setattr(_action, "make_store", factory)
    memory.factory_calls = calls
    return memory


# Regression: ``validated.errors`` (an AnsibleValidationErrorMultiple) is always truthy; the base
# must test ``error_messages``, or every valid task fails with IndexError.


def make_action(args: dict[str, Any], check_mode: bool = False) -> ActionModule:
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.check_mode = check_mode
    task.diff = False
    task.action = "apikeys.rotation.api_key_info"
    connection = MagicMock()
    connection._shell.tmpdir = "/nonexistent-tmp"
    templar = MagicMock()
    templar.template.side_effect = lambda value: value
    return ActionModule(task, connection, MagicMock(), MagicMock(), templar, MagicMock())


def run_action(args: dict[str, Any], check_mode: bool = False,
               task_vars: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    return make_action(args, check_mode).run(task_vars=task_vars or {})


def task_args(**over: Any) -> dict[str, Any]:
    base = {"name": KEY, "provider": "sendgrid", "vault_path": PATH, "rotation_frequency": "30d",
            "grace_period": "7d", "vault_url": "https://vault.example.test:8200", "vault_token": "hvs.token"}
    base.update(over)
    return base


def test_info_reports_record_and_plan(store):
    result = run_action(task_args())
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["record"]["phase"] == "idle" and result["record"]["key_id"] == "kid-1"
    assert result["record"]["version"] == 1
    assert result["plan"]["due"] is True and result["plan"]["action"] == "rotate"
    assert SECRET not in json.dumps(result, default=str)
    assert store.writes == 0
    assert store.factory_calls == [(KEY, "https://vault.example.test:8200")]


def test_info_without_record(store):
    result = run_action(task_args(vault_path="secret/apikeys/other"))
    assert not result.get("failed"), result
    assert result["record"]["exists"] is False
    assert result["plan"]["action"] == "refuse"


@pytest.mark.parametrize("over, field", [
    ({"provider": CANARY}, "apikeys_provider"),
    ({"provider": None}, "apikeys_provider"),
    ({"provider": "stripe", "provider_options": {"account": CANARY}}, "apikeys_provider_options.account"),
    ({"vault_path": CANARY}, "apikeys_vault_path"),
    ({"vault_path": None}, "apikeys_vault_path"),
    ({"rotation_frequency": CANARY}, "apikeys_rotation_frequency"),
    ({"grace_period": "60d"}, "apikeys_grace_period"),
    ({"provider_options": {"max_keys": CANARY}}, "apikeys_provider_options.max_keys"),
    ({"provider_options": {"bogus": CANARY}}, "apikeys_provider_options.bogus"),
])
def test_config_error_names_key_and_field(store, over, field):
    result = run_action(task_args(**over))
    assert result["failed"] is True
    assert result["error"] == "config"
    assert f"key '{KEY}'" in result["msg"]
    assert field in result["msg"]
    assert CANARY not in result["msg"]
    assert store.factory_calls == []     # refused before the store is even built
    assert "record" not in result and "plan" not in result


@pytest.mark.parametrize("over, field", [
    ({"vault_url": None}, "vault_url"),
    ({"vault_url": "http://vault.example.test:8200"}, "vault_url"),
    ({"vault_token": None}, "vault_token"),
])
def test_store_config_errors_name_the_field(over, field):
    # the real store factory: these checks run before any client is built
    result = run_action(task_args(**over))
    assert result["failed"] is True and result["error"] == "config"
    assert f"key '{KEY}'" in result["msg"] and field in result["msg"]
    assert "hvs.token" not in result["msg"]


def test_argument_spec_error_names_the_key(store):
    result = run_action(task_args(force="not-a-boolean"))
    assert result["failed"] is True and result["error"] == "config"
    assert f"key '{KEY}'" in result["msg"] and "force" in result["msg"]


def test_unexpected_error_is_reported_as_internal(monkeypatch):
    def broken_factory(key, kind, options):
        raise RuntimeError("store exploded")

    monkeypatch.setattr(_action, "make_store", broken_factory)
    result = run_action(task_args())
    assert result["failed"] is True and result["error"] == "internal"
    assert f"key '{KEY}'" in result["msg"] and "RuntimeError" in result["msg"]


def test_arguments_fall_back_to_inventory_variables(store):
    inventory = {"inventory_hostname": KEY, "apikeys_provider": "sendgrid", "apikeys_vault_path": PATH,
                 "apikeys_rotation_frequency": "30d", "apikeys_grace_period": "7d"}
    result = run_action({"vault_url": "https://vault.example.test:8200", "vault_token": "t"}, task_vars=inventory)
    assert not result.get("failed"), result
    assert result["record"]["key_id"] == "kid-1"


def test_arguments_mapping():
    inventory = {"inventory_hostname": "from-inventory", "apikeys_provider": "http", "apikeys_vault_path": PATH,
                 "apikeys_unrelated": CANARY, "provider": "not-an-apikeys-variable"}
    given = make_action({"provider": "sendgrid", "vault_url": "https://v"}).arguments(inventory)
    assert given["name"] == "from-inventory"          # name <- inventory_hostname
    assert given["provider"] == "sendgrid"            # the task's own argument wins
    assert given["vault_path"] == PATH                # X <- apikeys_X
    assert "unrelated" not in given and CANARY not in given.values()
    assert "rotation_frequency" not in given          # absent everywhere: left absent


def test_arguments_are_templated():
    action = make_action({})
    action._templar.template.side_effect = lambda value: value.replace("{{ env }}", "prod")
    given = action.arguments({"apikeys_vault_path": "secret/{{ env }}/k"})
    assert given["vault_path"] == "secret/prod/k"
