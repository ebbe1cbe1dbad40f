"""What loading the key inventory costs every run: a bare one-task play over 1,000 and 10,000 keys, per layout.

Every ansible-playbook run loads the whole inventory before its first task, a one-key run
(``-e secret=<key>``) as much as a fleet run, so the layout of a large inventory is a floor under every run.
For each size this writes the same keys in each layout below and times, alternately round after round, a
bare one-task play (``ansible.builtin.debug`` on one key) over each; it prints the median wall and CPU seconds:

  * names: hosts.yml with the names only, group_vars/all.yml with everything (the vault path templated
    from ``inventory_hostname``);
  * paths: hosts.yml with each key's ``apikeys_vault_path``, group_vars/all.yml with the shared options;
  * paths, keys plugin: the same hosts.yml with ``plugin: apikeys.rotation.keys`` on top, that plugin first
    in ``enable_plugins``;
  * one YAML file, every key with all its variables (provider options included), read by Ansible's default
    plugins (``auto``, then ``yaml``); the same with ``enable_plugins = yaml``; the same as one JSON file;
    the same YAML file for ``apikeys.rotation.keys``, that plugin first, and with the default plugins
    (``auto`` hands it over).

No server is started: a bare play contacts nothing. The collection is this checkout's (.build/collections);
the header says which commit and whether the tree has changes.

Run: .venv/bin/python benchmarks/inventory_load.py                       (1,000 and 10,000 keys, 3 rounds: ~4 minutes)
     .venv/bin/python benchmarks/inventory_load.py --sizes 1000 --runs 5
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from _common import BIN, ROOT
from fleet import Run, medians

KEYS_FIRST = "apikeys.rotation.keys,host_list,script,auto,yaml,ini,toml"
PLUGIN_LINE = "plugin: apikeys.rotation.keys\n"
SHARED = {"ansible_connection": "local", "apikeys_store": "vault", "apikeys_vault_addr": "http://127.0.0.1:8200",
          "apikeys_provider": "http", "apikeys_rotation_frequency": "30d"}
BARE_PLAY = "- hosts: {host}\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug:\n        msg: hello\n"


def provider_options(name: str) -> dict[str, Any]:
    """A gateway key's options (as benchmarks/fleet.py writes them); nothing is contacted."""
    return {"admin_url": "http://127.0.0.1:8001", "admin_header": "Kong-Admin-Token", "admin_scheme": "",
            "credential_env": "GATEWAY_ADMIN_TOKEN", "create_path": "/consumers/{consumer}/key-auth",
            "key_path": "/consumers/{consumer}/key-auth/{key_id}", "path_params": {"consumer": name},
            "test_url": f"http://127.0.0.1:8001/{name}/ping"}


def write_layouts(directory: Path, count: int) -> list[tuple[str, Path, dict[str, str]]]:
    """The same ``count`` keys in each layout: (label, inventory source, environment)."""
    hosts = [f"key_{number:05d}" for number in range(count)]
    layouts: list[tuple[str, Path, dict[str, str]]] = []

    names = directory / "names"
    (names / "group_vars").mkdir(parents=True)
    templated = dict(SHARED, apikeys_vault_path="secret/bench/{{ inventory_hostname }}",
                     apikeys_provider_options=provider_options("{{ inventory_hostname | replace('_', '-') }}"))
    (names / "group_vars" / "all.yml").write_text(yaml.safe_dump(templated))
    (names / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": dict.fromkeys(hosts)}}))
    layouts.append(("hosts.yml names only + group_vars", names / "hosts.yml", {}))

    paths = directory / "paths"
    (paths / "group_vars").mkdir(parents=True)
    shared = dict(SHARED, apikeys_provider_options=provider_options("{{ inventory_hostname | replace('_', '-') }}"))
    (paths / "group_vars" / "all.yml").write_text(yaml.safe_dump(shared))
    listed = yaml.safe_dump({"all": {"hosts": {host: {"apikeys_vault_path": f"secret/bench/{host}"} for host in hosts}}})
    (paths / "hosts.yml").write_text(listed)
    (paths / "keys.yml").write_text(PLUGIN_LINE + listed)
    layouts.append(("hosts.yml each key's vault path + group_vars", paths / "hosts.yml", {}))
    layouts.append(("the same hosts.yml for apikeys.rotation.keys (plugin first)", paths / "keys.yml",
                    {"ANSIBLE_INVENTORY_ENABLED": KEYS_FIRST}))

    fat = {"all": {"vars": SHARED, "hosts": {
        host: {"apikeys_vault_path": f"secret/bench/{host}", "apikeys_provider_options": provider_options(host.replace("_", "-"))}
        for host in hosts}}}
    text = yaml.safe_dump(fat)
    (directory / "fat.yml").write_text(text)
    (directory / "fat.json").write_text(json.dumps(fat))
    (directory / "fat-keys.yml").write_text(PLUGIN_LINE + text)
    layouts += [
        ("one YAML file, every key all its variables (default plugins: auto, yaml)", directory / "fat.yml", {}),
        ("the same YAML file, enable_plugins = yaml", directory / "fat.yml", {"ANSIBLE_INVENTORY_ENABLED": "yaml"}),
        ("the same as one JSON file", directory / "fat.json", {}),
        ("the same YAML file for apikeys.rotation.keys (plugin first)", directory / "fat-keys.yml",
         {"ANSIBLE_INVENTORY_ENABLED": KEYS_FIRST}),
        ("the same file for apikeys.rotation.keys, default plugins (through auto)", directory / "fat-keys.yml", {}),
    ]
    return layouts


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "VAULT_", "BAO_"))}
    env.update(HOME=str(home), ANSIBLE_HOME=str(home / ".ansible"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), ANSIBLE_RETRY_FILES_ENABLED="0")
    return env


def header() -> str:
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True, check=False).stdout.strip()
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (f"{os.cpu_count()} cores, load average {load}; commit {commit}{' with changes' if dirty else ''}; "
            f"Python {platform.python_version()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated key counts")
    parser.add_argument("--runs", type=int, default=3, help="rounds; each times every layout once")
    args = parser.parse_args()
    print(f"before: {header()}")
    with tempfile.TemporaryDirectory(prefix="apikeys-inventory-load-") as tmp:
        env = environment(Path(tmp))
        rows = []
        for count in (int(size) for size in args.sizes.split(",")):
            directory = Path(tmp) / str(count)
            directory.mkdir()
            layouts = write_layouts(directory, count)
            play = directory / "bare.yml"
            play.write_text(BARE_PLAY.format(host="key_00000"))
            done: dict[str, list[Run]] = {label: [] for label, _source, _env in layouts}
            for number in range(args.runs):
                for label, source, extra in layouts if number % 2 == 0 else layouts[::-1]:
                    command = [str(BIN / "ansible-playbook"), "-i", str(source), str(play)]
                    done[label].append(Run(command, dict(env, **extra), timeout=600.0)())
            for label, _source, _env in layouts:
                wall, cpu = medians(done[label])
                rows.append((count, label, wall, cpu))
                print(f"  {count} keys, {label}: {wall:.2f} s ({cpu:.2f} s CPU)", flush=True)
    print("\n| keys | layout | bare one-task play over it: wall (CPU) |\n|---|---|---|")
    for count, label, wall, cpu in rows:
        print(f"| {count:,} | {label} | {wall:.2f} s ({cpu:.2f} s) |")
    print(f"after:  {header()}")
    print(f"command: .venv/bin/python benchmarks/inventory_load.py {' '.join(sys.argv[1:])}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
