"""Start, watch and stop the bench's server subprocesses.

Every server runs in its own session (``start_new_session=True``), so its pid
is also its process-group id and :meth:`ServerProcess.stop` can signal the
whole group. Before signalling a pid that did not come from a live ``Popen``
(e.g. one read back from ``bench.json``), the command line is checked for a
marker, so a recycled pid is never killed by mistake.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def find_executable(name: str) -> str:
    """Find ``name`` next to the running interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found next to {sys.executable} or on PATH")
    return found


def open_private(path: Path, mode: str = "w") -> int:
    """Open ``path`` for writing with permissions 0600 and return the fd."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with permissions 0600."""
    with os.fdopen(open_private(path), "w", encoding="utf-8") as handle:
        handle.write(text)


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll ``check`` until it returns True; raise TimeoutError after ``timeout``.

    ``alive`` (optional) aborts early with RuntimeError when the server died.
    """
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        if check():
            return
        if alive is not None and not alive():
            raise RuntimeError(f"{what} exited before becoming ready")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` from field 3 (the state) on, or None when the process is gone.

    The command name (field 2) may hold spaces and parentheses: the split is after its last ``)``.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()


def _is_zombie(pid: int) -> bool:
    fields = stat_fields(pid)
    return fields is None or fields[0] == "Z"


@dataclass
class ServerProcess:
    """A server subprocess that leads its own process group."""

    pid: int
    marker: str
    log: Path | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        if _is_zombie(self.pid):
            return False
        return self.marker in _cmdline(self.pid)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the group, then SIGKILL it if still alive after ``timeout``."""
        if not self.alive():
            self._reap()
            return
        self._signal(signal.SIGTERM)
        try:
            wait_until(lambda: not self.alive(), timeout, f"stop of pid {self.pid}")
        except TimeoutError:
            self._signal(signal.SIGKILL)
            wait_until(lambda: not self.alive(), timeout, f"kill of pid {self.pid}")
        self._reap()

    def _signal(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            os.kill(self.pid, sig)

    def _reap(self) -> None:
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=1)


def spawn(
    argv: Sequence[str],
    *,
    log: Path,
    marker: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ServerProcess:
    """Start ``argv`` in a new session; stdout and stderr go to ``log`` (0600)."""
    fd = open_private(log, "a")
    try:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(fd)
    return ServerProcess(pid=popen.pid, marker=marker, log=log, popen=popen)
