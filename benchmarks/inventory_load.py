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

The layouts are written by fleet.py's own functions (``lean_inventory``, ``fat_inventory_data``), so they are the
inventories its one-key rows measure. No server is started: a bare play contacts nothing. The collection is this
checkout's (.build/collections); the header says which commit and whether its collection files have changes.

Run: .venv/bin/python benchmarks/inventory_load.py                       (1,000 and 10,000 keys, 3 rounds: ~4 minutes)
     .venv/bin/python benchmarks/inventory_load.py --sizes 1000 --runs 5
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import yaml

from _common import BIN
from fleet import (BARE_PLAY, KEYS_FIRST, Run, ansible_env, fat_inventory_data, for_keys_plugin, lean_inventory, machine,
                   medians)

#: the gateway named in the keys' provider options; nothing is contacted
GATEWAY = "http://127.0.0.1:8001"


def write_layouts(directory: Path, count: int) -> list[tuple[str, Path, dict[str, str]]]:
    """The same ``count`` keys in each layout, as fleet.py writes them: (label, inventory source, environment)."""
    hosts = [f"key_{number:05d}" for number in range(count)]
    names = lean_inventory(GATEWAY, directory / "names", hosts, names_only=True)
    paths = lean_inventory(GATEWAY, directory / "paths", hosts)
    paths_keys = lean_inventory(GATEWAY, directory / "paths-keys", hosts)
    (paths_keys / "keys.yml").write_text(for_keys_plugin((paths_keys / "hosts.yml").read_text()))
    (paths_keys / "hosts.yml").unlink()
    fat = fat_inventory_data(GATEWAY, hosts)
    text = yaml.safe_dump(fat)
    (directory / "fat.yml").write_text(text)
    (directory / "fat.json").write_text(json.dumps(fat))
    (directory / "fat-keys.yml").write_text(for_keys_plugin(text))
    return [
        ("hosts.yml names only + group_vars", names / "hosts.yml", {}),
        ("hosts.yml each key's vault path + group_vars", paths / "hosts.yml", {}),
        ("the same hosts.yml for apikeys.rotation.keys (plugin first)", paths_keys / "keys.yml", KEYS_FIRST),
        ("one YAML file, every key all its variables (default plugins: auto, yaml)", directory / "fat.yml", {}),
        ("the same YAML file, enable_plugins = yaml", directory / "fat.yml", {"ANSIBLE_INVENTORY_ENABLED": "yaml"}),
        ("the same as one JSON file", directory / "fat.json", {}),
        ("the same YAML file for apikeys.rotation.keys (plugin first)", directory / "fat-keys.yml", KEYS_FIRST),
        ("the same file for apikeys.rotation.keys, default plugins (through auto)", directory / "fat-keys.yml", {}),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated key counts")
    parser.add_argument("--runs", type=int, default=3, help="rounds; each times every layout once")
    args = parser.parse_args()
    print(f"before: {machine()}")
    with tempfile.TemporaryDirectory(prefix="apikeys-inventory-load-") as tmp:
        env = ansible_env(Path(tmp))
        rows = []
        for count in (int(size) for size in args.sizes.split(",")):
            directory = Path(tmp) / str(count)
            directory.mkdir()
            layouts = write_layouts(directory, count)
            play = directory / "bare.yml"
            play.write_text(BARE_PLAY.format(hosts="key_00000"))
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
    print(f"after:  {machine()}")
    print(f"command: .venv/bin/python benchmarks/inventory_load.py {' '.join(sys.argv[1:])}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
