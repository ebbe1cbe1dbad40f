"""Every step x every fault: the old key keeps working, the store's key works, the provider holds
no key the store does not know, and a re-run converges. Each cell's output is scanned for secrets.

The table of outcomes is written to tests/output/fault-matrix.md (docs/fault-matrix.md holds a copy).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from tests.bench.tcpproxy import TcpProxy

from .conftest import ROOT, Key, Run, World
from .faults import FAULTS, REVOCATION_STEPS, ROTATION_STEPS, Faults, run_with_fault

ROTATOR_POLICY = (ROOT / "docs" / "policies" / "rotator.hcl").read_text()
RESULTS: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def proxy(bench: Any) -> Iterator[TcpProxy]:
    """The collection reaches OpenBao through this proxy, so that a test can take the store down."""
    with TcpProxy("127.0.0.1", bench.openbao.port) as running:
        yield running


@pytest.fixture(scope="module", autouse=True)
def table() -> Iterator[None]:
    yield
    out = ROOT / "tests" / "output"
    out.mkdir(parents=True, exist_ok=True)
    steps = [s for s in ROTATION_STEPS + REVOCATION_STEPS if any(k[0] == s for k in RESULTS)]
    lines = ["| step \\ fault | " + " | ".join(FAULTS) + " |", "|---" * (len(FAULTS) + 1) + "|"]
    for step in steps:
        lines.append(f"| {step} | " + " | ".join(RESULTS.get((step, f), "") for f in FAULTS) + " |")
    (out / "fault-matrix.md").write_text("\n".join(lines) + "\n")


def prepared(world: World, proxy: TcpProxy) -> tuple[Key, str, Faults]:
    """A SendGrid key due for rotation, reached through the proxy, by a token with the rotator policy."""
    key = world.key("sendgrid", root="apikeys/", apikeys_vault_url=proxy.url, apikeys_grace_period="1s",
                    apikeys_clock_skew="0s", apikeys_usage_evidence={"source": "none"})
    key.options.update(max_attempts=2, timeout=1)
    policy = f"apikeys-rotator-{world.prefix}"
    world.vault.sys.create_or_update_policy(name=policy, policy=ROTATOR_POLICY)
    token = world.vault.auth.token.create(policies=[policy], no_default_policy=True, ttl="30m")["auth"]["client_token"]
    return key, token, Faults(world, key, proxy, policy)


def alive(world: World, key: Key) -> dict[str, str]:
    """The provider's live keys of this key, by id: name (from the emulator's own bookkeeping)."""
    keys = requests.get(world.bench.sendgrid.url + "/__emulator/keys", timeout=5).json()
    return {k["id"]: k["name"] for k in keys if not k["revoked"] and k["id"] in world.live_key_ids(key)}


def assert_nothing_unknown(world: World, key: Key, data: dict[str, Any]) -> None:
    known = {data.get(f) for f in ("key_id", "previous_key_id", "pending_key_id", "revoking_key_id")} - {None}
    unknown = {i: n for i, n in alive(world, key).items() if i not in known and n != data.get("pending_key_name")}
    assert not unknown, f"keys alive at the provider that the store does not know: {unknown}"


def outcome(run: Run) -> str:
    if run.rc < 0:
        return "killed"
    if run.rc == 0:
        return "completed"
    kinds = sorted(set(re.findall(r'"error": "(\w+)"', run.stdout)))
    return "failed: " + ",".join(kinds or ["?"])


def secrets_of(world: World, *records: dict[str, Any]) -> set[str]:
    found = {world.bench.sendgrid_admin_key, world.bench.openbao.token}
    for data in records:
        found |= {data[f] for f in ("key", "previous_key", "pending_key", "revoking_key") if data.get(f)}
    return found


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("step", ROTATION_STEPS)
def test_rotation_survives(world: World, proxy: TcpProxy, step: str, fault: str) -> None:
    key, token, faults = prepared(world, proxy)
    env = {"VAULT_TOKEN": token}

    run = run_with_fault(world, "rotate.yml", step, fault, faults, env, secret=key.host)
    faults.clear(ROTATOR_POLICY)

    data = world.record(key).data
    assert world.works(key, key.secret, key.key_id), "the old key must keep working"
    assert world.works(key, data["key"], data["key_id"]), "the store's current key must work"
    assert_nothing_unknown(world, key, data)

    rerun = world.playbook("rotate.yml", secret=key.host, rotate_resume_after="0s", extra_env=env)

    assert rerun.rc == 0, rerun.output[-3000:]
    final = world.record(key).data
    assert final["previous_key_id"] == key.key_id and final["key_id"] != key.key_id
    assert world.works(key, final["key"], final["key_id"]) and world.works(key, key.secret, key.key_id)
    assert set(alive(world, key)) == {key.key_id, final["key_id"]}, "converged: exactly the two keys of the grace"
    for secret in secrets_of(world, data, final) | {key.secret, token}:
        assert secret not in run.output and secret not in rerun.output, "a secret was printed"
    RESULTS[(step, fault)] = outcome(run) + ", converged"


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("step", REVOCATION_STEPS)
def test_revocation_survives(world: World, proxy: TcpProxy, step: str, fault: str) -> None:
    key, token, faults = prepared(world, proxy)
    env = {"VAULT_TOKEN": token}
    assert world.playbook("rotate.yml", secret=key.host, extra_env=env).rc == 0
    rotated = world.record(key).data
    world.wait_past(rotated["previous_key_revocation_at"])

    run = run_with_fault(world, "revoke_after_grace.yml", step, fault, faults, env, secret=key.host)
    faults.clear(ROTATOR_POLICY)

    data = world.record(key).data
    assert data["key_id"] == rotated["key_id"] and world.works(key, data["key"], data["key_id"])
    assert_nothing_unknown(world, key, data)

    rerun = world.playbook("revoke_after_grace.yml", secret=key.host, extra_env=env)

    assert rerun.rc == 0, rerun.output[-3000:]
    final = world.record(key).data
    assert "previous_key_id" not in final and set(alive(world, key)) == {rotated["key_id"]}
    assert not world.works(key, key.secret, key.key_id), "converged: the old key is revoked"
    for secret in secrets_of(world, rotated, data, final) | {token}:
        assert secret not in run.output and secret not in rerun.output, "a secret was printed"
    RESULTS[(step, fault)] = outcome(run) + ", converged"


__all__ = ["Path"]
