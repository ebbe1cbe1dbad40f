"""The AWX configuration (playbooks/awx/configure.yml, role awx_config), checked without an AWX.

- AWX lists the playbooks the job templates name (its project scan rules, awx/main/utils/ansible.py).
- The configuration playbook passes ansible-playbook --syntax-check and ansible-lint (production profile), with
  the awx.awx collection installed from PyPI's ansible wheel (tests/awx/awx_collection.py).
- Every awx.awx task uses only options its module documents (ansible-lint's args rule cannot check these modules).
- The schedules the role plans for an inventory: one per cron expression, for exactly its keys, each RRULE running
  at the cron expression's times (python-dateutil for the RRULE, croniter for cron); a bad expression fails
  naming the key.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1].parent
sys.path.insert(0, str(ROOT))

from tests.awx.awx_collection import COLLECTIONS, ensure  # noqa: E402
from tests.unit.test_rrule import next_from_cron, next_from_rrule  # noqa: E402

BIN = Path(sys.executable).parent
PLAYBOOK = ROOT / "playbooks" / "awx" / "configure.yml"
ROLE = ROOT / "roles" / "awx_config"
PLAYBOOK_LINE = re.compile(r"^\s*?-?\s*?(?:hosts|include|import_playbook):\s*?.*?$")


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


@pytest.fixture(scope="module")
def awx_collection() -> Path:
    link = COLLECTIONS / "ansible_collections" / "apikeys" / "rotation"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT)
    return ensure()


def env(tmp: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    clean.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_HOME=str(tmp / ".ansible"), ANSIBLE_NOCOLOR="1",
                 ANSIBLE_LOCAL_TEMP=str(tmp / ".ansible" / "tmp"), PATH=f"{BIN}:{clean.get('PATH', '')}")
    return clean


def awx_playbooks() -> set[str]:
    """The playbooks AWX offers for a project checked out at ROOT: .yml/.yaml files with a line that starts a play,
    outside roles/, tasks/, group_vars/, host_vars/ and hidden directories."""
    found = set()
    for path in ROOT.rglob("*.y*ml"):
        parts = path.relative_to(ROOT).parts[:-1]
        if {"roles", "tasks", "group_vars", "host_vars"} & set(parts) or any(p.startswith(".") for p in parts):
            continue
        if path.suffix in (".yml", ".yaml") and any(PLAYBOOK_LINE.match(line) for line in path.read_text(errors="ignore").splitlines()):
            found.add(str(path.relative_to(ROOT)))
    return found


def test_awx_lists_every_playbook_the_job_templates_run() -> None:
    templates = yaml.load((ROLE / "vars" / "main.yml").read_text(), Loader=_Loader)["awx_config__job_templates"]
    listed = awx_playbooks()
    assert {t["playbook"] for t in templates.values()} <= listed
    assert {"playbooks/rotate.yml", "playbooks/revoke_after_grace.yml", "playbooks/rollback.yml", "playbooks/import.yml",
            "playbooks/awx/configure.yml"} <= listed


def test_the_role_accepts_exactly_its_credential_types() -> None:
    types = yaml.load((ROLE / "vars" / "main.yml").read_text(), Loader=_Loader)["awx_config__credential_types"]
    spec = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    credential = spec["awx_config_credentials"]["options"]
    assert set(credential["type"]["choices"]) == set(types)
    assert credential["inputs"]["no_log"] is True
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert {name: option.get("default") for name, option in spec.items()} == defaults


def test_the_configuration_passes_syntax_check_and_ansible_lint(awx_collection: Path, tmp_path: Path) -> None:
    check = subprocess.run([str(BIN / "ansible-playbook"), "-i", "inventories/example", str(PLAYBOOK), "--syntax-check"],
                           cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    lint = subprocess.run([str(BIN / "ansible-lint"), "--offline", str(PLAYBOOK.relative_to(ROOT)), str(ROLE.relative_to(ROOT))],
                          cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=300, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "Profile 'production' was required, and it passed" in lint.stdout + lint.stderr


def module_options(collection: Path, module: str) -> dict[str, Any]:
    source = (collection / "plugins" / "modules" / f"{module}.py").read_text()
    doc = re.search(r"DOCUMENTATION = r?('''|\"\"\")(.*?)\1", source, re.S)
    assert doc, module
    return yaml.safe_load(doc.group(2))["options"]


def awx_tasks() -> list[tuple[str, str, dict[str, Any]]]:
    tasks = []
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        for task in yaml.load(path.read_text(), Loader=_Loader):
            for name, args in task.items():
                if name.startswith("awx.awx."):
                    tasks.append((path.name, name.split(".")[-1], args))
    return tasks


def test_every_awx_task_uses_only_options_its_module_documents(awx_collection: Path) -> None:
    tasks = awx_tasks()
    modules = {"credential_type", "credential", "execution_environment", "project", "inventory", "inventory_source",
               "notification_template", "job_template", "workflow_job_template", "schedule"}
    assert {task[1] for task in tasks} == modules
    for where, module, args in tasks:
        options = module_options(awx_collection, module)
        assert set(args) <= set(options), f"{where}: awx.awx.{module}: unknown options {set(args) - set(options)}"
        for name, value in args.items():
            choices = options[name].get("choices")
            if choices and isinstance(value, str) and "{{" not in value:
                assert value in choices, f"{where}: awx.awx.{module}: {name}={value} not in {choices}"


def plan(tmp: Path, hosts: dict[str, dict[str, Any]], *args: str) -> subprocess.CompletedProcess[str]:
    inventory = tmp / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "tests" / "awx" / "plan.yml"),
                           "-e", f"plan_file={tmp / 'plan.json'}", *args], env=env(tmp), capture_output=True, text=True,
                          timeout=120, cwd=tmp, check=False)


def test_one_schedule_per_cron_expression_for_exactly_its_keys(awx_collection: Path, tmp_path: Path) -> None:
    example = yaml.safe_load((ROOT / "inventories" / "example" / "hosts.yml").read_text())["all"]["children"]
    hosts = {name: {"apikeys_schedule": h["apikeys_schedule"]} for name, h in example["production"]["hosts"].items()}
    hosts.update(monthly_a={"apikeys_schedule": "0 2 1 * *"}, monthly_b={"apikeys_schedule": "0 2 1 * *"},
                 quarterly={"apikeys_schedule": "0 2 1 */3 *"}, weekly={"apikeys_schedule": "0 3 * * 0"},
                 unscheduled={})

    run = plan(tmp_path, hosts)

    assert run.returncode == 0, run.stdout + run.stderr
    schedules = json.loads((tmp_path / "plan.json").read_text())
    rotations = {s["name"].rsplit(" at ", 1)[1]: s for s in schedules if s["job_template"] == "apikeys: rotate"}
    expected: dict[str, list[str]] = {}
    for name, host in hosts.items():
        if host.get("apikeys_schedule"):
            expected.setdefault(host["apikeys_schedule"], []).append(name)
    assert {cron: s["secret"] for cron, s in rotations.items()} == {c: ":".join(sorted(k)) for c, k in expected.items()}
    assert rotations["0 3 * * 0"]["secret"] == "stripe:weekly"
    start = datetime(2026, 11, 26, 12, 34, tzinfo=ZoneInfo("UTC"))
    for cron, schedule in rotations.items():
        assert next_from_rrule(schedule["rrule"], start) == next_from_cron(cron, start), cron
    revoke = [s for s in schedules if s["job_template"] == "apikeys: revoke-after-grace"]
    assert len(revoke) == 1 and revoke[0]["secret"] == "all"
    assert next_from_rrule(revoke[0]["rrule"], start) == next_from_cron("*/15 * * * *", start)


def test_the_keys_of_a_cron_expression_are_split_into_chunks(awx_collection: Path, tmp_path: Path) -> None:
    hosts = {f"k{n}": {"apikeys_schedule": "0 2 1 * *"} for n in range(5)}

    run = plan(tmp_path, hosts, "-e", "awx_config_schedule_chunk_size=2", "-e", "awx_config_job_slice_count=4")

    assert run.returncode == 0, run.stdout + run.stderr
    schedules = json.loads((tmp_path / "plan.json").read_text())
    rotations = [s for s in schedules if s["job_template"] == "apikeys: rotate"]
    # revoke-after-grace over 'all' is sliced; a chunk's pattern names its keys, so it runs whole
    assert [int(s.get("job_slice_count", 1)) for s in schedules] == [4, 1, 1, 1]
    assert not any("job_slice_count" in s for s in rotations), "the rotate template does not ask for slices"
    assert [(s["name"], s["secret"]) for s in rotations] == [
        ("apikeys: rotate at 0 2 1 * * (1/3)", "k0:k1"), ("apikeys: rotate at 0 2 1 * * (2/3)", "k2:k3"),
        ("apikeys: rotate at 0 2 1 * * (3/3)", "k4")]
    assert len({s["rrule"] for s in rotations}) == 1


def test_a_bad_schedule_fails_naming_the_key_and_field(awx_collection: Path, tmp_path: Path) -> None:
    run = plan(tmp_path, {"fine": {"apikeys_schedule": "0 2 1 * *"}, "typo": {"apikeys_schedule": "0 25 * * *"}})

    assert run.returncode != 0
    assert "key 'typo': apikeys_schedule (hour field)" in run.stdout + run.stderr
    assert not (tmp_path / "plan.json").exists()
