# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for apikeys.rotation.key_usage_check (documented in plugins/modules/key_usage_check.py)."""
from __future__ import annotations

from typing import Any

from ansible_collections.apikeys.rotation.plugins.module_utils._argspec import KEY, SCHEDULE, STORE, spec
from ansible_collections.apikeys.rotation.plugins.module_utils._factory import make_evidence
from ansible_collections.apikeys.rotation.plugins.module_utils._record import phase, summary
from ansible_collections.apikeys.rotation.plugins.module_utils._revocation import verdict
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import add_seconds, from_iso, to_iso
from ansible_collections.apikeys.rotation.plugins.plugin_utils._action import KeyAction


def _iso(moment: Any) -> Any:
    return to_iso(moment) if moment is not None else None


class ActionModule(KeyAction):
    ARGSPEC = spec(KEY, SCHEDULE, STORE, usage_evidence={"type": "dict", "default": {"source": "provider"}})
    READ_ONLY = True  # documented as changing nothing: not even the record's metadata on a failure

    def execute(self, rotation: Rotation, args: dict[str, Any]) -> dict[str, Any]:
        evidence = make_evidence(rotation.cfg.name, args["usage_evidence"], rotation.need_provider())
        entry = rotation.require(held=True)  # the info step's read, if it just made one (read-only: decides only)
        data = entry.data
        out: dict[str, Any] = {"changed": False, "record": summary(data, entry.version)}
        if phase(data) != "grace":
            return dict(out, verdict="none", reason=f"no previous key awaits revocation (phase {phase(data)})")
        # Uses within clock_skew of the promotion do not count: the rotation's own verification call
        # shows as a use at providers that record one.
        since = add_seconds(from_iso(data["rotated_at"]), rotation.cfg.clock_skew)
        seen = evidence.observe(str(data["key_id"]), str(data["previous_key_id"]), since)
        decision, reason = verdict(data, seen, rotation.clock(), rotation.cfg.clock_skew)
        return dict(out, verdict=decision, reason=reason, evidence={
            "source": seen.source, "new_key_seen": seen.new_seen, "new_key_last_seen": _iso(seen.new_last_seen),
            "old_key_last_seen": _iso(seen.old_last_seen), "detail": seen.detail})
