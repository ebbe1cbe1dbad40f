"""How long is a compromised key still accepted after `rotate.yml --tags emergency` starts?

For 1 key and for --fleet keys (Kong-style gateway keys, one consumer each), starts
`ansible-playbook playbooks/rotate.yml --tags emergency` and, once it has returned, reads from
the provider (the gateway emulator's key list) when each compromised key was deleted: the
moment the emulator served its DELETE, from which on the key is refused. Reports, from the
moment the command was started: when the first and the last compromised key were revoked,
the median, and when the command returned; then checks with real calls that every compromised
key is rejected (401) and every replacement works.

Nothing watches the provider while the run goes on: until 2026-11-27 this script polled the
whole key list every 20 ms, which on 2 cores took CPU from the run it measured (each poll
listed and encoded every key of the emulator, thousands after the fleet runs). --poll puts
that poller back, as a load beside the run, to compare.

Run: .venv/bin/python benchmarks/emergency.py --fleet 100
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hvac
import requests
import yaml

from _common import BIN, ROOT, UNLIMITED, gateway_key, wait_exactly
from tests.bench.bench import Bench, start_all


def emergency(bench: Bench, vault: hvac.Client, workdir: Path, hosts: list[str],
              extra: tuple[str, ...] = (), poll: bool = False) -> dict[str, float]:
    inventory_hosts = {host: gateway_key(bench, vault, host) for host in hosts}
    before = {host: vault.secrets.kv.v2.read_secret_version(path=f"bench/{host}", mount_point="secret",
                                                            raise_on_deleted_version=True)["data"]["data"]
              for host in hosts}
    compromised = {data["key_id"]: host for host, data in before.items()}
    inventory = workdir / f"inventory-{len(hosts)}.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "apikeys_vault_allow_http": True,
        "apikeys_rotation_frequency": "30d", "apikeys_grace_period": "1h", **UNLIMITED},
        "hosts": inventory_hosts, "children": {"breach": {"hosts": {h: None for h in hosts}}}}}))
    env = dict(os.environ, **bench.env(), ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"))
    command = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / "rotate.yml"),
               "--tags", "emergency", "-e", "secret=breach", "-e", "confirm=breach"]
    for assignment in extra:  # e.g. rotate_workers=16, to compare settings
        command += ["-e", assignment]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started_at = time.time()  # the emulator stamps each DELETE with this machine's clock
    started = time.perf_counter()
    log = workdir / f"emergency-{len(hosts)}.log"
    with log.open("w") as out:  # a file, not a pipe: nothing has to read it while the run goes on
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        while poll and process.poll() is None and time.perf_counter() - started < 600:
            requests.get(bench.gateway.url + "/__emulator/keys", timeout=5).json()  # the former watcher, as a load
            time.sleep(0.02)
        wait_exactly(process, max(1.0, 600 - (time.perf_counter() - started)))  # killed after 600 s in all
    returned = time.perf_counter() - started
    output = log.read_text()
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    revoked = {key["id"]: key["revoked_at"] - started_at
               for key in requests.get(bench.gateway.url + "/__emulator/keys", timeout=5).json()
               if key["id"] in compromised and key["revoked"] and key.get("revoked_at") is not None}
    if process.returncode != 0 or len(revoked) < len(compromised):
        sys.exit(f"emergency run failed (rc {process.returncode}, {len(revoked)}/{len(compromised)} revoked)\n"
                 + output[-3000:])
    for key_id, host in compromised.items():  # the provider's own answer, not just its bookkeeping
        data = vault.secrets.kv.v2.read_secret_version(path=f"bench/{host}", mount_point="secret",
                                                       raise_on_deleted_version=True)["data"]["data"]
        old = requests.get(f"{bench.gateway.url}/{host}/ping", headers={"apikey": before[host]["key"]}, timeout=5)
        new = requests.get(f"{bench.gateway.url}/{host}/ping", headers={"apikey": data["key"]}, timeout=5)
        if data["key_id"] == key_id or old.status_code != 401 or new.status_code != 200:
            sys.exit(f"{host}: not replaced as expected")
    times = sorted(revoked.values())
    return {"first": times[0], "median": statistics.median(times), "last": times[-1], "returned": returned, "cpu": cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fleet", type=int, default=100)
    parser.add_argument("-e", "--extra-vars", dest="extra", action="append", default=[],
                        help="an extra variable for both runs, e.g. -e rotate_workers=16 (repeatable)")
    parser.add_argument("--poll", action="store_true",
                        help="poll the emulator's whole key list every 20 ms during each run, as this script did "
                             "before 2026-11-27 (a load beside the run, to compare)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="apikeys-bench-") as workdir, \
            start_all(Path(workdir) / "bench", only="openbao,gateway") as bench:
        vault = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)
        one = emergency(bench, vault, Path(workdir), ["one-0"], tuple(args.extra), args.poll)
        fleet = emergency(bench, vault, Path(workdir), [f"fleet-{n:04d}" for n in range(args.fleet)],
                          tuple(args.extra), args.poll)
    print("| keys | first compromised key revoked | median | last | command returned |")
    print("|---|---|---|---|---|")
    for count, result in ((1, one), (args.fleet, fleet)):
        print(f"| {count} | {result['first']:.2f} s | {result['median']:.2f} s | {result['last']:.2f} s "
              f"| {result['returned']:.2f} s ({result['cpu']:.1f} s CPU) |")
    print(f"\nload average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores; extra vars: {args.extra or 'none'}"
          f"{'; the key list polled every 20 ms during the runs' if args.poll else ''}")
    print("times from the start of ansible-playbook; every compromised key answered 401 afterwards")
    return 0


if __name__ == "__main__":
    sys.exit(main())
