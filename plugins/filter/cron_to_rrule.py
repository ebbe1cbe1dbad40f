# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter apikeys.rotation.cron_to_rrule (documented in cron_to_rrule.yml beside): a key's ``apikeys_schedule``
as the iCalendar RRULE an AWX schedule takes.

The expression is parsed and checked by module_utils/_schedule.py (cron-converter, the @ forms, cron's day rule),
as for every run; this only writes the RRULE. Every field becomes an explicit list, so the rule does not depend on
DTSTART: FREQ=DAILY, with BYHOUR and BYMINUTE (which expand a day into its times) and BYMONTH, BYMONTHDAY, BYDAY
(which keep only the days they name). cron's one irregular rule: when both day fields are restricted (neither
starts with ``*``) a day matches if EITHER matches; an RRULE's parts all have to match, so that case is two
RRULEs (AWX schedules accept several, and run at their union).
"""
from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.apikeys.rotation.plugins.plugin_utils import _preload

_preload.preload(_preload.FILTERS)  # the collection's modules below, from their byte code (plugin_utils/_preload.py)
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ConfigError
from ansible_collections.apikeys.rotation.plugins.module_utils._schedule import Schedule, parse_schedule

# cron counts weekdays from Sunday = 0; iCalendar names them.
ICAL_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")
DTSTART = re.compile(r"^\d{8}T\d{6}$")
TIMEZONE = re.compile(r"^[A-Za-z0-9_+\-/]+$")


def _join(values: Any) -> str:
    return ",".join(str(v) for v in sorted(values))


def _rule(schedule: Schedule, days: bool, weekdays: bool) -> str:
    parts = ["FREQ=DAILY", "INTERVAL=1"]
    if schedule.months != frozenset(range(1, 13)):
        parts.append("BYMONTH=" + _join(schedule.months))
    if days and schedule.days != frozenset(range(1, 32)):
        parts.append("BYMONTHDAY=" + _join(schedule.days))
    if weekdays and schedule.weekdays != frozenset(range(7)):
        parts.append("BYDAY=" + ",".join(ICAL_DAYS[day] for day in sorted(schedule.weekdays)))
    parts.append("BYHOUR=" + _join(schedule.hours))
    parts.append("BYMINUTE=" + _join(schedule.minutes))
    return "RRULE:" + ";".join(parts)


def cron_to_rrule(expression: Any, timezone: str = "UTC", dtstart: str = "20260101T000000", key: str = "schedule") -> str:
    """``DTSTART;TZID=<timezone>:<dtstart> RRULE:...`` [`` RRULE:...``] for a cron expression.

    Raises ConfigError naming ``key``, the variable and the field.
    """
    if not DTSTART.match(str(dtstart)):
        raise ConfigError(key, "dtstart", "must look like 20260101T000000 (local time in the timezone)")
    if not TIMEZONE.match(str(timezone)):
        raise ConfigError(key, "timezone", "is not an IANA time zone name such as UTC or Europe/Berlin")
    schedule = parse_schedule(key, expression)
    if schedule is None:
        raise ConfigError(key, "apikeys_schedule", "is empty: there is no schedule to convert")
    if schedule.either_day:  # cron: either day field may match; one RRULE per field, AWX runs at their union
        rules = [_rule(schedule, days=True, weekdays=False), _rule(schedule, days=False, weekdays=True)]
    else:
        rules = [_rule(schedule, days=True, weekdays=True)]
    return " ".join([f"DTSTART;TZID={timezone}:{dtstart}", *rules])


def _cron_to_rrule(expression: Any, timezone: str = "UTC", dtstart: str = "20260101T000000", key: str = "schedule") -> str:
    try:
        return cron_to_rrule(expression, timezone, dtstart, key)
    except ConfigError as exc:
        raise AnsibleFilterError(f"cron_to_rrule: {exc}") from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cron_to_rrule": _cron_to_rrule}
