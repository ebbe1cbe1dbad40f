"""Fleet speed: the issue 13 targets, measured in one run with the floors measured beside them.

On this machine, against the local servers (OpenBao dev server, the Kong-style gateway emulator,
both as subprocesses), it prints:
  * the floors: a bare one-task play with no inventory, and the raw loop: a plain Python loop making
    the protocol's API calls for each key over keep-alive connections (rotate: store read, provider
    create, store write of the pending key (check-and-set), test call with the new key, store write of
    the promoted record (check-and-set); revoke: store read, provider delete, store write);
  * rotate.yml over each of --sizes due keys in one run (wall, cost per key above a bare one-task play
    over the same inventory, ratio to the raw loop over as many keys), then revoke_after_grace.yml over
    the same keys once their grace is over (every old key revoked), each with the peak memory of the
    whole ansible-playbook process tree;
  * one key from a 1,000-key inventory (rotate.yml -e secret=<one key>, median of --runs runs, each on
    a fresh due key) beside a bare one-task play over the same inventory (the two alternately, run after
    run, medians of each), for several inventory shapes, and one key from a small inventory (the target
    "one key <= 1.5x a bare one-task play");
  * emergency timings (benchmarks/emergency.py): when the first, median and last compromised key was
    revoked at the provider (the emulator stamps each DELETE it serves), for 1 and --emergency keys.
Keys are made directly through the gateway emulator's seeding endpoint and hvac, never through
Ansible; the inventories set ``apikeys_rate_limit: {provider: unlimited, store: unlimited}`` (the local
servers have no limits; the default budgets would pace the runs). Peak memory: the sum of the PSS (proportional set size, /proc/<pid>/smaps_rollup, so pages
forked workers share with their parent count once) of ansible-playbook and every descendant, sampled
every 50 ms; the sum of their RSS is printed beside it. CPU: user + system seconds of the whole tree
(getrusage of the waited-for children), a figure a busy shared machine disturbs less than the wall time; for
each fleet run also the CPU seconds OpenBao and the gateway emulator used meanwhile (/proc/<pid>/stat), the sum,
and how many cores that kept busy on average.
Each fleet run also says where its time and memory went: every task's seconds (from its ``TASK [...]`` banner
on stdout to the next banner), ms per key and the peak PSS while it ran; the cost growth is given for the wall
and for the CPU per key. A run longer than --timeout seconds is killed with every process it started.

Run: .venv/bin/python benchmarks/fleet.py                      (100 and 1,000 keys, all measures)
     .venv/bin/python benchmarks/fleet.py --sizes 100,10000 --only raw,rotate --runs 1   (the 10,000-key run:
         about 25 s to seed the keys, then about 3 minutes on 2 cores at b4ecb8d)
     add --at HEAD (or any commit) to measure that commit's code, exported with git archive, whatever
     the working tree holds.
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import py_compile
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import hvac
import requests
import yaml

from _common import BIN, OLD, ROOT, UNLIMITED, wait_exactly
from emergency import emergency
from tests.bench.bench import Bench, start_all
from tests.bench._proc import stat_fields

#: the collection's inventory plugin first, then ansible-core's default inventory plugins
KEYS_FIRST = {"ANSIBLE_INVENTORY_ENABLED": "apikeys.rotation.keys,host_list,script,auto,yaml,ini,toml"}
FAST = {"apikeys_grace_period": "2s", "apikeys_clock_skew": "0s", "apikeys_usage_evidence": {"source": "none"}}
COMMON_VARS = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
               "apikeys_vault_allow_http": True, "apikeys_rotation_frequency": "30d", **FAST, **UNLIMITED}
BARE_PLAY = "- hosts: {hosts}\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug:\n        msg: hello\n"
PARTS = ("raw", "rotate", "revoke", "one", "emergency")


# --- the keys -------------------------------------------------------------------------------------

class Seeder:
    """Makes due gateway keys fast: the emulator's seeding endpoint and hvac, from a thread pool."""

    def __init__(self, bench: Bench, workers: int = 8) -> None:
        self.bench = bench
        self.workers = workers
        self.local = threading.local()

    def _clients(self) -> tuple[requests.Session, hvac.Client]:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.vault = hvac.Client(url=self.bench.openbao.url, token=self.bench.openbao.token)
        return self.local.session, self.local.vault

    def _one(self, host: str) -> None:
        session, vault = self._clients()
        made = session.post(self.bench.gateway.url + "/__emulator/seed", json={"consumer": consumer(host)},
                            timeout=10).json()
        vault.secrets.kv.v2.create_or_update_secret(path=f"bench/{host}", mount_point="secret",
                                                    secret={"key": made["key"], "key_id": made["id"], "rotated_at": OLD})

    def _record(self, host: str) -> dict[str, Any]:
        return self._clients()[1].secrets.kv.v2.read_secret_version(
            path=f"bench/{host}", mount_point="secret", raise_on_deleted_version=True)["data"]["data"]

    def seed(self, hosts: list[str]) -> None:
        with ThreadPoolExecutor(self.workers) as pool:
            list(pool.map(self._one, hosts))

    def records(self, hosts: list[str]) -> list[dict[str, Any]]:
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(self._record, hosts))


def consumer(host: str) -> str:
    return host.replace("_", "-")


def provider_options(gateway_url: str, name: str) -> dict[str, Any]:
    """The gateway's options for the key ``name`` (a literal host name or '{{ inventory_hostname }}')."""
    return {"admin_url": gateway_url, "admin_header": "Kong-Admin-Token", "admin_scheme": "",
            "credential_env": "GATEWAY_ADMIN_TOKEN", "create_path": "/consumers/{consumer}/key-auth",
            "key_path": "/consumers/{consumer}/key-auth/{key_id}", "path_params": {"consumer": name},
            "test_url": f"{gateway_url}/{name}/ping"}


# --- inventories ----------------------------------------------------------------------------------

def lean_inventory(gateway_url: str, directory: Path, hosts: list[str], names_only: bool = False) -> Path:
    """hosts.yml lists the keys with their own vault path; what they share is in group_vars/all.yml,
    the provider options templated with the host's name: the shape a large inventory usually has.
    ``names_only``: hosts.yml lists only names, the vault path is templated in group_vars too."""
    (directory / "group_vars").mkdir(parents=True, exist_ok=True)
    shared = dict(COMMON_VARS, apikeys_provider="http", apikeys_provider_options=provider_options(
        gateway_url, "{{ inventory_hostname | replace('_', '-') }}"))
    if names_only:
        shared["apikeys_vault_path"] = "secret/bench/{{ inventory_hostname }}"
    (directory / "group_vars" / "all.yml").write_text(yaml.safe_dump(shared))
    (directory / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {
        host: None if names_only else {"apikeys_vault_path": f"secret/bench/{host}"} for host in hosts}}}))
    return directory


def fat_inventory_data(gateway_url: str, hosts: list[str]) -> dict[str, Any]:
    """Every key carries all its variables (what benchmarks/rotate_one_key.py and emergency.py write)."""
    return {"all": {"vars": COMMON_VARS, "hosts": {
        host: {"apikeys_provider": "http", "apikeys_vault_path": f"secret/bench/{host}",
               "apikeys_provider_options": provider_options(gateway_url, consumer(host))} for host in hosts}}}


def for_keys_plugin(text: str) -> str:
    """A YAML inventory's text for the collection's inventory plugin: its ``plugin:`` line first."""
    return f"plugin: apikeys.rotation.keys\n{text}"


# --- running ansible-playbook ---------------------------------------------------------------------

def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as children:
                    todo.extend(int(child) for child in children.read().split())
        except OSError:
            continue
    return found


def memory_kib(pid: int) -> tuple[int, int]:
    """(PSS, RSS) in KiB of one process, (0, 0) once it is gone."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return pss, rss


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process (all its threads) has used so far, from /proc/<pid>/stat."""
    fields = stat_fields(pid)
    if fields is None:
        raise RuntimeError(f"process {pid} is gone: its CPU time cannot be read")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


def banner_name(line: str) -> str:
    """``TASK [role : name] ****`` -> ``role : name``; ``RUNNING HANDLER [x] **`` -> ``handler: x``; ``PLAY RECAP``."""
    if "[" not in line or "]" not in line:
        return line.rstrip("* ")
    name = line[line.index("[") + 1:line.rindex("]")]
    return f"handler: {name}" if line.startswith("RUNNING HANDLER") else name


class Run:
    """One ansible-playbook command: its wall time, CPU, the peak memory of its whole process tree, and where
    its time went: each task's share, from the moment its banner (``TASK [...]``) reached stdout to the next."""

    BANNERS = ("TASK [", "RUNNING HANDLER [", "PLAY RECAP")

    def __init__(self, command: list[str], env: dict[str, str], timeout: float = 3600.0,
                 servers: dict[str, int] | None = None) -> None:
        self.command = command
        self.env = env
        self.timeout = timeout
        self.servers = dict(servers or {})  # name -> pid of a server the run talks to (OpenBao, an emulator)
        self.server_cpu: dict[str, float] = {}  # name -> its CPU seconds during the run
        self.wall = self.cpu = 0.0
        self.peak_pss = self.peak_rss = self.peak_processes = 0
        self.lines: list[str] = []
        self.banners: list[tuple[float, str]] = []  # (seconds since the start, banner)
        self.samples: list[tuple[float, int]] = []  # (seconds since the start, PSS of the tree in KiB)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def _sample(self, pid: int, done: threading.Event, started: float) -> None:
        while not done.is_set():
            tree = descendants(pid)
            sizes = [memory_kib(each) for each in tree]
            pss = sum(p for p, _r in sizes)
            self.samples.append((time.perf_counter() - started, pss))
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_rss = max(self.peak_rss, sum(r for _p, r in sizes))
            self.peak_processes = max(self.peak_processes, len(tree))
            done.wait(0.05)

    def _read(self, stream: Iterable[str], started: float) -> None:
        for line in stream:
            line = line.rstrip("\n")
            self.lines.append(line)
            if line.startswith(self.BANNERS):
                self.banners.append((time.perf_counter() - started, banner_name(line)))

    def __call__(self) -> "Run":
        done = threading.Event()
        servers_before = {name: cpu_seconds(pid) for name, pid in self.servers.items()}
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        # its own session: a timeout stops ansible-playbook and every worker it forked
        process = subprocess.Popen(self.command, env=self.env, cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
        sampler = threading.Thread(target=self._sample, args=(process.pid, done, started), daemon=True)
        reader = threading.Thread(target=self._read, args=(process.stdout, started), daemon=True)
        sampler.start()
        reader.start()
        try:
            exited = wait_exactly(process, self.timeout, group=True)
        except BaseException:  # interrupted: leave no ansible-playbook behind
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        if not exited:
            reader.join(5)
            sys.exit(f"timed out after {self.timeout:.0f} s (--timeout): {' '.join(self.command)}\n"
                     + "\n".join(self.lines[-40:]))
        reader.join()
        self.wall = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        self.server_cpu = {name: cpu_seconds(pid) - servers_before[name] for name, pid in self.servers.items()}
        done.set()
        sampler.join()
        if process.returncode != 0:
            sys.exit(f"failed (rc {process.returncode}): {' '.join(self.command)}\n{self.output[-4000:]}")
        return self

    def all_cpu(self) -> str:
        """The CPU of everything the run kept busy: ansible-playbook's tree and each server, and how many cores
        that is on average over the run's wall time."""
        total = self.cpu + sum(self.server_cpu.values())
        servers = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.server_cpu.items())
        return (f"{total:.1f} s of CPU in all: ansible-playbook's processes {self.cpu:.1f} s, {servers}; "
                f"{total / self.wall:.2f} cores busy on average over {self.wall:.1f} s (this machine has {os.cpu_count()})")

    def memory(self) -> str:
        return (f"{self.peak_pss / 1024:.0f} MiB PSS ({self.peak_rss / 1024:.0f} MiB RSS), "
                f"{self.peak_processes} processes")

    def timeline(self) -> list[tuple[str, float, int]]:
        """(what, seconds, peak PSS in KiB): start-up to the first task, each task (banner to the next banner),
        the recap to the exit."""
        marks = [(0.0, "start-up, inventory, play")] + self.banners + [(self.wall, "")]
        return [(name if name != "PLAY RECAP" else "recap and exit", marks[i + 1][0] - at,
                 max((pss for when, pss in self.samples if at <= when < marks[i + 1][0]), default=0))
                for i, (at, name) in enumerate(marks[:-1])]


def medians(done: list[Run]) -> tuple[float, float]:
    """Median wall and median CPU seconds of runs made."""
    return statistics.median(run.wall for run in done), statistics.median(run.cpu for run in done)


def ansible_env(home: Path, servers: dict[str, str] | None = None) -> dict[str, str]:
    """ansible-playbook's environment: this one without its ANSIBLE_*, VAULT_* and BAO_* settings, plus ``servers``
    (the bench's addresses and credentials), a home of its own and this checkout's collection."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "VAULT_", "BAO_"))}
    env.update(servers or {}, HOME=str(home), ANSIBLE_HOME=str(home / ".ansible"),
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_RETRY_FILES_ENABLED="0")
    return env


class Ansible:
    def __init__(self, bench: Bench, workdir: Path, timeout: float = 3600.0) -> None:
        self.workdir = workdir
        self.timeout = timeout
        home = workdir / "home"
        home.mkdir(exist_ok=True)
        self.env = ansible_env(home, bench.env())
        self.servers = {"OpenBao": bench.openbao.pid, "gateway emulator": bench.gateway.pid}

    def run(self, inventory: Path | str, playbook: str, *extra: str, env: dict[str, str] | None = None) -> Run:
        command = [str(BIN / "ansible-playbook"), "-i", str(inventory), playbook, *extra]
        return Run(command, dict(self.env, **(env or {})), self.timeout, self.servers)()

    def bare(self, inventory: Path | str, host: str, env: dict[str, str] | None = None) -> Run:
        play = self.workdir / f"bare-{host}.yml"
        play.write_text(BARE_PLAY.format(hosts=host))
        return self.run(inventory, str(play), env=env)

    @staticmethod
    def median(runs: int, measure: Callable[[int], Run]) -> tuple[float, float]:
        """Median wall and median CPU seconds of ``runs`` runs."""
        return medians([measure(run) for run in range(runs)])


# --- the raw loop ---------------------------------------------------------------------------------

class RawLoop:
    """The protocol's API calls for each key, in a plain loop, over keep-alive connections."""

    def __init__(self, bench: Bench) -> None:
        self.vault = requests.Session()
        self.vault.headers["X-Vault-Token"] = bench.openbao.token
        self.store = bench.openbao.url + "/v1/secret/data/bench/"
        self.gateway = requests.Session()
        self.gateway.headers["Kong-Admin-Token"] = bench.gateway_admin_token
        self.url = bench.gateway.url

    def _read(self, host: str) -> tuple[dict[str, Any], int]:
        answer = self.vault.get(self.store + host, timeout=10)
        answer.raise_for_status()
        body = answer.json()["data"]
        return body["data"], body["metadata"]["version"]

    def _write(self, host: str, data: dict[str, Any], version: int) -> None:
        self.vault.post(self.store + host, json={"options": {"cas": version}, "data": data},
                        timeout=10).raise_for_status()

    def rotate(self, host: str) -> None:
        data, version = self._read(host)
        made = self.gateway.post(f"{self.url}/consumers/{consumer(host)}/key-auth", json={"tags": [host]}, timeout=10)
        made.raise_for_status()
        new = made.json()
        self._write(host, dict(data, pending_key=new["key"], pending_key_id=new["id"]), version)
        if self.gateway.get(f"{self.url}/{consumer(host)}/ping", headers={"apikey": new["key"]}, timeout=10).status_code != 200:
            sys.exit(f"raw loop: {host}: the new key does not work")
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._write(host, {"key": new["key"], "key_id": new["id"], "previous_key": data["key"],
                           "previous_key_id": data["key_id"], "rotated_at": now}, version + 1)

    def revoke(self, host: str) -> None:
        data, version = self._read(host)
        self.gateway.delete(f"{self.url}/consumers/{consumer(host)}/key-auth/{data['previous_key_id']}",
                            timeout=10).raise_for_status()
        self._write(host, {k: v for k, v in data.items() if not k.startswith("previous_")}, version)

    def time(self, step: Callable[[str], None], hosts: Iterable[str]) -> float:
        started = time.perf_counter()
        for host in hosts:
            step(host)
        return time.perf_counter() - started


# --- the measures ---------------------------------------------------------------------------------

class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []
        self.notes: list[str] = []

    def add(self, measure: str, measured: str, target: str = "") -> None:
        self.rows.append((measure, measured, target))
        print(f"  {measure}: {measured}" + (f"  [target {target}]" if target else ""), file=sys.stderr, flush=True)

    def print(self) -> None:
        print("| measure | measured | target |")
        print("|---|---|---|")
        for measure, measured, target in self.rows:
            print(f"| {measure} | {measured} | {target} |")
        for note in self.notes:
            print(note)


def where_time_went(report: Report, run: Run, what: str, size: int) -> None:
    """A note: each task's seconds and ms per key of one fleet run (see Run.timeline)."""
    report.notes.append(f"\nwhere the time went, {what} over {size} keys ({run.wall:.1f} s wall, {run.cpu:.1f} s CPU):")
    for name, seconds, pss in run.timeline():
        report.notes.append(f"  {seconds:8.2f} s  {seconds / size * 1000:7.2f} ms/key  {pss / 1024:6.0f} MiB PSS  {name}")
    print("\n".join(report.notes[-len(run.timeline()) - 1:]), file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def rotate_fleet(bench: Bench, ansible: Ansible, seeder: Seeder, report: Report, size: int, raw_per_key: float | None,
                 parts: set[str]) -> dict[str, float]:
    hosts = [f"f{size}_{number:05d}" for number in range(size)]
    started = time.perf_counter()
    seeder.seed(hosts)
    print(f"seeded {size} keys in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    inventory = lean_inventory(bench.gateway.url, ansible.workdir / f"fleet-{size}", hosts)
    bare_run = ansible.bare(inventory, hosts[0])
    bare = bare_run.wall
    run = ansible.run(inventory, "playbooks/rotate.yml", "-e", "secret=all")
    rotated = sum(1 for record in seeder.records(hosts) if record.get("previous_key_id"))
    if rotated != size:
        sys.exit(f"rotate.yml over {size} keys rotated {rotated}\n{run.output[-3000:]}")
    per_key = (run.wall - bare) / size
    cpu_per_key = (run.cpu - bare_run.cpu) / size
    cell = (f"{run.wall:.1f} s wall ({run.cpu:.1f} s CPU), {per_key * 1000:.1f} ms per key above the bare play "
            f"({bare:.2f} s, {bare_run.cpu:.2f} s CPU; {cpu_per_key * 1000:.1f} ms of CPU per key above it)")
    if raw_per_key:
        cell += f", {run.wall / (raw_per_key * size):.1f}x the raw loop over {size} keys"
    report.add(f"rotate.yml, {size} due keys, one run", cell,
               f"1,000 keys: <= 20 s and <= 3x the raw loop ({verdict(run.wall <= 20 and bool(raw_per_key) and run.wall <= 3 * raw_per_key * size)})"
               if size == 1000 else "")
    report.add(f"CPU, rotate.yml over {size} keys", run.all_cpu())
    report.add(f"peak memory, rotate.yml over {size} keys", run.memory(),
               f"10,000 keys: <= 1 GiB ({verdict(run.peak_pss <= 1024 * 1024)})" if size == 10000 else "")
    where_time_went(report, run, "rotate.yml", size)
    result = {"wall": run.wall, "per_key": per_key, "cpu_per_key": cpu_per_key}
    if "revoke" in parts:
        time.sleep(2.5)  # the grace (2 s, no clock skew) is over for every key
        revoke = ansible.run(inventory, "playbooks/revoke_after_grace.yml", "-e", "secret=all")
        left = sum(1 for record in seeder.records(hosts) if record.get("previous_key_id"))
        if left:
            sys.exit(f"revoke_after_grace.yml over {size} keys left {left} old keys\n{revoke.output[-3000:]}")
        where_time_went(report, revoke, "revoke_after_grace.yml", size)
        report.add(f"CPU, revoke_after_grace.yml over {size} keys", revoke.all_cpu())
        report.add(f"revoke_after_grace.yml, {size} keys whose grace is over", f"{revoke.wall:.1f} s wall "
                   f"({revoke.cpu:.1f} s CPU), "
                   f"{(revoke.wall - bare) / size * 1000:.1f} ms per key above the bare play; {revoke.memory()}",
                   f"<= 20 s ({verdict(revoke.wall <= 20)})" if size == 1000 else "")
    return result


def one_key(bench: Bench, ansible: Ansible, seeder: Seeder, report: Report, runs: int) -> None:
    """rotate.yml for one key out of a 1,000-key inventory, per inventory shape, beside a bare play."""
    due = [f"one_{number:02d}" for number in range(8 * runs)]  # a fresh key for each of the 8 shapes in each run
    seeder.seed(due)
    small = lean_inventory(bench.gateway.url, ansible.workdir / "one-small", due)
    hosts = due + [f"idle_{number:04d}" for number in range(1000 - len(due))]  # never selected, never touched
    lean = lean_inventory(bench.gateway.url, ansible.workdir / "one-lean", hosts)
    names = lean_inventory(bench.gateway.url, ansible.workdir / "one-names", hosts, names_only=True)
    fat = fat_inventory_data(bench.gateway.url, hosts)
    fat_yaml = ansible.workdir / "one-fat.yml"
    fat_yaml.write_text(yaml.safe_dump(fat))
    fat_json = ansible.workdir / "one-fat.json"
    fat_json.write_text(json.dumps(fat))
    fat_keys = ansible.workdir / "one-fat-keys.yml"  # the same file for the collection's inventory plugin
    fat_keys.write_text(for_keys_plugin(yaml.safe_dump(fat)))
    shapes = [
        (f"(for comparison) a {len(due)}-key inventory, hosts.yml + group_vars/all.yml", small, {}),
        ("hosts.yml (names only) + group_vars/all.yml (everything templated from the name)", names, {}),
        ("hosts.yml (each key its vault path) + group_vars/all.yml (shared options templated)", lean, {}),
        ("one YAML file, every key carrying all its variables", fat_yaml, {}),
        ("the same YAML file, [inventory] enable_plugins = yaml", fat_yaml, {"ANSIBLE_INVENTORY_ENABLED": "yaml"}),
        ("the same inventory as one JSON file", fat_json, {}),
        ("the same YAML file with the line plugin: apikeys.rotation.keys, that plugin enabled first", fat_keys,
         KEYS_FIRST),
        ("the same file for apikeys.rotation.keys, default enable_plugins (read through auto)", fat_keys, {}),
    ]
    assert len(shapes) * runs == len(due), "one fresh due key per shape and run"
    keys = iter(due)
    for label, inventory, env in shapes:
        ansible.bare(inventory, due[0], env)  # warm the page cache
        # the bare play and the one-key run alternately, so that both see the machine as it is at that moment
        pairs = [(ansible.bare(inventory, due[0], env),
                  ansible.run(inventory, "playbooks/rotate.yml", "-e", f"secret={next(keys)}", env=env))
                 for _round in range(runs)]
        bare, bare_cpu = medians([bare_run for bare_run, _rotation in pairs])
        rotate, rotate_cpu = medians([rotation for _bare, rotation in pairs])
        small_one = inventory == small
        target = f"<= 1.5x the bare play ({verdict(rotate <= 1.5 * bare)})" if small_one else f"<= 1.5 s ({verdict(rotate <= 1.5)})"
        report.add(f"one key{'' if small_one else ' from a 1,000-key inventory'}: {label}",
                   f"{rotate:.2f} s ({rotate_cpu:.2f} s CPU); bare one-task play over it {bare:.2f} s "
                   f"({bare_cpu:.2f} s CPU); {rotate / bare:.2f}x ({rotate_cpu / bare_cpu:.2f}x in CPU)", target)
    rotated = sum(1 for record in seeder.records(due) if record.get("previous_key_id"))
    if rotated != len(due):
        sys.exit(f"one-key runs rotated {rotated} of {len(due)} keys")


def machine() -> str:
    if os.environ.get("APIKEYS_BENCH_COMMIT"):
        commit, dirty = os.environ["APIKEYS_BENCH_COMMIT"][:12] + " (git archive)", ""
    else:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "plugins", "roles", "playbooks"],
                               cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
    version = subprocess.run([str(BIN / "ansible-playbook"), "--version"], capture_output=True, text=True,
                             check=False).stdout.splitlines()[0]
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (f"{os.cpu_count()} cores, load average {load}; commit {commit}"
            f"{' (working tree: plugins/roles/playbooks differ from it)' if dirty else ''}; {version}; "
            f"Python {platform.python_version()}")


def export_tree(commit: str, tree: Path) -> str:
    """``commit``'s files (git archive) into the empty directory ``tree``, with its collection linked where
    ``ANSIBLE_COLLECTIONS_PATH=<tree>/.build/collections`` finds it; returns the commit's full sha."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    archive = subprocess.run(["git", "archive", sha], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    link = tree / ".build" / "collections" / "ansible_collections" / "apikeys"
    link.mkdir(parents=True)
    (link / "rotation").symlink_to(tree)
    compile_plugins(tree)
    return sha


def compile_plugins(tree: Path) -> None:
    """The byte code of ``tree``'s ``plugins/`` (plugin files and the modules they import), as ``make setup`` compiles
    the checkout's (its ``bytecode`` target)."""
    if not compileall.compile_dir(str(tree / "plugins"), quiet=1, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH):
        raise RuntimeError(f"compiling {tree / 'plugins'} failed")


def at_commit(commit: str, argv: list[str]) -> int:
    """Run this benchmark from ``commit``'s tree (git archive), with the collection taken from that tree."""
    with tempfile.TemporaryDirectory(prefix="apikeys-at-") as tree:
        sha = export_tree(commit, Path(tree))
        child = subprocess.Popen([sys.executable, str(Path(tree) / "benchmarks" / "fleet.py"), *argv],
                                 env=dict(os.environ, APIKEYS_BENCH_COMMIT=sha))
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.terminate()  # it stops its servers
            child.wait()
            raise


def stop_on_sigterm(signum: int, _frame: Any) -> None:
    """SIGTERM (and SIGINT, which a shell's background job ignores) unwind: the bench's servers are stopped."""
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000", help="fleet sizes for rotate.yml and revoke_after_grace.yml")
    parser.add_argument("--runs", type=int, default=3, help="runs per median (bare plays, one key)")
    parser.add_argument("--emergency", type=int, default=100, help="keys in the emergency run")
    parser.add_argument("--only", default=",".join(PARTS), help=f"which measures, of {','.join(PARTS)}")
    parser.add_argument("--at", help="measure this commit's code (git archive), not the working tree")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds one ansible-playbook run may take before it is killed (default 3600)")
    args = parser.parse_args()
    if args.at:
        argv = sys.argv[1:]
        at = argv.index("--at") if "--at" in argv else None
        rest = argv[:at] + argv[at + 2:] if at is not None else [a for a in argv if not a.startswith("--at=")]
        return at_commit(args.at, rest)
    sizes = [int(size) for size in args.sizes.split(",")]
    parts = set(args.only.split(","))
    if parts - set(PARTS):
        parser.error(f"--only: choose from {','.join(PARTS)}")
    report = Report()
    report.notes.append(f"\nbefore: {machine()}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="apikeys-fleet-") as tmp, \
            start_all(Path(tmp) / "bench", only="openbao,gateway", detached=True) as bench:
        workdir = Path(tmp)
        ansible = Ansible(bench, workdir, args.timeout)
        seeder = Seeder(bench)
        bare, bare_cpu = ansible.median(args.runs, lambda _n: ansible.bare("localhost,", "localhost"))
        report.add("bare one-task play, no inventory (ansible-playbook's own floor)", f"{bare:.2f} s ({bare_cpu:.2f} s CPU)")
        raw_per_key = None
        if "raw" in parts:
            raw_hosts = [f"raw_{number:04d}" for number in range(min(1000, max(sizes)))]
            seeder.seed(raw_hosts)
            loop = RawLoop(bench)
            raw_rotate = loop.time(loop.rotate, raw_hosts)
            raw_revoke = loop.time(loop.revoke, raw_hosts)
            raw_per_key = raw_rotate / len(raw_hosts)
            report.add(f"raw loop, {len(raw_hosts)} keys (plain Python, same servers)",
                       f"rotate {raw_rotate:.2f} s ({raw_per_key * 1000:.1f} ms per key), "
                       f"revoke {raw_revoke:.2f} s ({raw_revoke / len(raw_hosts) * 1000:.1f} ms per key)")
        fleets = {}
        if "rotate" in parts:
            for size in sizes:
                fleets[size] = rotate_fleet(bench, ansible, seeder, report, size, raw_per_key, parts)
            if len(fleets) > 1:
                small, large = min(fleets), max(fleets)
                growth = fleets[large]["per_key"] / fleets[small]["per_key"]
                cpu_growth = fleets[large]["cpu_per_key"] / fleets[small]["cpu_per_key"]
                report.add(f"cost growth: per-key cost at {large} / at {small}",
                           f"{growth:.2f}x wall ({cpu_growth:.2f}x CPU: less disturbed by other load on the machine)",
                           f"10,000 vs 100: <= 1.5x ({verdict(growth <= 1.5)})" if (small, large) == (100, 10000) else "")
            if 10000 in fleets:
                report.add("10,000 keys, wall", f"{fleets[10000]['wall']:.0f} s",
                           f"<= 180 s ({verdict(fleets[10000]['wall'] <= 180)})")
        if "one" in parts:
            one_key(bench, ansible, seeder, report, args.runs)
        if "emergency" in parts:
            vault = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)
            for count in (1, args.emergency):
                times = emergency(bench, vault, workdir, [f"em{count}_{number:04d}" for number in range(count)])
                target = "first <= 2 s, last <= 5 s" if count == 100 else ""
                if target:
                    target += f" ({verdict(times['first'] <= 2 and times['last'] <= 5)})"
                report.add(f"emergency, {count} key{'s' if count > 1 else ''}: compromised key revoked at the provider",
                           f"first {times['first']:.2f} s, median {times['median']:.2f} s, last {times['last']:.2f} s; "
                           f"command returned {times['returned']:.2f} s ({times['cpu']:.1f} s CPU)", target)
    report.notes.append(f"after:  {os.cpu_count()} cores, load average "
                        f"{', '.join(f'{value:.2f}' for value in os.getloadavg())}; benchmark took "
                        f"{time.perf_counter() - started:.0f} s")
    at = f" --at {os.environ['APIKEYS_BENCH_COMMIT'][:12]}" if os.environ.get("APIKEYS_BENCH_COMMIT") else ""
    report.notes.append("command: .venv/bin/python benchmarks/fleet.py " + " ".join(sys.argv[1:]) + at)
    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
