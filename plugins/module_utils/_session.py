# Internal to this collection: not a public API; may change without notice.
"""One key's record in its store, for one task: reads, check-and-set writes, time, and the scrubber.

* A write whose answer was lost is resolved by reading the record back: the run's own data there means
  the write happened (a lost answer, or a retry that conflicted with its own first try); the record
  unchanged means it did not; anything else is another run's write, named as such. When the record
  cannot be read back either, the outcome is unknown (``OutcomeUnknown``): the caller compensates nothing.
* Time is the controller's clock checked against the store's: beyond ``apikeys_clock_skew`` the task
  stops before it changes anything; within it, timestamps and deadlines follow the store's clock.
* Every secret read or received is remembered, so any message can be scrubbed before it leaves; so are
  the store's credentials (its token, its AppRole secret id), asked of the store at each scrub.
* A read-only session (``key_usage_check``, ``api_key_info``, check mode) writes nothing: neither the
  record, nor its metadata, nor an audit line; a write attempted through it is a bug, refused.
* Each write of the record is an event of the key's life: it is appended to the record's own bounded
  ``history`` (in the same check-and-set write) and, once written, sent to the audit trail (``_audit``).
* The record last read or written (its answer arrived) is held for the next step of the same key on the same
  thread (``read_held``): a step whose first change is a check-and-set write, or that only decides, starts from
  it instead of reading again, as if it had read the record when the previous step left it. A change since then
  is a change under the step: its check-and-set write fails (a conflict, resolved by ``_resolve``) and it stops,
  changing nothing. A held copy is never the lease check before a provider call (``confirm`` reads).
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any, Callable, Optional

from ._config import KeyConfig
from ._audit import AuditTrail, event as make_event, failure_event, transition_event
from ._errors import ApiKeysError, CasConflict, ClockSkew, LostOwnership, OutcomeUnknown, ReadOnlyViolation, \
    StoreError, StoreUnavailable
from ._record import SECRET_FIELDS, metadata, with_history
from ._scrub import Scrubber
from ._timeutil import format_duration, utcnow
from .stores._base import Entry, Store, same_version

#: how long a held record may serve the next step of its key (seconds): steps follow each other at once
HELD_FOR = 30.0
_HELD = threading.local()


def hold(store: Store, path: str, entry: Optional[Entry]) -> None:
    """Keep ``entry`` (just read, or just written with its answer) for this thread's next step on ``path``."""
    scope = getattr(store, "facts_scope", None)
    if scope is None:
        return
    held = getattr(_HELD, "records", None)
    if held is None:
        held = _HELD.records = {}
    held.clear()  # one key at a time per thread: only its latest record is kept
    held[(scope, path)] = (time.monotonic(), entry)


def take_held(store: Store, path: str) -> tuple[bool, Optional[Entry]]:
    """(True, the record) if this thread holds a recent one for ``path`` (taken: it serves once), else (False, None)."""
    scope = getattr(store, "facts_scope", None)
    held = getattr(_HELD, "records", None)
    if scope is None or not held:
        return False, None
    found = held.pop((scope, path), None)
    if found is None or time.monotonic() - found[0] > HELD_FOR:
        return False, None
    return True, found[1]


def forget_held() -> None:
    """Drop what this thread holds (a step that failed: the next one reads)."""
    held = getattr(_HELD, "records", None)
    if held:
        held.clear()


class Session:
    def __init__(self, cfg: KeyConfig, store: Store, *, clock: Callable[[], datetime] = utcnow,
                 scrubber: Optional[Scrubber] = None, read_only: bool = False,
                 audit: Optional[AuditTrail] = None, context: Optional[dict[str, Any]] = None) -> None:
        self.cfg = cfg
        self.store = store
        self.controller_clock = clock
        self.warnings: list[str] = []
        self.scrubber = scrubber if scrubber is not None else Scrubber()
        self.scrubber.track(getattr(store, "secrets", list))
        self.read_only = read_only
        #: None: no audit trail (read-only tasks, unit tests)
        self.audit = None if read_only else audit
        #: fields added to every event (the module, this run's owner token)
        self.context = dict(context or {})
        self._offset: Optional[timedelta] = None

    # -- time -----------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The store's time: the controller's clock, checked once against the store's, then corrected."""
        if self._offset is None:
            before = self.controller_clock()
            theirs = self.store.now()
            after = self.controller_clock()
            if theirs is None:
                self._offset = timedelta(0)
            else:
                # the store read its clock between before and after, in whole seconds: it is off only when outside
                # [before - 1 s, after + 1 s] by more than the skew allowed (a slow answer is not a wrong clock)
                offset = theirs - before
                seconds = offset.total_seconds()
                if seconds > 0:
                    seconds = max(0.0, (theirs - after).total_seconds())
                if abs(seconds) > self.cfg.clock_skew + 1:
                    side = "behind" if seconds > 0 else "ahead of"
                    raise ClockSkew(f"key '{self.cfg.name}': the controller's clock is {format_duration(abs(seconds))}"
                                    f" {side} the store's ({self.store.kind}), more than apikeys_clock_skew "
                                    f"{format_duration(self.cfg.clock_skew)}: grace periods and leases would be "
                                    "wrong; fix the controller's time (NTP); nothing was changed")
                self._offset = offset
        return self.controller_clock() + self._offset

    # -- secrets --------------------------------------------------------------------------------

    def remember(self, secret: str) -> None:
        self.scrubber.remember(secret)

    def scrub(self, text: str) -> str:
        return self.scrubber.scrub(text)

    # -- the record -----------------------------------------------------------------------------

    def read(self) -> Optional[Entry]:
        entry = self.store.read(self.cfg.vault_path)
        self._track(entry)
        hold(self.store, self.cfg.vault_path, entry)
        return entry

    def read_held(self, usable: Optional[Callable[[Entry], bool]] = None) -> Optional[Entry]:
        """The record as the previous step of this key left it on this thread (read or written), else read.

        Only for a step that decides without calling a provider, or whose first change is a check-and-set
        write: a stale copy then makes that write fail and be resolved, never act on an old record.
        ``usable``: a held record it refuses (or no record held) is read again.
        """
        found, entry = take_held(self.store, self.cfg.vault_path)
        if not found or entry is None or (usable is not None and not usable(entry)):
            return self.read()
        self._track(entry)
        hold(self.store, self.cfg.vault_path, entry)
        return entry

    def _track(self, entry: Optional[Entry]) -> None:
        if entry is not None:
            for name in SECRET_FIELDS:
                if entry.data.get(name):
                    self.remember(str(entry.data[name]))

    def write(self, entry: Entry, data: dict[str, Any], result: str, publish: bool = True) -> Entry:
        """Replace the record read as ``entry`` with ``data`` (check-and-set), resolving a lost answer.

        ``result`` names the step (``intent``, ``pending``, ``rotated``...): the event appended to the
        record's ``history`` and, once the write is known to have landed, sent to the audit trail.
        ``publish=False``: the metadata is left as the previous write set it (a write that changes nothing
        a metadata reader sees but ``last_result`` and the lease time, and that the next write follows).
        """
        if self.read_only:
            raise ReadOnlyViolation(f"key '{self.cfg.name}': internal error: a read-only task tried to write the "
                                    f"record ({result}); nothing was written")
        event = transition_event(result, entry.data, data, self.now(), self.cfg.name, **self.context)
        data = with_history(data, dict(event, **(self.audit.stamp() if self.audit is not None else {})))
        forget_held()  # until this write's outcome is known
        try:
            version = self.store.write(self.cfg.vault_path, data, cas=entry.version)
        except CasConflict as exc:
            version = self._resolve(entry, data, result, exc)
        except StoreUnavailable as exc:
            if not exc.maybe_applied:
                raise
            version = self._resolve(entry, data, result, exc)
        written = Entry(data=data, version=version)
        hold(self.store, self.cfg.vault_path, written)
        if publish:
            self.publish(data, result, "")
        self.emit(event)
        return written

    def emit(self, event: dict[str, Any]) -> None:
        """Send one event to the audit trail; a destination that failed becomes a warning of the task."""
        if self.audit is not None:
            self.warnings.extend(self.audit.emit(event))

    def event(self, action: str, **fields: Any) -> None:
        """An event that is no write of the record (a key created at the provider)."""
        if self.audit is not None:
            self.emit(make_event(self.now(), self.cfg.name, action, **dict(self.context, result="ok", **fields)))

    def _resolve(self, entry: Entry, data: dict[str, Any], result: str, cause: Exception) -> int:
        name = self.cfg.name
        try:
            now = self.store.read(self.cfg.vault_path)
        except ApiKeysError as exc:
            raise OutcomeUnknown(f"key '{name}': the {result} write got no answer ({cause}) and the record cannot "
                                 f"be read back ({exc}): whether it was written is unknown; nothing more was done "
                                 "and nothing was revoked; the next run finds out from the record") from None
        if now is not None and now.data == data:
            self.warnings.append(f"key '{name}': the store's answer to the {result} write was lost; read back, "
                                 "the write had been made")
            return now.version
        if same_version(now.version if now is not None else None, entry.version):
            if isinstance(cause, CasConflict):  # cannot happen with a true check-and-set store
                raise CasConflict(f"key '{name}': {cause}") from None
            raise cause
        raise self.conflict(entry, now)

    def conflict(self, entry: Entry, now: Optional[Entry]) -> CasConflict:
        """The error for a record that another run changed since ``entry`` was read; it names that run."""
        theirs = (now.data if now is not None else {}) or {}
        mine = entry.data.get("lease_owner")
        owner = theirs.get("lease_owner")
        if mine and owner != mine:
            rotation = entry.data.get("rotation_id")
            if owner:
                what = f"was taken over by another run (run {owner}, lease until {theirs.get('lease_until')})"
            elif theirs.get("last_rotation_id") == rotation:
                what = f"was finished by another run (run {theirs.get('promoted_by')})"
            else:
                what = "was cleaned up by another run"
            return _with_current(theirs, LostOwnership(f"key '{self.cfg.name}': rotation {rotation} {what}; this run "
                                                       "stopped without touching the provider"))
        version = now.version if now is not None else "deleted"
        if mine and owner == mine:
            return _with_current(theirs, CasConflict(
                f"key '{self.cfg.name}': the record was rewritten by another writer since this run wrote it (version "
                f"{entry.version} -> {version}), though it still holds this run's lease; stopped without changing "
                "anything more"))
        who = f" (run {owner}, rotation {theirs.get('rotation_id')})" if owner else ""
        return _with_current(theirs, CasConflict(
            f"key '{self.cfg.name}': another run{who} changed the record since it was read (version "
            f"{entry.version} -> {version}): another run is working on this key; stopped without changing "
            "anything more"))

    def confirm(self, entry: Entry) -> Entry:
        """Before a provider call: the record is still as this run last wrote it (else stop, touching nothing)."""
        now = self.read()
        if now is not None and same_version(now.version, entry.version):
            return now
        raise self.conflict(entry, now)

    def publish(self, data: dict[str, Any], result: str, error: str) -> None:
        """The record's non-secret state into its metadata, where monitoring looks (best effort)."""
        if self.read_only:
            return
        try:
            fields = metadata(data, self.cfg.provider, result, error, self.now())
            self.store.set_metadata(self.cfg.vault_path, {k: self.scrub(v) for k, v in fields.items()})
        except StoreError as exc:
            self.warnings.append(f"key '{self.cfg.name}': record written, metadata not updated: {exc}")

    def record_failure(self, error: Exception) -> None:
        """Best effort: show the failure in the record's metadata, where monitoring looks (never when read-only)."""
        if self.read_only:
            return
        try:
            entry = self.store.read(self.cfg.vault_path)
            if entry is not None:
                self.publish(entry.data, "failed", self.scrub(str(error)))
        except ApiKeysError:
            pass

    def failed(self, error: Exception) -> None:
        """A task that may change things failed: one audit event (best effort: never hides the error)."""
        if self.audit is None:
            return
        try:
            now = self.now()
        except ApiKeysError:
            now = self.controller_clock()
        self.emit(failure_event(now, self.cfg.name, error, self.scrub, **self.context))

    def annotate(self, fields: dict[str, Optional[str]]) -> Optional[str]:
        """Merge non-secret ``fields`` into the record's metadata, keeping the rest (None removes a field).

        Metadata only, no record write. Returns why it could not be done, or None (never raises).
        """
        try:
            entry = self.read()
            if entry is None:
                return f"key '{self.cfg.name}': no record at {self.cfg.vault_path}"
            merged = {k: v for k, v in dict(entry.metadata, **fields).items() if v not in (None, "")}
            self.store.set_metadata(self.cfg.vault_path, {k: self.scrub(str(v)) for k, v in merged.items()})
        except ApiKeysError as exc:
            return self.scrub(str(exc))
        return None


def _with_current(data: dict[str, Any], error: Any) -> Any:
    """The error, carrying the record as it is now (so a caller can tell whether it holds a key)."""
    error.current = data
    return error
