# Internal to this collection: not a public API; may change without notice.
"""The audit trail: one JSON line per event of a key's life, to an append-only file and to syslog.

An event is what happened to a key (``intent``, ``created``, ``stored``, ``verified``, ``promoted``,
``postponed``, ``revoked``, ``rolled_back``, an emergency action, a failure...), with the key ids
involved (never a secret), who did it (``actor``: the OS user, or the AWX job and its launcher) and
which run (``run_id``). See docs/audit.md for the format and how to ship it to a SIEM.

* File (``apikeys_audit_log``): opened ``O_WRONLY|O_APPEND|O_CREAT``, mode 0600, one ``write()`` per
  line, so lines of concurrent forks never interleave. Checked before a task changes anything: a file
  that cannot be opened stops the task early (``ConfigError``, nothing changed).
* Syslog (``apikeys_audit_syslog``): ``unix:///dev/log`` (the local format of ``logger(1)`` and of
  Python's SysLogHandler with an ident: ``<PRI>TIMESTAMP apikeys.rotation[PID]: JSON``, which journald and
  rsyslog parse), ``udp://host:port`` or ``tcp://host:port`` (RFC 5424, octet-counted framing over TCP,
  RFC 6587). Facility ``authpriv``; severity ``info`` (``warning`` for failures).
* A destination that fails once the task has started changing things does not stop it halfway (that
  would leave a rotation half done): the event is returned as a warning of the task, line included.
"""
from __future__ import annotations

import functools
import getpass
import json
import os
import socket
import threading
from datetime import datetime
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from ._errors import ConfigError
from ._timeutil import to_iso
from .stores import _vault_tokens

LOG_VARIABLE = "apikeys_audit_log"
SYSLOG_VARIABLE = "apikeys_audit_syslog"
#: the task variables the trail reads (rendered by the action: they may be templates)
AUDIT_VARIABLES = (LOG_VARIABLE, SYSLOG_VARIABLE)
APP = "apikeys.rotation"
FACILITY_AUTHPRIV = 10
SEVERITY_INFO, SEVERITY_WARNING = 6, 4
#: AWX / Automation Controller extra vars (and their older ``tower_`` names) that say who launched a job
AWX_VARS = ("job_id", "user_name", "job_launch_type", "job_template_name", "schedule_name", "workflow_job_id")


#: one event at a time in this process, to all its destinations
EMITTING = threading.Lock()


def default_log_path(environ: Optional[dict[str, str]] = None) -> str:
    """``$XDG_STATE_HOME/apikeys.rotation/audit.log``, else ``~/.local/state/apikeys.rotation/audit.log``."""
    env = os.environ if environ is None else environ
    state = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "apikeys.rotation", "audit.log")


def actor(task_vars: dict[str, Any]) -> dict[str, Any]:
    """Who runs this: the AWX job and its launcher when AWX set its extra vars, else the OS user."""
    for prefix in ("awx_", "tower_"):
        if task_vars.get(prefix + "job_id") not in (None, ""):
            found = {name: task_vars.get(prefix + name) for name in AWX_VARS}
            return dict({k: v for k, v in found.items() if v not in (None, "")}, type="awx")
    return dict(os_actor())


@functools.lru_cache(maxsize=1)
def os_actor() -> dict[str, str]:
    """The OS user and host running this process (asked once per process: a batch asks it for every step)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container with a random uid)
        user = f"uid:{os.getuid()}"
    return {"type": "os", "user": user, "host": socket.gethostname()}


def run_id(task_vars: dict[str, Any]) -> str:
    """One id per playbook run: the AWX job, ``APIKEYS_RUN_ID``, or host, pid and start of ansible-playbook.

    Action plugins run in worker processes forked from the ansible-playbook process (a batch's shards are forked
    from a worker), so its pid (and its start time, which tells apart two runs that got the same pid) is shared
    by every task of a run.
    """
    for name in ("awx_job_id", "tower_job_id"):
        if task_vars.get(name) not in (None, ""):
            return f"awx-job-{task_vars[name]}"
    if os.environ.get("APIKEYS_RUN_ID"):
        return os.environ["APIKEYS_RUN_ID"]
    parent = _vault_tokens.controller()
    return f"{socket.gethostname()}-{parent}-{process_start(parent)}"


@functools.lru_cache(maxsize=8)
def process_start(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, /proc/<pid>/stat), "0" if unknown. Asked once per pid
    and process: a pid's start time never changes, and a worker's parent only changes when the parent dies."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


def event(now: datetime, key: str, action: str, **fields: Any) -> dict[str, Any]:
    """One event; ``None`` and empty fields are left out."""
    out = {"time": to_iso(now), "key": key, "action": action}
    out.update({k: v for k, v in fields.items() if v not in (None, "", [], {})})
    return out


#: the step a record write stands for (``Session.write``'s ``result``) -> the audit action, and its cause
TRANSITIONS: dict[str, tuple[str, Optional[str]]] = {
    "imported": ("imported", None),
    "intent": ("intent", None),
    "pending": ("stored", None),
    "verified": ("verified", None),
    "rotated": ("promoted", None),
    "postponed": ("postponed", None),
    "revoked": ("revoked", "grace ended"),
    "deactivated": ("deactivated", "grace ended"),
    "rolling back": ("rolled_back", "rollback"),
    "rolled back": ("revoked", "rollback"),
    "emergency": ("revoked", "emergency"),
    "discarded": ("discarded", None),
    "cleaned": ("intent_cleaned", None),
    "taken over": ("taken_over", None),
    "failed": ("intent_cleared", "create failed"),
}


def _ids(data: Optional[dict[str, Any]]) -> set[str]:
    data = data or {}
    return {str(data[f]) for f in ("key_id", "previous_key_id", "pending_key_id", "revoking_key_id") if data.get(f)}


def transition_event(step: str, before: Optional[dict[str, Any]], after: dict[str, Any], now: datetime, key: str,
                     **context: Any) -> dict[str, Any]:
    """The event of one record write: which step, which key ids came and went (ids only, never a secret)."""
    before = before or {}
    action, cause = TRANSITIONS.get(step, (step.replace(" ", "_"), None))
    incidents = after.get("incidents") or []
    if incidents and incidents != (before.get("incidents") or []) and isinstance(incidents[-1], dict):
        cause = str(incidents[-1].get("kind") or cause)  # an emergency or a rollback recorded by this write
    if step == "rotated" and after.get("previous_key_compromised"):
        cause = "emergency"
    reason = after.get("revocation_wait_reason") if step == "postponed" else \
        after.get("rollback_reason") if step == "rolling back" else None
    return event(now, key, action, result="ok", cause=cause, reason=reason,
                 rotation_id=after.get("rotation_id") or before.get("rotation_id") or after.get("last_rotation_id"),
                 key_id=after.get("key_id"), previous_key_id=after.get("previous_key_id"),
                 pending_key_id=after.get("pending_key_id"), new_key_ids=sorted(_ids(after) - _ids(before)),
                 revoked_key_ids=sorted(_ids(before) - _ids(after)), **context)


def failure_event(now: datetime, key: str, error: Exception, scrub: Callable[[str], str], **context: Any) -> dict[str, Any]:
    """The event of a task that failed: the error's kind and its (scrubbed) message."""
    kind = getattr(error, "kind", None) or "internal"
    text = scrub(str(error)) if getattr(error, "kind", None) else f"unexpected {type(error).__name__}"
    return event(now, key, "failed", result="failed", error=kind, message=text[:500], **context)


def line(item: dict[str, Any]) -> str:
    return json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)


class FileDestination:
    def __init__(self, path: str) -> None:
        self.path = os.path.expanduser(path)

    def preflight(self, key: str) -> None:
        try:
            folder = os.path.dirname(self.path)
            if folder:
                os.makedirs(folder, mode=0o700, exist_ok=True)
            os.close(self._open())
        except OSError as exc:
            raise ConfigError(key, LOG_VARIABLE, f"the audit log {self.path} cannot be opened for appending "
                              f"({exc.strerror or type(exc).__name__}); nothing was changed. Fix the path or its "
                              f"rights, or set {LOG_VARIABLE} to '' to keep no audit file") from None

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)

    def send(self, text: str, failure: bool) -> None:
        data = (text + "\n").encode()
        fd = self._open()
        try:
            written = os.write(fd, data)  # one write: O_APPEND puts it whole at the end
        finally:
            os.close(fd)
        if written != len(data):
            raise OSError(f"short write ({written} of {len(data)} bytes)")

    def describe(self) -> str:
        return f"audit log {self.path}"


class SyslogDestination:
    """``unix:///dev/log``, ``udp://host:514`` or ``tcp://host:514``."""

    def __init__(self, key: str, url: str, timeout: float = 3.0) -> None:
        parts = urlsplit(url)
        self.url = url
        self.timeout = timeout
        self.scheme = parts.scheme
        if parts.scheme == "unix" and (parts.path or parts.netloc):
            self.address: Any = parts.path or parts.netloc
        elif parts.scheme in ("udp", "tcp") and parts.hostname:
            try:
                self.address = (parts.hostname, parts.port or 514)
            except ValueError:
                raise ConfigError(key, SYSLOG_VARIABLE, "has a port that is not a number") from None
        else:
            raise ConfigError(key, SYSLOG_VARIABLE, "must be unix:///dev/log, udp://host:port or tcp://host:port")

    def frame(self, text: str, failure: bool, now: datetime) -> bytes:
        pri = FACILITY_AUTHPRIV * 8 + (SEVERITY_WARNING if failure else SEVERITY_INFO)
        if self.scheme == "unix":  # what logger(1) sends: journald and rsyslog both take it
            return f"<{pri}>{now:%b} {now.day:2d} {now:%H:%M:%S} {APP}[{os.getpid()}]: {text}".encode()
        msgid = json.loads(text).get("action", "-")[:32] or "-"
        host = socket.gethostname() or "-"
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if now.tzinfo else to_iso(now)
        message = f"<{pri}>1 {stamp} {host} {APP} {os.getpid()} {msgid} - {text}".encode()
        if self.scheme == "tcp":  # RFC 6587 octet counting
            return str(len(message)).encode() + b" " + message
        return message

    def send(self, text: str, failure: bool, now: Optional[datetime] = None) -> None:
        from ._timeutil import utcnow  # pylint: disable=import-outside-toplevel
        payload = self.frame(text, failure, now or utcnow())
        if self.scheme == "unix":
            family, kind = socket.AF_UNIX, socket.SOCK_DGRAM
        else:
            family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
            kind = socket.SOCK_DGRAM if self.scheme == "udp" else socket.SOCK_STREAM
        with socket.socket(family, kind) as sock:
            sock.settimeout(self.timeout)
            sock.connect(self.address)
            sock.sendall(payload)

    def describe(self) -> str:
        return f"audit syslog {self.url}"


class AuditTrail:
    """Where a task's events go; ``emit`` returns the warnings of destinations that failed."""

    def __init__(self, key: str, *, log_path: Optional[str], syslog: Optional[str], who: dict[str, Any],
                 run: str, scrub: Callable[[str], str] = str) -> None:
        self.key = key
        self.actor = who
        self.run_id = run
        self.scrub = scrub
        self.file = FileDestination(log_path) if log_path else None
        self.syslog = SyslogDestination(key, syslog) if syslog else None
        self.lines: list[str] = []

    def stamp(self) -> dict[str, str]:
        """Who and which run, in short (for the record's own history)."""
        who = self.actor
        if who.get("type") == "awx":
            by = f"awx job {who.get('job_id')}" + (f" ({who['user_name']})" if who.get("user_name") else "")
        else:
            by = f"{who.get('user')}@{who.get('host')}"
        return {"by": by, "run_id": self.run_id}

    def preflight(self) -> None:
        if self.file is not None:
            self.file.preflight(self.key)

    def emit(self, item: dict[str, Any]) -> list[str]:
        item = dict(item, actor=self.actor, run_id=self.run_id)
        text = self.scrub(line(item))  # no secret is ever put in an event; this is the belt to those braces
        self.lines.append(text)
        failure = item.get("result") == "failed"
        warnings = []
        with EMITTING:  # keys run concurrently in one process (api_key_batch): every sink gets the same order
            for destination in (self.file, self.syslog):
                if destination is None:
                    continue
                try:
                    destination.send(text, failure)
                except (OSError, ValueError) as exc:
                    warnings.append(f"key '{self.key}': {destination.describe()} failed "
                                    f"({getattr(exc, 'strerror', None) or type(exc).__name__}); this event was not "
                                    f"recorded there: {text}")
        return warnings


def from_task_vars(key: str, task_vars: dict[str, Any], scrub: Callable[[str], str] = str,
                   environ: Optional[dict[str, str]] = None) -> AuditTrail:
    """The trail configured by ``apikeys_audit_log`` (default: ``default_log_path()``; '' for none) and
    ``apikeys_audit_syslog`` (default: none)."""
    path = task_vars.get(LOG_VARIABLE, default_log_path(environ))
    syslog = task_vars.get(SYSLOG_VARIABLE) or None
    if path is not None and not isinstance(path, str):
        raise ConfigError(key, LOG_VARIABLE, "must be a file path, or '' for no audit file")
    if syslog is not None and not isinstance(syslog, str):
        raise ConfigError(key, SYSLOG_VARIABLE, "must be unix:///dev/log, udp://host:port or tcp://host:port")
    return AuditTrail(key, log_path=path or None, syslog=syslog, who=actor(task_vars), run=run_id(task_vars),
                      scrub=scrub)
