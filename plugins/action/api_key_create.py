# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for apikeys.rotation.api_key_create (documented in plugins/modules/api_key_create.py)."""
from __future__ import annotations

from typing import Any

from ansible_collections.apikeys.rotation.plugins.module_utils._argspec import KEY, SCHEDULE, STORE, spec
from ansible_collections.apikeys.rotation.plugins.module_utils._defaults import LEASE
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ConfigError
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import parse_duration
from ansible_collections.apikeys.rotation.plugins.plugin_utils._action import KeyAction


class ActionModule(KeyAction):
    ARGSPEC = spec(KEY, SCHEDULE, STORE, resume_after={"type": "str", "default": LEASE},
                   return_secret={"type": "bool", "default": False},
                   emergency={"type": "bool", "default": False})

    def execute(self, rotation: Rotation, args: dict[str, Any]) -> dict[str, Any]:
        try:
            resume_after = parse_duration(args["resume_after"], allow_zero=True)
        except ValueError as exc:
            raise ConfigError(rotation.cfg.name, "resume_after", str(exc)) from None
        out = rotation.create(resume_after=resume_after, emergency=args["emergency"])
        if args["return_secret"] and not rotation.check_mode:
            entry = rotation.require()
            out["secret"] = entry.data.get("pending_key")
            out["_ansible_no_log"] = True  # asked for: Ansible hides the whole result
        return out
