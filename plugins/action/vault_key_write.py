# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for apikeys.rotation.vault_key_write (documented in plugins/modules/vault_key_write.py)."""
from __future__ import annotations

from typing import Any

from ansible_collections.apikeys.rotation.plugins.module_utils._argspec import KEY, SCHEDULE, STORE, spec
from ansible_collections.apikeys.rotation.plugins.module_utils._defaults import POSTPONE_BY
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ConfigError
from ansible_collections.apikeys.rotation.plugins.module_utils._revocation import postpone
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import parse_duration
from ansible_collections.apikeys.rotation.plugins.plugin_utils._action import KeyAction


class ActionModule(KeyAction):
    ARGSPEC = spec(KEY, SCHEDULE, STORE,
                   state={"type": "str", "required": True,
                          "choices": ["promote", "import", "clear_previous", "postpone"]},
                   postpone_by={"type": "str", "default": POSTPONE_BY},
                   reason={"type": "str", "default": "new key not yet seen in use"},
                   rotation_id={"type": "str"},
                   owner={"type": "str"},
                   key={"type": "str", "no_log": True},
                   key_id={"type": "str"},
                   verify={"type": "bool", "default": True},
                   rotated_at={"type": "str"},
                   emergency={"type": "bool", "default": False})

    def execute(self, rotation: Rotation, args: dict[str, Any]) -> dict[str, Any]:
        state = args["state"]
        if state == "promote":
            return rotation.promote(rotation_id=args.get("rotation_id"), emergency=args["emergency"])
        if state == "import":
            for field in ("key", "key_id"):
                if not args.get(field):
                    raise ConfigError(rotation.cfg.name, field, "required with state=import")
            return rotation.import_key(args["key"], args["key_id"], verify=args["verify"],
                                       rotated_at=args.get("rotated_at"))
        if state == "postpone":
            try:
                seconds = parse_duration(args["postpone_by"])
            except ValueError as exc:
                raise ConfigError(rotation.cfg.name, "postpone_by", str(exc)) from None
            return postpone(rotation, seconds, args["reason"])
        return rotation.clear_previous()
