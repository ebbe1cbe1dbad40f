"""The fleet report: status and urgency order, the SVG and HTML (well-formed, escaped, self-contained), the JSON schema,
the atomic file writes and the api_key_report action (check mode writes nothing)."""
from __future__ import annotations

import json
import os
import stat
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import jsonschema
import pytest

from ansible_collections.apikeys.rotation.plugins.action.api_key_report import ActionModule
from ansible_collections.apikeys.rotation.plugins.module_utils import _report as report
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import to_iso

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "docs" / "report.schema.json").read_text())
SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
DAY = 86400
HOSTILE = "<script>alert(\"x\")</script>&'k"


def info(phase: str = "idle", age_days: float = 10, freq_days: int = 30, **record: Any) -> dict[str, Any]:
    """An api_key_info (metadata_only) result as the contract describes it."""
    rotated = NOW - timedelta(days=age_days)
    due = rotated + timedelta(days=freq_days)
    base = {"exists": True, "phase": phase, "key_id": f"kid-{phase}", "rotated_at": to_iso(rotated),
            "provider": "sendgrid", "revocation_postponements": 0, "last_result": "verified",
            "last_result_at": to_iso(NOW - timedelta(hours=3))}
    base.update(record)
    return {"changed": False, "record": base,
            "schedule": {"rotation_frequency_seconds": freq_days * DAY, "grace_period_seconds": 3600,
                         "age_seconds": int(age_days * DAY), "due_at": to_iso(due),
                         "overdue_seconds": max(0, int((NOW - due).total_seconds()))}}


def at(**delta: float) -> str:
    return to_iso(NOW + timedelta(**delta))


FLEET = {
    "fresh": info(age_days=2),
    "soon": info(age_days=29),
    "overdue-a-little": info(age_days=31),
    "overdue-a-lot": info(age_days=90),
    "failed-run": info(age_days=5, last_result="failed", last_error="HTTP 500 from the provider"),
    "unreadable": {"failed": True, "msg": "key 'unreadable': permission denied", "error": "store_forbidden"},
    "lease-expired": info("intent", age_days=31, rotation_id="r-1", lease_until=at(minutes=-5)),
    "grace-over": info("grace", age_days=1, previous_key_id="old", previous_key_revocation_at=at(hours=-2)),
    HOSTILE: info(age_days=20),
}


def fleet_rows() -> list[report.Row]:
    return report.rows(FLEET, NOW)


# -- status and order --------------------------------------------------------------------------------

def test_failed_then_stuck_then_overdue_then_soonest_due() -> None:
    names = [k.name for k in fleet_rows()]

    assert names == ["failed-run", "unreadable",            # failed: the earliest due first, unknown due last
                     "lease-expired", "grace-over",         # stuck
                     "overdue-a-lot", "overdue-a-little",   # overdue: the longest overdue first
                     "soon", HOSTILE, "fresh"]              # the rest: the soonest due first


@pytest.mark.parametrize("name, given, status, reason", [
    ("idle, young", info(age_days=10), "ok", None),
    ("idle, just due", info(age_days=30.01), "overdue", "overdue"),
    ("last run failed", info(last_result="failed", last_error="boom"), "failed", "last run failed at 2026-11-26 09:00: boom"),
    ("info task failed", {"failed": True, "msg": "forbidden"}, "failed", "metadata not readable: forbidden"),
    ("info task skipped", {"skipped": True}, "failed", "no api_key_info result"),
    ("intent, lease expired", info("intent", lease_until=at(seconds=-1)), "stuck", "lease expired"),
    ("intent, lease alive", info("intent", lease_until=at(minutes=5)), "ok", None),
    ("pending, lease expired", info("pending", lease_until=at(hours=-2), pending_key_id="p"), "stuck", "left in pending"),
    ("grace, not over", info("grace", previous_key_revocation_at=at(hours=1)), "ok", None),
    ("grace, over by 59 min", info("grace", previous_key_id="o", previous_key_revocation_at=at(minutes=-59)), "ok", None),
    ("grace, over by 61 min", info("grace", previous_key_id="o", previous_key_revocation_at=at(minutes=-61)), "stuck",
     "old key o not revoked"),
    ("grace, postponed", info("grace", previous_key_revocation_at=at(hours=-1), revocation_postponements=2,
                              revocation_postponed_until=at(minutes=10)), "stuck", "postponed 2 time(s)"),
    ("revoking", info("revoking"), "stuck", "rollback has not finished"),
    ("absent", {"record": {"exists": False, "phase": "absent"}, "schedule": {"rotation_frequency_seconds": DAY}},
     "stuck", "no record"),
    ("unknown", {"record": {"exists": True, "phase": "unknown"}, "schedule": {}}, "stuck", "state is unknown"),
])
def test_status_and_reason(name: str, given: dict[str, Any], status: str, reason: str | None) -> None:
    key = report.row(name, given, NOW)

    assert key.status == status
    if reason is None:
        assert key.reasons == []
    else:
        assert any(reason in r for r in key.reasons), key.reasons


def test_a_failed_key_keeps_every_other_reason() -> None:
    key = report.row("k", info("grace", age_days=40, last_result="failed", previous_key_revocation_at=at(hours=-2)), NOW)

    assert key.status == "failed"
    assert [r.split(" ")[0] for r in key.reasons] == ["last", "grace", "due"]


def test_age_and_due_come_from_rotated_at_when_the_schedule_lacks_them() -> None:
    given = {"record": {"phase": "grace", "rotated_at": to_iso(NOW - timedelta(days=3))},
             "schedule": {"rotation_frequency_seconds": 10 * DAY}}

    key = report.row("k", given, NOW)

    assert key.age_seconds == 3 * DAY and key.due_at == NOW + timedelta(days=7) and key.overdue_seconds == 0
    assert key.ratio == pytest.approx(0.3)


@pytest.mark.parametrize("ratio, colour", [(0.99, "#43a047"), (1.0, "#f9a825"), (1.49, "#f9a825"), (1.5, "#f9a825"),
                                           (1.51, "#c62828")])
def test_bar_colour_at_the_marks(ratio: float, colour: str) -> None:
    assert report._bar_colour(ratio) == colour  # pylint: disable=protected-access


def test_summary_counts() -> None:
    counts = report.summary(fleet_rows(), NOW)

    assert counts == {"failed": 2, "stuck": 2, "overdue": 2, "ok": 3, "keys": 9, "due_within_horizon": 8}


# -- text ---------------------------------------------------------------------------------------------

def test_text_table_in_order_with_reasons() -> None:
    lines = report.text_table(fleet_rows(), NOW)

    assert lines[0].split()[:3] == ["STATUS", "KEY", "PROVIDER"]
    assert [line.split()[1] for line in lines[1:10]][:2] == ["failed-run", "unreadable"]
    assert "9 keys at 2026-11-26T12:00:00Z: 2 failed, 2 stuck, 2 overdue, 3 ok" in lines
    assert "  failed-run: last run failed at 2026-11-26 09:00: HTTP 500 from the provider" in lines
    row = next(line for line in lines if line.split()[1:2] == ["overdue-a-lot"])
    assert row.split()[2:7] == ["sendgrid", "idle", "90d", "30d", "3.00x"]


def test_text_table_replaces_control_characters() -> None:
    lines = report.text_table(report.rows({"evil\x1b[31m\nname": info()}, NOW), NOW)

    assert not any("\x1b" in line or "\n" in line for line in lines)


# -- SVG and HTML -------------------------------------------------------------------------------------

def test_every_svg_is_well_formed_xml_and_the_page_too() -> None:
    keys = fleet_rows()

    for svg in (report.svg_age_bars(keys), report.svg_calendar(keys, NOW)):
        root = ET.fromstring(svg)
        assert root.tag == SVG + "svg"
    page = ET.fromstring(report.html_page(keys, NOW).split("\n", 1)[1])  # after <!DOCTYPE html>
    assert len(page.findall(f".//{SVG}svg")) == 2


def test_hostile_key_name_is_escaped_everywhere() -> None:
    page = report.html_page(fleet_rows(), NOW)

    assert "<script" not in page and HOSTILE not in page
    root = ET.fromstring(page.split("\n", 1)[1])
    texts = ["".join(element.itertext()) for element in root.iter()]
    assert any(text == HOSTILE for text in texts), "the name is shown as text, unchanged"
    svg_titles = [t.text or "" for t in root.iter(SVG + "title")]
    assert any(HOSTILE in t for t in svg_titles), "the name is in the chart's and the calendar's tooltips"


def test_page_is_self_contained() -> None:
    page = report.html_page(fleet_rows(), NOW)

    for needle in ("<script", "src=", "href=", "url(", "@import", "<link", "<iframe", "javascript:"):
        assert needle not in page.lower()


def test_age_bars_mark_one_and_a_half_and_clip_beyond_the_scale() -> None:
    keys = report.rows({"young": info(age_days=15), "ancient": info(age_days=300)}, NOW)

    root = ET.fromstring(report.svg_age_bars(keys))

    labels = [t.text for t in root.iter(SVG + "text")]
    assert "1.0x due" in labels and "1.5x alert" in labels
    assert "10.00x" in labels and "0.50x" in labels
    bars = root.findall(f".//{SVG}rect")
    assert max(float(b.get("width")) for b in bars) <= 480  # clipped at 3.0x
    assert root.findall(f".//{SVG}path"), "an arrow shows a bar beyond the scale"


def test_age_bars_draw_at_most_the_limit() -> None:
    keys = report.rows({f"k{i:03d}": info(age_days=i % 40) for i in range(300)}, NOW)

    root = ET.fromstring(report.svg_age_bars(keys, limit=50))

    assert len(root.findall(f"./{SVG}g")) == 50


def test_calendar_counts_per_day_and_overdue_apart() -> None:
    keys = report.rows({"a": info(age_days=20), "b": info(age_days=20), "c": info(age_days=-60),  # due in 10 and 90 days
                        "late": info(age_days=40)}, NOW)

    days = report.calendar(keys, NOW)
    root = ET.fromstring(report.svg_calendar(keys, NOW))

    assert {d.isoformat(): [k.name for k in v] for d, v in days.items()} == {"2026-12-06": ["a", "b"]}
    titles = [t.text for t in root.iter(SVG + "title")]
    assert "2026-12-06: 2 key(s): a, b" in titles
    assert "already overdue: 1 key(s): late" in titles
    assert sum(1 for t in titles if t and t[:4].isdigit()) == 90, "one square per day of the horizon"


# -- JSON ---------------------------------------------------------------------------------------------

def test_json_follows_the_documented_schema() -> None:
    document = report.json_report(fleet_rows(), NOW)

    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    assert document["schema"] == "apikeys.rotation/report" and document["version"] == 1
    assert [k["name"] for k in document["keys"]] == [k.name for k in fleet_rows()]
    assert [k["urgency"] for k in document["keys"]] == sorted(k["urgency"] for k in document["keys"])


def test_json_values() -> None:
    document = json.loads(report.render(fleet_rows(), NOW, title="t", horizon_days=90, chart_limit=10)["json"])
    by_name = {k["name"]: k for k in document["keys"]}

    late = by_name["overdue-a-little"]
    assert late["status"] == "overdue" and late["age_seconds"] == 31 * DAY
    assert late["age_ratio"] == pytest.approx(31 / 30, abs=1e-4) and late["overdue_seconds"] == DAY
    assert late["due_at"] == "2026-11-25T12:00:00Z"
    grace = by_name["grace-over"]
    assert grace["grace_deadline"] == "2026-11-26T10:00:00Z" and grace["previous_key_id"] == "old"
    assert by_name["unreadable"]["reasons"] == ["metadata not readable: key 'unreadable': permission denied"]
    assert {"date": "2026-11-27", "keys": ["soon"]} in document["calendar"]


def test_the_schema_rejects_what_it_must() -> None:
    document = report.json_report(fleet_rows(), NOW)
    validator = jsonschema.Draft202012Validator(SCHEMA)

    for broken in (dict(document, version=2), dict(document, keys=[dict(document["keys"][0], status="fine")]),
                   {k: v for k, v in document.items() if k != "summary"}):
        assert not validator.is_valid(broken)


# -- files and the action -----------------------------------------------------------------------------

def test_write_atomic_makes_0644_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    os.chmod(target, 0o600)
    old_mask = os.umask(0o077)
    try:
        report.write_atomic(str(target), "new")
    finally:
        os.umask(old_mask)

    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def make_action(args: dict[str, Any], check_mode: bool = False) -> ActionModule:
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.check_mode = check_mode
    task.action = "apikeys.rotation.api_key_report"
    return ActionModule(task, MagicMock(), MagicMock(), MagicMock(), MagicMock(), MagicMock())


def test_action_writes_three_files(tmp_path: Path) -> None:
    out = tmp_path / "new" / "dir"

    result = make_action({"keys": FLEET, "output_dir": str(out)}).run(task_vars={})

    assert not result.get("failed"), result
    assert result["changed"] is True
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json", "report.txt"]
    assert result["paths"]["html"] == str(out / "report.html")
    assert result["summary"]["failed"] == 2
    assert result["table"] == (out / "report.txt").read_text().rstrip("\n").split("\n")
    assert json.loads((out / "report.json").read_text())["summary"]["keys"] == 9


def test_action_in_check_mode_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "report"

    result = make_action({"keys": FLEET, "output_dir": str(out)}, check_mode=True).run(task_vars={})

    assert not result.get("failed"), result
    assert not out.exists()
    assert result["msg"].startswith("would write the report of 9 keys")


@pytest.mark.parametrize("args, message", [
    ({}, "keys"),
    ({"keys": {}, "horizon_days": 0}, "horizon_days must be between 1 and 366"),
    ({"keys": {}, "horizon_days": 367}, "horizon_days must be between 1 and 366"),
    ({"keys": {}, "chart_limit": 0}, "chart_limit must be at least 1"),
    ({"keys": {}, "bogus": 1}, "bogus"),
])
def test_action_rejects_bad_arguments(args: dict[str, Any], message: str, tmp_path: Path) -> None:
    result = make_action(dict(args, output_dir=str(tmp_path / "r"))).run(task_vars={})

    assert result["failed"] and message in result["msg"]
    assert not (tmp_path / "r").exists()


def test_action_reports_an_unwritable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    result = make_action({"keys": FLEET, "output_dir": str(blocker / "sub")}).run(task_vars={})

    assert result["failed"] and result["error"] == "output" and "cannot write the report" in result["msg"]


@pytest.mark.parametrize("seconds, shown", [(0, "0s"), (59, "59s"), (61, "1m1s"), (3600, "1h"), (3661, "1h1m"),
                                            (50 * DAY + 20, "50d"), (3 * DAY + 4 * 3600 + 59, "3d4h"), (-90, "-1m30s")])
def test_durations_are_shown_to_two_units(seconds: int, shown: str) -> None:
    assert report.coarse(seconds) == shown


def test_the_grace_deadline_shown_is_the_one_in_force() -> None:
    postponed = info("grace", previous_key_revocation_at=at(hours=-1), revocation_postponements=1,
                     revocation_postponed_until=at(minutes=10))
    plain = info("grace", previous_key_revocation_at=at(hours=1))

    assert report.cells(report.row("p", postponed, NOW))[8] == "2026-11-26 12:10 (postponed)"
    assert report.cells(report.row("g", plain, NOW))[8] == "2026-11-26 13:00"


def test_stuck_after_sets_how_long_a_grace_may_be_over() -> None:
    over = info("grace", previous_key_id="o", previous_key_revocation_at=at(minutes=-10))

    assert report.row("k", over, NOW, stuck_after=0).status == "stuck"
    assert report.row("k", over, NOW, stuck_after=601).status == "ok"


def test_action_rejects_a_bad_stuck_after(tmp_path: Path) -> None:
    result = make_action({"keys": {}, "stuck_after": "soon", "output_dir": str(tmp_path / "r")}).run(task_vars={})

    assert result["failed"] and result["msg"].startswith("api_key_report: stuck_after: expected a positive duration")
