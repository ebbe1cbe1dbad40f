"""``python -m tests.bench up/down`` and the in-process ``start_all`` API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from tests.bench.bench import SERVICES, start_all

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_VARS = {
    "VAULT_ADDR", "VAULT_TOKEN", "SENDGRID_ADMIN_KEY", "GATEWAY_ADMIN_TOKEN",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
    "APIKEYS_SENDGRID_URL", "APIKEYS_GATEWAY_URL", "APIKEYS_AWS_ENDPOINT_URL",
    "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "APIKEYS_TWILIO_URL",
    "STRIPE_MANAGEMENT_KEY", "APIKEYS_STRIPE_URL",
}  # fmt: skip


def bench_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.bench", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )


def sourced_env(env_sh: Path) -> dict[str, str]:
    out = subprocess.run(
        ["bash", "-c", f"set -e; . {env_sh}; env -0"],
        capture_output=True,
        env={"PATH": os.environ["PATH"]},
        check=True,
    ).stdout.decode()
    pairs = (item.split("=", 1) for item in out.split("\0") if "=" in item)
    return {k: v for k, v in pairs if k in ENV_VARS}


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def test_up_and_down(tmp_path: Path) -> None:
    up = bench_cli("up", "--dir", str(tmp_path))
    assert up.returncode == 0, up.stderr
    try:
        state = json.loads((tmp_path / "bench.json").read_text())
        for name in ("bench.json", "env.sh"):
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
        env = sourced_env(tmp_path / "env.sh")
        assert set(env) == ENV_VARS
        services = state["services"]
        pids = [svc["pid"] for svc in services.values()]
        assert len(pids) == len(SERVICES) and all(alive(pid) for pid in pids)

        secrets_ = [env[k] for k in ("VAULT_TOKEN", "SENDGRID_ADMIN_KEY", "GATEWAY_ADMIN_TOKEN",
                                     "AWS_SECRET_ACCESS_KEY", "TWILIO_AUTH_TOKEN",
                                     "STRIPE_MANAGEMENT_KEY")]  # fmt: skip
        sg = requests.get(
            f"{env['APIKEYS_SENDGRID_URL']}/v3/scopes",
            headers={"Authorization": f"Bearer {env['SENDGRID_ADMIN_KEY']}"},
        )
        assert sg.status_code == 200
        gw = requests.get(
            f"{env['APIKEYS_GATEWAY_URL']}/consumers/demo/key-auth",
            headers={"Kong-Admin-Token": env["GATEWAY_ADMIN_TOKEN"]},
        )
        assert gw.status_code == 200
        tw = requests.get(
            f"{env['APIKEYS_TWILIO_URL']}/v1/Keys?AccountSid={env['TWILIO_ACCOUNT_SID']}",
            auth=(env["TWILIO_ACCOUNT_SID"], env["TWILIO_AUTH_TOKEN"]),
        )
        assert tw.status_code == 200
        st = requests.get(
            f"{env['APIKEYS_STRIPE_URL']}/v2/iam/api_keys",
            headers={"Authorization": f"Bearer {env['STRIPE_MANAGEMENT_KEY']}",
                     "Stripe-Version": "2026-08-26.preview"},
        )
        assert st.status_code == 200
        vault = requests.get(
            f"{env['VAULT_ADDR']}/v1/sys/mounts/secret",
            headers={"X-Vault-Token": env["VAULT_TOKEN"]},
        )
        assert vault.status_code == 200
        assert services["moto"]["admin_secret_access_key"] == env["AWS_SECRET_ACCESS_KEY"]

        # Nothing secret on the CLI's output or in the emulators' / moto's logs.
        logs = [p for p in tmp_path.glob("*.log") if p.name != "openbao.log"]
        texts = [up.stdout, up.stderr, *(p.read_text() for p in logs)]
        assert not [s for s in secrets_ for t in texts if s in t]
        assert not list(tmp_path.glob(".*.secret"))

        again = bench_cli("up", "--dir", str(tmp_path))
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        down = bench_cli("down", "--dir", str(tmp_path))
    assert down.returncode == 0, down.stderr
    assert not any(alive(pid) for pid in pids)
    second = bench_cli("down", "--dir", str(tmp_path))
    assert second.returncode == 0 and "nothing running" in second.stdout
    assert json.loads((tmp_path / "bench.json").read_text())["running"] is False


def test_up_rejects_unknown_service(tmp_path: Path) -> None:
    result = bench_cli("up", "--dir", str(tmp_path), "--only", "openbao,ldap")
    assert result.returncode == 2 and "ldap" in result.stderr
    assert not (tmp_path / "bench.json").exists()


def test_start_all_in_process(tmp_path: Path) -> None:
    with start_all(tmp_path, only="sendgrid,gateway") as bench:
        assert bench.openbao is None and bench.moto is None
        env = bench.env()
        assert set(env) == {
            "SENDGRID_ADMIN_KEY",
            "APIKEYS_SENDGRID_URL",
            "GATEWAY_ADMIN_TOKEN",
            "APIKEYS_GATEWAY_URL",
        }
        state = json.loads((tmp_path / "bench.json").read_text())
        assert set(state["services"]) == {"sendgrid", "gateway"}
        assert state["services"]["sendgrid"]["pid"] is None  # in-process thread
        url = env["APIKEYS_GATEWAY_URL"]
        assert requests.get(f"{url}/__emulator/health").json()["emulator"] == "gateway"
    assert bench.services() == {}
    try:
        requests.get(f"{url}/__emulator/health", timeout=1)
    except requests.ConnectionError:
        pass
    else:
        raise AssertionError("gateway still answering after stop()")
