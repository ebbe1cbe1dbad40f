# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for apikeys.rotation.api_key_rollback (documented in plugins/modules/api_key_rollback.py)."""
from __future__ import annotations

from typing import Any

from ansible_collections.apikeys.rotation.plugins.module_utils._argspec import KEY, SCHEDULE, STORE, spec
from ansible_collections.apikeys.rotation.plugins.module_utils._rollback import rollback
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.plugin_utils._action import KeyAction


class ActionModule(KeyAction):
    ARGSPEC = spec(KEY, SCHEDULE, STORE, reason={"type": "str", "default": "rolled back by an operator"})

    def execute(self, rotation: Rotation, args: dict[str, Any]) -> dict[str, Any]:
        return rollback(rotation, args["reason"])
