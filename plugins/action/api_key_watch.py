# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for apikeys.rotation.api_key_watch (documented in plugins/modules/api_key_watch.py)."""
from __future__ import annotations

from typing import Any

from ansible_collections.apikeys.rotation.plugins.module_utils._argspec import KEY, SCHEDULE, STORE, spec
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ConfigError
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import parse_duration
from ansible_collections.apikeys.rotation.plugins.module_utils._watch import watch
from ansible_collections.apikeys.rotation.plugins.plugin_utils._action import KeyAction


class ActionModule(KeyAction):
    ARGSPEC = spec(KEY, SCHEDULE, STORE, key_id={"type": "str", "required": True})

    def execute(self, rotation: Rotation, args: dict[str, Any]) -> dict[str, Any]:
        name = rotation.cfg.name
        seconds = _seconds(name, "apikeys_rollback_watch", args["rollback_watch"])
        poll = _seconds(name, "apikeys_rollback_poll", args["rollback_poll"])
        return watch(rotation, args["key_id"], seconds, poll)


def _seconds(key: str, variable: str, value: Any) -> int:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError(key, variable, str(exc)) from None
