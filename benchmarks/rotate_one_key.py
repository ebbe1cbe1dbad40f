"""How long does a rotation take, against the floor of ansible-playbook itself?

Measures, on this machine, against the local servers (OpenBao dev, the gateway and SendGrid
emulators):
  * a bare one-task play (ansible-playbook's own start-up and one action): the floor;
  * rotate.yml for one key (median of --runs runs, each on a fresh key that is due);
  * rotate.yml for --fleet keys in one run, and the cost per key above the bare play.

Run: make bench    (or: .venv/bin/python benchmarks/rotate_one_key.py --runs 7 --fleet 100)
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import hvac
import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.bench.bench import Bench, start_all  # noqa: E402

BIN = Path(sys.executable).parent
OLD = (datetime.now(timezone.utc) - timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--fleet", type=int, default=100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="apikeys-bench-") as workdir, \
            start_all(Path(workdir) / "bench", only="openbao,sendgrid,gateway") as bench:
        requests.post(bench.sendgrid.url + "/__emulator/config", json={"key_limit": 10000}, timeout=5)
        vault = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)
        hosts: dict[str, dict] = {}
        groups: dict[str, dict] = {"fleet": {"hosts": {}}}
        for run in range(args.runs):
            hosts[f"one_gateway_{run}"] = gateway_key(bench, vault, f"one-gateway-{run}")
            hosts[f"one_sendgrid_{run}"] = sendgrid_key(bench, vault, f"one-sendgrid-{run}")
        for number in range(args.fleet):
            host = f"fleet_{number:04d}"
            hosts[host] = gateway_key(bench, vault, host.replace("_", "-"))
            groups["fleet"]["hosts"][host] = None
        inventory = Path(workdir) / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"all": {"vars": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "apikeys_vault_allow_http": True, "apikeys_rotation_frequency": "30d", "apikeys_grace_period": "1h"},
            "hosts": hosts, "children": groups}}))
        bare = Path(workdir) / "bare.yml"
        bare.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                        "    - ansible.builtin.debug:\n        msg: hello\n")
        env = dict(os.environ, **bench.env(), ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"))
        playbook = [str(BIN / "ansible-playbook"), "-i", str(inventory)]
        rotate = str(ROOT / "playbooks" / "rotate.yml")

        timed(playbook + [str(bare)], env)  # warm the page cache
        bare_s = statistics.median(timed(playbook + [str(bare)], env) for _run in range(args.runs))
        gateway_s = statistics.median(timed(playbook + [rotate, "-e", f"secret=one_gateway_{run}"], env)
                                      for run in range(args.runs))
        sendgrid_s = statistics.median(timed(playbook + [rotate, "-e", f"secret=one_sendgrid_{run}"], env)
                                       for run in range(args.runs))
        fleet_s = timed(playbook + [rotate, "-e", "secret=fleet"], env)
        rotated = sum(1 for number in range(args.fleet) if vault.secrets.kv.v2.read_secret_version(
            path=f"bench/fleet-{number:04d}", mount_point="secret",
            raise_on_deleted_version=True)["data"]["data"].get("previous_key_id"))

    print(f"| measure (median of {args.runs} runs unless said) | wall |")
    print("|---|---|")
    print(f"| bare one-task play | {bare_s:.2f} s |")
    print(f"| rotate.yml, 1 key, http gateway | {gateway_s:.2f} s ({gateway_s / bare_s:.2f}x the bare play) |")
    print(f"| rotate.yml, 1 key, sendgrid | {sendgrid_s:.2f} s ({sendgrid_s / bare_s:.2f}x the bare play) |")
    print(f"| rotate.yml, {args.fleet} keys in one run (1 run) | {fleet_s:.2f} s "
          f"({(fleet_s - bare_s) / args.fleet * 1000:.0f} ms per key above the bare play) |")
    print(f"\nkeys rotated in the fleet run: {rotated}/{args.fleet}")
    return 0 if rotated == args.fleet else 1


if __name__ == "__main__":
    sys.exit(main())
