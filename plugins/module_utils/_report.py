# Internal to this collection: not a public API; may change without notice.
"""The fleet report: every key's metadata as a table, an HTML page with SVG pictures, and JSON.

The input is what ``api_key_info`` (``metadata_only: true``) returned for each key, so the report
needs only the monitor policy. ``rows`` turns those results into one ``Row`` per key with its
status and the reasons for it; ``ordered`` sorts them by urgency (failed, stuck, overdue, then the
soonest due). ``text_table``, ``html_page`` and ``json_report`` render them; ``write_atomic``
writes a file so that a reader never sees half of it. Every name from the inventory is escaped
in the HTML and the SVG (``_esc``). Standard library only.
"""
from __future__ import annotations

import html
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Optional

from ._timeutil import from_iso, to_iso

SCHEMA = "apikeys.rotation/report"
VERSION = 1
#: statuses from most to least urgent; ``urgency`` in the JSON is the index here
STATUSES = ("failed", "stuck", "overdue", "ok")
HORIZON_DAYS = 90
#: the rule "key approaching max age" fires above this age / rotation frequency
MAX_AGE_RATIO = 1.5
ERROR_SHOWN = 300
#: a grace period over for longer than this with the old key still there is ``stuck`` (revoke_after_grace runs
#: every few minutes: a shorter delay is its normal latency)
STUCK_AFTER = 3600


@dataclass
class Row:
    """One key as the report shows it; times are UTC datetimes, durations seconds."""

    name: str
    provider: str = ""
    phase: str = "unknown"
    status: str = "ok"
    reasons: list[str] = field(default_factory=list)
    key_id: Optional[str] = None
    age_seconds: Optional[int] = None
    frequency_seconds: Optional[int] = None
    grace_seconds: Optional[int] = None
    due_at: Optional[datetime] = None
    overdue_seconds: Optional[int] = None
    grace_deadline: Optional[datetime] = None
    postponements: int = 0
    postponed_until: Optional[datetime] = None
    last_result: Optional[str] = None
    last_result_at: Optional[datetime] = None
    last_error: Optional[str] = None
    rotation_id: Optional[str] = None
    lease_until: Optional[datetime] = None
    previous_key_id: Optional[str] = None
    pending_key_id: Optional[str] = None

    @property
    def ratio(self) -> Optional[float]:
        if self.age_seconds is None or not self.frequency_seconds:
            return None
        return self.age_seconds / self.frequency_seconds

    @property
    def urgency(self) -> int:
        return STATUSES.index(self.status)


# -- from api_key_info results to rows -------------------------------------------------------------

def _time(value: Any) -> Optional[datetime]:
    if not value or not isinstance(value, str):
        return None
    try:
        return from_iso(value)
    except ValueError:
        return None


def _int(value: Any) -> Optional[int]:
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> Optional[str]:
    return None if value is None or value == "" else str(value)


def _when(moment: Optional[datetime]) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def row(name: str, info: Any, now: datetime, stuck_after: int = STUCK_AFTER) -> Row:
    """The report's row for one key from its ``api_key_info`` result (a failed task's result too)."""
    out = Row(name=str(name))
    if not isinstance(info, dict) or info.get("skipped"):
        out.status, out.reasons = "failed", ["no api_key_info result for this key (skipped or not run)"]
        return out
    if info.get("failed"):
        out.status = "failed"
        out.reasons = [f"metadata not readable: {str(info.get('msg') or 'failed')[:ERROR_SHOWN]}"]
        return out
    record = info.get("record") or {}
    schedule = info.get("schedule") or {}
    out.provider = str(record.get("provider") or "")
    out.phase = str(record.get("phase") or "unknown")
    out.key_id = _text(record.get("key_id"))
    rotated_at = _time(record.get("rotated_at"))
    out.frequency_seconds = _int(schedule.get("rotation_frequency_seconds"))
    out.grace_seconds = _int(schedule.get("grace_period_seconds"))
    out.age_seconds = _int(schedule.get("age_seconds"))
    if out.age_seconds is None and rotated_at is not None:
        out.age_seconds = int((now - rotated_at).total_seconds())
    out.due_at = _time(schedule.get("due_at"))
    if out.due_at is None and rotated_at is not None and out.frequency_seconds:
        out.due_at = rotated_at + timedelta(seconds=out.frequency_seconds)
    out.overdue_seconds = _int(schedule.get("overdue_seconds"))
    if out.overdue_seconds is None and out.due_at is not None:
        out.overdue_seconds = max(0, int((now - out.due_at).total_seconds()))
    out.postponements = _int(record.get("revocation_postponements")) or 0
    out.postponed_until = _time(record.get("revocation_postponed_until"))
    out.grace_deadline = _time(record.get("previous_key_revocation_at"))
    out.last_result = _text(record.get("last_result"))
    out.last_result_at = _time(record.get("last_result_at"))
    error = _text(record.get("last_error"))
    out.last_error = error[:ERROR_SHOWN] if error else None
    out.rotation_id = _text(record.get("rotation_id"))
    out.lease_until = _time(record.get("lease_until"))
    out.previous_key_id = _text(record.get("previous_key_id"))
    out.pending_key_id = _text(record.get("pending_key_id"))
    out.status, out.reasons = judge(out, now, stuck_after)
    return out


def judge(key: Row, now: datetime, stuck_after: int = STUCK_AFTER) -> tuple[str, list[str]]:
    """The key's status and why: ``failed``, ``stuck`` (needs a person or a run), ``overdue`` or ``ok``.

    The status is the most urgent that applies; the reasons are all that apply."""
    status, reasons = "ok", []
    if key.last_result and key.last_result.startswith("fail"):
        when = f" at {_when(key.last_result_at)}" if key.last_result_at else ""
        status = "failed"
        reasons.append(f"last run failed{when}: {key.last_error or 'no error message recorded'}")
    stuck = stuck_reasons(key, now, stuck_after)
    if stuck:
        status = "failed" if status == "failed" else "stuck"
        reasons += stuck
    if key.overdue_seconds:
        status = "overdue" if status == "ok" else status
        reasons.append(f"due since {_when(key.due_at)} ({coarse(key.overdue_seconds)} overdue)")
    return status, reasons


def stuck_reasons(key: Row, now: datetime, stuck_after: int = STUCK_AFTER) -> list[str]:
    """What keeps the key from finishing its cycle on its own (empty: nothing).

    A grace period counts once it is over by more than ``stuck_after`` seconds (and any postponement too)."""
    reasons = []
    if key.phase == "absent":
        reasons.append("no record at the key's vault_path: not imported yet (playbooks/import.yml)")
    if key.phase == "unknown":
        reasons.append("the record holds no metadata from apikeys.rotation (written by hand?): its state is unknown "
                       "until a task of the collection writes to it")
    if key.phase in ("intent", "pending"):
        if key.lease_until is not None and key.lease_until < now:
            reasons.append(f"rotation {key.rotation_id or '?'} left in {key.phase}: its run's lease expired at "
                           f"{_when(key.lease_until)}; the next rotate run takes it over")
    if key.phase == "grace" and key.grace_deadline is not None:
        until = max(key.grace_deadline, key.postponed_until or key.grace_deadline)
        if until + timedelta(seconds=stuck_after) < now:
            reasons.append(f"grace over since {_when(until)} ({coarse((now - until).total_seconds())} ago); "
                           f"old key {key.previous_key_id or '?'} not revoked yet")
    if key.postponements or (key.postponed_until is not None and key.postponed_until > now):
        reasons.append(f"revocation postponed {key.postponements} time(s)"
                       + (f", until {_when(key.postponed_until)}" if key.postponed_until else ""))
    if key.phase == "revoking":
        reasons.append("a rollback has not finished revoking the faulty key: run playbooks/rollback.yml again")
    return reasons


def rows(infos: dict[str, Any], now: datetime, stuck_after: int = STUCK_AFTER) -> list[Row]:
    """One row per key (``{key name: api_key_info result}``), most urgent first."""
    return ordered(row(name, info, now, stuck_after) for name, info in infos.items())


def ordered(keys: Iterable[Row]) -> list[Row]:
    """Failed first, then stuck, then overdue, then the rest; within each, the earliest due first, then by name."""
    far = datetime.max.replace(tzinfo=timezone.utc)
    return sorted(keys, key=lambda k: (k.urgency, k.due_at or far, k.name))


def summary(keys: list[Row], now: datetime, horizon_days: int = HORIZON_DAYS) -> dict[str, int]:
    counts = {status: sum(1 for k in keys if k.status == status) for status in STATUSES}
    end = now + timedelta(days=horizon_days)
    counts.update(keys=len(keys), due_within_horizon=sum(1 for k in keys if k.due_at is not None and k.due_at < end))
    return counts


# -- the text table (stdout) -----------------------------------------------------------------------

COLUMNS = ("STATUS", "KEY", "PROVIDER", "PHASE", "AGE", "FREQUENCY", "AGE/FREQ", "DUE AT (UTC)", "GRACE DEADLINE",
           "LAST RESULT")


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


def coarse(seconds: float) -> str:
    """A duration for people, to its two largest units: ``50d``, ``3d4h``, ``2h5m``, ``4m10s``."""
    whole = int(seconds)
    if whole < 0:
        return "-" + coarse(-whole)
    for size, unit, small, small_unit in ((86400, "d", 3600, "h"), (3600, "h", 60, "m"), (60, "m", 1, "s")):
        if whole >= size:
            rest = (whole % size) // small
            return f"{whole // size}{unit}" + (f"{rest}{small_unit}" if rest else "")
    return f"{whole}s"


def _dur(seconds: Optional[int]) -> str:
    return coarse(seconds) if seconds is not None else "-"


def _ratio(key: Row) -> str:
    return f"{key.ratio:.2f}x" if key.ratio is not None else "-"


def _last(key: Row) -> str:
    if not key.last_result:
        return "-"
    return key.last_result + (f" {_when(key.last_result_at)}" if key.last_result_at else "")


def _grace(key: Row) -> str:
    """The grace deadline in force: the record's, or a later postponement's."""
    if key.grace_deadline is not None and key.postponed_until is not None and key.postponed_until > key.grace_deadline:
        return _when(key.postponed_until) + " (postponed)"
    return _when(key.grace_deadline)


def cells(key: Row) -> tuple[str, ...]:
    return (key.status, key.name, key.provider or "-", key.phase, _dur(key.age_seconds), _dur(key.frequency_seconds),
            _ratio(key), _when(key.due_at), _grace(key), _last(key))


def text_table(keys: list[Row], now: datetime) -> list[str]:
    """The table (one line per key, most urgent first), then one line per reason for each key that needs a person."""
    table = [COLUMNS] + [tuple(_printable(c) for c in cells(k)) for k in keys]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in table]
    counts = summary(keys, now)
    lines.append(f"{counts['keys']} keys at {to_iso(now)}: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES))
    attention = [k for k in keys if k.status != "ok"]
    if attention:
        lines.append("needs attention:")
        lines += [f"  {_printable(k.name)}: {_printable(reason)}" for k in attention for reason in k.reasons]
    return lines


# -- JSON ------------------------------------------------------------------------------------------

def _iso(moment: Optional[datetime]) -> Optional[str]:
    return to_iso(moment) if moment else None


def key_json(key: Row) -> dict[str, Any]:
    return {
        "name": key.name, "provider": key.provider or None, "status": key.status, "urgency": key.urgency,
        "reasons": list(key.reasons), "phase": key.phase, "key_id": key.key_id, "age_seconds": key.age_seconds,
        "rotation_frequency_seconds": key.frequency_seconds, "grace_period_seconds": key.grace_seconds,
        "age_ratio": round(key.ratio, 4) if key.ratio is not None else None,
        "due_at": _iso(key.due_at), "overdue_seconds": key.overdue_seconds, "grace_deadline": _iso(key.grace_deadline),
        "revocation_postponements": key.postponements, "revocation_postponed_until": _iso(key.postponed_until),
        "last_result": key.last_result, "last_result_at": _iso(key.last_result_at), "last_error": key.last_error,
        "rotation_id": key.rotation_id, "lease_until": _iso(key.lease_until),
        "previous_key_id": key.previous_key_id, "pending_key_id": key.pending_key_id,
    }


def json_report(keys: list[Row], now: datetime, horizon_days: int = HORIZON_DAYS) -> dict[str, Any]:
    """The machine-readable report (schema ``SCHEMA``, ``VERSION``; documented in docs/report.md)."""
    return {
        "schema": SCHEMA, "version": VERSION, "generated_at": to_iso(now), "horizon_days": horizon_days,
        "summary": summary(keys, now, horizon_days),
        "keys": [key_json(k) for k in keys],
        "calendar": [{"date": day.isoformat(), "keys": [k.name for k in due]}
                     for day, due in sorted(calendar(keys, now, horizon_days).items())],
    }


# -- the calendar ----------------------------------------------------------------------------------

def calendar(keys: list[Row], now: datetime, horizon_days: int = HORIZON_DAYS) -> dict[date, list[Row]]:
    """Keys due from today (UTC) for ``horizon_days`` days, by day; keys already overdue are not in it."""
    first = now.date()
    days: dict[date, list[Row]] = {}
    for key in keys:
        if key.due_at is None or key.due_at < now:
            continue
        day = key.due_at.date()
        if (day - first).days < horizon_days:
            days.setdefault(day, []).append(key)
    return days


# -- SVG and HTML ----------------------------------------------------------------------------------

def _esc(text: Any) -> str:
    """Text for HTML and XML (SVG) content and attributes: & < > " ' escaped."""
    return html.escape(str(text), quote=True)


COLOURS = {"failed": "#b71c1c", "stuck": "#e65100", "overdue": "#f9a825", "ok": "#2e7d32"}


def _bar_colour(ratio: float) -> str:
    if ratio > MAX_AGE_RATIO:
        return "#c62828"
    if ratio >= 1.0:
        return "#f9a825"
    return "#43a047"


def svg_age_bars(keys: list[Row], limit: int = 200) -> str:
    """Horizontal bars: each key's age as a multiple of its rotation frequency, with the 1.0x and 1.5x marks."""
    shown = keys[:limit]
    label_w, plot_w, right_w, row_h, top = 230, 480, 90, 20, 34
    ratios = [k.ratio for k in shown if k.ratio is not None]
    scale = max(2.0, min(max(ratios, default=0.0), 3.0))
    width, height = label_w + plot_w + right_w, top + row_h * max(len(shown), 1) + 24

    def x(ratio: float) -> float:
        return label_w + plot_w * min(ratio, scale) / scale

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             'role="img" aria-labelledby="age-title" font-family="sans-serif" font-size="12">',
             '<title id="age-title">Key age as a multiple of its rotation frequency</title>']
    tick = 0.0
    while tick <= scale + 1e-9:
        parts.append(f'<line x1="{x(tick):.1f}" y1="{top - 6}" x2="{x(tick):.1f}" y2="{height - 24}" stroke="#e0e0e0"/>')
        parts.append(f'<text x="{x(tick):.1f}" y="{height - 8}" text-anchor="middle" fill="#555">{tick:.1f}x</text>')
        tick += 0.5
    for mark, colour, label in ((1.0, "#f57f17", "1.0x due"), (MAX_AGE_RATIO, "#c62828", "1.5x alert")):
        parts.append(f'<line x1="{x(mark):.1f}" y1="{top - 10}" x2="{x(mark):.1f}" y2="{height - 24}" stroke="{colour}" '
                     'stroke-width="2" stroke-dasharray="5,3"/>')
        parts.append(f'<text x="{x(mark):.1f}" y="{top - 14}" text-anchor="middle" fill="{colour}" '
                     f'font-weight="bold">{label}</text>')
    for i, key in enumerate(shown):
        y = top + i * row_h
        parts.append(f'<g><title>{_esc(_bar_title(key))}</title>')
        parts.append(f'<circle cx="8" cy="{y + row_h / 2:.1f}" r="5" fill="{COLOURS[key.status]}"/>')
        parts.append(f'<text x="18" y="{y + 14}" fill="#222">{_esc(_short(key.name, 30))}</text>')
        if key.ratio is None:
            parts.append(f'<text x="{label_w + 4}" y="{y + 14}" fill="#777">no age data ({_esc(key.phase)})</text>')
        else:
            end = x(key.ratio)
            parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{max(end - label_w, 1):.1f}" height="{row_h - 8}" '
                         f'fill="{_bar_colour(key.ratio)}"/>')
            if key.ratio > scale:
                parts.append(f'<path d="M{end:.1f},{y + 3} l8,{row_h / 2 - 3:.1f} l-8,{row_h / 2 - 3:.1f} z" fill="#c62828"/>')
            parts.append(f'<text x="{label_w + plot_w + 12}" y="{y + 14}" fill="#222">{key.ratio:.2f}x</text>')
        parts.append('</g>')
    parts.append('</svg>')
    return "\n".join(parts)


def _short(text: str, size: int) -> str:
    return text if len(text) <= size else text[:size - 1] + "\u2026"


def _bar_title(key: Row) -> str:
    return (f"{key.name} ({key.provider or '-'}): {key.status}, phase {key.phase}, age {_dur(key.age_seconds)} of "
            f"{_dur(key.frequency_seconds)} ({_ratio(key)}), due {_when(key.due_at)} UTC")


def _shade(count: int) -> str:
    if count <= 0:
        return "#ebedf0"
    return ("#c6e48b", "#7bc96f", "#239a3b", "#196127")[min(count, 4) - 1]


def svg_calendar(keys: list[Row], now: datetime, horizon_days: int = HORIZON_DAYS) -> str:
    """What is due in the next ``horizon_days`` days: one square per day (weeks as columns, Monday on top),
    the number of keys due in it, their names in the square's tooltip; keys already overdue in a box of their own."""
    due = calendar(keys, now, horizon_days)
    overdue = [k for k in keys if k.due_at is not None and k.due_at < now]
    first = now.date()
    start = first - timedelta(days=first.weekday())
    weeks = ((first - start).days + horizon_days + 6) // 7
    cell, gap, left, top = 24, 3, 150, 34
    width, height = left + weeks * (cell + gap) + 10, top + 7 * (cell + gap) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             'role="img" aria-labelledby="cal-title" font-family="sans-serif" font-size="11">',
             f'<title id="cal-title">Keys due per day, {first.isoformat()} and the {horizon_days - 1} days after</title>',
             f'<g><title>{_esc(_names("already overdue", overdue))}</title>',
             f'<rect x="4" y="{top}" width="100" height="{3 * (cell + gap) - gap}" rx="3" '
             f'fill="{"#c62828" if overdue else "#ebedf0"}"/>',
             f'<text x="54" y="{top + 30}" text-anchor="middle" font-size="22" fill="{"#fff" if overdue else "#555"}">'
             f'{len(overdue)}</text>',
             f'<text x="54" y="{top + 52}" text-anchor="middle" fill="{"#fff" if overdue else "#555"}">overdue</text></g>']
    for row_i, day_name in enumerate(("Mon", "Wed", "Fri", "Sun")):
        parts.append(f'<text x="{left - 6}" y="{top + (2 * row_i) * (cell + gap) + 16}" text-anchor="end" '
                     f'fill="#555">{day_name}</text>')
    next_month = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    day_one_col = (next_month - start).days // 7
    labelled = False
    for offset in range((first - start).days + horizon_days):
        day = start + timedelta(days=offset)
        col, weekday = divmod(offset, 7)
        cx, cy = left + col * (cell + gap), top + weekday * (cell + gap)
        if (day.day == 1 and day >= first) or (day == first and day_one_col not in (col + 1, col + 2)):
            label = day.strftime("%b %Y" if not labelled or day.month == 1 else "%b")
            labelled = True
            parts.append(f'<text x="{cx}" y="{top - 8}" fill="#555">{label}</text>')
        if day < first:
            parts.append(f'<rect x="{cx}" y="{cy}" width="{cell}" height="{cell}" rx="3" fill="none" stroke="#eee"/>')
            continue
        today = ' stroke="#1565c0" stroke-width="2"' if day == first else ""
        on_day = due.get(day, [])
        parts.append(f'<g><title>{_esc(_names(day.isoformat(), on_day))}</title>'
                     f'<rect x="{cx}" y="{cy}" width="{cell}" height="{cell}" rx="3" fill="{_shade(len(on_day))}"{today}/>')
        if on_day:
            colour = "#fff" if len(on_day) >= 2 else "#222"
            parts.append(f'<text x="{cx + cell / 2}" y="{cy + 16}" text-anchor="middle" fill="{colour}">{len(on_day)}</text>')
        parts.append('</g>')
    legend_y = height - 10
    parts.append(f'<text x="{left}" y="{legend_y}" fill="#555">keys due that day (UTC): </text>')
    for i, count in enumerate((0, 1, 2, 3, 4)):
        lx = left + 150 + i * 34
        parts.append(f'<rect x="{lx}" y="{legend_y - 11}" width="12" height="12" rx="2" fill="{_shade(count)}"/>')
        parts.append(f'<text x="{lx + 15}" y="{legend_y}" fill="#555">{count}{"+" if count == 4 else ""}</text>')
    parts.append('</svg>')
    return "\n".join(parts)


def _names(label: str, keys: list[Row], shown: int = 25) -> str:
    if not keys:
        return f"{label}: none"
    names = ", ".join(k.name for k in keys[:shown])
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return f"{label}: {len(keys)} key(s): {names}{more}"


STYLE = """
body { font-family: sans-serif; margin: 1.5em 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; white-space: nowrap; }
td.why { white-space: normal; } td ul { margin: 0; padding-left: 1.2em; }
th { background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status { font-weight: bold; color: #fff; border-radius: 3px; padding: 1px 6px; }
.failed { background: #b71c1c; } .stuck { background: #e65100; } .overdue { background: #f9a825; color: #222; }
.ok { background: #2e7d32; }
.counts span { margin-right: 1.2em; }
.note { color: #555; font-size: 0.9em; }
"""


def _status(status: str) -> str:
    return f'<span class="status {_esc(status)}">{_esc(status)}</span>'


def _html_table(keys: list[Row]) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in ("status", "key", "provider", "phase", "age", "frequency",
                                                   "age / frequency", "due at (UTC)", "grace deadline (UTC)",
                                                   "last result", "key id"))
    body = []
    for key in keys:
        status, name, provider, phase_, age, frequency, ratio, due, grace, last = cells(key)
        body.append(f"<tr><td>{_status(status)}</td><td>{_esc(name)}</td><td>{_esc(provider)}</td>"
                    f"<td>{_esc(phase_)}</td><td class=\"num\">{_esc(age)}</td><td class=\"num\">{_esc(frequency)}</td>"
                    f"<td class=\"num\">{_esc(ratio)}</td><td>{_esc(due)}</td><td>{_esc(grace)}</td>"
                    f"<td>{_esc(last)}</td><td>{_esc(key.key_id or '-')}</td></tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"


def _stuck_list(keys: list[Row]) -> str:
    attention = [k for k in keys if k.status in ("failed", "stuck")]
    if not attention:
        return '<p class="note">Nothing is stuck: no failed run, expired lease, overdue grace, postponement or ' \
               'unfinished rollback.</p>'
    items = []
    for key in attention:
        reasons = "".join(f"<li>{_esc(reason)}</li>" for reason in key.reasons)
        items.append(f"<tr><td>{_status(key.status)}</td><td>{_esc(key.name)}</td><td>{_esc(key.provider or '-')}</td>"
                     f"<td>{_esc(key.phase)}</td><td class=\"why\"><ul>{reasons}</ul></td></tr>")
    return ("<table>\n<thead><tr><th>status</th><th>key</th><th>provider</th><th>phase</th><th>why</th></tr></thead>\n"
            "<tbody>\n" + "\n".join(items) + "\n</tbody>\n</table>")


def _due_list(keys: list[Row], now: datetime, horizon_days: int) -> str:
    days = calendar(keys, now, horizon_days)
    if not days:
        return f'<p class="note">No key is due in the next {horizon_days} days.</p>'
    items = "".join(f"<li>{_esc(day.isoformat())}: {_esc(', '.join(k.name for k in due))}</li>"
                    for day, due in sorted(days.items()))
    return f"<ul>{items}</ul>"


def html_page(keys: list[Row], now: datetime, *, title: str = "API key fleet report",
              horizon_days: int = HORIZON_DAYS, chart_limit: int = 200) -> str:
    """One self-contained page (inline CSS and SVG, no script, no external asset); well-formed XML too."""
    counts = summary(keys, now, horizon_days)
    shown = min(len(keys), chart_limit)
    omitted = f" The {shown} most urgent of {len(keys)} keys are drawn; the table lists all." if shown < len(keys) else ""
    count_line = "".join(f'<span>{_status(s)} {counts[s]}</span>' for s in STATUSES)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>{_esc(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{_esc(title)}</h1>
<p>{counts['keys']} keys, generated {_esc(to_iso(now))} from each key's record metadata (no secret was read).
{counts['due_within_horizon']} due within {horizon_days} days.</p>
<p class="counts">{count_line}</p>
<h2>Needs attention</h2>
<p class="note">Failed runs, and what is stuck: a rotation left in intent or pending after its lease expired, a grace
period over with the old key not revoked, a postponed revocation, an unfinished rollback, a key with no record.</p>
{_stuck_list(keys)}
<h2>Age against rotation frequency</h2>
<p class="note">Each bar is a key's age as a multiple of its rotation frequency: due at 1.0x, the "key approaching
max age" alert fires above 1.5x. Bars: green below 1.0x, amber from 1.0x, red above 1.5x; the dot is the key's
status.{_esc(omitted)}</p>
{svg_age_bars(keys, chart_limit)}
<h2>Due in the next {horizon_days} days</h2>
{svg_calendar(keys, now, horizon_days)}
{_due_list(keys, now, horizon_days)}
<h2>All keys, most urgent first</h2>
{_html_table(keys)}
<p class="note">apikeys.rotation fleet report, schema {SCHEMA} version {VERSION}.</p>
</body>
</html>
"""


# -- files -----------------------------------------------------------------------------------------

def write_atomic(path: str, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def render(keys: list[Row], now: datetime, *, title: str, horizon_days: int, chart_limit: int) -> dict[str, str]:
    """The three files' contents: ``{"html": ..., "json": ..., "text": ...}``."""
    return {
        "html": html_page(keys, now, title=title, horizon_days=horizon_days, chart_limit=chart_limit),
        "json": json.dumps(json_report(keys, now, horizon_days), indent=2, sort_keys=False) + "\n",
        "text": "\n".join(text_table(keys, now)) + "\n",
    }
