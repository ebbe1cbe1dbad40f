"""The roles' run options checked once per run (tasks/main.yml) are those of meta/argument_specs.yml, same types."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
#: role -> the prefix of its run options (the role checks them itself: the playbooks import it with rolespec_validate: false)
ROLES = {"rotate": "rotate_", "revoke_after_grace": "revoke_after_grace_"}
CHECKED = ("type", "elements", "choices")


def check_task(role: str) -> dict:
    for task in yaml.safe_load((ROOT / "roles" / role / "tasks" / "main.yml").read_text()):
        if "ansible.builtin.validate_argument_spec" in task:
            return task
    raise AssertionError(f"roles/{role}/tasks/main.yml: no validate_argument_spec task")


@pytest.mark.parametrize("role", sorted(ROLES))
def test_run_options_match_meta(role: str) -> None:
    meta = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    expected = {name: {field: option[field] for field in CHECKED if field in option}
                for name, option in meta["argument_specs"]["main"]["options"].items() if name.startswith(ROLES[role])}
    task = check_task(role)
    assert task["ansible.builtin.validate_argument_spec"]["argument_spec"] == expected
    assert task.get("run_once") is True, "checked once per run, not once per key"
    assert expected, "the role has run options"
