"""The store's capability preflight, and the test-only checkpoints."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils import _checkpoint
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import StoreForbidden
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_kv2 import VaultKV2Store

DATA, META = "secret/data/apikeys/stripe", "secret/metadata/apikeys/stripe"


class Adapter:
    """Answers the two Vault calls a preflight makes."""

    def __init__(self, caps: dict[str, list[str]]) -> None:
        self.caps = caps
        self.posted: list[Any] = []

    def get(self, url: str) -> dict[str, Any]:
        assert url == "/v1/sys/internal/ui/mounts/secret/apikeys/stripe"
        return {"data": {"path": "secret/", "type": "kv", "options": {"version": "2"}}}

    def post(self, url: str, json: Any) -> dict[str, Any]:  # pylint: disable=redefined-outer-name
        assert url == "/v1/sys/capabilities-self"
        self.posted.append(json)
        return {"data": self.caps}


def store_with(caps: dict[str, list[str]]) -> tuple[VaultKV2Store, Adapter]:
    store = VaultKV2Store("https://vault.example.test", token="t")
    adapter = Adapter(caps)
    store.client.adapter = adapter  # type: ignore[assignment]
    return store, adapter


@pytest.mark.parametrize("caps", [
    {DATA: ["create", "read", "update"], META: ["read", "update"]},
    {DATA: ["read", "update"], META: ["update"]},
    {DATA: ["root"], META: ["root"]},
])
def test_a_token_that_may_write_passes(caps: dict[str, list[str]]) -> None:
    store, adapter = store_with(caps)
    store.preflight("secret/apikeys/stripe")
    assert adapter.posted == [{"paths": [DATA, META]}]


@pytest.mark.parametrize("caps, path", [
    ({DATA: ["read"], META: ["read", "update"]}, DATA),
    ({DATA: ["create", "update"], META: ["update"]}, DATA),        # cannot read its own record
    ({DATA: ["read", "update"], META: ["read"]}, META),
    ({DATA: ["deny"], META: ["deny"]}, DATA),
    ({}, DATA),
])
def test_a_token_that_may_not_write_is_refused_before_anything_changes(caps: dict[str, list[str]], path: str) -> None:
    store, _adapter = store_with(caps)
    with pytest.raises(StoreForbidden) as info:
        store.preflight("secret/apikeys/stripe")
    assert path in str(info.value) and "nothing was changed" in str(info.value)


def test_checkpoints_do_nothing_without_the_test_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APIKEYS_TEST_CRASH_AT", raising=False)
    monkeypatch.delenv("APIKEYS_TEST_PAUSE_AT", raising=False)
    for step in _checkpoint.STEPS:
        _checkpoint.checkpoint(step)


def test_a_pause_announces_itself_and_waits_for_go(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("APIKEYS_TEST_PAUSE_AT", f"before_create:{tmp_path}")
    (tmp_path / "before_create.go").touch()
    _checkpoint.checkpoint("before_verify")                    # another step: no file
    assert not list(tmp_path.glob("before_verify.reached.*"))
    _checkpoint.checkpoint("before_create")
    assert (tmp_path / f"before_create.reached.{os.getpid()}").exists()


def test_a_crash_kills_the_parent_and_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setenv("APIKEYS_TEST_CRASH_AT", "before_promote")
    monkeypatch.setattr(_checkpoint.os, "kill", lambda pid, sig: calls.append(("kill", pid, sig)))
    monkeypatch.setattr(_checkpoint.os, "_exit", lambda code: calls.append(("exit", code)))
    _checkpoint.checkpoint("before_create")
    assert calls == []
    _checkpoint.checkpoint("before_promote")
    assert calls == [("kill", os.getppid(), _checkpoint.signal.SIGKILL), ("exit", 137)]
