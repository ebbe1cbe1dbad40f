"""The fleet engine (docs/fleet.md): many keys in one run, one key's failure never stops the others.

Real OpenBao and the gateway emulator; state read back with raw HTTP (OpenBao's API, the gateway's proxy),
never through the collection.
"""
from __future__ import annotations

import re
from typing import Any

import requests

from .conftest import Key, World

FLEET = 200
BAD = 5
EMERGENCY = 50


def raw_record(world: World, key: Key) -> dict[str, Any]:
    """The key's record, read with a plain HTTP GET from OpenBao's KV v2 API."""
    mount, path = key.vault_path.split("/", 1)
    answer = requests.get(f"{world.bench.openbao.url}/v1/{mount}/data/{path}",
                          headers={"X-Vault-Token": world.bench.openbao.token}, timeout=10)
    answer.raise_for_status()
    return answer.json()["data"]["data"]


def ping(world: World, secret: str) -> int:
    """The gateway's answer to a consumer calling with ``secret``: 200 accepted, 401 rejected."""
    return requests.get(world.bench.gateway.url + "/demo/ping", headers={"apikey": secret}, timeout=10).status_code


def recap(stdout: str) -> dict[str, dict[str, int]]:
    lines = stdout.split("PLAY RECAP", 1)[1].splitlines()
    found = {}
    for line in lines:
        match = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if match:
            found[match[1]] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match[2])}
    return found


def test_a_fleet_with_five_keys_failing_at_the_provider_rotates_the_others_and_names_the_five(world: World) -> None:
    gateway = world.bench.gateway.url
    keys = [world.key("http") for _number in range(FLEET)]
    bad = keys[10:10 + BAD]
    for number, key in enumerate(bad):  # their keys are created under consumers the provider refuses
        consumer = f"{world.prefix}bad{number}"
        requests.post(gateway + "/__emulator/seed", json={"consumer": consumer, "tags": ["other"]},
                      timeout=5).raise_for_status()
        world.hosts[key.host]["apikeys_provider_options"] = dict(key.options, path_params={"consumer": consumer})
    match = f"POST /consumers/{world.prefix}bad"
    before = requests.get(gateway + "/__emulator/faults/fired", timeout=5).json()["by_match"].get(match, 0)
    requests.post(gateway + "/__emulator/faults", json={"match": match, "status": 403, "count": 1000},
                  timeout=5).raise_for_status()
    trace = world.tmp / "trace"
    trace.mkdir()
    try:
        run = world.playbook("rotate.yml", extra_env={"APIKEYS_TEST_TRACE": str(trace)}, secret="all")
    finally:
        requests.delete(gateway + "/__emulator/faults", timeout=5)

    fired = requests.get(gateway + "/__emulator/faults/fired", timeout=5).json()["by_match"].get(match, 0)
    assert fired - before >= BAD, "the provider refused no key: the fault was not injected"
    assert run.rc != 0, run.output
    stats = recap(run.stdout)
    assert sorted(h for h, s in stats.items() if s["failed"]) == sorted(k.host for k in bad), run.stdout[-3000:]
    assert sum(1 for s in stats.values() if s["changed"]) == FLEET - BAD
    for key in bad:
        assert re.search(rf"{key.host}: FAILED: .*\S", run.stdout), f"{key.host} not reported as failed"
        data = raw_record(world, key)
        assert data["key_id"] == key.key_id and data["key"] == key.secret, "a failed key kept its old key"
        assert not [f for f in data if f.startswith("pending")]
        assert ping(world, key.secret) == 200
    # 200 keys, 8 workers: two processes (the default) shared them, and the run's id
    creators = {p.name.split(".")[1] for p in trace.glob("before_create.*")}
    assert len(creators) == 2, f"keys created by {len(creators)} processes"
    run_ids = set()
    for key in keys:
        if key in bad:
            continue
        data = raw_record(world, key)
        assert data["key_id"] != key.key_id and data["previous_key_id"] == key.key_id, key.host
        run_ids.add(data["history"][-1]["run_id"])
        assert f"{key.host}: rotated (" in run.stdout
        assert ping(world, data["key"]) == 200 and ping(world, key.secret) == 200, "dual-key overlap"
    assert len(run_ids) == 1, f"one run, one run id: {sorted(run_ids)}"


def test_an_emergency_over_fifty_keys_leaves_every_compromised_key_rejected(world: World) -> None:
    keys = [world.key("http") for _number in range(EMERGENCY)]

    trace = world.tmp / "trace"
    trace.mkdir()
    # an emergency runs in one process by default; two here, so that the shards' revocations are checked too
    run = world.playbook("rotate.yml", "--tags", "emergency", extra_env={"APIKEYS_TEST_TRACE": str(trace)},
                         secret="all", confirm="all", rotate_processes=2)

    assert run.rc == 0, run.output[-3000:]
    stats = recap(run.stdout)
    assert len(stats) == EMERGENCY and all(s["failed"] == 0 and s["changed"] for s in stats.values())
    assert len({p.name.split(".")[1] for p in trace.glob("before_create.*")}) == 2, "two processes replaced the keys"
    for key in keys:
        assert ping(world, key.secret) == 401, f"{key.host}: the compromised key still works"
        data = raw_record(world, key)
        assert data["key_id"] != key.key_id and not [f for f in data if f.startswith(("previous", "pending"))]
        assert ping(world, data["key"]) == 200, f"{key.host}: the replacement does not work"
        assert f"{key.host}: EMERGENCY: compromised key {key.key_id} revoked at" in run.stdout
