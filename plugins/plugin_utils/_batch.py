# Internal to this collection: not a public API; may change without notice.
"""The fleet engine: one controller-side task drives every key of the play through a bounded worker pool.

Why: the linear strategy runs each task for every host before the next, forks a worker per host per task
and computes each host's variables per task, so a role of 3-5 tasks per key costs ~12 ms per host-task
(docs/fleet.md). Here one ``run_once`` task (``api_key_batch``) runs, for each key, the SAME steps the
roles ran, through the SAME action classes (``api_key_info``, ``api_key_create``, ``vault_key_write``,
``api_key_watch``, ``api_key_revoke``, ``key_usage_check``): the same argument fallbacks (``apikeys_*``),
the same variable and argument-spec checks, the same Scrubber, the same Rotation, check-and-set and lease.
Only the loop is different: keys run concurrently, each key's steps in order.

Each key's outcome (every step's result as the role registered it: never a secret, scrubbed by the step)
is written to a per-run directory (0700, one 0600 JSON file per key); one cheap per-host task
(``api_key_result``) then reports it, so the play recap, AWX's host summaries, ``--diff``, the rescue
(failure notifications) and the summary stay per key.
"""
from __future__ import annotations

import hashlib
import json
import os
import selectors
import tempfile
import threading
import time
import types
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, Optional

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.apikeys.rotation.plugins.module_utils import _budget
from ansible_collections.apikeys.rotation.plugins.module_utils._audit import AWX_VARS
from ansible_collections.apikeys.rotation.plugins.module_utils.stores import _vault_tokens

#: the operations and, for each, the module whose action class runs each step
OPERATIONS = ("rotate", "emergency", "revoke_after_grace")
MODULES = ("api_key_info", "api_key_create", "vault_key_write", "api_key_watch", "api_key_revoke", "key_usage_check")
#: variables of the batch's own task passed to every key (AWX job details, read by the audit trail)
SHARED_VARS = tuple(f"{prefix}{name}" for prefix in ("awx_", "tower_") for name in AWX_VARS)
SKIPPED = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}


class StepTask:
    """What a step's action plugin reads of its task: ``args``, ``action``, check and diff mode."""

    async_val = 0

    def __init__(self, module: str, args: dict[str, Any], check_mode: bool, diff: bool) -> None:
        self.action = f"apikeys.rotation.{module}"
        self.args = args
        self.check_mode = check_mode
        self.diff = diff


def action_classes() -> dict[str, Any]:
    """The action class of each step's module (imported here: they import this package's _action)."""
    from importlib import import_module
    return {m: import_module(f"ansible_collections.apikeys.rotation.plugins.action.{m}").ActionModule for m in MODULES}


class Rendered:
    """The templar a step is given: the key's variables come from ``hostvars``, which Ansible has already rendered
    for that key (and the run's shared variables are rendered once by the batch), so templating them again, each
    step, each variable, only costs time (ansible-core 2.19 does not template a rendered value again anyway).
    Everything else is the batch task's own templar."""

    def __init__(self, templar: Any) -> None:
        self._templar = templar

    def template(self, variable: Any, *args: Any, **kwargs: Any) -> Any:  # pylint: disable=unused-argument  # signature
        return variable

    def __getattr__(self, name: str) -> Any:
        return getattr(self._templar, name)


def plain(value: Any) -> Any:
    """``value`` (a rendered variable) as plain dicts, lists, str, int and float: Ansible's tagged copies of them
    (origin, trust) are slow to deep-copy, and each step's argument-spec validation deep-copies its arguments."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


# -- a key's variables ----------------------------------------------------------------------------------------

def is_apikeys(name: Any) -> bool:
    return isinstance(name, str) and name.startswith("apikeys_")


def caching_engine_class() -> Optional[type]:
    """ansible-core's template engine (2.19+), compiling each distinct template text once; None before 2.19."""
    try:
        from ansible._internal._templating._engine import TemplateEngine
    except ImportError:
        return None
    if not callable(getattr(TemplateEngine, "_compile_template", None)):
        return None

    class CompilingOnce(TemplateEngine):  # type: ignore[misc,valid-type]
        """A compiled template is a function of the variables it is rendered with: compiled once for the run,
        rendered with each key's own variables. Trust is still checked per value, before compiling (the engine's
        ``template``); a template that does not compile is not kept (its deferred error names the value it came from)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.compiled: dict[Any, Any] = {}

        def _compile_template(self, template: str, options: Any) -> Any:
            try:
                slot = (str.__str__(template), options)
                found = self.compiled.get(slot)
            except TypeError:  # options not hashable: no cache
                return super()._compile_template(template, options)
            if found is None:
                found = super()._compile_template(template, options)
                if not isinstance(found, types.FunctionType):  # a deferred compile error is a plain function
                    self.compiled[slot] = found
            return found

    return CompilingOnce


class KeyVariables:
    """Each key's ``apikeys_*`` variables as ``hostvars[key][name]`` renders them, as plain data.

    ``hostvars[key]`` is a template engine over the key's variables (``hostvars.raw_get(key)``) that renders
    each value on access. Here one engine does that for every key: same variables, same loader, same trust
    check, but a template text shared by the keys (group_vars such as ``{{ inventory_hostname }}`` in a URL)
    is compiled by Jinja once for the run instead of once per key and value, which was most of the cost of
    reading a key. Not thread-safe: read from the batch's own thread (hostvars are not thread-safe either).
    """

    def __init__(self, hostvars: Any, loader: Any) -> None:
        self.hostvars = hostvars
        engine_class = caching_engine_class() if callable(getattr(hostvars, "raw_get", None)) else None
        self.engine = engine_class(loader=loader) if engine_class is not None else None

    def __call__(self, key: str) -> dict[str, Any]:
        raw = self.hostvars.raw_get(key) if self.engine is not None else None
        if not isinstance(raw, dict):  # an unknown host (a Marker), an older ansible-core, a plain mapping
            own = self.hostvars[key]
            return {name: plain(own[name]) for name in own.keys() if is_apikeys(name)}
        self.engine.available_variables = raw
        return {name: self.render(raw[name]) for name in raw if is_apikeys(name)}

    def render(self, value: Any) -> Any:
        """``value`` rendered as the engine renders it, as plain data, leaf by leaf: a mapping's keys are never
        templated (ansible-core 2.19), its values and a list's items are; a string that cannot hold a template (no
        ``{``, no ``#jinja2:`` header that could change the delimiters) is copied as it is, without the engine's
        lazy containers and finalizing, which were most of a templated mapping's cost."""
        if isinstance(value, str):
            if "{" not in value and not value.startswith("#jinja2:"):
                return str.__str__(value)
            return plain(self.engine.template(value))
        if isinstance(value, dict):
            return {plain(k): self.render(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.render(v) for v in value]
        return plain(value)


def listed_events(targets: Any) -> list[str]:
    """The events a key's notification targets (``apikeys_notify``) list, as the role chooses its handlers by them:
    ``targets | default([], true) | map(attribute='events', default=[]) | flatten``. A target without ``events``
    lists none here (it still gets the failure events: plugins/module_utils/_notify.py's defaults), a null is skipped."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif value is not None and value not in ("None", "null"):
            found.append(str(value))

    for target in targets if isinstance(targets, list) else []:
        if isinstance(target, dict):
            walk(target.get("events", []))
    return found


class KeyRun:
    """One key's steps, each run by its module's action class exactly as the role's task ran it."""

    def __init__(self, name: str, task_vars: dict[str, Any], make_action: Callable[[str, StepTask], Any],
                 check_mode: bool, diff: bool, controller: Optional[Callable[[], bool]] = None) -> None:
        self.name = name
        self.controller = controller
        self.task_vars = task_vars
        self.make_action = make_action
        self.check_mode = check_mode
        self.diff = diff
        self.steps: dict[str, dict[str, Any]] = {}
        self.diffs: list[Any] = []
        self.warnings: list[str] = []
        self.failure: Optional[dict[str, Any]] = None

    def step(self, label: str, module: str, **args: Any) -> dict[str, Any]:
        """Run ``module`` with ``args`` for this key; its result is kept under ``label``; raises StepFailed.

        A step is what one task of the role was: once started it finishes. A step is not started when the
        controller is gone (ansible-playbook killed): an orphaned worker does not go on rotating keys unseen.
        """
        if self.controller is not None and not self.controller():
            self.fail(f"key '{self.name}': the controller (ansible-playbook) is gone: stopped before the {label} step")
        action = self.make_action(module, StepTask(module, args, self.check_mode, self.diff))
        out = action.run(task_vars=self.task_vars)
        diff = out.pop("diff", None)
        if diff is not None:
            self.diffs.append(diff)
        self.warnings.extend(out.pop("warnings", None) or [])
        self.steps[label] = out
        if out.get("failed"):
            self.failure = out
            raise StepFailed(str(out.get("msg") or "failed"))
        return out

    def fail(self, msg: str) -> None:
        """A step the role did with ``ansible.builtin.fail``."""
        self.failure = {"failed": True, "msg": msg}
        raise StepFailed(msg)

    def outcome(self, operation: str, labels: Iterable[str], extra: dict[str, Any]) -> dict[str, Any]:
        steps = {label: self.steps.get(label, SKIPPED) for label in labels}
        changed = any(bool(s.get("changed")) for s in steps.values() if not s.get("skipped"))
        done = [s for s in steps.values() if not s.get("skipped") and s.get("msg")]
        out: dict[str, Any] = dict(extra, key=self.name, operation=operation, changed=changed, failed=False,
                                   msg=str(done[-1]["msg"]) if done else "", **steps)
        if self.failure is not None:
            out.update(failed=True, msg=str(self.failure.get("msg") or "failed"),
                       error=self.failure.get("error", "failed"))
            if self.failure.get("exception"):
                out["exception"] = self.failure["exception"]
        if self.diffs:
            out["diff"] = self.diffs
        if self.warnings:
            out["warnings"] = self.warnings
        return out


class StepFailed(Exception):
    """A step failed: the key stops here, as its host stopped at the failed task in the role."""


def controller_alive() -> Callable[[], bool]:
    """Whether the process that started this one is still its parent (a dead parent's children are re-parented);
    in a shard, also whether the worker that forked it still has the ansible-playbook process as its parent."""
    shard = _vault_tokens.shard()
    if shard is not None:
        worker, controller = shard
        return lambda: os.getppid() == worker and _vault_tokens.parent_of(worker) == controller
    parent = os.getppid()
    return lambda: os.getppid() == parent


def flag(value: Any) -> bool:
    try:
        return boolean(value, strict=False)
    except TypeError:
        return False


# -- the operations: the roles' former task lists, step for step -------------------------------------------

ROTATE_STEPS = ("plan", "created", "promoted", "watched")
EMERGENCY_STEPS = ("created", "promoted", "revoked")
REVOKE_STEPS = ("info", "usage", "revoked", "postponed")


def rotate(run: KeyRun, options: dict[str, Any]) -> dict[str, Any]:
    """roles/rotate scheduled: plan, refuse, create, promote, watch (apikeys_rollback_on_failure)."""
    try:
        plan = run.step("plan", "api_key_info", force=options["force"])["plan"]
        if plan["action"] == "refuse":
            run.fail(str(plan["reason"]))
        if plan["due"]:
            created = run.step("created", "api_key_create", resume_after=options["resume_after"])
            if not run.check_mode:
                promoted = run.step("promoted", "vault_key_write", state="promote", rotation_id=created["rotation_id"],
                                    owner=created["owner"])
                if flag(run.task_vars.get("apikeys_rollback_on_failure", False)):
                    watched = run.step("watched", "api_key_watch", key_id=promoted["record"]["key_id"])
                    if watched.get("rolled_back"):
                        run.fail(str(watched.get("msg")))
    except StepFailed:
        pass
    return run.outcome("rotate", ROTATE_STEPS, {})


def emergency(run: KeyRun, options: dict[str, Any]) -> dict[str, Any]:
    """roles/rotate --tags emergency: take over, create, promote with no grace, revoke the compromised key."""
    try:
        created = run.step("created", "api_key_create", emergency=True)
        if not run.check_mode:
            promoted = run.step("promoted", "vault_key_write", state="promote", emergency=True,
                                rotation_id=created["rotation_id"], owner=created["owner"])
            run.step("revoked", "api_key_revoke", key_id=promoted["record"]["previous_key_id"], incident="emergency")
    except StepFailed:
        pass
    return run.outcome("emergency", EMERGENCY_STEPS, {"emergency_started": options["started"]})


def revoke_after_grace(run: KeyRun, options: dict[str, Any]) -> dict[str, Any]:
    """roles/revoke_after_grace: is revocation due, usage check, revoke or postpone, alert."""
    alert = None
    try:
        info = run.step("info", "api_key_info")
        if info["revocation"]["due"]:
            usage = run.step("usage", "key_usage_check")
            postponed: dict[str, Any] = {}
            if usage["verdict"] == "revoke":
                run.step("revoked", "api_key_revoke", key_id=usage["record"]["previous_key_id"])
            elif usage["verdict"] == "wait":
                postponed = run.step("postponed", "vault_key_write", state="postpone", postpone_by=options["postpone_by"],
                                     reason=usage["reason"])
            if usage["verdict"] == "alert":
                alert = usage["reason"]
            elif int(postponed.get("postponements") or 0) >= int(options["max_postponements"]):
                alert = f"revocation postponed {postponed.get('postponements')} times: {usage['reason']}"
    except StepFailed:
        pass
    out = run.outcome("revoke_after_grace", REVOKE_STEPS, {})
    if alert is not None and not out["failed"]:
        out.update(alert=str(alert), msg=str(alert),
                   alert_event="alert" if run.steps["usage"]["verdict"] == "alert" else "postponement_limit")
    return out


RUNNERS: dict[str, Callable[[KeyRun, dict[str, Any]], dict[str, Any]]] = {
    "rotate": rotate, "emergency": emergency, "revoke_after_grace": revoke_after_grace}


# -- the run directory: one small JSON file per key ----------------------------------------------------------

def new_run_dir(parent: Optional[str] = None) -> str:
    """A fresh directory only this user can read (mkdtemp: 0700)."""
    if parent:
        os.makedirs(parent, mode=0o700, exist_ok=True)
    return tempfile.mkdtemp(prefix="apikeys-batch-", dir=parent or None)


def outcome_path(run_dir: str, key: str) -> str:
    return os.path.join(run_dir, hashlib.sha256(key.encode("utf-8")).hexdigest()[:40] + ".json")


def write_outcome(run_dir: str, key: str, outcome: dict[str, Any]) -> None:
    """The key's outcome as one JSON text (``json.dumps`` uses the C encoder; ``json.dump`` to a file does not)."""
    path = outcome_path(run_dir, key)
    text = json.dumps(outcome, default=str)
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)


def take_outcome(run_dir: str, key: str) -> Optional[dict[str, Any]]:
    """The key's outcome, removed from the directory (the directory too once it is empty); None if absent."""
    path = outcome_path(run_dir, key)
    try:
        with open(path, encoding="utf-8") as handle:
            outcome = json.load(handle)
    except FileNotFoundError:
        return None
    os.unlink(path)
    try:
        os.rmdir(run_dir)
    except OSError:
        pass  # other keys' outcomes are still there
    return outcome


# -- the pool, with progress -------------------------------------------------------------------------------

class Progress:
    """A line every ``interval`` seconds once the run has lasted ``quiet`` seconds: done, failed, rate, ETA."""

    def __init__(self, label: str, total: int, say: Callable[[str], None], interval: float = 5.0,
                 quiet: float = 3.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.total = total
        self.say = say
        self.interval = interval
        self.quiet = quiet
        self.clock = clock
        self.started = clock()
        self.next_line = self.started + max(quiet, interval if interval > 0 else quiet)
        self.done = 0
        self.failed = 0
        self.changed = 0
        self.spoke = False
        self.lock = threading.Lock()

    def count(self, outcome: dict[str, Any]) -> None:
        with self.lock:
            self.done += 1
            failed = bool(outcome.get("failed") or outcome.get("alert"))
            self.failed += failed
            self.changed += bool(outcome.get("changed")) and not failed

    def tick(self) -> None:
        now = self.clock()
        if self.interval <= 0 or now < self.next_line:
            return
        self.next_line = now + self.interval
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = self.total - self.done
        eta = f"{left / rate:.0f}s" if rate > 0 else "unknown"
        self.spoke = True
        self.say(f"apikeys {self.label}: {self.done}/{self.total} keys done ({self.failed} failed), {left} remaining, "
                 f"{rate:.1f} keys/s, ETA {eta}")

    def final(self) -> str:
        elapsed = self.clock() - self.started
        return (f"apikeys {self.label}: {self.total} keys in {elapsed:.1f}s: {self.done - self.failed} ok "
                f"({self.changed} changed), {self.failed} failed")


def run_pool(keys: Iterator[tuple[str, Callable[[], dict[str, Any]]]], workers: int,
             done: Callable[[str, dict[str, Any]], None], progress: Progress,
             initializer: Optional[Callable[[], None]] = None) -> None:
    """Run each key's job in a pool of ``workers`` threads, in the order given (first come, first served).

    ``keys`` yields (key, job) lazily: the caller may prepare a key (read its variables) while earlier keys
    already run. ``done`` gets every key's outcome; a job that raises is a bug and is reported for its key.
    ``initializer`` runs once in each pool thread before its first job.
    """
    pending: dict[Future, str] = {}

    def collect(block: bool) -> None:
        finished, _still = wait(list(pending), timeout=0.5 if block else 0, return_when=FIRST_COMPLETED)
        for future in finished:
            key = pending.pop(future)
            try:
                outcome = future.result()
            except Exception as exc:  # pylint: disable=broad-except  # a bug: this key fails, the others go on
                outcome = {"key": key, "failed": True, "changed": False, "error": "internal",
                           "msg": f"key '{key}': unexpected {type(exc).__name__} in the batch"}
            progress.count(outcome)
            done(key, outcome)
        progress.tick()

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="apikeys-batch",
                            initializer=initializer) as pool:
        for key, job in keys:
            pending[pool.submit(job)] = key
            while len(pending) >= 2 * max(1, workers):  # bounded: a 10,000-key run holds ~2 x workers jobs
                collect(True)
            collect(False)
        while pending:
            collect(True)
    if progress.spoke:
        progress.say(progress.final())


# -- shards: a large batch in more than one process ---------------------------------------------------------

#: processes a batch uses by default (fewer on a controller with fewer CPUs; see shard_count)
DEFAULT_PROCESSES = 2
#: what a shard exits with when its part raised (a bug: its keys without an outcome are reported lost)
SHARD_FAILED = 70
#: a key's report from its shard: what the progress lines and the notify handlers need, never a secret
Report = Callable[[str, dict[str, Any], list[str]], None]


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def shard_count(keys: int, workers: int, processes: Optional[int], operation: str = "rotate") -> int:
    """How many processes run a batch of ``keys`` keys: ``processes`` (by default DEFAULT_PROCESSES, or as many
    as the CPUs this process may use if fewer; for an emergency, one: measured over 100 keys, a second process
    revoked the first compromised key later and the last one no sooner), and no more than one per
    ``2 x workers`` keys: a small batch gains nothing from a fork.

    One only in a process that runs other threads (a fork copies none of them, and a lock one of them held
    would stay held in the copy), or when the rate budgets cannot be shared between processes (no private
    state directory: two processes would each spend the whole budget)."""
    if threading.active_count() > 1 or not _budget.shared_between_processes():
        return 1
    if processes is not None:
        wanted = processes
    else:
        wanted = 1 if operation == "emergency" else min(DEFAULT_PROCESSES, usable_cpus())
    return max(1, min(wanted, -(-keys // (2 * max(1, workers)))))


def lost_outcome(key: str, status: str) -> dict[str, Any]:
    return {"key": key, "failed": True, "changed": False, "error": "internal",
            "msg": f"key '{key}': its batch process {status} before it reported the key: the key may not have been "
                   f"started or may be mid-rotation, its old key still works; run again to resume it"}


def run_sharded(keys: list[str], shards: int, run_part: Callable[[list[str], Report], None], progress: Progress,
                run_dir: str) -> dict[str, list[str]]:
    """Run ``run_part(part, report)`` in ``shards`` processes forked from this one; part ``i`` is keys ``i``,
    ``i + shards``, ... (so each process starts with the first keys: first come, first served). ``run_part`` writes
    each key's outcome to ``run_dir`` and then calls ``report(key, outcome, events)``; the shard sends the key's
    name, failed, alert and changed flags and notify events up a pipe (never a secret), from which this process
    counts the progress lines (and the final line, as run_pool does). Returns each key's notify events.

    A shard that ends without reporting some of its keys (killed, or a bug): each of them gets the outcome the
    shard wrote, or else a failed one that says so. A part that cannot be forked runs here, after the others.
    """
    worker, controller = os.getpid(), _vault_tokens.controller()
    events: dict[str, list[str]] = {}
    channels: dict[int, tuple[int, list[str]]] = {}  # read end -> (shard pid, its keys)
    unforked: list[list[str]] = []
    for index in range(shards):
        part = keys[index::shards]
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            unforked.append(part)
            continue
        if pid == 0:
            _shard(part, run_part, write_end, [read_end, *channels], worker, controller)
        os.close(write_end)
        channels[read_end] = (pid, part)

    reported: set[str] = set()

    def count(message: dict[str, Any]) -> None:
        reported.add(message["key"])
        progress.count(message)
        if message.get("events"):
            events[message["key"]] = list(message["events"])

    _collect(channels, count, progress)
    for pid, part in channels.values():
        _pid, status = os.waitpid(pid, 0)
        ended = "was killed" if os.WIFSIGNALED(status) else f"ended (status {os.waitstatus_to_exitcode(status)})"
        for key in part:
            if key not in reported:
                outcome = peek_outcome(run_dir, key)
                if outcome is None:
                    outcome = lost_outcome(key, ended)
                    write_outcome(run_dir, key, outcome)
                count(dict(_summary(key, outcome), events=[]))

    def count_here(key: str, outcome: dict[str, Any], found: list[str]) -> None:
        count(dict(_summary(key, outcome), events=found))
        progress.tick()  # a part run here reports in this thread: its progress lines come from here too

    for part in unforked:
        run_part(part, count_here)
    if progress.spoke:
        progress.say(progress.final())
    return events


def _summary(key: str, outcome: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "failed": bool(outcome.get("failed")), "alert": bool(outcome.get("alert")),
            "changed": bool(outcome.get("changed"))}


def _shard(part: list[str], run_part: Callable[[list[str], Report], None], channel: int, others: list[int],
           worker: int, controller: int) -> None:
    """The forked process of one part: never returns (no clean-up of the worker it was forked from runs here)."""
    code = SHARD_FAILED
    try:
        for other in others:
            os.close(other)
        _vault_tokens.enter_shard(worker, controller)
        with os.fdopen(channel, "wb") as pipe:
            def report(key: str, outcome: dict[str, Any], found: list[str]) -> None:
                line = json.dumps(dict(_summary(key, outcome), events=[str(e) for e in found])) + "\n"
                pipe.write(line.encode("utf-8"))
                pipe.flush()

            run_part(part, report)
        code = 0
    except BaseException:  # pylint: disable=broad-except  # a bug: the parent reports this part's keys as lost
        code = SHARD_FAILED
    finally:
        os._exit(code)  # pylint: disable=protected-access  # a forked child must not run its parent's exit handlers


def _collect(channels: dict[int, tuple[int, list[str]]], count: Callable[[dict[str, Any]], None],
             progress: Progress) -> None:
    """Read every shard's reports until each has closed its pipe, with a progress line every interval."""
    pending = {fd: b"" for fd in channels}
    with selectors.DefaultSelector() as selector:
        for fd in channels:
            selector.register(fd, selectors.EVENT_READ)
        while pending:
            for ready, _mask in selector.select(timeout=0.5):
                fd = int(ready.fd)
                chunk = os.read(fd, 65536)
                if not chunk:
                    selector.unregister(fd)
                    os.close(fd)
                    del pending[fd]
                    continue
                lines = (pending[fd] + chunk).split(b"\n")
                pending[fd] = lines.pop()
                for line in lines:
                    count(json.loads(line))
            progress.tick()


def peek_outcome(run_dir: str, key: str) -> Optional[dict[str, Any]]:
    """The key's outcome if it was written (left in place for the key's report); None if not."""
    try:
        with open(outcome_path(run_dir, key), encoding="utf-8") as handle:
            found = json.load(handle)
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None
