"""One key against a bare play, two commits alternately on one bench: what a change did to the one-key path.

A one-key rotation costs 0.2-0.3 s above a bare one-task play, and the bare play itself moves by more than that
from one minute to the next on a shared 2-core machine, so two `fleet.py` runs apart in time cannot tell a 30-50 ms
change from the drift. This exports each commit (git archive, its plugins' byte code compiled as `make setup` does),
starts the bench once (OpenBao dev server, the gateway emulator) and, round after round, in alternating order, runs
for each commit a bare one-task play over a small inventory and right after it rotate.yml for one fresh due key. It
prints, per commit, the medians of the one-key run's cost above the bare play just before it (wall and CPU seconds
of the process tree), of the bare play and of the one-key run, and the ratio of the last two (issue 13's "one key
<= 1.5x a bare one-task play"). Every key is read back afterwards: the run fails unless each was rotated.

Run: .venv/bin/python benchmarks/one_key_ab.py a03876e HEAD --rounds 12     (about 3 minutes)
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import fleet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("commits", nargs=2)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="apikeys-one-key-ab-") as tmp:
        trees = {}
        for commit in args.commits:
            tree = Path(tmp) / f"tree-{len(trees)}"
            tree.mkdir()
            trees[commit] = (fleet.export_tree(commit, tree)[:12], tree)
        with fleet.start_all(Path(tmp) / "bench", only="openbao,gateway", detached=True) as bench:
            ansible = fleet.Ansible(bench, Path(tmp))
            seeder = fleet.Seeder(bench)
            due = [f"one_{number:03d}" for number in range(2 * args.rounds)]
            seeder.seed(due)
            inventory = fleet.lean_inventory(bench.gateway.url, Path(tmp) / "inventory", due)
            keys = iter(due)
            runs: dict[str, list[tuple[fleet.Run, fleet.Run]]] = {commit: [] for commit in args.commits}
            for number in range(args.rounds):
                for commit in args.commits if number % 2 == 0 else args.commits[::-1]:
                    env = dict(ansible.env, ANSIBLE_COLLECTIONS_PATH=str(trees[commit][1] / ".build" / "collections"))
                    bare = ansible.bare(inventory, due[0], env)
                    one = ansible.run(inventory, str(trees[commit][1] / "playbooks" / "rotate.yml"), "-e",
                                      f"secret={next(keys)}", env=env)
                    runs[commit].append((bare, one))
            left = [record for record in seeder.records(due) if not record.get("previous_key_id")]
            if left:
                sys.exit(f"{len(left)} of {len(due)} keys were not rotated")
    print("| commit | one key above its bare play: wall / CPU | bare play | one key | one key / bare |")
    print("|---|---|---|---|---|")
    for commit, pairs in runs.items():
        above = statistics.median(one.wall - bare.wall for bare, one in pairs)
        above_cpu = statistics.median(one.cpu - bare.cpu for bare, one in pairs)
        bare_s, _bare_cpu = fleet.medians([bare for bare, _one in pairs])
        one_s, _one_cpu = fleet.medians([one for _bare, one in pairs])
        print(f"| {trees[commit][0]} | {above * 1000:.0f} / {above_cpu * 1000:.0f} ms | {bare_s:.3f} s | {one_s:.3f} s "
              f"| {one_s / bare_s:.2f}x |")
    print(f"\n{fleet.machine()}\nmedians of {args.rounds} rounds; command: {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
