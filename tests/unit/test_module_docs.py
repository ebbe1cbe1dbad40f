"""Each module's DOCUMENTATION says exactly what its argument spec accepts.

The modules are documentation files (plugins/modules/*.py); the work is done by the action plugin of the same
name, whose ``ActionModule.ARGSPEC`` is the argument spec Ansible validates the task's arguments with. Both are
read live: the documentation through ``ansible-doc --json`` (ansible-core's own loader, so the doc fragments in
plugins/doc_fragments/ are merged in as Ansible shows them), the spec by importing the action plugin. Per
option: its name, type, default, required, choices, elements, aliases and suboptions must agree, an environment
variable the spec falls back to must be named in the option's description, and an option whose name says it
holds a secret must be ``no_log`` in the spec.
"""
from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ansible.module_utils.basic import env_fallback

REPO = Path(__file__).resolve().parents[2]
COLLECTION = "apikeys.rotation"
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
ACTIONS = sorted(p.stem for p in (REPO / "plugins" / "action").glob("*.py") if p.stem != "__init__")

# An option holding a secret: its name ends with one of these words (key, vault_token, vault_secret_id,
# provider_credential, api_key, client_secret, password...). key_id, vault_role_id and the like do not.
SECRET_NAME = re.compile(r"(?:^|_)(?:key|token|secret|secret_id|credentials?|password|passphrase|passwd)$")
# options of these types hold no secret whatever their name (return_secret: bool)
NOT_SECRET_TYPES = {"bool", "int", "float"}


def _argspec(module: str) -> dict[str, Any]:
    action = importlib.import_module(f"ansible_collections.apikeys.rotation.plugins.action.{module}")
    return action.ActionModule.ARGSPEC


@pytest.fixture(name="docs", scope="module")
def fixture_docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``ansible-doc --json`` for every module at once, from a collections path holding only this checkout."""
    collections = tmp_path_factory.mktemp("collections")
    link = collections / "ansible_collections" / "apikeys" / "rotation"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO, target_is_directory=True)
    beside = Path(sys.executable).parent / "ansible-doc"  # the venv's, as make runs it
    ansible_doc = str(beside) if beside.is_file() else shutil.which("ansible-doc")
    if ansible_doc is None:
        pytest.skip("ansible-doc not found next to the interpreter or on PATH")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR="1")
    done = subprocess.run(
        [ansible_doc, "--json", "-t", "module", *(f"{COLLECTION}.{name}" for name in MODULES)],
        capture_output=True, text=True, env=env, cwd=str(collections), timeout=120, check=False,
    )
    assert done.returncode == 0, f"ansible-doc failed:\n{done.stderr}"
    return json.loads(done.stdout)


def _type(option: dict[str, Any]) -> Any:
    kind = option.get("type", "str")  # no type means str, for Ansible and for the documentation alike
    return kind if isinstance(kind, str) else getattr(kind, "__name__", repr(kind))


def _same(one: Any, other: Any) -> bool:
    """Equal and of the same type (True is not 1, "10" is not 10), lists and dicts element by element."""
    if isinstance(one, dict) and isinstance(other, dict):
        return one.keys() == other.keys() and all(_same(one[k], other[k]) for k in one)
    if isinstance(one, (list, tuple)) and isinstance(other, (list, tuple)):
        return len(one) == len(other) and all(_same(a, b) for a, b in zip(one, other))
    return type(one) is type(other) and one == other


def _as_set(values: Any) -> Any:
    return None if values is None else sorted(repr(v) for v in values)


def _description(doc: dict[str, Any]) -> str:
    text = doc.get("description", "")
    return " ".join(text) if isinstance(text, list) else str(text)


def _env_vars(option: dict[str, Any]) -> list[str]:
    fallback = option.get("fallback")
    if not fallback or fallback[0] is not env_fallback:
        return []
    return [str(name) for name in (fallback[1] if len(fallback) > 1 else [])]


def compare(spec: dict[str, Any], doc: dict[str, Any], where: str = "") -> list[str]:
    """What differs between argument spec options and documented options, one line per difference."""
    problems = []
    for name in sorted(spec.keys() - doc.keys()):
        problems.append(f"option '{where}{name}': in the argument spec, not in DOCUMENTATION")
    for name in sorted(doc.keys() - spec.keys()):
        problems.append(f"option '{where}{name}': in DOCUMENTATION, not in the argument spec")
    for name in sorted(spec.keys() & doc.keys()):
        ours, theirs = spec[name], doc[name] or {}
        label = f"option '{where}{name}'"
        pairs = {
            "type": (_type(ours), _type(theirs)),
            "default": (ours.get("default"), theirs.get("default")),
            "required": (bool(ours.get("required", False)), bool(theirs.get("required", False))),
            "choices": (ours.get("choices"), theirs.get("choices")),
            "elements": (ours.get("elements"), theirs.get("elements")),
            "aliases": (_as_set(ours.get("aliases")), _as_set(theirs.get("aliases"))),
        }
        for field, (in_spec, in_doc) in pairs.items():
            if not _same(in_spec, in_doc):
                problems.append(f"{label}: {field}: argument spec {in_spec!r}, DOCUMENTATION {in_doc!r}")
        for var in _env_vars(ours):
            if var not in _description(theirs):
                problems.append(f"{label}: falls back to the environment variable {var}, "
                                f"which its DOCUMENTATION description does not name (E({var}))")
        if ours.get("options") is not None or theirs.get("suboptions") is not None:
            problems += compare(ours.get("options") or {}, theirs.get("suboptions") or {}, f"{where}{name}.")
    return problems


def secrets_without_no_log(spec: dict[str, Any], where: str = "") -> list[str]:
    problems = []
    for name, option in sorted(spec.items()):
        if SECRET_NAME.search(name) and _type(option) not in NOT_SECRET_TYPES and option.get("no_log") is not True:
            problems.append(f"option '{where}{name}': its name says it holds a secret, but the argument spec "
                            f"does not set no_log: True (it has {option.get('no_log')!r})")
        if option.get("options"):
            problems += secrets_without_no_log(option["options"], f"{where}{name}.")
    return problems


def test_every_module_has_an_action_and_every_action_a_module() -> None:
    assert MODULES, "no modules found in plugins/modules/"
    assert MODULES == ACTIONS, (f"modules without an action plugin: {sorted(set(MODULES) - set(ACTIONS))}; "
                                f"action plugins without a module: {sorted(set(ACTIONS) - set(MODULES))}")


@pytest.mark.parametrize("module", MODULES)
def test_documentation_matches_the_argument_spec(module: str, docs: dict[str, Any]) -> None:
    fqcn = f"{COLLECTION}.{module}"
    assert fqcn in docs, f"{module}: ansible-doc returned no documentation for {fqcn}"
    doc = docs[fqcn]["doc"]
    assert doc.get("module") == module, f"{module}: DOCUMENTATION says module: {doc.get('module')!r}"
    problems = compare(_argspec(module), doc.get("options") or {})
    assert not problems, f"{module}: DOCUMENTATION and argument spec differ:\n" + "\n".join(
        f"{module}: {line}" for line in problems)


@pytest.mark.parametrize("module", MODULES)
def test_secret_options_are_no_log(module: str) -> None:
    problems = secrets_without_no_log(_argspec(module))
    assert not problems, "\n".join(f"{module}: {line}" for line in problems)


def test_the_comparison_sees_a_difference() -> None:
    """The checks themselves: each kind of difference is reported, naming the option."""
    spec = {"a": {"type": "str", "default": "x"}, "b": {"type": "int", "default": 10},
            "c": {"type": "dict", "options": {"d": {"type": "list", "elements": "str"}}},
            "e": {"type": "str", "fallback": (env_fallback, ["APIKEYS_E"])}, "only_spec": {}}
    doc = {"a": {"type": "str", "default": "y"}, "b": {"type": "int", "default": "10", "required": True},
           "c": {"type": "dict", "suboptions": {"d": {"type": "list", "elements": "int"}}},
           "e": {"description": ["Falls back to nothing."]}, "only_doc": {"type": "str"}}
    found = "\n".join(compare(spec, doc))
    for expected in ("option 'a': default", "option 'b': default", "option 'b': required",
                     "option 'c.d': elements", "option 'e': falls back to the environment variable APIKEYS_E",
                     "option 'only_spec': in the argument spec", "option 'only_doc': in DOCUMENTATION"):
        assert expected in found, found
    assert compare({"a": {"type": "bool", "default": True}}, {"a": {"type": "bool", "default": True}}) == []
    leaks = "\n".join(secrets_without_no_log({"api_key": {"type": "str"}, "key_id": {"type": "str"},
                                              "return_secret": {"type": "bool"},
                                              "vault_token": {"type": "str", "no_log": True}}))
    assert "option 'api_key'" in leaks and "key_id" not in leaks and "return_secret" not in leaks
    assert "vault_token" not in leaks
