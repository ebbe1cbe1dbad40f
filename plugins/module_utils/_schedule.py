# Internal to this collection: not a public API; may change without notice.
"""A key's ``apikeys_schedule``: a 5-field cron expression, checked before anything runs, and described.

Parsing and range checks are cron-converter's (strict: exactly the five fields Debian's cron reads,
no seconds, years or ``L``/``#`` extensions, which Debian's cron would reject or read differently);
descriptions are cron-descriptor's. docs/schedules.md compares the libraries and says why.

What runs when is evaluated here on the parsed field values, with cron's own day rule (Vixie cron,
Debian's ``cron``): when both day-of-month and day-of-week are restricted (neither starts with
``*``), a day matches if EITHER matches; otherwise both must. cron-converter's own iterator ANDs
them, which is not what cron does. Times are the host's local time, as cron's are.

How the schedule relates to ``apikeys_rotation_frequency``: the schedule says when runs happen;
the frequency says when a key is due. A key that becomes due between two runs is rotated at the
next one, so it lives at most frequency + the schedule's longest gap, plus the grace period of its
successor's rotation. A schedule whose longest gap is longer than frequency - grace would let a key
live longer than two rotation periods (a whole cycle skipped): it is refused.

Messages name the key, ``apikeys_schedule`` and the bad field, never the value.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Optional

from ._errors import ConfigError
from ._lazy import available, load
from ._timeutil import format_duration, from_iso, to_iso

# Both libraries are only found here and imported when a key has a schedule (_parse(), describe()): every run
# imports this module (the argument spec), most keys have no schedule, and the imports cost ~20-30 ms of CPU.
HAS_CRON_CONVERTER = available("cron_converter")  # else reported when a key has a schedule
HAS_CRON_DESCRIPTOR = available("cron_descriptor")  # else the expression stands in for its description

VARIABLE = "apikeys_schedule"
FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
ALLOWED = {"minute": "0-59", "hour": "0-23", "day-of-month": "1-31", "month": "1-12 or JAN-DEC",
           "day-of-week": "0-7 or SUN-SAT"}
#: the @ forms Debian's cron accepts, as their five fields (@reboot is not a schedule)
MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
          "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
#: how far ahead runs are looked for: 8 years hold two 29 Februaries and every weekday of every date
HORIZON_DAYS = 8 * 366

#: apikeys_rollback_watch / apikeys_rollback_poll defaults (argument spec and role docs repeat them)
ROLLBACK_WATCH = "2m"
ROLLBACK_POLL = "10s"


@dataclass(frozen=True)
class Schedule:
    """A checked cron expression: the values each field allows, and cron's day rule."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]   # 0 = Sunday
    either_day: bool           # day-of-month OR day-of-week (both restricted), else AND

    def fires_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_date, by_weekday = day.day in self.days, day.isoweekday() % 7 in self.weekdays
        return by_date or by_weekday if self.either_day else by_date and by_weekday

    @property
    def times(self) -> tuple[int, ...]:
        """Minutes after midnight at which it runs on a day it runs, in order."""
        return tuple(sorted(h * 60 + m for h in self.hours for m in self.minutes))

    def next_run(self, after: datetime) -> Optional[datetime]:
        """The first run strictly after ``after`` (naive local time), or None within the horizon."""
        start = after.replace(second=0, microsecond=0)
        for offset in range(HORIZON_DAYS):
            day = start.date() + timedelta(days=offset)
            if not self.fires_on(day):
                continue
            midnight = datetime(day.year, day.month, day.day)
            for minute in self.times:
                run = midnight + timedelta(minutes=minute)
                if run > after:
                    return run
        return None

    def longest_gap(self, start: date) -> Optional[int]:
        """Seconds of the longest wait between two runs over the horizon from ``start``; None: fewer than two."""
        return _longest_gap(self, start)

    @property
    def description(self) -> str:
        return describe(self.expression)


@functools.lru_cache(maxsize=1024)
def describe(expression: str) -> str:
    """cron-descriptor's English description, 24-hour clock; the expression itself if it cannot say."""
    if not HAS_CRON_DESCRIPTOR:
        return expression
    try:
        cron_descriptor = load("cron_descriptor")
        options = cron_descriptor.Options()
        options.use_24hour_time_format = True
        return str(cron_descriptor.get_description(MACROS.get(expression, expression), options))
    except Exception:  # pylint: disable=broad-except  # a description is a courtesy, never a failure
        return expression


@functools.lru_cache(maxsize=256)
def _longest_gap(schedule: Schedule, start: date) -> Optional[int]:
    times = schedule.times
    within = max((b - a for a, b in zip(times, times[1:])), default=0)
    days = [start + timedelta(days=n) for n in range(HORIZON_DAYS) if schedule.fires_on(start + timedelta(days=n))]
    if len(days) < 2:
        return None
    between = max(((b - a).days * 1440 + times[0] - times[-1] for a, b in zip(days, days[1:])), default=0)
    return max(within, between) * 60


def _fields(key: str, value: Any) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, VARIABLE, "must be a cron expression of five fields (minute hour day-of-month "
                          "month day-of-week), for example \"0 3 * * 0\"")
    text = " ".join(value.split())
    if text.startswith("@"):
        if text not in MACROS:
            raise ConfigError(key, VARIABLE, f"unknown @ form; known: {', '.join(MACROS)} (@reboot is not a schedule)")
        text = MACROS[text]
    fields = text.split(" ")
    if len(fields) != 5:
        raise ConfigError(key, VARIABLE, f"has {len(fields)} field{'s' if len(fields) != 1 else ''}; a cron expression has five: minute hour "
                          "day-of-month month day-of-week (no seconds, no year)")
    return fields


@functools.lru_cache(maxsize=4096)
def _parse(value: str) -> Schedule:
    """Cached per expression (thousands of keys share a few); errors name the key as '?', replaced by the caller."""
    converter = load("cron_converter")
    key = "?"
    fields = _fields(key, value)
    for index, name in enumerate(FIELDS):  # each field alone, so the error can name it
        alone = ["*"] * 5
        alone[index] = fields[index]
        try:
            converter.Cron(" ".join(alone))
        except Exception:  # pylint: disable=broad-except  # cron-converter raises ValueError, sometimes others
            raise ConfigError(key, f"{VARIABLE} ({name} field)", f"is not a valid {name}: numbers {ALLOWED[name]}, "
                              "lists (1,15), ranges (1-5) and steps (*/2) are allowed") from None
    try:
        parts = converter.Cron(" ".join(fields)).to_list()
    except Exception:  # pylint: disable=broad-except
        raise ConfigError(key, VARIABLE, "is not a valid cron expression") from None
    schedule = Schedule(expression=" ".join(value.split()), minutes=tuple(parts[0]), hours=tuple(parts[1]),
                        days=frozenset(parts[2]), months=frozenset(parts[3]),
                        weekdays=frozenset(d % 7 for d in parts[4]),
                        either_day=not fields[2].startswith("*") and not fields[4].startswith("*"))
    if not any(schedule.fires_on(date(2024, 1, 1) + timedelta(days=n)) for n in range(HORIZON_DAYS)):
        raise ConfigError(key, f"{VARIABLE} (day-of-month and month fields)", "never runs: no month has that "
                          "day (for example 30 February)")
    return schedule


def parse_schedule(key: str, value: Any) -> Optional[Schedule]:
    """The key's schedule, checked; None when it has none. Raises ConfigError naming the field."""
    if value is None or value == "":
        return None
    if not HAS_CRON_CONVERTER:
        raise ConfigError(key, VARIABLE, "checking a schedule needs the cron-converter Python library on the "
                          "controller: pip install cron-converter cron-descriptor")
    try:
        if not isinstance(value, str):
            _fields("?", value)  # raises
        return _parse(value)
    except ConfigError as exc:
        raise ConfigError(key, exc.field, exc.problem) from None


def check_schedule(key: str, value: Any, frequency: Optional[int], grace: Optional[int],
                   today: Optional[date] = None) -> tuple[Optional[Schedule], str]:
    """``parse_schedule`` (errors refuse the key), and a warning when runs can be further apart than the frequency.

    The run's look-ahead rotates a key at the last run before it becomes due, so it is never overdue when
    runs are at most ``apikeys_rotation_frequency`` apart. Further apart (``"0 2 1 */3 *"`` is 90 to 92
    days apart; with ``90d`` a key can be 2 days overdue), the key is rotated at every run and is overdue by
    at most the difference: worth a warning, not a refusal, so an emergency or a rollback is never blocked.
    """
    schedule = parse_schedule(key, value)
    if schedule is None or frequency is None:
        return schedule, ""
    gap = schedule.longest_gap(today or datetime.now().date())
    if gap is not None and gap <= frequency:
        return schedule, ""
    seldom = "runs at most once in eight years" if gap is None else f"can wait {format_duration(gap)} between runs"
    late = "" if gap is None else f" by up to {format_duration(gap - frequency)}"
    return schedule, (f"key '{key}': apikeys_schedule {seldom} ({schedule.description}), longer than "
                      f"apikeys_rotation_frequency {format_duration(frequency)}: the key will be overdue{late} at "
                      "times; schedule runs more often or raise apikeys_rotation_frequency")


def next_run_utc(schedule: Schedule, now: datetime) -> Optional[datetime]:
    """The next run after ``now`` (aware), computed in the controller's local time as cron does, in UTC."""
    local = now.astimezone()
    run = schedule.next_run(local.replace(tzinfo=None))
    return None if run is None else run.replace(tzinfo=local.tzinfo).astimezone(timezone.utc)


def schedule_fields(schedule: Optional[Schedule], now: datetime) -> dict[str, Any]:
    """What a plan or a report shows about a key's schedule (nothing secret)."""
    if schedule is None:
        return {"schedule": None, "schedule_description": None, "next_run": None}
    run = next_run_utc(schedule, now)
    return {"schedule": schedule.expression, "schedule_description": schedule.description,
            "next_run": to_iso(run) if run is not None else None}


def with_schedule(plan: dict[str, Any], schedule: Optional[Schedule], frequency: Optional[int],
                  now: datetime) -> dict[str, Any]:
    """``plan`` (``Rotation.plan``) plus its key's schedule fields, looking ahead to the next run.

    A key that is not due yet but would be past its rotation frequency before the next scheduled run
    is due now: runs happen only at the schedule's times, so waiting would make it overdue. A key that
    stays not due says when the next run is.
    """
    fields = schedule_fields(schedule, now)
    out = dict(plan, **fields)
    run = fields["next_run"]
    if schedule is None or plan.get("action") != "none" or not run or frequency is None:
        return out
    due_at = now + timedelta(seconds=frequency - int(plan.get("age_seconds", 0)))
    if from_iso(run) > due_at:
        return dict(out, due=True, action="rotate", reason=f"{plan.get('reason', '')}; the next scheduled run, "
                    f"{run} ({fields['schedule_description']}), would be too late")
    out["reason"] = f"{plan.get('reason', '')}; next scheduled run {run} ({fields['schedule_description']})"
    return out
