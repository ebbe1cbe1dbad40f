"""The store's capability preflight, and the test-only checkpoints."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils import _checkpoint
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import StoreForbidden
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_kv2 import VaultKV2Store
from ansible_collections.apikeys.rotation.plugins.module_utils.stores import _vault_tokens

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


TEST_VARIABLES = ("APIKEYS_TEST_TRACE", "APIKEYS_TEST_CRASH_AT", "APIKEYS_TEST_ORPHAN_AT", "APIKEYS_TEST_PAUSE_AT")


@pytest.fixture
def kills(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """No test variable set; os.kill and os._exit recorded instead of done."""
    for name in TEST_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    calls: list[Any] = []
    monkeypatch.setattr(_checkpoint.os, "kill", lambda pid, sig: calls.append(("kill", pid, sig)))
    monkeypatch.setattr(_checkpoint.os, "_exit", lambda code: calls.append(("exit", code)))
    return calls


def test_the_steps_are_the_rotation_steps_then_the_revocation_steps() -> None:
    assert _checkpoint.STEPS == _checkpoint.ROTATION_STEPS + _checkpoint.REVOCATION_STEPS
    assert len(set(_checkpoint.STEPS)) == len(_checkpoint.STEPS)
    assert _checkpoint.ROTATION_STEPS[0] == "before_intent"
    assert _checkpoint.REVOCATION_STEPS[-1] == "before_revoke_write"


def test_checkpoints_do_nothing_without_the_test_variables(kills: list[Any], tmp_path: Path) -> None:
    for step in _checkpoint.STEPS:
        _checkpoint.checkpoint(step)
    assert kills == [] and not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["before_verification", "", "BEFORE_CREATE", "before_create "])
def test_an_unknown_step_is_refused(kills: list[Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                    name: str) -> None:
    """A misspelt checkpoint in the code would make a fault test pass without its fault: refused, even unset."""
    with pytest.raises(ValueError, match="unknown checkpoint"):
        _checkpoint.checkpoint(name)
    monkeypatch.setenv("APIKEYS_TEST_TRACE", str(tmp_path))
    monkeypatch.setenv("APIKEYS_TEST_CRASH_AT", name)
    with pytest.raises(ValueError, match="unknown checkpoint"):
        _checkpoint.checkpoint(name)
    assert kills == [] and not list(tmp_path.iterdir())


def test_the_trace_records_every_step_reached(kills: list[Any], monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setenv("APIKEYS_TEST_TRACE", str(tmp_path))
    for step in ("before_intent", "before_create", "before_create"):
        _checkpoint.checkpoint(step)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"before_create.{os.getpid()}",
                                                          f"before_intent.{os.getpid()}"]
    assert kills == []


def test_the_trace_is_written_before_a_crash(kills: list[Any], monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("APIKEYS_TEST_TRACE", str(tmp_path))
    monkeypatch.setenv("APIKEYS_TEST_CRASH_AT", "before_promote")

    def kill(pid: int, sig: int) -> None:
        assert (tmp_path / f"before_promote.{os.getpid()}").exists(), "the trace comes first"
        kills.append(("kill", pid, sig))

    monkeypatch.setattr(_checkpoint.os, "kill", kill)
    _checkpoint.checkpoint("before_promote")
    assert kills == [("kill", os.getppid(), _checkpoint.signal.SIGKILL), ("exit", 137)]


def test_a_pause_announces_itself_and_waits_for_go(kills: list[Any], monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("APIKEYS_TEST_PAUSE_AT", f"before_create:{tmp_path}")
    (tmp_path / "before_create.go").touch()
    _checkpoint.checkpoint("before_verify")                    # another step: no file
    assert not list(tmp_path.glob("before_verify.reached.*"))
    _checkpoint.checkpoint("before_create")
    assert (tmp_path / f"before_create.reached.{os.getpid()}").exists()
    assert kills == []


def test_a_crash_kills_the_parent_and_exits(kills: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIKEYS_TEST_CRASH_AT", "before_promote")
    _checkpoint.checkpoint("before_create")
    assert kills == []
    _checkpoint.checkpoint("before_promote")
    assert kills == [("kill", os.getppid(), _checkpoint.signal.SIGKILL), ("exit", 137)]


def test_a_crash_in_a_batch_shard_kills_the_playbook_and_the_shards_worker_and_exits(
        kills: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIKEYS_TEST_CRASH_AT", "before_promote")
    monkeypatch.setattr(_vault_tokens, "_SHARD", [(4242, 4141)])
    _checkpoint.checkpoint("before_promote")
    assert kills == [("kill", 4141, _checkpoint.signal.SIGKILL), ("kill", 4242, _checkpoint.signal.SIGKILL), ("exit", 137)]


def test_an_orphan_kills_only_the_parent_and_goes_on(kills: list[Any], monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    """The playbook dies; the worker lives on, and still honours a pause at the same step."""
    monkeypatch.setenv("APIKEYS_TEST_ORPHAN_AT", "before_verify")
    monkeypatch.setenv("APIKEYS_TEST_PAUSE_AT", f"before_verify:{tmp_path}")
    (tmp_path / "before_verify.go").touch()
    _checkpoint.checkpoint("before_create")
    assert kills == []
    _checkpoint.checkpoint("before_verify")
    assert kills == [("kill", os.getppid(), _checkpoint.signal.SIGKILL)], "no exit: the worker goes on"
    assert (tmp_path / f"before_verify.reached.{os.getpid()}").exists()
