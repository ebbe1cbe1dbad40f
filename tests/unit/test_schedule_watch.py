"""apikeys_rollback_on_failure: the watch after promotion (plugins/module_utils/_watch.py), against the shared fakes."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from ansible_collections.apikeys.rotation.plugins.module_utils._config import KeyConfig
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ProviderError
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import to_iso
from ansible_collections.apikeys.rotation.plugins.module_utils._watch import watch
from ansible_collections.apikeys.rotation.tests.unit.fakes import NOW, PATH, Clock, FakeProvider, MemoryStore, \
    Sleeps

OLD, NEW = ("key-old", "sk-OLD-canary-51ab"), ("key-new", "sk-NEW-canary-93fe")


def grace() -> dict[str, Any]:
    return {"key": NEW[1], "key_id": NEW[0], "rotated_at": to_iso(NOW), "previous_key": OLD[1],
            "previous_key_id": OLD[0], "previous_rotated_at": to_iso(NOW - timedelta(days=40)),
            "previous_key_revocation_at": to_iso(NOW + timedelta(hours=1))}


class Ticks:
    """A monotonic clock that moves only when the watch sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def setup(*, check_mode: bool = False) -> tuple[MemoryStore, FakeProvider, Rotation]:
    store, provider = MemoryStore(), FakeProvider()
    store.write(PATH, grace(), cas=0)
    provider.add(*OLD)
    provider.add(*NEW)
    cfg = KeyConfig(name="mailer", provider="fake", vault_path=PATH, rotation_frequency=30 * 86400, grace_period=3600)
    return store, provider, Rotation(cfg, store, provider, clock=Clock(), sleep=Sleeps(), check_mode=check_mode)


def run(rotation: Rotation, ticks: Ticks, key_id: str = NEW[0], seconds: int = 60, poll: int = 10) -> dict[str, Any]:
    return watch(rotation, key_id, seconds, poll, sleep=ticks.sleep, clock=ticks)


def test_a_key_that_keeps_working_is_checked_for_the_whole_window_and_kept() -> None:
    store, provider, rotation = setup()
    ticks = Ticks()
    out = run(rotation, ticks)
    assert out["rolled_back"] is False and out["changed"] is False and out["checks"] == 7
    assert ticks.sleeps == [10] * 6 and provider.accept_calls == [NEW[0]] * 7  # at 0, 10, ... 60 s
    assert store.data()["key_id"] == NEW[0]


def test_a_rejected_key_is_rolled_back_at_once_with_the_reason_recorded() -> None:
    store, provider, rotation = setup()
    ticks = Ticks()

    def breaks_on_third(secret: str, key_id: str, original=provider.accepts) -> bool:
        if key_id == NEW[0] and provider.accept_calls.count(NEW[0]) == 2:
            provider.accept_calls.append(key_id)
            return False
        return original(secret, key_id)

    provider.accepts = breaks_on_third  # type: ignore[method-assign]
    out = run(rotation, ticks)
    data = store.data()
    assert out["rolled_back"] is True and out["checks"] == 3 and out["revoked_key_id"] == NEW[0]
    assert (data["key_id"], data["key"]) == OLD and NEW[0] not in provider.alive()
    assert data["rollback_reason"] == "rollback_on_failure: fake rejected the new key key-new 20s after its promotion (check 3)"
    assert out["msg"].startswith("key 'mailer': rollback_on_failure: fake rejected the new key key-new")
    assert NEW[1] not in json.dumps(out, default=str) and OLD[1] not in json.dumps(out, default=str)


def test_a_check_without_a_clear_answer_never_rolls_back() -> None:
    store, provider, rotation = setup()

    def unclear(secret: str, key_id: str) -> bool:
        raise ProviderError("fake: 503 after 4 attempts")

    provider.accepts = unclear  # type: ignore[method-assign]
    out = run(rotation, Ticks(), seconds=20)
    assert out["rolled_back"] is False and out["unclear"] == 3 and "3 check(s) got no clear answer" in out["msg"]
    assert store.data()["key_id"] == NEW[0]


def test_a_key_that_is_no_longer_current_is_not_watched_nor_rolled_back() -> None:
    store, provider, rotation = setup()
    out = run(rotation, Ticks(), key_id="key-other")
    assert out["rolled_back"] is False and out["checks"] == 0 and provider.accept_calls == []
    assert "is no longer current" in out["msg"]


def test_check_mode_makes_no_call() -> None:
    _store, provider, rotation = setup(check_mode=True)
    out = run(rotation, Ticks())
    assert out["rolled_back"] is False and provider.accept_calls == [] and out["msg"].startswith("would watch")
