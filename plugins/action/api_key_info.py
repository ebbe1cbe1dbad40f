# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for apikeys.rotation.api_key_info (documented in plugins/modules/api_key_info.py)."""
from __future__ import annotations

from typing import Any

from ansible_collections.apikeys.rotation.plugins.module_utils._argspec import KEY, SCHEDULE, STORE, spec
from ansible_collections.apikeys.rotation.plugins.module_utils._record import summary
from ansible_collections.apikeys.rotation.plugins.module_utils._revocation import revocation_plan
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.plugin_utils._action import KeyAction


class ActionModule(KeyAction):
    ARGSPEC = spec(KEY, SCHEDULE, STORE, force={"type": "bool", "default": False})

    def execute(self, rotation: Rotation, args: dict[str, Any]) -> dict[str, Any]:
        entry = rotation.read()
        record = summary(entry.data if entry else None, entry.version if entry else 0)
        revocation = revocation_plan(entry.data if entry else {}, rotation.clock(), rotation.cfg.clock_skew)
        return {"changed": False, "record": record, "plan": rotation.plan(entry, force=args["force"]),
                "revocation": revocation}
