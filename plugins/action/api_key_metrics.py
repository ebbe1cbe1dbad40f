# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for apikeys.rotation.api_key_metrics (documented in plugins/modules/api_key_metrics.py)."""
from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Any, Optional

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.apikeys.rotation.plugins.module_utils import _metrics as metrics
from ansible_collections.apikeys.rotation.plugins.module_utils._outcomes import ROLES, outcomes

ARGSPEC: dict[str, Any] = {
    "path": {"type": "path"},
    "dir": {"type": "path"},
    "results": {"type": "dict"},
    "info_var": {"type": "str", "default": "key_info"},
    "hosts": {"type": "list", "elements": "str"},
    "run": {"type": "str", "choices": sorted(ROLES)},
    "started_at": {"type": "float"},
}
KEYS_FILE = "apikeys.prom"


def run_file(role: str) -> str:
    """One file per playbook, so the runs of different playbooks never overwrite each other's metrics."""
    return f"apikeys_run_{role}.prom"


def process_started(pid: int) -> Optional[float]:
    """Unix time at which process ``pid`` started (Linux /proc), None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat", encoding="ascii") as info:
            boot = next(int(line.split()[1]) for line in info if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    ARGSPEC = ARGSPEC

    def run(self, tmp: Optional[str] = None, task_vars: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        given = dict(self._task.args)
        if "dir" not in given and task_vars.get("apikeys_metrics_dir"):
            given["dir"] = self._templar.template(task_vars["apikeys_metrics_dir"])
        validated = ArgumentSpecValidator(self.ARGSPEC).validate(given)
        if validated.error_messages:
            return dict(result, failed=True, error="config", msg=f"api_key_metrics: {validated.error_messages[0]}")
        args = validated.validated_parameters
        if not metrics.HAS_PROMETHEUS_CLIENT:
            return dict(result, failed=True, error="config", msg=metrics.MISSING_LIBRARY)
        path = args["path"] or (os.path.join(args["dir"], run_file(args["run"]) if args["run"] else KEYS_FILE)
                                if args["dir"] else None)
        if not path:
            return dict(result, failed=True, error="config",
                        msg="api_key_metrics: say where to write: path, or dir (inventory variable apikeys_metrics_dir)")
        folder = os.path.dirname(path) or "."
        if not os.path.isdir(folder):
            return dict(result, failed=True, error="config",
                        msg=f"api_key_metrics: the directory of path {path} does not exist (apikeys_metrics_dir); "
                            "node_exporter's --collector.textfile.directory must exist")
        hosts = args["hosts"] if args["hosts"] is not None else list(task_vars.get("ansible_play_hosts_all") or [])
        now = datetime.now(timezone.utc)
        if args["run"]:
            registry, extra = self.run_metrics(args, hosts, task_vars, now)
        else:
            registry, extra = self.key_metrics(args, hosts, task_vars, now)
        return dict(result, **self.publish(path, registry), **extra)

    def key_metrics(self, args: dict[str, Any], hosts: list[str], task_vars: dict[str, Any],
                    now: datetime) -> tuple[Any, dict[str, Any]]:
        if args["results"] is not None:
            keys = {name: {"result": res} for name, res in args["results"].items()}
        else:
            hostvars = task_vars.get("hostvars") or {}
            keys = {}
            for host in hosts:
                own = hostvars[host] if host in hostvars else {}
                keys[host] = {"result": own.get(args["info_var"]), "provider": own.get("apikeys_provider")}
        for entry in keys.values():
            if not isinstance(entry["result"], dict):
                entry["result"] = {"failed": True}
        unread = sorted(name for name, entry in keys.items() if entry["result"].get("failed") or "record" not in entry["result"])
        return metrics.key_registry(keys, now), {"keys": len(keys), "unread": unread}

    def run_metrics(self, args: dict[str, Any], hosts: list[str], task_vars: dict[str, Any],
                    now: datetime) -> tuple[Any, dict[str, Any]]:
        role = args["run"]
        seen = outcomes(hosts, task_vars.get("hostvars") or {}, role, bool(self._task.check_mode))
        started = args["started_at"] if args["started_at"] is not None else process_started(os.getppid())
        duration = max(0.0, time.time() - started) if started is not None else None
        return metrics.run_registry(role, seen["counts"], duration, now), {"counts": seen["counts"]}

    def publish(self, path: str, registry: Any) -> dict[str, Any]:
        """Write the file (not in check mode); changed when a lasting value differs from the file's."""
        text = metrics.exposition(registry)
        try:
            with open(path, encoding="utf-8") as current:
                before = current.read()
        except FileNotFoundError:
            before = ""
        except OSError as exc:
            before = f"# unreadable: {type(exc).__name__}\n"
        changed = metrics.lasting(before) != metrics.lasting(text)
        out: dict[str, Any] = {"changed": changed, "path": path, "written": False}
        if not self._task.check_mode:
            try:
                metrics.write(path, registry)
            except OSError as exc:
                return {"failed": True, "error": "write", "path": path,
                        "msg": f"api_key_metrics: could not write {path}: {type(exc).__name__}: {exc.strerror}"}
            out["written"] = True
        if self._task.diff and changed:
            out["diff"] = {"before": before, "after": text, "before_header": path, "after_header": path}
        return out
