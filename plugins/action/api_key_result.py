# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for apikeys.rotation.api_key_result (documented in plugins/modules/api_key_result.py; docs/fleet.md)."""
from __future__ import annotations

from typing import Any, Optional

from ansible.plugins.action import ActionBase

from ansible_collections.apikeys.rotation.plugins.plugin_utils import _batch as batch


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    ARGSPEC = {"run_dir": {"type": "path", "required": True}, "name": {"type": "str"}}
    _VALID_ARGS = frozenset(ARGSPEC)

    def run(self, tmp: Optional[str] = None, task_vars: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        key = str(self._task.args.get("name") or task_vars.get("inventory_hostname"))
        run_dir = self._task.args.get("run_dir")
        if not run_dir:
            return dict(result, failed=True, msg=f"key '{key}': api_key_result needs run_dir (api_key_batch's run_dir)")
        outcome = batch.take_outcome(str(run_dir), key)
        if outcome is None:
            return dict(result, failed=True, error="internal",
                        msg=f"key '{key}': the batch left no outcome for this key (it did not process it)")
        if outcome.get("alert"):  # revoke-after-grace: a key that needs a person fails its host, as before
            outcome["failed"] = True
        diff = outcome.pop("diff", None)
        if self._task.diff and diff:
            result["diff"] = diff
        return dict(result, **outcome)
