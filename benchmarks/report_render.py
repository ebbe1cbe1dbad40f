"""How long the fleet report's rendering takes for large fleets (docs/report.md quotes this script).

Renders N synthetic api_key_info (metadata_only) results through plugins/module_utils/_report.py, the
code api_key_report runs: rows, order, text table, JSON and the HTML page with its SVG charts. Reading the
metadata (one api_key_info task per key) is not included: that is the rotation benchmarks' business.

    python benchmarks/report_render.py --keys 1000 10000
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".build" / "collections"))

from ansible_collections.apikeys.rotation.plugins.module_utils import _report as report  # noqa: E402
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import to_iso  # noqa: E402

DAY = 86400
PHASES = ("idle", "idle", "idle", "grace", "intent")


def fleet(count: int, now: datetime) -> dict:
    infos = {}
    for n in range(count):
        age = (n * 7) % 140
        freq = (30, 90)[n % 2]
        rotated = now - timedelta(days=age)
        due = rotated + timedelta(days=freq)
        record = {"exists": True, "phase": PHASES[n % len(PHASES)], "key_id": f"kid{n}", "rotated_at": to_iso(rotated),
                  "provider": ("sendgrid", "http", "aws_iam")[n % 3], "revocation_postponements": 0,
                  "last_result": "failed" if n % 97 == 0 else "promoted", "last_result_at": to_iso(rotated)}
        infos[f"key{n:05d}"] = {"changed": False, "record": record, "schedule": {
            "rotation_frequency_seconds": freq * DAY, "grace_period_seconds": 3600, "age_seconds": age * DAY,
            "due_at": to_iso(due), "overdue_seconds": max(0, int((now - due).total_seconds()))}}
    return infos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    now = datetime.now(timezone.utc)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; best of {args.runs} runs")
    for count in args.keys:
        infos = fleet(count, now)
        best = None
        for _run in range(args.runs):
            started = time.perf_counter()
            keys = report.ordered(report.rows(infos, now))
            table = "\n".join(report.text_table(keys, now))
            data = json.dumps(report.json_report(keys, now))
            page = report.html_page(keys, now)
            took = time.perf_counter() - started
            best = took if best is None else min(best, took)
        print(f"{count:>6} keys: {best:.2f} s; html {len(page) / 1e6:.2f} MB, json {len(data) / 1e6:.2f} MB, "
              f"table {len(table) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
