# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for apikeys.rotation.api_key_revoke (documented in plugins/modules/api_key_revoke.py)."""
from __future__ import annotations

from typing import Any

from ansible_collections.apikeys.rotation.plugins.module_utils._argspec import KEY, SCHEDULE, STORE, spec
from ansible_collections.apikeys.rotation.plugins.module_utils._revocation import revoke_previous
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.plugin_utils._action import KeyAction


class ActionModule(KeyAction):
    ARGSPEC = spec(KEY, SCHEDULE, STORE, key_id={"type": "str"},
                   state={"type": "str", "default": "absent", "choices": ["absent", "inactive"]},
                   incident={"type": "str"})

    def execute(self, rotation: Rotation, args: dict[str, Any]) -> dict[str, Any]:
        return revoke_previous(rotation, key_id=args.get("key_id"), soft=args["state"] == "inactive",
                               incident=args.get("incident"))
