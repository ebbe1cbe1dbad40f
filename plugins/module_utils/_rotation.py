# Internal to this collection: not a public API; may change without notice.
"""The rotation workflows: plan, create (intent, create, pending, verify), promote, import, emergency.

Each workflow is: read the record, ask the table (``_protocol.decide``), call the provider, apply a
pure transition, write (check-and-set, through ``_session``). A run owns its rotation from intent to
promotion (``lease_owner``/``lease_until``, renewed by each of its writes); another run takes over
only an expired lease, and a run that finds its lease taken stops before it touches the provider.
A secret only moves from the provider's answer to the store's pending slot, inside this process.
"""
from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import Any, Callable, Optional

from . import _protocol as protocol
from ._checkpoint import checkpoint
from ._config import KeyConfig
from ._defaults import LEASE
from ._errors import ApiKeysError, CasConflict, ConfigError, KeyCapReached, KeyTestFailed, LostOwnership, \
    OutcomeUnknown, ProviderError, RotationRefused
from ._record import HIDDEN, known_ids, new_rotation_id, phase, with_incident
from ._results import result
from ._audit import AuditTrail
from ._scrub import Scrubber
from ._session import Session
from ._timeutil import add_seconds, format_duration, from_iso, parse_duration, to_iso, utcnow
from .providers._base import NewKey, Provider
from .stores._base import ABSENT, Entry, Store

DEFAULT_RESUME_AFTER = parse_duration(LEASE)


class Rotation:
    """One key, one task: the workflows over its session (store), its provider and its owner token."""

    result = staticmethod(result)

    def __init__(self, cfg: KeyConfig, store: Store, provider: Optional[Provider], *,
                 clock: Callable[[], datetime] = utcnow, sleep: Callable[[float], None] = time.sleep,
                 check_mode: bool = False, owner: Optional[str] = None, read_only: bool = False,
                 scrubber: Optional[Scrubber] = None, audit: Optional[AuditTrail] = None,
                 context: Optional[dict[str, Any]] = None) -> None:
        self.cfg = cfg
        self.owner = owner or "run-" + secrets.token_hex(6)
        # check mode and read-only tasks write nothing: the session refuses any write
        self.session = Session(cfg, store, clock=clock, scrubber=scrubber, read_only=read_only or check_mode,
                               audit=audit, context=dict(context or {}, owner=self.owner))
        if provider is not None:
            self.session.scrubber.track(provider.credentials)
        self.provider = provider
        self.sleep = sleep
        self.check_mode = check_mode
        #: ``owner``: this run's token: written as ``lease_owner`` by the run that owns a rotation; given when a
        #: later task of the same run goes on with it (api_key_create returns it, the promote task passes it)
        self.claimed = owner is not None

    # -- the session, for the other workflows ------------------------------------------------------

    @property
    def store(self) -> Store:
        return self.session.store

    @property
    def warnings(self) -> list[str]:
        return self.session.warnings

    def clock(self) -> datetime:
        return self.session.now()

    def read(self) -> Optional[Entry]:
        return self.session.read()

    def require(self, held: bool = False, usable: Optional[Callable[[Entry], bool]] = None) -> Entry:
        """The record (RotationRefused when there is none). ``held``: as the key's previous step on this thread
        left it, if ``usable`` accepts it (see ``Session.read_held``), else read."""
        entry = self.session.read_held(usable) if held else self.read()
        if entry is None:
            raise RotationRefused(f"key '{self.cfg.name}': {protocol.no_record(self.cfg.vault_path)}")
        return entry

    def write(self, entry: Entry, data: dict[str, Any], result_name: str) -> Entry:
        return self.session.write(entry, data, result_name)

    def scrub(self, text: str) -> str:
        return self.session.scrub(text)

    def record_failure(self, error: Exception) -> None:
        self.session.record_failure(error)

    def failed(self, error: Exception) -> None:
        """The task failed: the failure in the audit trail and, for a provider error, in the metadata."""
        self.session.failed(error)
        if isinstance(error, ProviderError):
            self.session.record_failure(error)

    def need_provider(self) -> Provider:
        if self.provider is None:
            raise ConfigError(self.cfg.name, "apikeys_provider", "this step needs the provider")
        return self.provider

    def commit(self, entry: Entry, after: dict[str, Any], result_name: str, msg: str, *, would: str,
               effect: Optional[Callable[[], Any]] = None, before_write: Optional[str] = None,
               **extra: Any) -> dict[str, Any]:
        """Carry out a planned step: ``effect`` (a provider call), then write ``after`` (check-and-set).

        The one place where check mode parts from a real run: it shows the same plan (``would``, and the
        diff to ``after``) and neither calls the provider nor writes.
        """
        if self.check_mode:
            return self.result(True, would, entry.data, after, entry.version, **extra)
        if effect is not None:
            effect()
        if before_write:
            checkpoint(before_write)
        written = self.write(entry, after, result_name)
        return self.result(True, msg, entry.data, after, written.version, **extra)

    def _owned(self, data: dict[str, Any], lease: int) -> dict[str, Any]:
        return protocol.leased(data, self.owner, self.clock(), lease)

    # -- plan ---------------------------------------------------------------------------------------

    def plan(self, entry: Optional[Entry], force: bool = False) -> dict[str, Any]:
        """Decide what rotate would do to this key, and why; reads nothing but ``entry`` (and the time)."""
        data = entry.data if entry is not None else None
        answer = protocol.step_for("rotate", data, self.cfg.vault_path)
        if data is None:
            return {"due": False, "action": "refuse", "reason": protocol.no_record(self.cfg.vault_path)}
        if isinstance(answer, protocol.Refusal):
            return {"due": False, "action": "wait", "reason": answer.reason}
        now = self.clock()
        if answer in ("take_over_intent", "take_over_pending"):
            until = protocol.lease_until(data, DEFAULT_RESUME_AFTER)
            when = (f"its run's lease ends at {to_iso(until)}; then it will be resumed or cleaned up"
                    if until is not None and now < until else "it will be resumed or cleaned up")
            return {"due": True, "action": "resume", "reason": f"rotation {data.get('rotation_id')} did not "
                    f"finish (phase {phase(data)}); {when}"}
        frequency = self.cfg.rotation_frequency
        if not data.get("rotated_at"):
            return {"due": True, "action": "rotate", "reason": "the record has no rotated_at"}
        age = (now - from_iso(data["rotated_at"])).total_seconds()
        if force:
            return {"due": True, "action": "rotate", "reason": f"forced (age {format_duration(age)})",
                    "age_seconds": int(age)}
        if frequency is None:
            raise ConfigError(self.cfg.name, "apikeys_rotation_frequency", "missing")
        if age >= frequency:
            return {"due": True, "action": "rotate", "age_seconds": int(age),
                    "reason": f"age {format_duration(age)} >= rotation_frequency {format_duration(frequency)}"}
        return {"due": False, "action": "none", "age_seconds": int(age),
                "reason": f"age {format_duration(age)} < rotation_frequency {format_duration(frequency)}; "
                          f"due at {to_iso(add_seconds(from_iso(data['rotated_at']), frequency))}"}

    # -- create: intent, create, pending, verify ---------------------------------------------------

    def create(self, resume_after: int = DEFAULT_RESUME_AFTER, emergency: bool = False) -> dict[str, Any]:
        provider = self.need_provider()
        # the record the plan read serves only when idle, outside an emergency: then the next change is the
        # intent's check-and-set write (a record changed since the plan read it fails it: a conflict); taking
        # over or containing calls the provider first, so they read
        entry = self.require(held=not emergency, usable=lambda held: phase(held.data) == "idle")
        before = entry.data
        lease = resume_after or DEFAULT_RESUME_AFTER
        if emergency:
            if self.check_mode and phase(entry.data) != "idle":
                return self.result(True, f"would take over (phase {phase(entry.data)}): revoke every key but the "
                                   f"current one, then create its replacement", before, None, entry.version,
                                   owner=self.owner)
            entry = self.contain(entry)
        step = protocol.decide("rotate", entry.data, self.cfg.name, self.cfg.vault_path)
        if step in ("take_over_intent", "take_over_pending"):
            self._may_take_over(entry, resume_after)
        if step == "take_over_pending":
            dead = entry.data["rotation_id"]
            if self.check_mode:
                return self.result(True, f"would finish rotation {dead} of a dead run: verify pending key "
                                   f"{entry.data.get('pending_key_id')}", before, None, entry.version,
                                   rotation_id=dead, owner=self.owner, outcome="resumed")
            entry = self.write(entry, protocol.taken_over(entry.data, self.owner, self.clock(), lease), "taken over")
            out = self._verify_pending(entry, before, lease)
            out["msg"] = f"finished rotation {dead} of a dead run: {out['msg']}"
            return dict(out, outcome="resumed")
        if step == "take_over_intent" and not self.check_mode:
            entry = self._clean_intent(entry)
        provider.prepare(entry.data.get("key_id"))  # e.g. the rights to copy: a doubt stops the run here
        usage = provider.usage()
        if usage.limit is not None and usage.count >= usage.limit:
            raise KeyCapReached(f"key '{self.cfg.name}': provider '{self.cfg.provider}' already holds "
                                f"{usage.count} keys of a limit of {usage.limit}; no key was created")
        now = self.clock()
        rotation_id = new_rotation_id(now)
        name = f"apikeys-{self.cfg.name}-{rotation_id}"
        intent = protocol.leased(protocol.intent(entry.data, rotation_id, name, now), self.owner, now, lease)
        if self.check_mode:
            after = dict(intent, pending_key=HIDDEN, pending_key_id="(created at the provider)")
            return self.result(True, f"would create a new {self.cfg.provider} key named {name}", before, after,
                               entry.version, rotation_id=rotation_id, owner=self.owner, outcome="created")
        self.store.preflight(self.cfg.vault_path)  # e.g. a token that may not write: stop before the provider
        checkpoint("before_intent")
        entry = self.write(entry, intent, "intent")
        checkpoint("before_create")
        entry = self.session.confirm(entry)
        new = self._create_at_provider(entry, name)
        checkpoint("before_pending_write")
        stored = self._owned(protocol.pending(entry.data, new.key_id, new.secret, self.clock()), lease)
        try:
            entry = self.write(entry, stored, "pending")
        except OutcomeUnknown:
            raise  # the key may be in the record: revoking it could kill what the store holds
        except ApiKeysError as exc:
            self._compensate(new.key_id, exc)
            raise
        checkpoint("before_verify")
        return dict(self._verify_pending(entry, before, lease), outcome="created")

    def _may_take_over(self, entry: Entry, resume_after: int) -> None:
        data = entry.data
        if protocol.lease_expired(data, self.clock(), resume_after):
            return
        until = protocol.lease_until(data, resume_after)
        owner = f" (run {data['lease_owner']})" if data.get("lease_owner") else ""
        raise RotationRefused(f"key '{self.cfg.name}': rotation {data.get('rotation_id')}{owner} is in progress: "
                              f"its lease runs until {to_iso(until) if until else '?'}; if its run died, re-run "
                              "after that time to finish or clean it up; nothing was changed")

    def contain(self, entry: Entry) -> Entry:
        """Emergency: take over whatever is in progress and revoke every key but the current one.

        A dead or live rotation's intent is cleaned up at once (its key, if made, is revoked); a
        pending key is revoked (it may have been made after the compromise, by the attacker's
        timing); a previous key still in its grace period is revoked. Each is recorded.
        """
        if self.check_mode:
            return entry
        step = protocol.decide("emergency", entry.data, self.cfg.name, self.cfg.vault_path)
        if step == "contain_intent":
            return self._clean_intent(entry, incident="emergency")
        if step == "contain_pending":
            return self._discard(entry, incident="emergency")
        if step == "finish_revoking":
            return self.finish_revoking(entry)
        if step == "contain_previous":
            revoked = entry.data["previous_key_id"]
            self.need_provider().revoke(str(revoked))
            if entry.data.get("previous_key"):
                self.need_provider().confirm_revoked(str(revoked), str(entry.data["previous_key"]))
            cleared = with_incident(protocol.previous_forgotten(entry.data), self.clock(), kind="emergency",
                                    action="revoked the previous key", key_id=revoked)
            return self.write(entry, cleared, "emergency")
        return entry

    def finish_revoking(self, entry: Entry) -> Entry:
        """Revoke the key a rollback took out of use, then forget it (the provider first, then the record)."""
        self.need_provider().revoke(str(entry.data["revoking_key_id"]))
        if entry.data.get("revoking_key"):
            self.need_provider().confirm_revoked(str(entry.data["revoking_key_id"]), str(entry.data["revoking_key"]))
        return self.write(entry, protocol.revoking_done(entry.data), "rolled back")

    def _create_at_provider(self, entry: Entry, name: str) -> NewKey:
        provider = self.need_provider()
        try:
            new = provider.create(name, like_key_id=entry.data.get("key_id"))
        except Exception as exc:  # pylint: disable=broad-except  # any failure: the key may exist anyway
            # The answer may have been lost after the key was made: look for it by name before giving up.
            error = exc if isinstance(exc, ApiKeysError) else ProviderError(
                f"{self.cfg.provider}: create failed: unexpected {type(exc).__name__}")
            # The provider said no (an HTTP answer below 500): no key was made. Anything else (no answer,
            # a 5xx, an unexpected error) may have made one, perhaps still on its way.
            refused = isinstance(error, ProviderError) and error.status is not None and error.status < 500
            try:
                orphans = provider.find_by_name(name, from_iso(entry.data["intent_at"]), known_ids(entry.data))
                for orphan in orphans:
                    provider.revoke(orphan)
                    self.warnings.append(f"key '{self.cfg.name}': revoked key {orphan}, created but its answer lost")
                if orphans or refused:
                    self.write(entry, protocol.intent_cleared(entry.data), "failed")
                else:
                    self.warnings.append(f"key '{self.cfg.name}': the create got no clear answer and no key named "
                                         f"{name} exists yet; the intent stays in the record, so the run after "
                                         "its lease looks for that name again and revokes what it finds")
            except ApiKeysError:
                self.warnings.append(f"key '{self.cfg.name}': could not clean up after the failed create; the "
                                     "intent stays in the record and the next run cleans it up")
            raise error from None
        self.session.remember(new.secret)
        self.session.event("created", rotation_id=entry.data.get("rotation_id"), new_key_ids=[new.key_id],
                           key_id=entry.data.get("key_id"))
        return new

    def _compensate(self, key_id: str, cause: ApiKeysError) -> None:
        """Revoke the new key once it is known to be outside the record (the pending write did not land)."""
        current = getattr(cause, "current", None)
        if isinstance(cause, CasConflict) and current is not None and key_id in known_ids(current):
            return  # another run holds it: never revoke a key the store holds
        try:
            self.need_provider().revoke(key_id)
        except ApiKeysError:
            raise ApiKeysError(f"key '{self.cfg.name}': {cause}; and the new key {key_id} could not be revoked: "
                               "the next run looks it up by the name in the record's intent and revokes it") from None

    def _clean_intent(self, entry: Entry, incident: Optional[str] = None) -> Entry:
        data = entry.data
        provider = self.need_provider()
        orphans = provider.find_by_name(data["pending_key_name"], from_iso(data["intent_at"]), known_ids(data))
        for orphan in orphans:
            provider.revoke(orphan)
            self.warnings.append(f"key '{self.cfg.name}': revoked key {orphan} left by rotation {data['rotation_id']}")
        cleaned = protocol.intent_cleared(data)
        if incident:
            cleaned = with_incident(cleaned, self.clock(), kind=incident, key_id=",".join(orphans) or None,
                                    action=f"took over rotation {data['rotation_id']}")
        return self.write(entry, cleaned, "cleaned")

    def _verify_pending(self, entry: Entry, before: dict[str, Any], lease: int) -> dict[str, Any]:
        data = entry.data
        rotation_id = data["rotation_id"]
        if data.get("pending_verified_at"):
            return self.result(before is not entry.data, f"new key {data['pending_key_id']} stored and verified",
                               before, data, entry.version, rotation_id=rotation_id, key_id=data["pending_key_id"],
                               owner=self.owner)
        entry = self.session.confirm(entry)  # still this run's: only then touch the provider
        started = time.monotonic()
        try:
            accepted = self._accepted(str(data["pending_key"]), str(data["pending_key_id"]))
        except ApiKeysError:
            raise  # the provider could not answer: the key stays pending, the next run verifies it
        except Exception as exc:  # pylint: disable=broad-except  # the test cannot even be made
            self._discard(entry)
            raise KeyTestFailed(f"key '{self.cfg.name}': the new key {data['pending_key_id']} could not be tested "
                                f"at {self.cfg.provider} ({type(exc).__name__}); it was revoked and the current key "
                                "stays in use") from None
        if not accepted:
            self._discard(entry)
            raise KeyTestFailed(f"key '{self.cfg.name}': the new key {data['pending_key_id']} was not accepted by "
                                f"{self.cfg.provider} within {format_duration(self.need_provider().activation_timeout)};"
                                " it was revoked and the current key stays in use")
        waited = time.monotonic() - started
        done = self._owned(protocol.verified(data, self.clock()), lease)
        # the metadata stays as the pending write set it (phase, key ids): promotion follows, and publishes
        entry = self.session.write(entry, done, "verified", publish=False)
        return self.result(True, f"new key {data['pending_key_id']} created, stored and verified "
                           f"(accepted after {waited:.1f}s)", before, done, entry.version,
                           rotation_id=rotation_id, key_id=data["pending_key_id"], owner=self.owner)

    def _accepted(self, secret: str, key_id: str) -> bool:
        """Try the key until the provider accepts it or its activation timeout has been waited out."""
        provider = self.need_provider()
        tries = 1 + int(provider.activation_timeout / provider.activation_interval)
        for attempt in range(tries):
            if provider.accepts(secret, key_id):
                return True
            if attempt < tries - 1:
                self.sleep(provider.activation_interval)
        return False

    def _discard(self, entry: Entry, incident: Optional[str] = None) -> Entry:
        """Revoke the pending key, then forget it: in that order, so no key is left alive untracked."""
        pending_id = str(entry.data["pending_key_id"])
        self.need_provider().revoke(pending_id)
        if entry.data.get("pending_key"):
            self.need_provider().confirm_revoked(pending_id, str(entry.data["pending_key"]))
        cleaned = protocol.pending_discarded(entry.data)
        if incident:
            cleaned = with_incident(cleaned, self.clock(), kind=incident, key_id=pending_id,
                                    action="revoked the pending key")
        return self.write(entry, cleaned, "discarded")

    # -- promote ------------------------------------------------------------------------------------

    def promote(self, rotation_id: Optional[str] = None, emergency: bool = False) -> dict[str, Any]:
        """Make the verified pending key current: the owning run's, or a dead run's whose lease expired."""
        entry = self.require(held=True)  # the create step's last write: no provider call here, the write is cas
        data = entry.data
        if phase(data) != "pending" and rotation_id and data.get("last_rotation_id") == rotation_id:
            by = data.get("promoted_by")
            if by and by != self.owner:
                return self.result(False, f"rotation {rotation_id} was already promoted by another run (run {by})",
                                   data, None, entry.version, outcome="promoted_by_other")
            return self.result(False, f"rotation {rotation_id} is already promoted", data, None, entry.version,
                               outcome="promoted")
        protocol.decide("promote", data, self.cfg.name, self.cfg.vault_path)
        if rotation_id and data.get("rotation_id") != rotation_id:
            raise RotationRefused(f"key '{self.cfg.name}': the pending key belongs to rotation "
                                  f"{data.get('rotation_id')}, not {rotation_id}")
        holder = data.get("lease_owner")
        if holder and holder != self.owner:
            if self.claimed:
                raise LostOwnership(f"key '{self.cfg.name}': rotation {data['rotation_id']} was taken over by "
                                    f"another run (run {holder}); this run stopped without touching the provider")
            self._may_take_over(entry, DEFAULT_RESUME_AFTER)
        if not data.get("pending_verified_at"):
            raise RotationRefused(f"key '{self.cfg.name}': pending key {data.get('pending_key_id')} has not been "
                                  "verified at the provider; run api_key_create to verify it first")
        if data.get("previous_key_id"):
            raise RotationRefused(f"key '{self.cfg.name}': previous key {data['previous_key_id']} is still "
                                  "awaiting revocation; promoting would lose track of it")
        grace = 0 if emergency else self.cfg.grace_period
        if grace is None:
            raise ConfigError(self.cfg.name, "apikeys_grace_period", "missing")
        promoted = protocol.promoted(data, self.clock(), grace, emergency, self.owner)
        msg = (f"key {promoted['key_id']} is now current; previous key {promoted['previous_key_id']} stays valid "
               f"until {promoted['previous_key_revocation_at']}")
        out = self.commit(entry, promoted, "rotated", msg, would="would promote: " + msg, before_write="before_promote",
                          rotation_id=data["rotation_id"], outcome="promoted")
        if not self.check_mode:
            checkpoint("after_promote")
        return out

    # -- import an existing key -----------------------------------------------------------------------

    def import_key(self, secret: str, key_id: str, verify: bool = True,
                   rotated_at: Optional[str] = None) -> dict[str, Any]:
        self.session.remember(secret)
        created = None
        if rotated_at:
            try:
                created = from_iso(rotated_at)
            except ValueError:
                raise ConfigError(self.cfg.name, "rotated_at", "must be a UTC ISO 8601 time such as "
                                  "2026-08-01T00:00:00Z") from None
        entry = self.read()
        before = entry.data if entry else None
        if entry is not None and entry.data.get("key_id") == key_id and entry.data.get("key") == secret:
            return self.result(False, f"key {key_id} is already the current key", before, None, entry.version)
        protocol.decide("import", before, self.cfg.name, self.cfg.vault_path)
        if verify and not self.need_provider().accepts(secret, key_id):
            raise KeyTestFailed(f"key '{self.cfg.name}': {self.cfg.provider} rejects key {key_id}; not imported")
        record = protocol.imported(secret, key_id, created or self.clock())
        return self.commit(Entry(data={}, version=ABSENT), record, "imported", f"imported key {key_id}",
                           would=f"would import key {key_id}")

    # -- forget a previous key that the provider no longer accepts ----------------------------------

    def clear_previous(self) -> dict[str, Any]:
        entry = self.require()
        data = entry.data
        if protocol.decide("clear_previous", data, self.cfg.name, self.cfg.vault_path) == "nothing":
            return self.result(False, "no previous key in the record", data, None, entry.version)
        if self.need_provider().accepts(str(data["previous_key"]), str(data["previous_key_id"])):
            raise RotationRefused(f"key '{self.cfg.name}': previous key {data['previous_key_id']} still works at "
                                  f"{self.cfg.provider}; revoke it first (apikeys.rotation.api_key_revoke)")
        return self.commit(entry, protocol.previous_forgotten(data), "revoked",
                           f"forgot revoked key {data['previous_key_id']}",
                           would=f"would forget revoked key {data['previous_key_id']}")
