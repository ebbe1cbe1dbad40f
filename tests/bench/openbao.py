"""OpenBao in dev mode (in-memory, unsealed, ``secret/`` is KV v2).

Started as ``bao server -dev -dev-listen-address=127.0.0.1:<port>
-dev-no-store-token`` with a random root token. The token is handed to bao
through ``BAO_DEV_ROOT_TOKEN_ID`` (the documented environment form of
``-dev-root-token-id``) so it does not show up in ``ps``. bao itself prints the
root token in its start-up banner: its log file is created with mode 0600.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import requests

from ._ports import free_port
from ._proc import ServerProcess, find_executable, spawn, wait_until
from ._service import Stoppable

READY_TIMEOUT = 20.0


@dataclass
class OpenBao(Stoppable):
    """A running dev-mode OpenBao. Use as a context manager or call stop()."""

    url: str
    token: str = field(repr=False)
    port: int
    process: ServerProcess

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log(self) -> Path | None:
        return self.process.log

    def stop(self) -> None:
        self.process.stop()

    def _unseal_key(self) -> str:
        """The dev server prints its single unseal key in its start-up banner (our 0600 log)."""
        if self.log is None:
            raise RuntimeError("openbao: no log to read the unseal key from")
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("Unseal Key: "):
                return line.split(": ", 1)[1].strip()
        raise RuntimeError("openbao: no unseal key in the dev server's banner")

    def seal(self) -> None:
        """Seal the server: every request then answers 503 until unseal()."""
        requests.put(f"{self.url}/v1/sys/seal", headers={"X-Vault-Token": self.token}, timeout=5).raise_for_status()

    def unseal(self) -> None:
        answer = requests.put(f"{self.url}/v1/sys/unseal", json={"key": self._unseal_key()}, timeout=5)
        answer.raise_for_status()
        if answer.json().get("sealed"):
            raise RuntimeError("openbao: still sealed after unseal")
        wait_until(lambda: _ready(self.url, self.token), READY_TIMEOUT, "openbao after unseal", self.process.alive)


def _ready(url: str, token: str) -> bool:
    try:
        resp = requests.get(
            f"{url}/v1/sys/mounts/secret", headers={"X-Vault-Token": token}, timeout=1
        )
    except requests.RequestException:
        return False
    return resp.status_code == 200


def start_openbao(workdir: Path, timeout: float = READY_TIMEOUT) -> OpenBao:
    """Start ``bao server -dev`` on a free port; log to ``workdir/openbao.log``.

    Returns once ``GET /v1/sys/mounts/secret`` answers 200 (``/v1/sys/health``
    answers before ``secret/`` is mounted).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    token = "bench-" + secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
    env["BAO_DEV_ROOT_TOKEN_ID"] = token
    argv = [
        find_executable("bao"),
        "server",
        "-dev",
        f"-dev-listen-address=127.0.0.1:{port}",
        "-dev-no-store-token",
    ]
    process = spawn(
        argv, log=workdir / "openbao.log", marker=f"-dev-listen-address=127.0.0.1:{port}", env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url, token), timeout, f"openbao ({process.log})", process.alive)
    except BaseException:
        process.stop()
        raise
    return OpenBao(url=url, token=token, port=port, process=process)
