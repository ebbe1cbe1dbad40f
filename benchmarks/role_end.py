"""What does the end of a role cost per host, with the fleet strategy and with Ansible's linear strategy?

At the end of each role Ansible adds a ``role_complete`` meta task for every host (and ``flush_handlers`` tasks at the
end of the play). No server is needed: the play is one role holding one ``run_once`` debug task, over an inventory
of --hosts hosts (``ansible_connection: local``, nothing else). The figure is the time from the task's banner to the
``PLAY RECAP`` banner, read from ansible-playbook's output as it arrives: the run_once task (one host) and then the
role's end for every host. Median of --runs runs of each strategy, run alternately.

Run: .venv/bin/python benchmarks/role_end.py --hosts 10000 --runs 3
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import BIN, ROOT

ROLE_TASKS = """---
- name: Once
  ansible.builtin.debug:
    msg: once
  run_once: true
"""
PLAY = """---
- name: One role over every host
  hosts: all
  gather_facts: false
  strategy: "{{ strategy }}"
  roles: [once]
"""
STRATEGIES = ("apikeys.rotation.fleet", "linear")


def task_to_recap(directory: Path, strategy: str) -> float:
    """Seconds from the task's banner to the recap's banner in one run (fails the benchmark if the run fails)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOME=str(directory / ".ansible"), ANSIBLE_RETRY_FILES_ENABLED="0", PYTHONUNBUFFERED="1")
    command = [str(BIN / "ansible-playbook"), "-i", str(directory / "hosts.json"), str(directory / "play.yml"),
               "-e", f"strategy={strategy}"]
    seen: dict[str, float] = {}
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=directory) as run:
        for line in run.stdout:
            if line.startswith(("TASK [once : Once]", "PLAY RECAP")):
                seen.setdefault("task" if line.startswith("TASK") else "recap", time.perf_counter())
        if run.wait() != 0 or len(seen) != 2:
            sys.exit(f"{strategy}: the run failed or printed no task or recap banner (exit {run.returncode})")
    return seen["recap"] - seen["task"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="role-end-"))
    (directory / "roles" / "once" / "tasks").mkdir(parents=True)
    (directory / "roles" / "once" / "tasks" / "main.yml").write_text(ROLE_TASKS)
    (directory / "play.yml").write_text(PLAY)
    hosts = {f"h{number:05d}": None for number in range(options.hosts)}
    (directory / "hosts.json").write_text(json.dumps({"all": {"hosts": hosts, "vars": {"ansible_connection": "local"}}}))
    load = os.getloadavg()
    times: dict[str, list[float]] = {strategy: [] for strategy in STRATEGIES}
    for _run in range(options.runs):
        for strategy in STRATEGIES:
            times[strategy].append(task_to_recap(directory, strategy))
    print(f"{options.hosts} hosts, one role with one run_once task; from the task's banner to the recap "
          f"(median of {options.runs} runs each, alternately):")
    for strategy in STRATEGIES:
        median = statistics.median(times[strategy])
        print(f"  {strategy:24} {median:6.2f} s  ({1000 * median / options.hosts:.2f} ms per host; runs: "
              f"{', '.join(f'{t:.2f}' for t in times[strategy])})")
    print(f"{os.cpu_count()} cores, load average {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
