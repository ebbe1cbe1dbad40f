"""Command line of the emulators: ``python -m tests.bench.emulators.<name> --port N ...``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from .._proc import open_private, write_private
from ._base import Emulator
from ._server import EmulatorServer


def read_or_create_secret(path: str | Path, generate: Callable[[], str]) -> str:
    """The secret stored in ``path``; when absent or empty, generate one and store it (0600)."""
    file = Path(path)
    if file.is_file():
        value = file.read_text(encoding="utf-8").strip()
        if value:
            return value
    value = generate()
    write_private(file, value + "\n")
    return value


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def run_cli(
    argv: Sequence[str] | None,
    description: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    build: Callable[[argparse.Namespace], Emulator],
) -> int:
    """Parse ``argv``, build the emulator and serve it until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(
        description=description.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-file", help="request log (method, path, status)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.log_file:
        os.close(open_private(Path(args.log_file), "a"))  # create it 0600
        handler = logging.FileHandler(args.log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger = logging.getLogger("tests.bench.emulators")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    app = build(args)
    server = EmulatorServer(app, args.host, args.port)
    signal.signal(signal.SIGTERM, _stop)
    print(f"{app.name} emulator listening on {server.url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0
