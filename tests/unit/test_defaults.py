"""Every default lives in plugins/module_utils/_defaults.py; the roles' defaults and argument specs,
written in YAML, must say the same (module docs are compared with the argument specs elsewhere)."""
from __future__ import annotations

from pathlib import Path

import yaml

from ansible_collections.apikeys.rotation.plugins.module_utils import _defaults

ROOT = Path(__file__).resolve().parents[2]
MIRRORS = {("rotate", "rotate_resume_after"): _defaults.LEASE,
           ("revoke_after_grace", "revoke_after_grace_postpone_by"): _defaults.POSTPONE_BY}


def test_the_roles_repeat_the_protocols_defaults_exactly():
    for (role, variable), value in MIRRORS.items():
        defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
        spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
        options = spec["argument_specs"]["main"]["options"]
        assert str(defaults[variable]) == value, f"roles/{role}/defaults/main.yml: {variable}"
        assert str(options[variable]["default"]) == value, f"roles/{role}/meta/argument_specs.yml: {variable}"
