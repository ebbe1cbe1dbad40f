# Internal to this collection: not a public API; may change without notice.
"""The rotation protocol: plan, intent, create, verify, promote; each step resumable.

Every write is conditional on the version read (check-and-set), so of two
runs on one key exactly one wins and the other stops with CasConflict. A
secret only moves from the provider's answer to the store's pending slot,
inside this process; results and messages carry key ids, never secrets.
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Callable, Optional

from ._checkpoint import checkpoint
from ._config import KeyConfig
from ._errors import ApiKeysError, CasConflict, ConfigError, KeyCapReached, KeyTestFailed, RotationRefused, \
    StoreError
from ._record import SECRET_FIELDS, INTENT_FIELDS, PENDING_FIELDS, PREVIOUS_FIELDS, HIDDEN, REVOKING_FIELDS, known_ids, \
    metadata, new_rotation_id, phase, redacted, summary, with_incident, without
from ._timeutil import add_seconds, format_duration, from_iso, to_iso, utcnow
from .providers._base import NewKey, Provider
from .stores._base import Entry, Store

DEFAULT_RESUME_AFTER = 600  # seconds after which an unfinished intent is taken to be a dead run's


class Rotation:
    def __init__(self, cfg: KeyConfig, store: Store, provider: Optional[Provider], *,
                 clock: Callable[[], datetime] = utcnow, sleep: Callable[[float], None] = time.sleep,
                 check_mode: bool = False) -> None:
        self.cfg = cfg
        self.store = store
        self.provider = provider
        self.clock = clock
        self.sleep = sleep
        self.check_mode = check_mode
        self.warnings: list[str] = []
        self._secrets: set[str] = set()

    # -- record I/O ---------------------------------------------------------

    def read(self) -> Optional[Entry]:
        entry = self.store.read(self.cfg.vault_path)
        if entry is not None:
            self._secrets.update(str(entry.data[f]) for f in SECRET_FIELDS if entry.data.get(f))
        return entry

    def require(self) -> Entry:
        entry = self.read()
        if entry is None:
            raise RotationRefused(f"key '{self.cfg.name}': no record at {self.cfg.vault_path}; import the key "
                                  "in use first (apikeys.rotation.vault_key_write state=import)")
        return entry

    def write(self, entry: Entry, data: dict[str, Any], result: str) -> Entry:
        try:
            version = self.store.write(self.cfg.vault_path, data, cas=entry.version)
        except CasConflict as exc:
            raise CasConflict(f"key '{self.cfg.name}': {exc}; stopped without changing anything more") from None
        self._publish(data, result, "")
        return Entry(data=data, version=version)

    def _publish(self, data: dict[str, Any], result: str, error: str) -> None:
        try:
            self.store.set_metadata(self.cfg.vault_path,
                                    metadata(data, self.cfg.provider, result, error, self.clock()))
        except StoreError as exc:
            self.warnings.append(f"key '{self.cfg.name}': record written, metadata not updated: {exc}")

    def record_failure(self, error: Exception) -> None:
        """Best effort: show the failure in the record's metadata, where monitoring looks."""
        try:
            entry = self.store.read(self.cfg.vault_path)
            if entry is not None:
                self._publish(entry.data, "failed", self.scrub(str(error)))
        except ApiKeysError:
            pass

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, HIDDEN)
        return text

    def _remember(self, new: NewKey) -> NewKey:
        self._secrets.add(new.secret)
        return new

    @staticmethod
    def result(changed: bool, msg: str, before: Optional[dict[str, Any]], after: Optional[dict[str, Any]],
               version: int, **extra: Any) -> dict[str, Any]:
        out = {"changed": changed, "msg": msg, "record": summary(after if after is not None else before, version),
               "diff": {"before": redacted(before), "after": redacted(after if after is not None else before)}}
        out.update(extra)
        return out

    # -- plan ---------------------------------------------------------------

    def plan(self, entry: Optional[Entry], force: bool = False) -> dict[str, Any]:
        """Decide what rotate would do to this key, and why; reads nothing but ``entry``."""
        now = self.clock()
        if entry is None:
            return {"due": False, "action": "refuse", "reason": f"no record at {self.cfg.vault_path}; "
                    "import the key in use first"}
        data = entry.data
        current = phase(data)
        if current == "revoking":
            return {"due": False, "action": "wait", "reason": f"a rollback did not finish revoking key "
                    f"{data.get('revoking_key_id')}; re-run rollback.yml"}
        if current in ("intent", "pending"):
            return {"due": True, "action": "resume", "reason": f"rotation {data.get('rotation_id')} did not "
                    f"finish (phase {current}); it will be resumed or cleaned up"}
        if current == "grace":
            return {"due": False, "action": "wait", "reason": f"previous key {data.get('previous_key_id')} awaits "
                    f"revocation at {data.get('previous_key_revocation_at')}; revoke it first"}
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

    # -- step: intent, create, store pending, verify ------------------------------

    def create(self, resume_after: int = DEFAULT_RESUME_AFTER, emergency: bool = False) -> dict[str, Any]:
        provider = self.need_provider()
        entry = self.require()
        before = entry.data
        if emergency:
            if self.check_mode and phase(entry.data) != "idle":
                return self.result(True, f"would take over (phase {phase(entry.data)}): revoke every key but the "
                                   f"current one, then create its replacement", before, None, entry.version)
            entry = self.contain(entry)
        current = phase(entry.data)
        if current == "pending":
            return self._verify_pending(entry)
        if current == "intent":
            entry = self._clean_intent(entry, resume_after)
        elif current == "revoking":
            raise RotationRefused(f"key '{self.cfg.name}': a rollback did not finish revoking key "
                                  f"{entry.data.get('revoking_key_id')}; re-run rollback.yml first")
        elif current == "grace":
            raise RotationRefused(f"key '{self.cfg.name}': previous key {before.get('previous_key_id')} awaits "
                                  f"revocation at {before.get('previous_key_revocation_at')}; a second rotation "
                                  "would leave three keys alive")
        usage = provider.usage()
        if usage.limit is not None and usage.count >= usage.limit:
            raise KeyCapReached(f"key '{self.cfg.name}': provider '{self.cfg.provider}' already holds "
                                f"{usage.count} keys of a limit of {usage.limit}; no key was created")
        now = self.clock()
        rotation_id = new_rotation_id(now)
        name = f"apikeys-{self.cfg.name}-{rotation_id}"
        intent = dict(without(entry.data, INTENT_FIELDS, PENDING_FIELDS), rotation_id=rotation_id,
                      pending_key_name=name, intent_at=to_iso(now), intent_known_ids=sorted(known_ids(entry.data)))
        if self.check_mode:
            after = dict(intent, pending_key=HIDDEN, pending_key_id="(created at the provider)")
            return self.result(True, f"would create a new {self.cfg.provider} key named {name}", before, after,
                               entry.version, rotation_id=rotation_id)
        self.store.preflight(self.cfg.vault_path)  # e.g. a token that may not write: stop before the provider
        checkpoint("before_intent")
        entry = self.write(entry, intent, "intent")
        checkpoint("before_create")
        new = self._create_at_provider(entry, name)
        checkpoint("before_pending_write")
        pending = dict(intent, pending_key=new.secret, pending_key_id=new.key_id, pending_created_at=to_iso(now))
        try:
            entry = self.write(entry, pending, "pending")
        except ApiKeysError as exc:
            self._revoke_quietly(new.key_id, exc)
            raise
        checkpoint("before_verify")
        return self._verify_pending(entry, before=before)

    def contain(self, entry: Entry) -> Entry:
        """Emergency: take over whatever is in progress and revoke every key but the current one.

        A dead or live rotation's intent is cleaned up at once (its key, if made, is revoked); a
        pending key is revoked (it may have been made after the compromise, by the attacker's
        timing); a previous key still in its grace period is revoked. Each is recorded.
        """
        data = entry.data
        current = phase(data)
        if self.check_mode or current == "idle":
            return entry
        if current == "intent":
            entry = self._clean_intent(entry, resume_after=0, incident="emergency")
        elif current == "pending":
            entry = self._discard(entry, incident="emergency")
        elif current == "revoking":
            entry = self.finish_revoking(entry)
        elif current == "grace":
            revoked = data["previous_key_id"]
            self.need_provider().revoke(str(revoked))
            cleared = with_incident(without(data, PREVIOUS_FIELDS), self.clock(), kind="emergency",
                                    action="revoked the previous key", key_id=revoked)
            entry = self.write(entry, cleared, "emergency")
        return entry

    def finish_revoking(self, entry: Entry) -> Entry:
        """Revoke the key a rollback took out of use, then forget it (the provider first, then the record)."""
        self.need_provider().revoke(str(entry.data["revoking_key_id"]))
        return self.write(entry, without(entry.data, REVOKING_FIELDS), "rolled back")

    def need_provider(self) -> Provider:
        if self.provider is None:
            raise ConfigError(self.cfg.name, "apikeys_provider", "this step needs the provider")
        return self.provider

    def _create_at_provider(self, entry: Entry, name: str) -> NewKey:
        try:
            return self._remember(self.need_provider().create(name, like_key_id=entry.data.get("key_id")))
        except ApiKeysError as exc:
            # The answer may have been lost after the key was made: look for it by name before giving up.
            try:
                for orphan in self.need_provider().find_by_name(name, from_iso(entry.data["intent_at"]),
                                                                known_ids(entry.data)):
                    self.need_provider().revoke(orphan)
                self.write(entry, without(entry.data, INTENT_FIELDS), "failed")
            except ApiKeysError:
                self.warnings.append(f"key '{self.cfg.name}': could not clean up after the failed create; the "
                                     "intent stays in the record and the next run cleans it up")
            raise exc

    def _revoke_quietly(self, key_id: str, cause: Exception) -> None:
        try:
            self.need_provider().revoke(key_id)
        except ApiKeysError:
            raise ApiKeysError(f"key '{self.cfg.name}': {cause}; and the new key {key_id} could not be revoked: "
                               "revoke it by hand at the provider") from None

    def _clean_intent(self, entry: Entry, resume_after: int, incident: Optional[str] = None) -> Entry:
        data = entry.data
        started = from_iso(data["intent_at"])
        age = (self.clock() - started).total_seconds()
        if resume_after > 0 and age < resume_after:  # 0: take over at once, even from a clock that runs ahead
            raise RotationRefused(f"key '{self.cfg.name}': rotation {data['rotation_id']} started "
                                  f"{format_duration(age)} ago is in progress; if its run died, re-run after "
                                  f"{to_iso(add_seconds(started, resume_after))} to clean it up")
        if self.check_mode:
            return entry
        orphans = self.need_provider().find_by_name(data["pending_key_name"], started, known_ids(data))
        for orphan in orphans:
            self.need_provider().revoke(orphan)
            self.warnings.append(f"key '{self.cfg.name}': revoked key {orphan} left by rotation {data['rotation_id']}")
        cleaned = without(data, INTENT_FIELDS)
        if incident:
            cleaned = with_incident(cleaned, self.clock(), kind=incident, key_id=",".join(orphans) or None,
                                    action=f"took over rotation {data['rotation_id']}")
        return self.write(entry, cleaned, "cleaned")

    def _verify_pending(self, entry: Entry, before: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        data = entry.data
        before = entry.data if before is None else before
        rotation_id = data["rotation_id"]
        if data.get("pending_verified_at"):
            return self.result(before is not entry.data, f"new key {data['pending_key_id']} stored and verified",
                               before, data, entry.version, rotation_id=rotation_id, key_id=data["pending_key_id"])
        if self.check_mode:
            return self.result(True, f"would verify pending key {data['pending_key_id']}", before,
                               dict(data, pending_verified_at="(now)"), entry.version, rotation_id=rotation_id)
        started = time.monotonic()
        if not self._accepted(str(data["pending_key"]), str(data["pending_key_id"])):
            self._discard(entry)
            raise KeyTestFailed(f"key '{self.cfg.name}': the new key {data['pending_key_id']} was not accepted by "
                                f"{self.cfg.provider} within {format_duration(self.need_provider().activation_timeout)};"
                                " it was revoked and the current key stays in use")
        waited = time.monotonic() - started
        verified = dict(data, pending_verified_at=to_iso(self.clock()))
        entry = self.write(entry, verified, "verified")
        return self.result(True, f"new key {data['pending_key_id']} created, stored and verified "
                           f"(accepted after {waited:.1f}s)", before, verified, entry.version,
                           rotation_id=rotation_id, key_id=data["pending_key_id"])

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
        cleaned = without(entry.data, INTENT_FIELDS, PENDING_FIELDS)
        if incident:
            cleaned = with_incident(cleaned, self.clock(), kind=incident, key_id=pending_id,
                                    action="revoked the pending key")
        return self.write(entry, cleaned, "discarded")

    # -- step: promote ------------------------------------------------------------

    def promote(self, rotation_id: Optional[str] = None, emergency: bool = False) -> dict[str, Any]:
        entry = self.require()
        data = entry.data
        current = phase(data)
        if current != "pending":
            if rotation_id and data.get("last_rotation_id") == rotation_id:
                return self.result(False, f"rotation {rotation_id} is already promoted", data, None, entry.version)
            raise RotationRefused(f"key '{self.cfg.name}': nothing to promote (phase {current})")
        if rotation_id and data.get("rotation_id") != rotation_id:
            raise RotationRefused(f"key '{self.cfg.name}': the pending key belongs to rotation "
                                  f"{data.get('rotation_id')}, not {rotation_id}")
        if not data.get("pending_verified_at"):
            raise RotationRefused(f"key '{self.cfg.name}': pending key {data.get('pending_key_id')} has not been "
                                  "verified at the provider; run api_key_create to verify it first")
        if data.get("previous_key_id"):
            raise RotationRefused(f"key '{self.cfg.name}': previous key {data['previous_key_id']} is still "
                                  "awaiting revocation; promoting would lose track of it")
        grace = 0 if emergency else self.cfg.grace_period
        if grace is None:
            raise ConfigError(self.cfg.name, "apikeys_grace_period", "missing")
        now = self.clock()
        promoted = dict(without(data, INTENT_FIELDS, PENDING_FIELDS, PREVIOUS_FIELDS),
                        key=data["pending_key"], key_id=data["pending_key_id"], rotated_at=to_iso(now),
                        previous_key=data.get("key"), previous_key_id=data.get("key_id"),
                        previous_rotated_at=data.get("rotated_at"),
                        **({"previous_key_compromised": True} if emergency else {}),
                        previous_key_revocation_at=to_iso(add_seconds(now, grace)),
                        last_rotation_id=data["rotation_id"])
        msg = (f"key {promoted['key_id']} is now current; previous key {promoted['previous_key_id']} stays valid "
               f"until {promoted['previous_key_revocation_at']}")
        if self.check_mode:
            return self.result(True, "would promote: " + msg, data, promoted, entry.version)
        checkpoint("before_promote")
        entry = self.write(entry, promoted, "rotated")
        checkpoint("after_promote")
        return self.result(True, msg, data, promoted, entry.version, rotation_id=data["rotation_id"])

    # -- step: import an existing key --------------------------------------------------

    def import_key(self, secret: str, key_id: str, verify: bool = True,
                   rotated_at: Optional[str] = None) -> dict[str, Any]:
        self._secrets.add(secret)
        created = self.clock()
        if rotated_at:
            try:
                created = from_iso(rotated_at)
            except ValueError:
                raise ConfigError(self.cfg.name, "rotated_at", "must be a UTC ISO 8601 time such as "
                                  "2026-08-01T00:00:00Z") from None
        entry = self.read()
        before = entry.data if entry else None
        if entry is not None:
            if entry.data.get("key_id") == key_id and entry.data.get("key") == secret:
                return self.result(False, f"key {key_id} is already the current key", before, None, entry.version)
            raise RotationRefused(f"key '{self.cfg.name}': {self.cfg.vault_path} already holds key "
                                  f"{entry.data.get('key_id')} (phase {phase(entry.data)}); importing over it would "
                                  "lose track of a live key")
        if verify and not self.need_provider().accepts(secret, key_id):
            raise KeyTestFailed(f"key '{self.cfg.name}': {self.cfg.provider} rejects key {key_id}; not imported")
        record = {"key": secret, "key_id": key_id, "rotated_at": to_iso(created)}
        if self.check_mode:
            return self.result(True, f"would import key {key_id}", before, record, 0)
        entry = self.write(Entry(data={}, version=0), record, "imported")
        return self.result(True, f"imported key {key_id}", before, record, entry.version)

    # -- step: forget a previous key that the provider no longer accepts ----------------

    def clear_previous(self) -> dict[str, Any]:
        entry = self.require()
        data = entry.data
        if not data.get("previous_key_id"):
            return self.result(False, "no previous key in the record", data, None, entry.version)
        if self.need_provider().accepts(str(data["previous_key"]), str(data["previous_key_id"])):
            raise RotationRefused(f"key '{self.cfg.name}': previous key {data['previous_key_id']} still works at "
                                  f"{self.cfg.provider}; revoke it first (apikeys.rotation.api_key_revoke)")
        cleared = without(data, PREVIOUS_FIELDS)
        if self.check_mode:
            return self.result(True, f"would forget revoked key {data['previous_key_id']}", data, cleared,
                               entry.version)
        entry = self.write(entry, cleared, "revoked")
        return self.result(True, f"forgot revoked key {data['previous_key_id']}", data, cleared, entry.version)
