"""apikeys_schedule: checked field by field, described, evaluated as Debian's cron does, and weighed against
the key's rotation frequency. Run times are compared with croniter, an independent implementation."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from croniter import croniter

from ansible_collections.apikeys.rotation.plugins.module_utils._config import key_config
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ConfigError
from ansible_collections.apikeys.rotation.plugins.module_utils._schedule import check_schedule, parse_schedule, \
    with_schedule

DAY = 86400
SEED = ("0 2 1 * *", "0 3 * * 0", "0 2 1 */3 *")


@pytest.mark.parametrize("value, field", [
    ("61 2 * * *", "minute"), ("0 24 * * *", "hour"), ("0 2 32 * *", "day-of-month"), ("0 2 0 * *", "day-of-month"),
    ("0 2 * 13 *", "month"), ("0 2 * FOO *", "month"), ("0 2 * * 8", "day-of-week"), ("*/0 * * * *", "minute"),
    ("0 2 L * *", "day-of-month"), ("0 2 * * 5#2", "day-of-week"), ("0 2-1x * * *", "hour"),
])
def test_a_bad_field_is_named_with_the_key_and_never_echoed(value: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_schedule("stripe", value)
    message = str(caught.value)
    assert message.startswith(f"key 'stripe': apikeys_schedule ({field} field): is not a valid {field}")
    assert value not in message


@pytest.mark.parametrize("value, count", [("0 2 * *", 4), ("0 0 2 * * *", 6), ("0 2 * * * 2026", 6), ("sk_live_abc", 1)])
def test_only_five_fields(value: str, count: int) -> None:
    with pytest.raises(ConfigError, match=f"key 'k': apikeys_schedule: has {count} fields?; a cron expression has five"):
        parse_schedule("k", value)


@pytest.mark.parametrize("value", [5, ["0", "2"], "@reboot", "   "])
def test_other_shapes_are_refused_without_the_value(value: object) -> None:
    with pytest.raises(ConfigError, match="key 'k': apikeys_schedule: "):
        parse_schedule("k", value)


def test_a_date_that_never_comes_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"apikeys_schedule \(day-of-month and month fields\): never runs"):
        parse_schedule("k", "0 2 30 2 *")


def test_none_or_empty_means_no_schedule() -> None:
    assert parse_schedule("k", None) is None and parse_schedule("k", "") is None


@pytest.mark.parametrize("value, text", [
    ("0 2 1 * *", "At 02:00, on day 1 of the month"),
    ("0 3 * * 0", "At 03:00, only on Sunday"),
    ("0 2 1 */3 *", "At 02:00, on day 1 of the month, every 3 months"),
    ("@daily", "At 00:00"),
])
def test_descriptions(value: str, text: str) -> None:
    assert parse_schedule("k", value).description == text


@pytest.mark.parametrize("value", SEED + ("*/20 9-17 * * MON-FRI", "0 2 1-7 * MON", "30 4 */2 * *", "15 3 13 * 5",
                                          "0 0 29 2 *", "@weekly", "5 0 * 8 7"))
def test_the_next_runs_are_crons_own_as_croniter_computes_them(value: str) -> None:
    schedule = parse_schedule("k", value)
    expression = {"@weekly": "0 0 * * 0"}.get(value, value)
    reference = croniter(expression, datetime(2026, 11, 26, 12, 34, 56), day_or=True)
    moment = datetime(2026, 11, 26, 12, 34, 56)
    for _step in range(12):
        moment = schedule.next_run(moment)
        assert moment == reference.get_next(datetime), value


@pytest.mark.parametrize("value, days", [("0 2 1 * *", 31), ("0 3 * * 0", 7), ("0 2 1 */3 *", 92),
                                         ("0 4 * * *", 1), ("0 0 29 2 *", 4 * 365 + 1), ("0 9,17 * * *", 16 / 24)])
def test_the_longest_gap_between_runs(value: str, days: float) -> None:
    assert parse_schedule("k", value).longest_gap(date(2026, 11, 26)) == round(days * DAY)


def test_a_schedule_whose_runs_are_further_apart_than_the_frequency_is_a_warning_not_a_refusal() -> None:
    schedule, warning = check_schedule("stripe", "0 2 1 */3 *", 90 * DAY, DAY, today=date(2026, 11, 26))
    assert schedule is not None and schedule.expression == "0 2 1 */3 *"
    assert warning.startswith("key 'stripe': apikeys_schedule can wait 92d between runs (At 02:00, on day 1")
    assert "longer than apikeys_rotation_frequency 90d: the key will be overdue by up to 2d at times" in warning
    assert check_schedule("stripe", "0 2 1 */3 *", 92 * DAY, DAY, today=date(2026, 11, 26))[1] == ""
    assert check_schedule("stripe", "0 3 * * 0", 90 * DAY, DAY, today=date(2026, 11, 26))[1] == ""


def test_key_config_carries_the_schedule_warning() -> None:
    args = {"name": "stripe", "provider": "sendgrid", "vault_path": "secret/apikeys/stripe",
            "rotation_frequency": "90d", "grace_period": "24h", "schedule": "0 2 1 */3 *"}
    [warning] = key_config(args).warnings
    assert "overdue by up to" in warning
    assert key_config(dict(args, schedule="0 3 * * 0")).warnings == ()


def test_key_config_checks_the_schedule_before_anything_runs() -> None:
    args = {"name": "sendgrid", "provider": "sendgrid", "vault_path": "secret/apikeys/sendgrid",
            "rotation_frequency": "90d", "grace_period": "24h"}
    assert key_config(dict(args, schedule="0 3 * * 1")).schedule.expression == "0 3 * * 1"
    assert key_config(args).schedule is None
    with pytest.raises(ConfigError, match=r"key 'sendgrid': apikeys_schedule \(hour field\)"):
        key_config(dict(args, schedule="0 25 * * 1"))


def _plan(age_days: float) -> dict:
    return {"due": False, "action": "none", "age_seconds": int(age_days * DAY), "reason": f"age {age_days}d < 30d"}


def test_a_key_not_due_says_when_the_next_run_is() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    plan = with_schedule(_plan(3), parse_schedule("k", "0 4 * * *"), 30 * DAY, now)
    assert plan["due"] is False and plan["schedule"] == "0 4 * * *" and plan["schedule_description"] == "At 04:00"
    assert plan["next_run"] and plan["reason"].startswith("age 3d < 30d; next scheduled run ")
    assert plan["reason"].endswith("(At 04:00)")


def test_a_key_that_would_be_overdue_at_the_next_run_is_due_now() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    weekly = parse_schedule("k", "0 3 * * 0")  # a Thursday: the next run is on Sunday, 2d15h later (host time)
    plan = with_schedule(_plan(28), weekly, 30 * DAY, now)
    assert plan["due"] is True and plan["action"] == "rotate" and "would be too late" in plan["reason"]
    assert with_schedule(_plan(20), weekly, 30 * DAY, now)["due"] is False


def test_without_a_schedule_the_plan_is_unchanged_but_for_empty_fields() -> None:
    plan = with_schedule(_plan(3), None, 30 * DAY, datetime.now(timezone.utc))
    assert plan == dict(_plan(3), schedule=None, schedule_description=None, next_run=None)
    due = {"due": True, "action": "rotate", "reason": "age 40d >= 30d"}
    assert with_schedule(due, parse_schedule("k", "0 4 * * *"), 30 * DAY, datetime.now(timezone.utc))["due"] is True


def test_next_run_is_after_now() -> None:
    now = datetime.now(timezone.utc)
    plan = with_schedule(_plan(1), parse_schedule("k", "* * * * *"), 30 * DAY, now)
    run = datetime.fromisoformat(plan["next_run"].replace("Z", "+00:00"))
    assert now < run <= now + timedelta(minutes=1)
