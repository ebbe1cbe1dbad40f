# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter apikeys.rotation.cron_to_rrule (documented in cron_to_rrule.yml beside): a 5-field cron expression as
the iCalendar RRULE an AWX schedule takes.

Every field is expanded to an explicit list, so the rule does not depend on DTSTART: FREQ=DAILY, with BYHOUR
and BYMINUTE (which expand a day into its times) and BYMONTH, BYMONTHDAY, BYDAY (which keep only the days
they name). cron's one irregular rule: when both day fields are restricted (neither starts with ``*``) a day
matches if EITHER matches; an RRULE's parts all have to match, so that case is two RRULEs (AWX schedules
accept several, and take their union).
"""
from __future__ import annotations

import calendar
import re
from typing import Any, Optional

from ansible.errors import AnsibleFilterError

MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}
WEEKDAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
# cron counts weekdays from Sunday = 0 (7 is Sunday too); iCalendar names them.
ICAL_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")
# (name, lowest, highest, names) per field, in cron's order
FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}), ("month", 1, 12, MONTHS),
          ("day of week", 0, 7, WEEKDAYS))
TERM = re.compile(r"^(?:(?P<star>\*)|(?P<low>\w+)(?:-(?P<high>\w+))?)(?:/(?P<step>\d+))?$")
DTSTART = re.compile(r"^\d{8}T\d{6}$")


class CronError(ValueError):
    """A cron expression this filter cannot turn into an RRULE; the message names the field."""


def _number(text: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    value = names.get(text.lower()) if not text.isdigit() else int(text)
    if value is None or not low <= value <= high:
        raise CronError(f"{field} field: {text!r} is not a number from {low} to {high}"
                        + (" or a name such as " + ", ".join(list(names)[:3]) if names else ""))
    return value


def expand(text: str, field: str, low: int, high: int, names: Optional[dict[str, int]] = None) -> list[int]:
    """The sorted values one cron field stands for: lists, ranges, steps and names, as Vixie cron reads them."""
    values: set[int] = set()
    for term in text.split(","):
        match = TERM.match(term)
        if not match:
            raise CronError(f"{field} field: {term!r} is not a value, a range a-b, a step */n or a-b/n")
        step = int(match["step"] or 1)
        if step < 1:
            raise CronError(f"{field} field: the step in {term!r} must be 1 or more")
        if match["star"]:
            first, last = low, high
        else:
            first = _number(match["low"], field, low, high, names or {})
            # "a/n" runs from a to the end of the field, as in cronie and croniter
            last = _number(match["high"], field, low, high, names or {}) if match["high"] else (
                high if match["step"] else first)
            if last < first:
                raise CronError(f"{field} field: the range {term!r} runs backwards")
        values.update(range(first, last + 1, step))
    return sorted(values)


def parse(expression: str) -> dict[str, Any]:
    """The expanded fields of a 5-field cron expression, and which of the two day fields are restricted."""
    if not isinstance(expression, str):
        raise CronError(f"expected a cron expression as a string, got {type(expression).__name__}")
    parts = expression.split()
    if len(parts) != 5:
        raise CronError(f"{expression!r} has {len(parts)} fields; a cron expression has 5: "
                        "minute hour day-of-month month day-of-week")
    minutes, hours, days, months, weekdays = (expand(part, *spec) for part, spec in zip(parts, FIELDS))
    weekdays = sorted({day % 7 for day in weekdays})
    if not any(day <= calendar.monthrange(2024, month)[1] for month in months for day in days):
        raise CronError(f"{expression!r} never runs: no month of {months} has a day in {days}")
    return {"minutes": minutes, "hours": hours, "days": days, "months": months, "weekdays": weekdays,
            "days_restricted": not parts[2].startswith("*"), "weekdays_restricted": not parts[4].startswith("*")}


def _rule(fields: dict[str, Any], days: bool, weekdays: bool) -> str:
    parts = ["FREQ=DAILY", "INTERVAL=1"]
    if fields["months"] != list(range(1, 13)):
        parts.append("BYMONTH=" + ",".join(map(str, fields["months"])))
    if days and fields["days"] != list(range(1, 32)):
        parts.append("BYMONTHDAY=" + ",".join(map(str, fields["days"])))
    if weekdays and fields["weekdays"] != list(range(7)):
        parts.append("BYDAY=" + ",".join(ICAL_DAYS[day] for day in fields["weekdays"]))
    parts.append("BYHOUR=" + ",".join(map(str, fields["hours"])))
    parts.append("BYMINUTE=" + ",".join(map(str, fields["minutes"])))
    return "RRULE:" + ";".join(parts)


def cron_to_rrule(expression: str, timezone: str = "UTC", dtstart: str = "20260101T000000") -> str:
    """``DTSTART;TZID=<timezone>:<dtstart> RRULE:...`` [`` RRULE:...``] for a 5-field cron expression."""
    if not DTSTART.match(str(dtstart)):
        raise CronError(f"dtstart {dtstart!r} must look like 20260101T000000 (local time in the timezone)")
    if not re.match(r"^[A-Za-z0-9_+\-/]+$", str(timezone)):
        raise CronError(f"timezone {timezone!r} is not an IANA time zone name such as UTC or Europe/Berlin")
    fields = parse(expression)
    if fields["days_restricted"] and fields["weekdays_restricted"]:
        # cron: either day field may match; one RRULE per field, AWX runs at their union
        rules = [_rule(fields, days=True, weekdays=False), _rule(fields, days=False, weekdays=True)]
    else:
        rules = [_rule(fields, days=True, weekdays=True)]
    return " ".join([f"DTSTART;TZID={timezone}:{dtstart}", *rules])


def _cron_to_rrule(expression: Any, timezone: str = "UTC", dtstart: str = "20260101T000000") -> str:
    try:
        return cron_to_rrule(expression, timezone, dtstart)
    except CronError as exc:
        raise AnsibleFilterError(f"cron_to_rrule: {exc}") from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cron_to_rrule": _cron_to_rrule}
