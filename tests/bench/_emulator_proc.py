"""Run an emulator as a subprocess: ``python -m tests.bench.emulators.<name>``."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from ._ports import free_port
from ._proc import ServerProcess, spawn, wait_until, write_private

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 10.0
SECRET_FLAG = {"sendgrid": "--admin-key-file", "gateway": "--admin-token-file", "twilio": "--auth-token-file",
               "stripe": "--admin-key-file"}


@dataclass
class EmulatorProcess:
    """An emulator running in its own process group."""

    name: str
    url: str
    port: int
    process: ServerProcess

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.stop()


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/__emulator/health", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def start_emulator_process(
    name: str, workdir: Path, secret: str, extra_args: Sequence[str] = ()
) -> EmulatorProcess:
    """Start emulator ``name`` with the given admin secret; wait until it answers.

    The secret travels through a 0600 file (not argv) that is removed once the
    emulator is up. Output goes to ``workdir/<name>.log``, the request log
    (method, path, status) to ``workdir/<name>.requests.log``.
    """
    port = free_port()
    secret_file = workdir / f".{name}.secret"
    write_private(secret_file, secret + "\n")
    module = f"tests.bench.emulators.{name}"
    argv = [
        sys.executable, "-m", module, "--port", str(port),
        SECRET_FLAG[name], str(secret_file),
        "--log-file", str(workdir / f"{name}.requests.log"),
        *extra_args,
    ]  # fmt: skip
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    process = spawn(
        argv,
        log=workdir / f"{name}.log",
        marker=f"{module} --port {port} ",
        env=env,
        cwd=REPO_ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(url), READY_TIMEOUT, f"{name} emulator", process.alive)
    except BaseException:
        process.stop()
        raise
    finally:
        secret_file.unlink(missing_ok=True)
    return EmulatorProcess(name=name, url=url, port=port, process=process)
