# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for apikeys.rotation.api_key_info (documented in plugins/modules/api_key_info.py)."""
from __future__ import annotations

from typing import Any

from ansible_collections.apikeys.rotation.plugins.module_utils._argspec import KEY, SCHEDULE, STORE, spec
from ansible_collections.apikeys.rotation.plugins.module_utils._info import data_from_metadata, read_metadata, \
    record_view, schedule
from ansible_collections.apikeys.rotation.plugins.module_utils._record import history
from ansible_collections.apikeys.rotation.plugins.module_utils._revocation import revocation_plan
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.module_utils._schedule import with_schedule
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._base import Entry
from ansible_collections.apikeys.rotation.plugins.plugin_utils._action import KeyAction


class ActionModule(KeyAction):
    ARGSPEC = spec(KEY, SCHEDULE, STORE, force={"type": "bool", "default": False},
                   metadata_only={"type": "bool", "default": False})
    READ_ONLY = True

    def execute(self, rotation: Rotation, args: dict[str, Any]) -> dict[str, Any]:
        if args["metadata_only"]:
            entry = read_metadata(rotation.store, rotation.cfg.vault_path)
            data = data_from_metadata(entry.metadata) if entry is not None else None
        else:
            entry = rotation.read()
            data = entry.data if entry is not None else None
        now = rotation.clock()
        # the plan reads the record only; from the metadata it is given the record's non-secret fields
        view = Entry(data=data, version=entry.version, metadata=entry.metadata) if entry is not None and data else None
        return {"changed": False, "record": record_view(entry, data),
                "schedule": schedule(data, rotation.cfg.rotation_frequency, rotation.cfg.grace_period, now),
                "plan": with_schedule(rotation.plan(view, force=args["force"]) if entry is None or data else _unknown(),
                                      rotation.cfg.schedule, rotation.cfg.rotation_frequency, now),
                "revocation": revocation_plan(data or {}, now, rotation.cfg.clock_skew),
                "metadata_only": args["metadata_only"],
                "history": history(data) if not args["metadata_only"] else []}


def _unknown() -> dict[str, Any]:
    return {"due": False, "action": "wait",
            "reason": "the record's metadata was never written by apikeys.rotation: its state is unknown "
                      "(run api_key_info without metadata_only, or any rotation task, to publish it)"}
