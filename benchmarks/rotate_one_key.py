"""How long does a rotation take, against the floor of ansible-playbook itself?

Measures, on this machine, against the local servers (OpenBao dev, the gateway and SendGrid
emulators):
  * a bare one-task play (ansible-playbook's own start-up and one action): the floor;
  * rotate.yml for one key (median of --runs runs, each on a fresh key that is due);
  * rotate.yml for --fleet keys in one run, and the cost per key above the bare play;
  * with --timeline, where one more one-key run's time goes, task by task: wall, the controller's CPU and the
    reaped workers' CPU (benchmarks/callback_plugins/task_cpu.py).

Run: make bench    (or: .venv/bin/python benchmarks/rotate_one_key.py --runs 7 --fleet 100)
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

import hvac
import requests
import yaml

from _common import BIN, ROOT, UNLIMITED, gateway_key, sendgrid_key, timed
from tests.bench.bench import start_all


def cpu_seconds() -> float:
    """User + system seconds of the waited-for children so far (the ansible-playbook process trees)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median_run(commands: list[list[str]], env: dict[str, str]) -> tuple[float, float]:
    """The median wall and the median CPU seconds of running each command once."""
    walls, cpus = [], []
    for command in commands:
        before = cpu_seconds()
        walls.append(timed(command, env))
        cpus.append(cpu_seconds() - before)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--fleet", type=int, default=100)
    parser.add_argument("--timeline", action="store_true",
                        help="one more one-key run with the task_cpu callback: where its time goes, task by task")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="apikeys-bench-") as workdir, \
            start_all(Path(workdir) / "bench", only="openbao,sendgrid,gateway") as bench:
        requests.post(bench.sendgrid.url + "/__emulator/config", json={"key_limit": 10000}, timeout=5)
        vault = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)
        hosts: dict[str, dict] = {}
        groups: dict[str, dict] = {"fleet": {"hosts": {}}}
        for run in range(args.runs + 1):  # one more gateway key for --timeline
            hosts[f"one_gateway_{run}"] = gateway_key(bench, vault, f"one-gateway-{run}")
            if run < args.runs:
                hosts[f"one_sendgrid_{run}"] = sendgrid_key(bench, vault, f"one-sendgrid-{run}")
        for number in range(args.fleet):
            host = f"fleet_{number:04d}"
            hosts[host] = gateway_key(bench, vault, host.replace("_", "-"))
            groups["fleet"]["hosts"][host] = None
        inventory = Path(workdir) / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"all": {"vars": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "apikeys_vault_allow_http": True, "apikeys_rotation_frequency": "30d", "apikeys_grace_period": "1h",
            **UNLIMITED},
            "hosts": hosts, "children": groups}}))
        bare = Path(workdir) / "bare.yml"
        bare.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                        "    - ansible.builtin.debug:\n        msg: hello\n")
        env = dict(os.environ, **bench.env(), ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"))
        playbook = [str(BIN / "ansible-playbook"), "-i", str(inventory)]
        rotate = str(ROOT / "playbooks" / "rotate.yml")

        timed(playbook + [str(bare)], env)  # warm the page cache
        bare_s, bare_cpu = median_run([playbook + [str(bare)]] * args.runs, env)
        gateway_s, gateway_cpu = median_run([playbook + [rotate, "-e", f"secret=one_gateway_{run}"]
                                             for run in range(args.runs)], env)
        sendgrid_s, sendgrid_cpu = median_run([playbook + [rotate, "-e", f"secret=one_sendgrid_{run}"]
                                               for run in range(args.runs)], env)
        fleet_s, fleet_cpu = median_run([playbook + [rotate, "-e", "secret=fleet"]], env)
        timeline = ""
        if args.timeline:
            log = Path(workdir) / "task-cpu.log"
            timed(playbook + [rotate, "-e", f"secret=one_gateway_{args.runs}"],
                  dict(env, ANSIBLE_CALLBACK_PLUGINS=str(ROOT / "benchmarks" / "callback_plugins"),
                       ANSIBLE_CALLBACKS_ENABLED="task_cpu", APIKEYS_TASK_CPU_LOG=str(log)))
            timeline = log.read_text()
        rotated = sum(1 for number in range(args.fleet) if vault.secrets.kv.v2.read_secret_version(
            path=f"bench/fleet-{number:04d}", mount_point="secret",
            raise_on_deleted_version=True)["data"]["data"].get("previous_key_id"))

    print(f"| measure (median of {args.runs} runs unless said) | wall (CPU seconds of the process tree) |")
    print("|---|---|")
    print(f"| bare one-task play | {bare_s:.2f} s ({bare_cpu:.2f} s CPU) |")
    print(f"| rotate.yml, 1 key, http gateway | {gateway_s:.2f} s ({gateway_cpu:.2f} s CPU; {gateway_s / bare_s:.2f}x the "
          f"bare play's wall, {gateway_cpu / bare_cpu:.2f}x its CPU) |")
    print(f"| rotate.yml, 1 key, sendgrid | {sendgrid_s:.2f} s ({sendgrid_cpu:.2f} s CPU; {sendgrid_s / bare_s:.2f}x the "
          f"bare play's wall, {sendgrid_cpu / bare_cpu:.2f}x its CPU) |")
    print(f"| rotate.yml, {args.fleet} keys in one run (1 run) | {fleet_s:.2f} s ({fleet_cpu:.2f} s CPU; "
          f"{(fleet_s - bare_s) / args.fleet * 1000:.0f} ms per key above the bare play) |")
    if timeline:
        print(f"\nwhere one more one-key run (http gateway) went, task by task (ms):\n{timeline}")
    print(f"\nload average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    print(f"\nkeys rotated in the fleet run: {rotated}/{args.fleet}")
    return 0 if rotated == args.fleet else 1


if __name__ == "__main__":
    sys.exit(main())
