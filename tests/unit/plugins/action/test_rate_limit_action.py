"""apikeys_rate_limit through a module's action: a bad value is a config error naming key and variable, before any
request; a good one gives the key's provider and store their budgets."""
from __future__ import annotations

import json

import pytest

from test_action import KEY, no_vault_env, run_action, store, task_args  # noqa: F401  pylint: disable=unused-import


@pytest.fixture(autouse=True)
def budgets_in_tmp(tmp_path, monkeypatch):
    from ansible_collections.apikeys.rotation.plugins.module_utils import _budget  # pylint: disable=import-outside-toplevel
    monkeypatch.setenv("APIKEYS_BUDGET_DIR", str(tmp_path / "budgets"))
    monkeypatch.setattr(_budget, "_DIR", [])


@pytest.mark.parametrize("value, variable", [
    ({"provider": {"rate": -1}}, "apikeys_rate_limit.provider.rate"),
    ({"provider": {"rate": "CANARY-fast"}}, "apikeys_rate_limit.provider.rate"),
    ({"store": {"bursts": 5}}, "apikeys_rate_limit.store.bursts"),
    ("CANARY-10/s", "apikeys_rate_limit"),
])
def test_a_bad_rate_limit_fails_the_task_before_anything(store, value, variable) -> None:  # noqa: F811
    result = run_action(task_args(), task_vars={"apikeys_rate_limit": value})
    assert result["failed"] and result["error"] == "config"
    assert f"key '{KEY}'" in result["msg"] and variable in result["msg"]
    assert "CANARY" not in json.dumps(result, default=str)  # the value is never echoed
    assert store.writes == 0


def test_a_good_rate_limit_is_accepted(store) -> None:  # noqa: F811
    result = run_action(task_args(), task_vars={"apikeys_rate_limit": {"provider": 5, "store": "unlimited"}})
    assert not result.get("failed"), result
