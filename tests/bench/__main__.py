"""``python -m tests.bench up|down|status --dir DIR``: the bench from a shell.

``up`` starts the services as detached subprocesses, waits until each answers,
writes ``DIR/bench.json`` and ``DIR/env.sh`` (0600) and returns. ``down`` stops
what ``bench.json`` records (by pid and process group); calling it twice is
harmless. Nothing secret is printed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ._state import ENV_FILE, STATE_FILE, live_services, read_state, stop_from_state
from .bench import SERVICES, parse_only, start_all


def _up(workdir: Path, only: str | None) -> int:
    state = read_state(workdir)
    if state is not None and live_services(state):
        print(f"bench already running in {workdir}; run 'down' first", file=sys.stderr)
        return 1
    try:
        names = parse_only(only)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    bench = start_all(workdir, names, detached=True)
    for name, svc in bench.services().items():
        print(f"{name:9} {svc.url}")
    print(f"state: {bench.dir / STATE_FILE}\nenv:   source {bench.dir / ENV_FILE}")
    return 0


def _down(workdir: Path) -> int:
    stopped = stop_from_state(workdir)
    print(f"stopped: {', '.join(stopped) if stopped else 'nothing running'}")
    return 0


def _status(workdir: Path) -> int:
    state = read_state(workdir)
    live = live_services(state) if state else []
    print(f"running: {', '.join(live) if live else 'nothing'}")
    return 0 if live else 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the bench (detached)")
    up.add_argument("--dir", required=True, type=Path)
    up.add_argument("--only", help=f"comma-separated subset of {','.join(SERVICES)}")
    for name in ("down", "status"):
        sub.add_parser(name, help=f"{name} the bench").add_argument(
            "--dir", required=True, type=Path
        )
    args = parser.parse_args(argv)
    workdir: Path = args.dir.resolve()
    if args.command == "up":
        return _up(workdir, args.only)
    if args.command == "down":
        return _down(workdir)
    return _status(workdir)


if __name__ == "__main__":
    sys.exit(main())
