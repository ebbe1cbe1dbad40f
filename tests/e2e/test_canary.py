"""No secret in anything a rotation prints or writes, at -vvvv with --diff."""
from __future__ import annotations

from pathlib import Path

from .conftest import PROVIDERS, Run, World


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def bench_secrets(world: World) -> dict[str, str]:
    return {"vault token": world.bench.openbao.token, "sendgrid admin": world.bench.sendgrid_admin_key,
            "gateway admin": world.bench.gateway_admin_token,
            "aws admin": world.bench.moto.admin_secret_access_key}


def assert_nowhere(secrets: dict[str, str], run: Run, world: World) -> None:
    written = files_under(run.home) + files_under(world.tmp)
    assert any(p.name == "ansible.log" for p in written), "the run's log file must be among the scanned files"
    assert len(run.stdout) > 10000, "-vvvv output expected"
    for name, secret in secrets.items():
        assert secret and secret not in run.output, f"{name} secret printed"
        for path in written:
            assert secret not in path.read_text(errors="replace"), f"{name} secret written to {path}"


def test_no_secret_in_rotation_output_or_files_at_vvvv(world: World) -> None:
    keys = [world.key(p) for p in PROVIDERS]
    world.groups["canary"] = [k.host for k in keys]

    run = world.playbook("rotate.yml", "-vvvv", "--diff", secret="canary")

    assert run.rc == 0, run.output[-3000:]
    secrets = bench_secrets(world)
    for key in keys:
        data = world.record(key).data
        assert data["previous_key"] == key.secret
        secrets[f"{key.host} old"] = key.secret
        secrets[f"{key.host} new"] = data["key"]
    assert_nowhere(secrets, run, world)


def test_no_secret_in_revoke_after_grace_output_or_files_at_vvvv(world: World) -> None:
    keys = [world.key(p, apikeys_grace_period="2s", apikeys_clock_skew="0s",
                      apikeys_usage_evidence={"source": "none"}) for p in PROVIDERS]
    world.groups["canary"] = [k.host for k in keys]
    assert world.playbook("rotate.yml", secret="canary").rc == 0
    secrets = bench_secrets(world)
    for key in keys:
        data = world.record(key).data
        secrets[f"{key.host} old"] = key.secret
        secrets[f"{key.host} new"] = data["key"]
        world.wait_past(data["previous_key_revocation_at"])

    run = world.playbook("revoke_after_grace.yml", "-vvvv", "--diff", secret="canary")

    assert run.rc == 0, run.output[-3000:]
    assert all("previous_key_id" not in world.record(key).data for key in keys)
    assert_nowhere(secrets, run, world)


def test_no_secret_in_emergency_or_rollback_output_or_files_at_vvvv(world: World) -> None:
    keys = [world.key(p) for p in PROVIDERS]
    world.groups["canary"] = [k.host for k in keys]
    assert world.playbook("rotate.yml", secret="canary").rc == 0
    secrets = bench_secrets(world)
    for key in keys:
        secrets[f"{key.host} first"] = key.secret
        secrets[f"{key.host} second"] = world.record(key).data["key"]

    rollback = world.playbook("rollback.yml", "-vvvv", "--diff", secret="canary")
    emergency = world.playbook("rotate.yml", "-vvvv", "--diff", "--tags", "emergency", secret="canary",
                                confirm="canary")

    assert rollback.rc == 0, rollback.output[-3000:]
    assert emergency.rc == 0, emergency.output[-3000:]
    for key in keys:
        secrets[f"{key.host} third"] = world.record(key).data["key"]
    assert_nowhere(secrets, rollback, world)
    assert_nowhere(secrets, emergency, world)
