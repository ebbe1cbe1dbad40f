# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for apikeys.rotation.api_key_batch (documented in plugins/modules/api_key_batch.py; docs/fleet.md)."""
from __future__ import annotations

import functools
import time
from typing import Any, Iterator, Optional

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.apikeys.rotation.plugins.plugin_utils import _preload

_preload.preload(_preload.STRATEGY)  # the collection's modules below, from their byte code (plugin_utils/_preload.py)
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._registry import keep_stores
from ansible_collections.apikeys.rotation.plugins.plugin_utils import _batch as batch

display = Display()

ARGSPEC = {
    "operation": {"type": "str", "required": True, "choices": list(batch.OPERATIONS)},
    "keys": {"type": "list", "elements": "str"},
    "workers": {"type": "int", "default": 8},
    "processes": {"type": "int"},
    "progress_interval": {"type": "float", "default": 5.0},
    "run_dir": {"type": "path"},
    "force": {"type": "bool", "default": False},
    "resume_after": {"type": "str", "default": "10m"},
    "postpone_by": {"type": "str", "default": "10m"},
    "max_postponements": {"type": "int", "default": 6},
}


class ActionModule(ActionBase):
    ARGSPEC = ARGSPEC
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Optional[str] = None, task_vars: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        # the steps' modules from their byte code, here in the worker: ansible-playbook loads this file too (its class),
        # and a process that imported them all takes longer to exit (plugin_utils/_preload.py)
        _preload.preload(_preload.BATCH)
        task_vars = task_vars or {}
        validated = ArgumentSpecValidator(ARGSPEC).validate(dict(self._task.args))
        if validated.error_messages:
            return dict(result, failed=True, msg=f"api_key_batch: {validated.error_messages[0]}")
        args = validated.validated_parameters
        if args["processes"] is not None and args["processes"] < 1:
            return dict(result, failed=True, msg=f"api_key_batch: processes must be 1 or more, got {args['processes']}")
        keys = args["keys"] if args["keys"] is not None else list(task_vars.get("ansible_play_batch") or [])
        started = time.time()
        options = dict(args, started=started)
        run_dir = batch.new_run_dir(args["run_dir"])
        classes = batch.action_classes()
        shared = {name: batch.plain(self._templar.template(task_vars[name])) for name in batch.SHARED_VARS if name in task_vars}
        rendered = batch.Rendered(self._templar)  # a step's variables are all rendered already (key_vars, shared)
        read_vars = batch.KeyVariables(task_vars.get("hostvars") or {}, self._loader)
        check_mode, diff = bool(self._task.check_mode), bool(self._task.diff)
        runner = batch.RUNNERS[args["operation"]]

        def make_action(module: str, task: batch.StepTask) -> Any:
            return classes[module](task=task, connection=self._connection, play_context=self._play_context,
                                   loader=self._loader, templar=rendered, shared_loader_obj=self._shared_loader_obj)

        def jobs(part: list[str], events: dict[str, list[str]]) -> Iterator[tuple[str, Any]]:
            controller = batch.controller_alive()  # asked in the process that runs the part (a shard is forked)
            for key in part:
                if not controller():
                    return  # ansible-playbook is gone: no new key is started (the recap will never come)
                own = key_vars(read_vars, key, shared)  # read here, in this thread: hostvars are not thread-safe
                events[key] = [] if check_mode else batch.listed_events(own.get("apikeys_notify"))
                run = batch.KeyRun(key, own, make_action, check_mode, diff, controller)
                yield key, functools.partial(runner, run, options)

        def run_part(part: list[str], report: batch.Report, progress: batch.Progress) -> None:
            events: dict[str, list[str]] = {}  # only keys whose targets list events; none in check mode

            def done(key: str, outcome: dict[str, Any]) -> None:
                batch.write_outcome(run_dir, key, outcome)
                report(key, outcome, events.pop(key, []))

            batch.run_pool(jobs(part, events), args["workers"], done, progress, initializer=keep_stores)

        label = args["operation"].replace("_", "-")
        progress = batch.Progress(label, len(keys), display.display, interval=args["progress_interval"])
        processes = batch.shard_count(len(keys), args["workers"], args["processes"], args["operation"])
        if processes > 1:
            notify_events = batch.run_sharded(keys, processes, lambda part, report: run_part(
                part, report, batch.Progress(label, len(part), display.display, interval=0)), progress, run_dir)
        else:
            notify_events = {}

            def keep(key: str, _outcome: dict[str, Any], events: list[str]) -> None:
                if events:
                    notify_events[key] = events

            run_part(keys, keep, progress)
        return dict(result, changed=False, run_dir=run_dir, keys=len(keys), processes=processes, failed_keys=progress.failed,
                    changed_keys=progress.changed, notify_events=notify_events, seconds=round(time.time() - started, 3),
                    msg=progress.final())


def key_vars(read: batch.KeyVariables, key: str, shared: dict[str, Any]) -> dict[str, Any]:
    """The variables a step reads for ``key``: its apikeys_* variables (rendered for that key, as plain data), its name,
    the run's."""
    return dict(shared, inventory_hostname=key, **read(key))
