"""Step 6: revocation_plan, verdict, revoke_previous and postpone, against the shared in-memory fakes."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Optional

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils._config import KeyConfig
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import CasConflict, ConfigError, \
    ProviderError, RotationRefused
from ansible_collections.apikeys.rotation.plugins.module_utils._record import PREVIOUS_FIELDS, phase
from ansible_collections.apikeys.rotation.plugins.module_utils._revocation import postpone, revocation_plan, \
    revoke_previous, verdict
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import to_iso
from ansible_collections.apikeys.rotation.plugins.module_utils.evidence._base import Observation
from ansible_collections.apikeys.rotation.plugins.module_utils.evidence._clock import ClockOnly
from ansible_collections.apikeys.rotation.tests.unit.fakes import NOW, PATH, Clock, FakeProvider, MemoryStore, \
    Sleeps

DAY = 86400
CUR_SECRET = "sk-CUR-canary-31f0aa"
OLD_SECRET = "sk-OLD-canary-7c1a9e"
PEND_SECRET = "sk-PEND-canary-e55b21"
CUR_ID = "key-cur"
OLD_ID = "key-old"
PEND_ID = "key-pend"
SECRETS = (CUR_SECRET, OLD_SECRET, PEND_SECRET)
GRACE_END = NOW                                   # the previous key may be revoked from NOW (+ skew)
PROMOTED = GRACE_END - timedelta(days=7)


# -- records and helpers --------------------------------------------------------------------------

def idle() -> dict[str, Any]:
    return {"key": CUR_SECRET, "key_id": CUR_ID, "rotated_at": to_iso(PROMOTED)}


def grace(**extra: Any) -> dict[str, Any]:
    return dict(idle(), previous_key=OLD_SECRET, previous_key_id=OLD_ID,
                previous_key_revocation_at=to_iso(GRACE_END), **extra)


def pending() -> dict[str, Any]:
    return dict(idle(), rotation_id="20240601T000000Z-abc123", pending_key_name="apikeys-mailer-x",
                intent_at=to_iso(NOW), intent_known_ids=[CUR_ID], pending_key=PEND_SECRET,
                pending_key_id=PEND_ID, pending_created_at=to_iso(NOW), pending_verified_at=to_iso(NOW))


def at(seconds: float) -> datetime:
    """A moment relative to the end of the grace period."""
    return GRACE_END + timedelta(seconds=seconds)


def cfg(skew: int = 30) -> KeyConfig:
    return KeyConfig(name="mailer", provider="fake", vault_path=PATH, rotation_frequency=30 * DAY,
                     grace_period=7 * DAY, clock_skew=skew)


def seed(store: MemoryStore, data: dict[str, Any]) -> None:
    store.write(PATH, data, cas=store.version())
    store.writes.clear()


def rotation(store: MemoryStore, provider: Optional[FakeProvider], *, check_mode: bool = False,
             now: datetime = NOW) -> Rotation:
    return Rotation(cfg(), store, provider, clock=Clock(now), sleep=Sleeps(), check_mode=check_mode)


def assert_no_secret(value: Any) -> None:
    text = json.dumps(value, default=str)
    for secret in SECRETS:
        assert secret not in text


class SoftProvider(FakeProvider):
    """A provider with a reversible deactivation (as AWS IAM's Inactive)."""

    def __init__(self) -> None:
        super().__init__()
        self.deactivated: list[str] = []

    def deactivate(self, key_id: str) -> None:
        self.deactivated.append(key_id)


class BrokenRevokeProvider(FakeProvider):
    def revoke(self, key_id: str) -> bool:
        self.revoked.append(key_id)
        raise ProviderError("fake: DELETE /keys/key-old answered HTTP 500", 500)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def provider() -> FakeProvider:
    p = FakeProvider()
    p.add(CUR_ID, CUR_SECRET)
    p.add(OLD_ID, OLD_SECRET)
    return p


# -- revocation_plan ------------------------------------------------------------------------------

@pytest.mark.parametrize("data, now, skew, due, expected", [
    pytest.param(idle(), at(DAY), 30, False, ["phase idle"], id="idle-not-in-grace"),
    pytest.param(pending(), at(DAY), 30, False, ["phase pending"], id="pending-not-in-grace"),
    pytest.param(grace(), at(-3600), 30, False,
                 [OLD_ID, f"from {to_iso(at(30))}", "(in 1h30s)"], id="grace-not-over"),
    pytest.param(grace(), at(31), 30, True, [OLD_ID, f"ended at {to_iso(GRACE_END)}"], id="grace-over"),
    pytest.param(grace(), at(30), 30, True, [OLD_ID], id="exactly-at-grace-end-plus-skew"),
    pytest.param(grace(), at(10), 30, False, [OLD_ID, to_iso(at(30))], id="skew-extends-the-grace"),
    pytest.param(grace(), at(10), 0, True, [OLD_ID], id="no-skew"),
    pytest.param(grace(revocation_postponed_until=to_iso(at(7200))), at(3600), 30, False,
                 [OLD_ID, f"from {to_iso(at(7200))}", "(in 1h)"], id="postponed-past-grace-end"),
    pytest.param(grace(revocation_postponed_until=to_iso(at(7200))), at(7200), 30, True, [OLD_ID],
                 id="postponement-over"),
    pytest.param(grace(revocation_postponed_until=to_iso(at(-DAY))), at(-3600), 30, False,
                 [to_iso(at(30))], id="postponement-earlier-than-grace-end-does-not-shorten-it"),
    pytest.param(grace(revocation_postponed_until=to_iso(at(-DAY))), at(60), 30, True, [OLD_ID],
                 id="stale-postponement-ignored"),
])
def test_revocation_plan(data, now, skew, due, expected):
    plan = revocation_plan(data, now, skew)
    assert plan["due"] is due
    for text in expected:
        assert text in plan["reason"]
    assert_no_secret(plan)


# -- verdict --------------------------------------------------------------------------------------

CLOCK_ALONE = ClockOnly("mailer", {"source": "none"}).observe(CUR_ID, OLD_ID, PROMOTED)

# (id, now, skew, what the source saw, verdict, substrings of the reason, the key id the reason must name)
VERDICTS = [
    ("grace-not-over", at(-3600), 30, Observation("prometheus", True, at(-7200)), "wait",
     ["runs until", to_iso(GRACE_END)], OLD_ID),
    ("within-skew-after-grace", at(10), 30, Observation("prometheus", True, at(-7200)), "wait",
     ["runs until"], OLD_ID),
    ("old-used-after-grace-and-skew", at(3600), 30,
     Observation("prometheus", True, at(-7200), at(600), detail="metrics"), "alert",
     [OLD_ID, f"used at {to_iso(at(600))}", "has not switched", "metrics"], OLD_ID),
    ("old-used-after-grace-even-with-clock-alone", at(3600), 30,
     Observation("none", None, None, at(600), detail="the clock alone"), "alert", [OLD_ID], OLD_ID),
    ("old-used-during-grace-only", at(3600), 30,
     Observation("prometheus", True, at(-7200), at(-60), detail="metrics"), "revoke",
     [CUR_ID, f"at {to_iso(at(-7200))}", to_iso(PROMOTED)], CUR_ID),
    ("old-used-within-skew-after-grace", at(3600), 30,
     Observation("prometheus", True, at(-7200), at(20)), "revoke", [CUR_ID], CUR_ID),
    ("clock-alone", at(3600), 30, CLOCK_ALONE, "revoke",
     ["clock alone", f"ended at {to_iso(GRACE_END)}"], OLD_ID),
    ("new-seen", at(3600), 30, Observation("provider", True, at(-60), at(-DAY), detail="fake last-used data"),
     "revoke", [f"new key {CUR_ID} seen in use at {to_iso(at(-60))}", "fake last-used data"], CUR_ID),
    ("new-seen-without-time", at(3600), 30, Observation("http", True, detail="2 of 2 consumers"), "revoke",
     [f"new key {CUR_ID} seen in use, since its promotion at {to_iso(PROMOTED)}"], CUR_ID),
    ("source-cannot-tell", at(3600), 30, Observation("prometheus", None, detail="metrics"), "wait",
     [f"cannot tell whether new key {CUR_ID} is in use"], CUR_ID),
    ("new-not-seen", at(3600), 30, Observation("provider", False, None, at(-DAY), detail="d"), "wait",
     [f"new key {CUR_ID} not seen in use since its promotion at {to_iso(PROMOTED)}"], CUR_ID),
]


@pytest.mark.parametrize("now, skew, seen, expected, texts", [
    pytest.param(now, skew, seen, expected, texts, id=name) for name, now, skew, seen, expected, texts, _unused
    in VERDICTS])
def test_verdict(now, skew, seen, expected, texts):
    decision, reason = verdict(grace(), seen, now, skew)
    assert decision == expected
    for text in texts:
        assert text in reason
    for secret in SECRETS:
        assert secret not in reason


@pytest.mark.parametrize("now, skew, seen, key_id", [
    pytest.param(now, skew, seen, key_id, id=name)
    for name, now, skew, seen, _unused_verdict, _unused_texts, key_id in VERDICTS])
def test_verdict_reason_names_the_key_id(now, skew, seen, key_id):
    _unused_decision, reason = verdict(grace(), seen, now, skew)
    assert key_id in reason


def test_verdict_skew_is_the_one_given():
    seen = Observation("provider", True, at(-7200))
    assert verdict(grace(), seen, at(10), 0)[0] == "revoke"
    assert verdict(grace(), seen, at(10), 30)[0] == "wait"
    # an old-key use 20s after the grace alerts without skew, not with 30s of it
    late = Observation("provider", True, at(-7200), at(20))
    assert verdict(grace(), late, at(3600), 0)[0] == "alert"
    assert verdict(grace(), late, at(3600), 30)[0] == "revoke"


# -- revoke_previous ------------------------------------------------------------------------------

@pytest.mark.parametrize("key_id", [None, OLD_ID])
def test_revoke_previous_revokes_then_forgets(store, provider, key_id):
    seed(store, grace(previous_key_deactivated_at=to_iso(at(-60)), revocation_postponed_until=to_iso(at(-10)),
                      revocation_postponements=2, revocation_wait_reason="new key not yet seen in use"))
    version = store.version()
    result = revoke_previous(rotation(store, provider, now=at(3600)), key_id=key_id)
    assert provider.revoked == [OLD_ID]
    assert provider.alive() == {CUR_ID}
    data = store.data()
    assert not set(data) & set(PREVIOUS_FIELDS)
    assert [(e["action"], e["revoked_key_ids"]) for e in data.pop("history")] == [("revoked", [OLD_ID])]
    assert data == dict(idle(), last_revoked_key_id=OLD_ID, last_revoked_at=to_iso(at(3600)))
    assert phase(data) == "idle"
    assert store.version() == version + 1 and len(store.writes) == 1
    assert store.meta[PATH]["last_result"] == "revoked"
    assert result["changed"] is True
    assert result["revoked_key_id"] == OLD_ID and result["provider_changed"] is True
    assert OLD_ID in result["msg"] and "revoked" in result["msg"]
    assert result["record"]["last_revoked_key_id"] == OLD_ID and result["record"]["previous_key_id"] is None
    assert result["record"]["version"] == version + 1
    assert_no_secret(result)
    assert_no_secret(store.meta)


def test_revoke_previous_already_gone_at_provider_is_success(store, provider):
    seed(store, grace())
    provider.keys[OLD_ID]["alive"] = False
    result = revoke_previous(rotation(store, provider, now=at(3600)))
    assert provider.revoked == [OLD_ID]
    assert result["changed"] is True and result["provider_changed"] is False
    assert result["revoked_key_id"] == OLD_ID
    assert "already gone" in result["msg"]
    data = store.data()
    assert "previous_key_id" not in data and data["last_revoked_key_id"] == OLD_ID


def test_revoke_previous_unknown_at_provider_is_success(store):
    empty = FakeProvider()
    seed(store, grace())
    result = revoke_previous(rotation(store, empty, now=at(3600)))
    assert result["provider_changed"] is False and "previous_key_id" not in store.data()


@pytest.mark.parametrize("data, key_id, words", [
    pytest.param(grace(), CUR_ID, ["current key"], id="current-key"),
    pytest.param(pending(), PEND_ID, ["pending key"], id="pending-key"),
    pytest.param(grace(), "key-stranger", ["does not hold", "previous key"], id="unknown-key"),
    pytest.param(idle(), "key-stranger", ["does not hold"], id="unknown-key-without-previous"),
    pytest.param(dict(grace(), previous_key_id=CUR_ID), None, ["same"], id="corrupt-previous-is-current"),
])
def test_revoke_previous_refusals(store, provider, data, key_id, words):
    provider.add(PEND_ID, PEND_SECRET)
    seed(store, data)
    version = store.version()
    with pytest.raises(RotationRefused) as info:
        revoke_previous(rotation(store, provider, now=at(3600)), key_id=key_id)
    message = str(info.value)
    assert "mailer" in message
    for word in words:
        assert word in message
    assert (key_id or CUR_ID) in message
    assert provider.revoked == []
    assert provider.alive() == {CUR_ID, OLD_ID, PEND_ID}
    assert store.version() == version and store.writes == [] and store.data() == data
    for secret in SECRETS:
        assert secret not in message


def test_revoke_previous_without_previous_is_unchanged(store, provider):
    seed(store, idle())
    version = store.version()
    result = revoke_previous(rotation(store, provider))
    assert result["changed"] is False
    assert "no previous key" in result["msg"]
    assert provider.revoked == [] and store.writes == [] and store.version() == version
    assert "revoked_key_id" not in result


def test_revoke_previous_without_record_is_refused(store, provider):
    with pytest.raises(RotationRefused):
        revoke_previous(rotation(store, provider))
    assert provider.revoked == []


def test_revoke_previous_needs_a_provider(store):
    seed(store, grace())
    with pytest.raises(ConfigError) as info:
        revoke_previous(rotation(store, None))
    assert info.value.field == "apikeys_provider"
    assert store.writes == []


def test_revoke_previous_check_mode(store, provider):
    seed(store, grace())
    before = (store.data(), store.version())
    result = revoke_previous(rotation(store, provider, check_mode=True))
    assert result["changed"] is True
    assert "would revoke" in result["msg"] and OLD_ID in result["msg"]
    assert provider.revoked == [] and provider.alive() == {CUR_ID, OLD_ID}
    assert store.writes == [] and PATH not in store.meta
    assert (store.data(), store.version()) == before
    assert result["diff"]["after"].get("last_revoked_key_id") == OLD_ID
    assert_no_secret(result)


def test_revoke_previous_provider_failure_keeps_the_record(store):
    broken = BrokenRevokeProvider()
    broken.add(OLD_ID, OLD_SECRET)
    seed(store, grace())
    before = (store.data(), store.version())
    with pytest.raises(ProviderError):
        revoke_previous(rotation(store, broken, now=at(3600)))
    assert (store.data(), store.version()) == before and store.writes == []


def test_revoke_previous_lost_cas_race_after_revoking(store, provider):
    seed(store, grace())
    r = rotation(store, provider, now=at(3600))
    real_read = store.read

    def read_then_race(path):
        entry = real_read(path)
        store.write(PATH, dict(grace(), note="other run"), cas=store.version())
        return entry

    store.read = read_then_race
    with pytest.raises(CasConflict):
        revoke_previous(r)
    assert provider.revoked == [OLD_ID]                 # revoked first: a re-run finds it gone (success)
    assert store.data()["note"] == "other run"          # the other run's record stands


# -- soft revoke (deactivate) ---------------------------------------------------------------------

def test_soft_revoke_deactivates_and_keeps_the_key_in_the_record(store):
    soft = SoftProvider()
    soft.add(OLD_ID, OLD_SECRET)
    seed(store, grace())
    version = store.version()
    result = revoke_previous(rotation(store, soft, now=at(3600)), key_id=OLD_ID, soft=True)
    assert soft.deactivated == [OLD_ID] and soft.revoked == []
    assert result["changed"] is True and "deactivated" in result["msg"] and OLD_ID in result["msg"]
    data = store.data()
    assert [e["action"] for e in data.pop("history")] == ["deactivated"]
    assert data == grace(previous_key_deactivated_at=to_iso(at(3600)))
    assert store.version() == version + 1
    assert store.meta[PATH]["last_result"] == "deactivated"
    assert_no_secret(result)

    again = revoke_previous(rotation(store, soft, now=at(7200)), soft=True)
    assert again["changed"] is False and "already deactivated" in again["msg"]
    assert soft.deactivated == [OLD_ID] and store.version() == version + 1

    hard = revoke_previous(rotation(store, soft, now=at(7200)))
    assert hard["changed"] is True and soft.revoked == [OLD_ID]
    assert "previous_key_deactivated_at" not in store.data()
    assert store.data()["last_revoked_key_id"] == OLD_ID


def test_soft_revoke_check_mode(store):
    soft = SoftProvider()
    seed(store, grace())
    result = revoke_previous(rotation(store, soft, check_mode=True), soft=True)
    assert result["changed"] is True and "would deactivate" in result["msg"]
    assert soft.deactivated == [] and store.writes == []


def test_soft_revoke_unsupported_by_provider(store, provider):
    seed(store, grace())
    before = (store.data(), store.version())
    with pytest.raises(ProviderError) as info:
        revoke_previous(rotation(store, provider, now=at(3600)), soft=True)
    assert "deactivation" in str(info.value)
    assert provider.revoked == [] and provider.alive() == {CUR_ID, OLD_ID}
    assert (store.data(), store.version()) == before and store.writes == []


def test_soft_revoke_refuses_the_current_key(store):
    soft = SoftProvider()
    seed(store, grace())
    with pytest.raises(RotationRefused):
        revoke_previous(rotation(store, soft), key_id=CUR_ID, soft=True)
    assert soft.deactivated == []


# -- postpone -------------------------------------------------------------------------------------

def test_postpone_first_time(store, provider):
    seed(store, grace())
    version = store.version()
    result = postpone(rotation(store, provider, now=at(120)), 600, "new key not yet seen in use")
    until = to_iso(at(720))
    data = store.data()
    assert [e["action"] for e in data.pop("history")] == ["postponed"]
    assert data == grace(revocation_postponed_until=until, revocation_postponements=1,
                         revocation_wait_reason="new key not yet seen in use")
    assert store.version() == version + 1
    assert store.meta[PATH]["last_result"] == "postponed"
    assert store.meta[PATH]["revocation_postponed_until"] == until
    assert result["changed"] is True and result["postponements"] == 1
    assert OLD_ID in result["msg"] and until in result["msg"] and "new key not yet seen" in result["msg"]
    assert result["record"]["revocation_postponements"] == 1
    assert provider.revoked == []
    assert_no_secret(result)
    # the plan follows the postponement
    assert revocation_plan(data, at(700), 30)["due"] is False
    assert revocation_plan(data, at(720), 30)["due"] is True


def test_postpone_counts_and_replaces_the_reason(store, provider):
    seed(store, grace(revocation_postponed_until=to_iso(at(60)), revocation_postponements=2,
                      revocation_wait_reason="first reason"))
    result = postpone(rotation(store, provider, now=at(3600)), 3600, "second reason")
    data = store.data()
    assert data["revocation_postponements"] == 3 and result["postponements"] == 3
    assert data["revocation_postponed_until"] == to_iso(at(7200))
    assert data["revocation_wait_reason"] == "second reason"


def test_postpone_truncates_a_long_reason(store, provider):
    seed(store, grace())
    postpone(rotation(store, provider), 60, "x" * 1000)
    assert store.data()["revocation_wait_reason"] == "x" * 300


@pytest.mark.parametrize("data", [pytest.param(idle(), id="idle"), pytest.param(pending(), id="pending")])
def test_postpone_refused_outside_grace(store, provider, data):
    seed(store, data)
    version = store.version()
    with pytest.raises(RotationRefused) as info:
        postpone(rotation(store, provider), 600, "why")
    assert f"phase {phase(data)}" in str(info.value) and "mailer" in str(info.value)
    assert store.writes == [] and store.version() == version


def test_postpone_without_record_refused(store, provider):
    with pytest.raises(RotationRefused):
        postpone(rotation(store, provider), 600, "why")


def test_postpone_check_mode_writes_nothing(store, provider):
    seed(store, grace(revocation_postponements=1))
    before = (store.data(), store.version())
    result = postpone(rotation(store, provider, check_mode=True, now=at(60)), 600, "why")
    assert result["changed"] is True and result["postponements"] == 2
    assert result["diff"]["after"]["revocation_postponed_until"] == to_iso(at(660))
    assert store.writes == [] and PATH not in store.meta
    assert (store.data(), store.version()) == before
    assert_no_secret(result)
