# Internal to this collection: not a public API; may change without notice.
"""UTC timestamps and durations as written in the inventory (``90d``, ``12h``, ``1h30m``)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")
_WHOLE = re.compile(r"^(?:\d+[smhdw])+$")

DURATION_HELP = "expected a positive duration such as 45s, 30m, 12h, 90d, 2w or 1h30m"


def parse_duration(text: object, allow_zero: bool = False) -> int:
    """Return seconds for a duration string. Raises ValueError (without echoing the value)."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(DURATION_HELP)
    value = str(text).strip().lower()
    if value.isdigit():
        raise ValueError(DURATION_HELP + " (a unit is required)")
    if not _WHOLE.match(value):
        raise ValueError(DURATION_HELP)
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(value))
    if seconds <= 0 and not allow_zero:
        raise ValueError(DURATION_HELP + " (zero is not allowed)")
    return seconds


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 0:
        return "-" + format_duration(-seconds)
    out = []
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size or (unit == "s" and not out):
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(text: str) -> datetime:
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def add_seconds(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)
