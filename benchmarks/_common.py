"""What the benchmarks share: seeding keys that are due, and timing a command."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import hvac
import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.bench import Bench  # noqa: E402  pylint: disable=wrong-import-position

BIN = Path(sys.executable).parent
OLD = (datetime.now(timezone.utc) - timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
# The local servers have no rate limits; the collection's default budgets (docs/rate-limits.md: 50/s for an
# http gateway, 1,000/s for OpenBao) would pace the runs instead of measuring them. Retry-After still pauses.
UNLIMITED = {"apikeys_rate_limit": {"provider": "unlimited", "store": "unlimited"}}


def gateway_key(bench: Bench, vault: hvac.Client, host: str) -> dict:
    made = requests.post(bench.gateway.url + "/__emulator/seed", json={"consumer": host}, timeout=5).json()
    vault.secrets.kv.v2.create_or_update_secret(path=f"bench/{host}", mount_point="secret",
                                                secret={"key": made["key"], "key_id": made["id"], "rotated_at": OLD})
    return {"apikeys_provider": "http", "apikeys_vault_path": f"secret/bench/{host}",
            "apikeys_provider_options": {
                "admin_url": bench.gateway.url, "admin_header": "Kong-Admin-Token", "admin_scheme": "",
                "credential_env": "GATEWAY_ADMIN_TOKEN", "create_path": "/consumers/{consumer}/key-auth",
                "key_path": "/consumers/{consumer}/key-auth/{key_id}", "path_params": {"consumer": host},
                "test_url": bench.gateway.url + f"/{host}/ping"}}


def sendgrid_key(bench: Bench, vault: hvac.Client, host: str) -> dict:
    made = requests.post(bench.sendgrid.url + "/__emulator/seed", json={"name": host, "scopes": ["mail.send"]},
                         timeout=5).json()
    vault.secrets.kv.v2.create_or_update_secret(path=f"bench/{host}", mount_point="secret", secret={
        "key": made["api_key"], "key_id": made["api_key_id"], "rotated_at": OLD})
    return {"apikeys_provider": "sendgrid", "apikeys_vault_path": f"secret/bench/{host}",
            "apikeys_provider_options": {"api_url": bench.sendgrid.url, "max_keys": 10000}}


def wait_exactly(process: subprocess.Popen, timeout: float, group: bool = False) -> bool:
    """Wait for ``process`` to exit and return True, or kill it (its process group with ``group``) after ``timeout``
    seconds and return False. It returns the moment the process exits: ``Popen.wait(timeout)`` polls, sleeping up to
    50 ms between looks, which rounded every measured wall time up by as much (8% of a 0.6 s bare play)."""
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        try:
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        process.wait()  # blocks in waitpid
    finally:
        timer.cancel()
    return not expired.is_set()


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return elapsed
