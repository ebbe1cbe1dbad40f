"""Two (or more) commits against each other, run alternately on one bench: rotate.yml then revoke_after_grace.yml.

On a machine shared with other work the same command's time moves by 10-20% from one run to the next, more than
most changes save. ``benchmarks/fleet.py --at`` measures one commit; this script exports each commit given
(``git archive``: its collection and its playbooks), starts the bench once (OpenBao, the gateway emulator), and
for each of --rounds rounds runs, for each commit in turn, rotate.yml over --keys fresh due keys and, once their
grace is over, revoke_after_grace.yml over them. It prints the wall and CPU seconds (the ansible-playbook process
tree) of each run and of the batch task in it, then the medians per commit. A run fails the benchmark unless every
key was rotated, then every old key revoked. The inventories are fleet.py's (hosts.yml + group_vars, rate limits
unlimited, usage evidence ``none``, grace 2 s).

Run: .venv/bin/python benchmarks/fleet_ab.py --keys 1000 --rounds 3 b0d29c2 HEAD
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fleet import BIN, Ansible, Run, Seeder, export_tree, lean_inventory
from tests.bench.bench import start_all

BATCH_TASK = "keys concurrently"  # in the name of the batch task of both roles


def export(commit: str, parent: Path) -> tuple[str, Path]:
    """(short sha, tree): ``commit``'s tree in a new directory under ``parent`` (fleet.export_tree)."""
    tree = Path(tempfile.mkdtemp(prefix="tree-", dir=parent))
    return export_tree(commit, tree)[:12], tree


def run_once(ansible: Ansible, tree: Path, inventory: Path, playbook: str) -> tuple[float, float, float]:
    """(wall, CPU, the batch task's seconds) of one run of ``playbook`` from ``tree``."""
    env = dict(ansible.env, ANSIBLE_COLLECTIONS_PATH=str(tree / ".build" / "collections"))
    run = Run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(tree / "playbooks" / playbook), "-e",
               "secret=all"], env, ansible.timeout)()
    batch = [seconds for name, seconds, _pss in run.timeline() if BATCH_TASK in name]
    return run.wall, run.cpu, batch[0] if batch else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("commits", nargs="+", help="commits to compare (two or more)")
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fleet-ab-"))
    trees = [export(commit, work) for commit in options.commits]
    rows: dict[str, dict[str, list[tuple[float, float, float]]]] = {sha: {"rotate": [], "revoke": []} for sha, _tree in trees}
    load = os.getloadavg()[0]
    with start_all(work / "bench", only="openbao,gateway", detached=True) as bench:
        ansible = Ansible(bench, work)
        seeder = Seeder(bench)
        for round_number in range(options.rounds):
            for sha, tree in trees:
                hosts = [f"ab{round_number}_{sha[:6]}_{number:05d}" for number in range(options.keys)]
                seeder.seed(hosts)
                inventory = lean_inventory(bench.gateway.url, work / f"inv-{round_number}-{sha}", hosts)
                rotate = run_once(ansible, tree, inventory, "rotate.yml")
                rotated = sum(1 for record in seeder.records(hosts) if record.get("previous_key_id"))
                if rotated != len(hosts):
                    sys.exit(f"{sha}: rotate.yml rotated {rotated} of {len(hosts)} keys")
                time.sleep(2.5)  # the grace (2 s, no clock skew) is over for every key
                revoke = run_once(ansible, tree, inventory, "revoke_after_grace.yml")
                left = sum(1 for record in seeder.records(hosts) if record.get("previous_key_id"))
                if left:
                    sys.exit(f"{sha}: revoke_after_grace.yml left {left} old keys")
                rows[sha]["rotate"].append(rotate)
                rows[sha]["revoke"].append(revoke)
                print(f"round {round_number + 1}, {sha}: rotate {rotate[0]:.1f} s wall, {rotate[1]:.1f} s CPU, batch "
                      f"{rotate[2]:.2f} s; revoke {revoke[0]:.1f} s wall, {revoke[1]:.1f} s CPU, batch {revoke[2]:.2f} s",
                      flush=True)
    print(f"\n{options.keys} keys, {options.rounds} rounds, medians (wall / CPU / batch task, seconds):")
    for sha, _tree in trees:
        cells = []
        for playbook in ("rotate", "revoke"):
            done = rows[sha][playbook]
            cells.append(f"{playbook} " + " / ".join(f"{statistics.median(run[i] for run in done):.2f}" for i in range(3)))
        print(f"  {sha}: {'; '.join(cells)}")
    print(f"{os.cpu_count()} cores, load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
