"""Every apikeys_* variable the collection reads is known; any other is an error naming the closest one."""
from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

from ansible_collections.apikeys.rotation.plugins.plugin_utils._action import KeyAction
from ansible_collections.apikeys.rotation.plugins.module_utils._variables import KNOWN, OPTIONS, check_variables, \
    unknown_variables

REPO = Path(__file__).resolve().parents[4]


def test_a_typo_is_named_with_the_closest_known_variable() -> None:
    [message] = unknown_variables({"apikeys_rotation_frequncy": "7d", "apikeys_grace_period": "1h", "other": 1})
    assert "apikeys_rotation_frequncy" in message
    assert "did you mean 'apikeys_rotation_frequency'" in message


def test_the_error_names_the_key_and_never_the_value() -> None:
    error = check_variables("sendgrid", {"apikeys_vault_tokn": "s.SECRET-VALUE"})
    assert error.startswith("key 'sendgrid': unknown inventory variable apikeys_vault_tokn")
    assert "apikeys_vault_token" in error and "SECRET-VALUE" not in error
    assert check_variables("sendgrid", {"apikeys_grace_period": "1h", "inventory_hostname": "x"}) == ""


def test_every_module_option_is_a_known_variable() -> None:
    options = set()
    for path in sorted((REPO / "plugins" / "action").glob("*.py")):
        module = importlib.import_module(f"ansible_collections.apikeys.rotation.plugins.action.{path.stem}")
        if issubclass(module.ActionModule, KeyAction):  # only these read apikeys_<option> (KeyAction.arguments)
            options |= set(module.ActionModule.ARGSPEC) - {"name"}
    assert options <= OPTIONS, f"module options missing from _variables.OPTIONS: {sorted(options - OPTIONS)}"


def test_every_variable_the_code_docs_and_inventories_mention_is_known() -> None:
    files = subprocess.run(["git", "ls-files", "plugins", "roles", "playbooks", "inventories", "docs", "README.md",
                            "monitoring"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    mentioned = set()
    for name in files:
        path = REPO / name
        if path.is_file() and path.suffix in (".py", ".yml", ".yaml", ".md", ".j2", ".hcl"):
            mentioned |= set(re.findall(r"\bapikeys_[a-z][a-z0-9_]*[a-z0-9]\b", path.read_text(errors="replace")))
    # names that are not inventory variables: Python identifiers and file names that share the prefix
    # and the Prometheus metric names of docs/monitoring.md (apikeys_key_*, apikeys_run_*)
    not_variables = {n for n in mentioned - KNOWN
                     if n.startswith(("apikeys_rotation_", "apikeys_test_", "apikeys_key_", "apikeys_run_",
                                      "apikeys_metrics_collected"))}
    unknown = sorted(mentioned - KNOWN - not_variables)
    assert not unknown, f"apikeys_* names used but not in _variables.KNOWN: {unknown}"
