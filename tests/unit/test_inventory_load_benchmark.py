"""benchmarks/inventory_load.py compares layouts of the same keys: each layout must hold the same data.

Read back by the real ``ansible-inventory`` (and ``ansible`` for the templated layouts), so a layout that drifted
(a missing variable, another value, a host too many) would make the benchmark compare different inventories.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import inventory_load  # noqa: E402  pylint: disable=wrong-import-position,import-error

BIN = Path(sys.executable).parent


def inventory(tmp: Path, source: Path, extra: dict[str, str], *command: str) -> str:
    env = dict(inventory_load.ansible_env(tmp), **extra)
    done = subprocess.run([str(BIN / command[0]), "-i", str(source), *command[1:]], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_every_layout_holds_the_same_keys_and_values(tmp_path: Path) -> None:
    layouts = inventory_load.write_layouts(tmp_path / "layouts", 3)
    assert len(layouts) == 8
    whole = {label: json.loads(inventory(tmp_path, source, extra, "ansible-inventory", "--list"))
             for label, source, extra in layouts if "group_vars" not in label and "hosts.yml" not in label}
    expected = whole.pop("one YAML file, every key all its variables (default plugins: auto, yaml)")
    assert sorted(expected["_meta"]["hostvars"]) == ["key_00000", "key_00001", "key_00002"]
    assert expected["_meta"]["hostvars"]["key_00001"]["apikeys_provider_options"]["path_params"] == {"consumer": "key-00001"}
    assert len(whole) == 4 and all(listed == expected for listed in whole.values())
    # the hosts.yml layouts template from the name: what a task sees must be the one file's values
    rendered = set()
    for label, source, extra in layouts:
        out = inventory(tmp_path, source, extra, "ansible", "key_00001", "-m", "ansible.builtin.debug", "-a",
                        "msg={{ [apikeys_vault_path, apikeys_provider_options, apikeys_rotation_frequency, apikeys_provider] }}")
        rendered.add(" ".join(out.split("=>", 1)[1].split()))
    assert len(rendered) == 1, rendered
    assert "secret/bench/key_00001" in rendered.pop()
