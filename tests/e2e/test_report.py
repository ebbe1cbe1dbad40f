"""The fleet report on the real bench, with a token of the shipped monitor policy (no right to read any key).

Six keys: two rotated (now in grace), one whose rotation failed for real (the SendGrid emulator refuses the
create: the fault must have fired), one overdue and one young (both imported, never rotated), and one whose
record lies outside what the monitor policy may read (reported as failed, the play goes on). The report's
three outputs are checked for order and values against the records read with raw hvac, and scanned for
every secret of the run, as the canary tests do.
"""
from __future__ import annotations

import json
import re
import stat
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import jsonschema
import requests

from .conftest import ROOT, Key, World, clear_faults, faults, iso, parse_iso
from .test_canary import assert_nowhere, bench_secrets
from .test_policies import token_with

SVG = "{http://www.w3.org/2000/svg}"
DAY = 86400


def imported(world: World, key: Key, age_days: int) -> None:
    """Adopt the key with playbooks/import.yml (as an operator does), rotated ``age_days`` ago."""
    rotated_at = iso(datetime.now(timezone.utc) - timedelta(days=age_days))
    run = world.playbook("import.yml", secret=key.host, key_id=key.key_id, rotated_at=rotated_at,
                         extra_env={"APIKEYS_IMPORT_KEY": key.secret})
    assert run.rc == 0, run.output[-3000:]


def metadata(world: World, key: Key) -> dict[str, str]:
    path = key.vault_path.split("/", 1)[1]
    return world.vault.secrets.kv.v2.read_secret_metadata(path=path, mount_point="secret")["data"]["custom_metadata"]


def table_rows(stdout: str, hosts: set[str]) -> list[list[str]]:
    """The report's table rows as printed by the debug task (one JSON string per line), in printed order."""
    printed = stdout.split("TASK [apikeys.rotation.report : The keys, most urgent first]", 1)[1].split("PLAY RECAP", 1)[0]
    rows = []
    for line in re.findall(r'^\s*"(.*)",?$', printed, re.M):
        cells = line.split()
        if len(cells) > 2 and cells[1] in hosts:
            rows.append(cells)
    return rows


def test_report_with_the_monitor_policy(world: World) -> None:
    rotated = [world.key("sendgrid", root="apikeys/"), world.key("http", root="apikeys/")]
    broken = world.key("sendgrid", root="apikeys/")
    overdue = world.key("sendgrid", root="apikeys/", record=False)
    young = world.key("http", root="apikeys/", record=False)
    outside = world.key("sendgrid")  # its record is outside secret/apikeys/: the monitor policy may not read it
    imported(world, overdue, 50)
    imported(world, young, 3)
    world.groups["rotated"] = [k.host for k in rotated]
    assert world.playbook("rotate.yml", secret="rotated").rc == 0

    fired = requests.get(world.bench.sendgrid.url + "/__emulator/faults/fired", timeout=5).json()["total"]
    # the refusal quotes the request's credential (the management key), as some real APIs do
    faults(world.bench.sendgrid.url, match="POST /v3/api_keys", status=400, count=1, echo_auth=True)
    try:
        failed_run = world.playbook("rotate.yml", secret=broken.host)
    finally:
        clear_faults(world.bench.sendgrid.url)
    assert requests.get(world.bench.sendgrid.url + "/__emulator/faults/fired", timeout=5).json()["total"] == fired + 1
    assert failed_run.rc != 0
    assert metadata(world, broken)["last_result"] == "failed"

    keys = [*rotated, broken, outside, overdue, young]
    hosts = {k.host for k in keys}
    world.groups["fleet"] = sorted(hosts)
    out = world.tmp / "report"
    monitor = token_with(world, "monitor")
    checked = world.playbook("report.yml", "--check", secret="fleet", report_output_dir=str(out),
                             extra_env={"VAULT_TOKEN": monitor})
    assert checked.rc == 0, checked.output[-3000:]
    assert "would write the report of 6 keys" in checked.stdout and not out.exists(), "check mode writes nothing"
    run = world.playbook("report.yml", "-vvvv", secret="fleet", report_output_dir=str(out),
                         extra_env={"VAULT_TOKEN": monitor})
    assert run.rc == 0, run.output[-3000:]

    records = {k.host: world.record(k).data for k in keys}  # raw hvac, root token
    # the two rotated keys are due 30 days after their rotation: the earlier one first (then by name)
    later = sorted(rotated, key=lambda k: (records[k.host]["rotated_at"], k.host))
    expected = [broken.host, outside.host, overdue.host, young.host] + [k.host for k in later]

    # (a) the table on stdout, most urgent first
    printed = table_rows(run.stdout, hosts)
    assert [r[1] for r in printed] == expected
    assert [r[0] for r in printed] == ["failed", "failed", "overdue", "ok", "ok", "ok"]
    assert printed[2][2:8] == ["sendgrid", "idle", "50d", "30d", "1.67x", _date(records[overdue.host]["rotated_at"], 30)]

    # (c) the JSON: the schema, the order, the values
    document = json.loads((out / "report.json").read_text())
    schema = json.loads((ROOT / "docs" / "report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(document)
    assert [k["name"] for k in document["keys"]] == expected
    by_name = {k["name"]: k for k in document["keys"]}
    assert document["summary"] == {"keys": 6, "failed": 2, "stuck": 0, "overdue": 1, "ok": 3, "due_within_horizon": 5}
    assert by_name[broken.host]["last_result"] == "failed" and by_name[broken.host]["phase"] == "idle"
    assert by_name[broken.host]["key_id"] == broken.key_id
    assert "last run failed" in by_name[broken.host]["reasons"][0]
    assert by_name[outside.host]["reasons"][0].startswith("metadata not readable: ")
    assert "permission denied" in by_name[outside.host]["reasons"][0]
    assert by_name[overdue.host]["age_seconds"] // DAY == 50 and by_name[overdue.host]["overdue_seconds"] // DAY == 20
    for key in rotated:
        shown, data = by_name[key.host], records[key.host]
        assert shown["phase"] == "grace" and shown["key_id"] == data["key_id"]
        assert shown["previous_key_id"] == key.key_id
        assert shown["grace_deadline"] == data["previous_key_revocation_at"]
        assert shown["due_at"] == _iso(data["rotated_at"], 30)
    due_dates = {day["date"]: day["keys"] for day in document["calendar"]}
    assert young.host in due_dates[_date(records[young.host]["rotated_at"], 30)]

    # (b) the page: well-formed, two pictures, every key named, the failed one in the list of what needs attention
    page = (out / "report.html").read_text()
    root = ET.fromstring(page.split("\n", 1)[1])
    assert len(root.findall(f".//{SVG}svg")) == 2
    bars = [t.text for t in ET.fromstring(_svgs(page)[0]).iter(SVG + "text")]
    assert all(host in bars for host in hosts)
    attention = page.split("<h2>Needs attention</h2>", 1)[1].split("<h2>", 1)[0]
    assert broken.host in attention and outside.host in attention and overdue.host not in attention
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644

    # no secret anywhere: stdout at -vvvv, the log, the three files (under world.tmp)
    secrets = dict(bench_secrets(world), **{"monitor token": monitor})
    for key in keys:
        secrets[f"{key.host} first"] = key.secret
        secrets[f"{key.host} current"] = records[key.host]["key"]
    assert_nowhere(secrets, run, world)


def _iso(rotated_at: str, days: int) -> str:
    return (parse_iso(rotated_at) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date(rotated_at: str, days: int) -> str:
    return _iso(rotated_at, days)[:10]


def _svgs(page: str) -> list[str]:
    return re.findall(r"<svg.*?</svg>", page, re.S)
