# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Strategy apikeys.rotation.fleet: the linear strategy, with each key's api_key_result reported in the controller (docs/fleet.md)."""
from __future__ import annotations

DOCUMENTATION = r"""
name: fleet
short_description: Linear, with each key's api_key_result reported without a worker process
description:
  - Runs a play exactly as the C(ansible.builtin.linear) strategy does (it is a subclass of it), with one
    difference for tasks whose action is C(apikeys.rotation.api_key_result), the task that reports each key's
    outcome after the one C(apikeys.rotation.api_key_batch) task of the run.
  - For such a task the result of each host is made in the controller process, by the same action plugin,
    instead of in a forked worker process, and with only the variables the task refers to (read from the
    host's registered results and C(set_fact) values) instead of every variable of the host. The result then
    goes through Ansible's own result processing, so the play recap, callbacks (C(runner_on_start),
    C(runner_on_ok), C(runner_on_failed) per host, as AWX records them), C(register), C(notify), C(--diff),
    C(no_log), C(ignore_errors) and C(rescue) behave as with the linear strategy.
  - Every other task (but the C(run_once) tasks below), and an C(api_key_result) task with C(when), C(changed_when), C(failed_when), a loop,
    C(until), C(retries), C(delegate_to), C(async), C(timeout), C(debugger) or a handler, runs the linear way.
    So does the task on a host where it refers to a variable that is not a registered result or C(set_fact)
    value of that host (or is one that an extra variable, a role or include parameter overrides).
  - Results are handed to Ansible's result processing in groups of up to 64 hosts.
  - A C(run_once) task whose action only computes its result from its arguments and variables
    (C(ansible.builtin.debug), C(ansible.builtin.set_stats), C(ansible.builtin.validate_argument_spec)) is run in the
    controller process too, by Ansible's own task executor with all the host's variables, instead of in a worker forked
    for it; so is the skipping of any other C(run_once) task whose C(when) is false (a task whose C(when) is true runs in
    its worker as with the linear strategy). Its result goes through the same queue format and result processing as a
    worker's. Not with a loop, C(until), C(retries), C(delegate_to), C(async), C(timeout), C(debugger), a C(when) that
    calls a lookup, or for a handler.
  - For the C(role_complete) meta task Ansible adds for every host at the end of each role, and a C(noop) or
    C(flush_handlers) meta task without C(when), the host's variables are not computed (the linear loop uses them only
    to template the action name C(meta), and these meta tasks read none).
version_added: 0.1.0
author:
  - apikeys.rotation maintainers (@apikeys)
notes:
  - "Set it per play, C(strategy: apikeys.rotation.fleet), as C(playbooks/rotate.yml) and
    C(playbooks/revoke_after_grace.yml) do (C(-e fleet_strategy=linear) runs them with the linear strategy)."
  - With C(-vvv) or more it says, once per C(api_key_result) task, whether its results are made in the controller,
    and why not; and for each C(run_once) task made or skipped in the controller, that it was.
  - ansible-core 2.19 prints a deprecation warning for every strategy plugin not shipped with it.
seealso:
  - name: Fleets, many keys in one run
    description: docs/fleet.md in the collection.
    link: https://github.com/apikeys/rotation/blob/main/docs/fleet.md
"""

import os
import typing as t
from collections.abc import Mapping
from multiprocessing.reduction import ForkingPickler

from jinja2 import nodes as jinja_nodes

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.executor.task_executor import TaskExecutor
from ansible.playbook.handler import Handler
from ansible.plugins import loader as plugin_loader
from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule
from ansible.utils.display import Display

try:  # ansible-core 2.19 and later; with older ones the strategy is the linear strategy
    from ansible._internal import _task
    from ansible._internal._display_utils import DeferredWarningContext
    from ansible._internal._templating._engine import TemplateEngine
    from ansible.executor.task_result import _RawTaskResult
    HAS_CONTROLLER_PATH = True
except ImportError:
    HAS_CONTROLLER_PATH = False

from ansible_collections.apikeys.rotation.plugins.plugin_utils import _preload

_preload.preload(_preload.STRATEGY)  # the collection's modules below, from their byte code (plugin_utils/_preload.py)
from ansible_collections.apikeys.rotation.plugins.plugin_utils._batch import caching_engine_class  # noqa: E402

display = Display()

# The one action this strategy reports in the controller
RESULT_ACTION = "apikeys.rotation.api_key_result"
# In-controller results are handed to Ansible's result processing in groups of this many
FLUSH_EVERY = 64
# Host-dependent magic variables the controller path supplies itself (the action reads inventory_hostname)
HOST_MAGIC: dict[str, t.Callable[[t.Any], str]] = {
    "inventory_hostname": lambda host: host.name,
    "inventory_hostname_short": lambda host: host.name.split(".")[0],
}
# Keywords that need the task's full variables or a worker: the task then runs the linear way
_LINEAR_KEYWORDS = ("loop", "loop_with", "when", "changed_when", "failed_when", "until", "retries",
                    "delegate_to", "async_val", "timeout", "debugger")
# Keywords that are not templated as the task runs, are checked above, or (notify) are templated per host
_NOT_SCANNED = frozenset(_LINEAR_KEYWORDS) | {"vars", "notify"}
# run_once tasks of these actions are run in the controller: each computes its result from its arguments and the task's
# variables only (no connection, no module, no process state), as in a worker
IN_PROCESS_ACTIONS = frozenset({"ansible.builtin.debug", "ansible.builtin.set_stats", "ansible.builtin.validate_argument_spec"})
# A when calling one of these is never evaluated ahead in the controller: a lookup may have effects or cost (it runs once)
_LOOKUPS = frozenset({"lookup", "query", "q"})
# What in_process_mode decides for a run_once task: run it here, or only skip it here when its when is false
RUN_HERE = "run"
SKIP_HERE = "skip"


def why_linear(task: t.Any, action_fqcn: t.Optional[str], debugger_active: bool = False) -> t.Optional[str]:
    """Why this task must run the linear way (a worker and all variables), or None when it can be reported here."""
    if action_fqcn != RESULT_ACTION:
        return f"its action is not {RESULT_ACTION}"
    if isinstance(task, Handler):
        return "it is a handler"
    for keyword in _LINEAR_KEYWORDS:
        value = getattr(task, keyword, None)
        if keyword == "retries" and value is None:
            continue
        if value:
            return f"it has '{keyword}'"
    if debugger_active:
        return "the task debugger is enabled"
    if C.DEFAULT_HASH_BEHAVIOUR != "replace":
        return "hash_behaviour is not 'replace'"
    return None


def in_process_mode(task: t.Any, action_fqcn: t.Optional[str], when_names: t.Optional[frozenset[str]],
                    debugger_active: bool = False) -> t.Optional[str]:
    """For a task that is not api_key_result: RUN_HERE when, if it runs once, the controller runs it; SKIP_HERE when only
    its skipping (a false ``when``) is made here; None when it always runs the linear way. ``when_names``: the names its
    ``when`` refers to (None if one does not parse)."""
    if isinstance(task, Handler) or debugger_active:
        return None
    for keyword in _LINEAR_KEYWORDS:
        value = getattr(task, keyword, None)
        if keyword == "when" or (keyword == "retries" and value is None):
            continue
        if value:
            return None
    if action_fqcn in IN_PROCESS_ACTIONS:
        return RUN_HERE
    if task.when and when_names is not None and not when_names & _LOOKUPS:
        return SKIP_HERE
    return None


def conditional_names(templar: t.Any, when: t.Any) -> t.Optional[frozenset[str]]:
    """Every name the conditionals of ``when`` read (each is an expression or a template); None if one does not parse."""
    names: set[str] = set()
    for item in when or []:
        if isinstance(item, bool):
            continue
        if not isinstance(item, str):
            return None
        source = item if templar.is_template(item) else "{{ (" + item + ") }}"
        try:
            tree = templar.environment.parse(source)
        except Exception:  # pylint: disable=broad-except  # not evaluated ahead: the worker says what is wrong
            return None
        names |= {node.name for node in tree.find_all(jinja_nodes.Name) if node.ctx == "load"}
    return frozenset(names)


def template_names(templar: t.Any, value: t.Any) -> t.Optional[frozenset[str]]:
    """Every name the templates in ``value`` read (keys, values, nested): variables, and globals such as lookup;
    None if one does not parse."""
    names: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if templar.is_template(item):
                try:
                    tree = templar.environment.parse(item)
                except Exception:  # pylint: disable=broad-except  # a template Ansible would fail on: the linear way says how
                    return None
                # every name read, globals (lookup, query...) and names the template sets itself included: a name
                # that is not a light variable sends the task the linear way, whatever it is
                names |= {node.name for node in tree.find_all(jinja_nodes.Name) if node.ctx == "load"}
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
    return frozenset(names)


def task_template_names(templar: t.Any, task: t.Any) -> t.Optional[frozenset[str]]:
    """The variable names the templated keywords of the task refer to (arguments, name, no_log...; not notify)."""
    names: set[str] = set()
    for keyword in task.fattributes:
        if keyword in _NOT_SCANNED:
            continue
        found = template_names(templar, getattr(task, keyword, None))
        if found is None:
            return None
        names |= found
    return frozenset(names)


def light_vars(host: t.Any, names: frozenset[str], facts: Mapping[str, t.Any], shadowed: frozenset[str]) -> t.Optional[dict[str, t.Any]]:
    """The host's values of ``names`` when each is one of HOST_MAGIC or a registered/set_fact value of the host that
    nothing of higher precedence overrides (``shadowed``): then they are exactly what all its variables would give.
    None when one is not."""
    found = {"inventory_hostname": host.name}
    for name in names:
        if name in HOST_MAGIC:
            found[name] = HOST_MAGIC[name](host)
        elif name in shadowed or name not in facts:
            return None
        else:
            found[name] = facts[name]
    return found


def shares_inputs(names: frozenset[str], first: Mapping[str, t.Any], other: Mapping[str, t.Any]) -> bool:
    """Whether the task's templates see the very same values for ``other`` as for ``first`` (then they render the same:
    a run_once task's registered result is one object set on every host)."""
    return all(name not in HOST_MAGIC and other[name] is first[name] for name in names)


_TASKS_OWN = object()  # notify: the validated task's own (it is not templated)


class _TaskPlan:
    """What the strategy decided for one task: report it here or not, and the variables its templates refer to."""

    def __init__(self, why: t.Optional[str], names: frozenset[str] = frozenset(),
                 notify_names: t.Optional[frozenset[str]] = None, shadowed: frozenset[str] = frozenset(),
                 here: t.Optional[str] = None) -> None:
        self.why = why
        self.here = here  # another action's task: RUN_HERE, SKIP_HERE or None (in_process_mode)
        self.names = names
        self.notify_names = notify_names  # None: notify is not templated
        self.shadowed = shadowed
        self.prototype: t.Any = None  # the task validated once, for hosts whose inputs are the same
        self.prototype_vars: Mapping[str, t.Any] = {}
        self.prototype_fields: Mapping[str, t.Any] = {}
        self.said_linear = False
        self.said_notify = False
        self.notify_engine: t.Any = None  # one engine for the task's notify on every host: its template compiled once


class _Light(t.NamedTuple):
    """What the strategy hands from get_vars to _queue_task for one host: its variables and its task's notify."""

    variables: dict[str, t.Any]
    notify: t.Any


class _ControllerExecutor(TaskExecutor):
    """Ansible's TaskExecutor for an api_key_result task the strategy cleared: no loop, condition, delegation, retries
    or async (why_linear), so only the action runs; errors, warnings and no_log are handled by TaskExecutor as usual."""

    def __init__(self, host: t.Any, task: t.Any, job_vars: dict[str, t.Any], play_context: t.Any, loader: t.Any,
                 final_q: t.Any, variable_manager: t.Any, connection: t.Any, notify: t.Any) -> None:
        super().__init__(host, task, job_vars, play_context, loader, plugin_loader.get_plugin_loader_namespace(),
                         final_q, variable_manager)
        self._no_op_connection = connection
        self._notify = notify

    def _get_loop_items(self) -> None:
        return None

    def _execute_internal(self, templar: t.Any, variables: dict[str, t.Any]) -> dict[str, t.Any]:
        if not self._task._finalized:
            self._task.post_validate(templar=templar)
        handler = self._shared_loader_obj.action_loader.get(
            RESULT_ACTION, task=self._task, connection=self._no_op_connection, play_context=self._play_context,
            loader=self._loader, templar=templar, shared_loader_obj=self._shared_loader_obj)
        result = handler.run(task_vars=dict(variables))
        result.setdefault("failed", "rc" in result and result["rc"] not in (0, "0"))
        result.setdefault("changed", False)
        notify = self._task.notify if self._notify is _TASKS_OWN else self._notify
        if notify is not None:
            result["_ansible_notify"] = notify
        return result


class _NeedsWorker(BaseException):
    """The task evaluated ahead is not skipped after all: it runs in its worker (a BaseException: TaskExecutor turns an
    Exception into a failed result)."""


class _InProcessExecutor(TaskExecutor):
    """Ansible's TaskExecutor, run in the controller for a run_once task (in_process_mode) on a copy of the task; with
    ``only_skip``, a task whose ``when`` is true stops before anything else of it is templated and goes to its worker."""

    def __init__(self, *args: t.Any, only_skip: bool = False) -> None:
        super().__init__(*args)
        if only_skip:
            resolve = self._task._resolve_conditional

            def resolve_or_hand_over(*given: t.Any, **named: t.Any) -> bool:
                if resolve(*given, **named):
                    raise _NeedsWorker()
                return False
            self._task._resolve_conditional = resolve_or_hand_over


def varless_meta(task: t.Any) -> bool:
    """A meta task that reads no variables of the host: ``role_complete`` (Ansible adds one for every host at the end of
    each role), and ``noop`` or ``flush_handlers`` without ``when`` (``_execute_meta`` asks for the host's variables
    itself, and for these only to evaluate a ``when``; ``reset_connection`` and the others use them). The linear loop
    computes all the host's variables for every task, and for a meta task uses them only to template its action name,
    the literal ``meta``. Over 10,000 keys the role's end cost 24.6 s, 2.4 ms per key (docs/speed.md)."""
    if task.action not in C._ACTION_META:
        return False
    meta = task._get_meta()
    return meta == "role_complete" or (meta in ("noop", "flush_handlers") and not task.when)


class _VarsGate:
    """The strategy's view of the VariableManager: get_vars for a task the strategy reports in the controller returns
    only the variables its templates refer to; everything else is the VariableManager's own."""

    def __init__(self, strategy: StrategyModule, manager: t.Any) -> None:
        self._strategy = strategy
        self._manager = manager
        self._pid = os.getpid()

    def get_vars(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        play, host, task = kwargs.get("play"), kwargs.get("host"), kwargs.get("task")
        if not args and play is not None and host is not None and task is not None and os.getpid() == self._pid:
            if varless_meta(task) and not self._strategy.debugger_active:
                self._strategy.varless = {}  # add_tqm_variables knows it by identity: nothing to add to it
                return self._strategy.varless
            found = self._strategy.light_task_vars(play, host, task, lambda: self._manager.get_vars(*args, **kwargs))
            if found is not None:
                return found
        return self._manager.get_vars(*args, **kwargs)

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._manager, name)


class StrategyModule(LinearStrategyModule):
    """The linear strategy; an api_key_result task's result is made in the controller (module docs above)."""

    def __init__(self, tqm: t.Any) -> None:
        super().__init__(tqm)
        self._manager = self._variable_manager
        if HAS_CONTROLLER_PATH:
            self._variable_manager = _VarsGate(self, self._manager)
        self._plans: dict[str, _TaskPlan] = {}
        self._held: list[t.Any] = []
        self._no_op_connection: t.Any = None
        self._light: t.Optional[_Light] = None  # what light_task_vars gave last
        self.varless: t.Optional[dict[str, t.Any]] = None  # what _VarsGate gave last for a meta task (varless_meta)

    # -- which tasks, which variables ---------------------------------------------------------------------------

    def _plan(self, play: t.Any, host: t.Any, task: t.Any) -> _TaskPlan:
        plan = self._plans.get(task._uuid)
        if plan is None:
            plan = self._plans[task._uuid] = self._make_plan(play, host, task)
            if plan.why is None:
                display.vvv(f"apikeys.rotation.fleet: task '{task.get_name()}': results made in the controller")
            elif not plan.why.startswith("its action is not"):
                display.vvv(f"apikeys.rotation.fleet: task '{task.get_name()}': linear, because {plan.why}")
        return plan

    def _make_plan(self, play: t.Any, host: t.Any, task: t.Any) -> _TaskPlan:
        templar = TemplateEngine(loader=self._loader)
        if templar.is_template(task.action):
            return _TaskPlan("its action is a template")
        context = plugin_loader.action_loader.find_plugin_with_context(task.action, collection_list=task.collections)
        fqcn = context.resolved_fqcn if context.resolved else None
        why = why_linear(task, fqcn, self.debugger_active)
        if why is not None:
            here = None
            if fqcn != RESULT_ACTION and HAS_CONTROLLER_PATH:
                here = in_process_mode(task, fqcn, conditional_names(templar, task.when), self.debugger_active)
            return _TaskPlan(why, here=here)
        names = task_template_names(templar, task)
        notify_names = template_names(templar, task.notify)
        if names is None or notify_names is None:
            return _TaskPlan("a template of the task does not parse")
        magic = self._manager._get_magic_variables(play=play, host=host, task=task, include_hostvars=False,
                                                   _hosts=self._hosts_cache, _hosts_all=self._hosts_cache_all)
        shadowed = set(magic) | set(self._manager.extra_vars) | set(task.get_include_params()) | {"environment", "vars"}
        if task._role is not None:
            shadowed |= set(task._role.get_role_params(task.get_dep_chain()))
        return _TaskPlan(None, names, notify_names if templar.is_template(task.notify) else None,
                         frozenset(shadowed) - set(HOST_MAGIC))

    def _say_linear(self, plan: _TaskPlan, host: t.Any, task: t.Any, why: str) -> None:
        if not plan.said_linear:
            plan.said_linear = True
            display.vvv(f"apikeys.rotation.fleet: task '{task.get_name()}': linear on {host.name} (and any other host "
                        f"where the same holds), because {why}")

    def light_task_vars(self, play: t.Any, host: t.Any, task: t.Any, all_vars: t.Callable[[], t.Any]) -> t.Optional[dict[str, t.Any]]:
        """The variables of ``host`` for ``task`` when the strategy reports it here, else None (see _VarsGate). The
        linear loop passes them on to add_tqm_variables and _queue_task, which know them by identity. The task's
        notify is templated here for the host, with all its variables (``all_vars``) if it needs more."""
        plan = self._plan(play, host, task)
        if plan.why is not None:
            return None
        facts = self._manager._nonpersistent_fact_cache.get(host.name, {})
        found = light_vars(host, plan.names, facts, plan.shadowed)
        if found is None:
            self._say_linear(plan, host, task, "a template of the task refers to a variable that is not a registered "
                                               "result or set_fact value of the host")
            return None
        notify = None
        if plan.notify_names is not None:
            extra = light_vars(host, plan.notify_names, facts, plan.shadowed)
            if extra is None and not plan.said_notify:
                plan.said_notify = True
                display.vvv(f"apikeys.rotation.fleet: task '{task.get_name()}': its notify is templated with all the "
                            f"variables of each host (it refers to {', '.join(sorted(plan.notify_names))})")
            variables = dict(found, **extra) if extra is not None else all_vars()
            if plan.notify_engine is None:
                plan.notify_engine = (caching_engine_class() or TemplateEngine)(loader=self._loader)
            plan.notify_engine.available_variables = variables
            try:
                notify = task.post_validate_attribute("notify", templar=plan.notify_engine)
            except AnsibleError:
                notify = None
            if notify is None or not isinstance(notify, list):
                self._say_linear(plan, host, task, "its notify did not template to a list here")
                return variables if extra is None else None
        self._light = _Light(found, notify)
        return found

    def add_tqm_variables(self, vars: t.Any, play: t.Any) -> None:  # pylint: disable=redefined-builtin
        if self._light is not None and vars is self._light.variables:
            return  # the task refers to neither ansible_current_hosts nor ansible_failed_hosts (light_vars checked)
        if vars is self.varless:
            return  # a meta task that reads no variable (each host's would be O(hosts) to make)
        super().add_tqm_variables(vars, play)

    # -- the result, made here ----------------------------------------------------------------------------------

    def _queue_task(self, host: t.Any, task: t.Any, task_vars: t.Any, play_context: t.Any) -> None:
        light, self._light = self._light, None
        if light is None or task_vars is not light.variables:
            if not self._run_here(host, task, task_vars, play_context):
                super()._queue_task(host, task, task_vars, play_context)
            return
        self._remember_queued(host, task, task_vars, play_context)
        self._tqm.send_callback("v2_runner_on_start", host, task)
        plan = self._plans[task._uuid]
        shared = plan.prototype is not None and shares_inputs(plan.names, plan.prototype_vars, task_vars)
        run_task = plan.prototype if shared else self._task_copy(task, plan)
        notify = light.notify if plan.notify_names is not None else _TASKS_OWN
        with _task.TaskContext(run_task):
            result = _ControllerExecutor(host, run_task, task_vars, play_context, self._loader, self._final_q,
                                         self._manager, self._connection_for(play_context), notify).run()
        if shared:
            fields = plan.prototype_fields
        else:
            fields = run_task.dump_attrs()
            if run_task._finalized and not any(name in HOST_MAGIC for name in plan.names):
                plan.prototype, plan.prototype_vars, plan.prototype_fields = run_task, task_vars, fields
        if plan.notify_names is not None:
            fields = dict(fields, notify=notify)
        self._hold(_RawTaskResult(host=host, task=run_task, return_data=result, task_fields=fields))

    def _remember_queued(self, host: t.Any, task: t.Any, task_vars: t.Any, play_context: t.Any) -> None:
        """What StrategyBase._queue_task records of a queued task (result processing reads it back)."""
        self._queued_task_cache[(host.name, task._uuid)] = {
            "host": host, "task": task, "task_vars": task_vars, "play_context": play_context}

    def _hold(self, result: t.Any) -> None:
        """A result made here, handed to Ansible's result processing as a worker's would be (_process_pending_results)."""
        self._held.append(result)
        self._pending_results += 1

    # -- run_once tasks run (or skipped) here ----------------------------------------------------------------------

    def _run_here(self, host: t.Any, task: t.Any, task_vars: t.Any, play_context: t.Any) -> bool:
        """Run a run_once task in the controller, or only its skipping (in_process_mode), with all the host's variables:
        Ansible's TaskExecutor on a copy of the task, its result through the worker queue's format. False when the task
        goes to a worker."""
        plan = self._plans.get(task._uuid)
        if plan is None or plan.here is None:
            return False
        templar = TemplateEngine(loader=self._loader, variables=task_vars)
        if not templar.template(task.run_once):  # as the linear loop has it (it templated it already)
            return False
        only_skip = plan.here == SKIP_HERE
        if only_skip and not self._false_ahead(task, templar):
            return False
        self._remember_queued(host, task, task_vars, play_context)
        if not only_skip:
            self._tqm.send_callback("v2_runner_on_start", host, task)
        run_task = task.copy(exclude_tasks=True)  # its own blocks (post_validate sets their fields), not their tasks
        executor = _InProcessExecutor(host, run_task, task_vars, play_context, self._loader,
                                      plugin_loader.get_plugin_loader_namespace(), self._final_q, self._manager,
                                      only_skip=only_skip)
        try:
            with _task.TaskContext(run_task):
                result = executor.run()
        except _NeedsWorker:  # evaluated true after all (the play context's variables): the linear way
            del self._queued_task_cache[(host.name, task._uuid)]
            return False
        if only_skip:
            self._tqm.send_callback("v2_runner_on_start", host, task)
        display.vvv(f"apikeys.rotation.fleet: task '{task.get_name()}': {'skipped' if only_skip else 'run'} in the controller")
        # what a worker sends: the result as the queue carries it (pickled), then made raw again as the queue's reader does
        wire = _RawTaskResult(host=host, task=run_task, return_data=result, task_fields=run_task.dump_attrs()).as_wire_task_result()
        self._hold(self._convert_wire_task_result_to_raw(ForkingPickler.loads(ForkingPickler.dumps(wire))))
        return True

    def _false_ahead(self, task: t.Any, templar: t.Any) -> bool:
        """Whether the task's ``when`` is false with the host's variables, evaluated ahead without a warning (one would
        be shown by the worker's evaluation): only a false one is then skipped here."""
        try:
            with DeferredWarningContext(variables={}) as warnings:
                value = all(templar.evaluate_conditional(item) for item in task.when)
        except Exception:  # pylint: disable=broad-except  # the worker says what is wrong
            return False
        return not value and not warnings.get_warnings() and not warnings.get_deprecation_warnings()

    @staticmethod
    def _task_copy(task: t.Any, plan: _TaskPlan) -> t.Any:
        copy = task.copy(exclude_parent=True, exclude_tasks=True)
        copy._parent = task._parent
        if plan.notify_names is not None:
            copy.squash()
            copy.notify = None  # templated per host (light_task_vars), never with this host's variables
        return copy

    def _connection_for(self, play_context: t.Any) -> t.Any:
        """A local connection the action is given and never uses (api_key_result has _requires_connection = False)."""
        if self._no_op_connection is None:
            self._no_op_connection = plugin_loader.connection_loader.get("ansible.builtin.local", play_context, os.devnull)
        return self._no_op_connection

    def _process_pending_results(self, iterator: t.Any, one_pass: bool = False, max_passes: t.Optional[int] = None) -> list[t.Any]:
        # The linear loop calls this after queueing each host, to read max_passes results: results made here are
        # handed over in groups (or all once the loop waits for every result), and read all at once; with nothing
        # to read, the base's copy of every host's state (for the task debugger) is skipped.
        if self._held and (max_passes is None or one_pass or len(self._held) >= FLUSH_EVERY):
            with self._results_lock:
                self._results.extend(self._held)
            self._held = []
            max_passes = None
        if not self._results:
            return []
        return super()._process_pending_results(iterator, one_pass=one_pass, max_passes=max_passes)
