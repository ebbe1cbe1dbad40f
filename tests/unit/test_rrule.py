"""cron_to_rrule: the RRULE an AWX schedule gets runs at the cron expression's times.

Two independent libraries: python-dateutil's rrulestr (what AWX itself evaluates schedules with) reads the
generated RRULE; croniter reads the cron expression. Their next 12 run times must be equal.
"""
from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from croniter import croniter
from dateutil.rrule import rrulestr

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / ".build" / "collections"))

from ansible_collections.apikeys.rotation.plugins.filter.cron_to_rrule import cron_to_rrule  # noqa: E402
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ConfigError  # noqa: E402

SEEDS = ["0 2 1 * *", "0 3 * * 0", "0 2 1 */3 *"]


def example_schedules() -> list[str]:
    hosts = yaml.safe_load((ROOT / "inventories" / "example" / "hosts.yml").read_text())
    found: list[str] = []

    def walk(group: dict) -> None:
        for host in (group.get("hosts") or {}).values():
            if host and host.get("apikeys_schedule"):
                found.append(host["apikeys_schedule"])
        for child in (group.get("children") or {}).values():
            walk(child or {})

    walk(hosts["all"])
    return found


MORE = ["*/15 9-17 * * mon-fri", "0 0 1,15 * 5", "30 4 * feb 7", "5 0 31 * *", "0 12 * * 1-7",
        "59 23 29 2 *", "0 */6 * jan-mar,oct sat,sun", "0 0 13 * fri", "7,37 1 * * *"]
STARTS = [datetime(2026, 11, 26, 12, 34), datetime(2027, 2, 27, 23, 59), datetime(2028, 12, 31, 23, 0)]


def next_from_rrule(rule: str, start: datetime, count: int = 12) -> list[datetime]:
    rules = rrulestr(rule.replace(" ", "\n"), forceset=True)
    found, moment = [], start
    for _run in range(count):
        moment = rules.after(moment)
        found.append(moment)
    return found


def next_from_cron(expression: str, start: datetime, count: int = 12) -> list[datetime]:
    runs = croniter(expression, start)
    return [runs.get_next(datetime) for _run in range(count)]


def test_the_example_inventory_has_schedules() -> None:
    assert len(example_schedules()) >= 3


@pytest.mark.parametrize("start", STARTS, ids=lambda s: s.isoformat())
@pytest.mark.parametrize("expression", SEEDS + example_schedules() + MORE)
def test_next_12_runs_of_the_rrule_are_the_cron_runs(expression: str, start: datetime) -> None:
    zone = ZoneInfo("UTC")
    rule = cron_to_rrule(expression)
    expected = next_from_cron(expression, start.replace(tzinfo=zone))
    assert next_from_rrule(rule, start.replace(tzinfo=zone)) == expected, rule
    assert len(set(expected)) == 12


def test_times_are_read_in_the_schedule_time_zone() -> None:
    zone = ZoneInfo("America/New_York")
    start = datetime(2026, 5, 1, tzinfo=zone)
    rule = cron_to_rrule("0 3 * * 0", "America/New_York")
    assert next_from_rrule(rule, start) == next_from_cron("0 3 * * 0", start)
    assert next_from_rrule(rule, start)[0].astimezone(ZoneInfo("UTC")).hour == 7  # EDT is UTC-4


def test_the_seed_rules_read_as_expected() -> None:
    assert cron_to_rrule("0 2 1 */3 *") == \
        "DTSTART;TZID=UTC:20260101T000000 RRULE:FREQ=DAILY;INTERVAL=1;BYMONTH=1,4,7,10;BYMONTHDAY=1;BYHOUR=2;BYMINUTE=0"
    assert cron_to_rrule("0 3 * * 0") == "DTSTART;TZID=UTC:20260101T000000 RRULE:FREQ=DAILY;INTERVAL=1;BYDAY=SU;BYHOUR=3;BYMINUTE=0"
    # both day fields restricted: cron runs when either matches, so two rules
    assert len(cron_to_rrule("0 0 1,15 * 5").split(" RRULE:")) == 3


@pytest.mark.parametrize("expression", SEEDS + MORE)
def test_rules_pass_awx_schedule_validation(expression: str) -> None:
    """What AWX's schedule serializer refuses (awx/api/serializers.py, validate_rrule), checked here."""
    rule = cron_to_rrule(expression)
    assert len(re.findall(r"DTSTART(;[^:]+)?:[0-9]+T[0-9]+Z?", rule)) == 1
    assert not re.findall(r"DTSTART:[0-9]+T[0-9]+ ", rule), "a naive DTSTART is refused"
    for one in re.findall(r"RRULE:\S*", rule):
        assert "INTERVAL=" in one and "SECONDLY" not in one and "COUNT" not in one and "UNTIL" not in one
        assert not re.match(r".*?BYDAY[:=][0-9]+[a-zA-Z]{2}", one)
        assert "BYYEARDAY" not in one and "BYWEEKNO" not in one and "EXDATE" not in one and "RDATE" not in one


@pytest.mark.parametrize("expression, field", [
    ("0 2 1 *", "has 4 fields"), ("60 2 * * *", "minute field"), ("0 24 * * *", "hour field"),
    ("0 0 0 * *", "day-of-month field"), ("0 0 * 13 *", "month field"), ("0 0 * * 8", "day-of-week field"),
    ("0 0 * * fry", "day-of-week field"), ("*/0 * * * *", "minute field"), ("0 0 30 2 *", "never runs"),
    ("@reboot", "unknown @ form"), ("0 0 L * *", "day-of-month field"),
])
def test_bad_expressions_are_refused_naming_the_key_and_field(expression: str, field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(field)) as refused:
        cron_to_rrule(expression, key="stripe")
    assert str(refused.value).startswith("key 'stripe': apikeys_schedule")


def test_a_step_after_a_single_value_is_read_as_debian_cron_reads_it() -> None:
    """Where cron implementations disagree, the rule follows module_utils/_schedule.py (Debian's cron, which stops
    at "1/10" after the 1; croniter reads days 1, 11, 21, 31): the same days every run checks against."""
    assert "BYMONTHDAY=1;" in cron_to_rrule("0 6 1/10 * *")


def test_the_at_forms_are_their_five_fields() -> None:
    assert cron_to_rrule("@weekly").split(" ", 1)[1] == cron_to_rrule("0 0 * * 0").split(" ", 1)[1]


def test_bad_timezone_and_dtstart_are_refused() -> None:
    with pytest.raises(ConfigError, match="timezone"):
        cron_to_rrule("0 2 * * *", "UTC; RRULE:FREQ=SECONDLY")
    with pytest.raises(ConfigError, match="dtstart"):
        cron_to_rrule("0 2 * * *", "UTC", "2026-01-01")


def test_a_rule_starts_after_its_dtstart_only() -> None:
    rule = cron_to_rrule("0 2 * * *", "UTC", "20300101T000000")
    first = next_from_rrule(rule, datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")), 1)[0]
    assert first == datetime(2030, 1, 1, 2, 0, tzinfo=ZoneInfo("UTC"))
    assert first - timedelta(hours=2) == datetime(2030, 1, 1, tzinfo=ZoneInfo("UTC"))
