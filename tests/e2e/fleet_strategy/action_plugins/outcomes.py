# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test stand-in for api_key_batch (tests/e2e/test_fleet_strategy.py): writes an outcome per host of the play, as the
batch does (plugins/plugin_utils/_batch.write_outcome), so that api_key_result reports them. Every third key is not
changed, the keys in ``fail`` failed, changed keys carry a record diff."""
from __future__ import annotations

import tempfile
from typing import Any, Optional

from ansible.plugins.action import ActionBase

from ansible_collections.apikeys.rotation.plugins.plugin_utils import _batch as batch


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Optional[str] = None, task_vars: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        run_dir = tempfile.mkdtemp(prefix="outcomes-", dir=self._task.args.get("dir"))
        fail = set(self._task.args.get("fail") or [])
        for number, key in enumerate(task_vars["ansible_play_hosts_all"]):
            changed = number % 3 != 0 and key not in fail
            outcome: dict[str, Any] = dict(key=key, operation="rotate", changed=changed, failed=key in fail,
                                           msg=f"key '{key}': " + ("refused by the provider" if key in fail else "done"))
            if changed:
                outcome["diff"] = [{"before": {"key_id": "old"}, "after": {"key_id": f"new-{key}"},
                                    "before_header": f"{key} record", "after_header": f"{key} record"}]
            if number == 2:
                outcome["warnings"] = [f"key '{key}': a warning"]
            batch.write_outcome(run_dir, key, outcome)
        return dict(result, run_dir=run_dir, changed=False)
