"""Test doubles shared by the unit tests: an in-memory store with real check-and-set, a scripted
provider, a settable clock and a recording sleep. Import them as
``ansible_collections.apikeys.rotation.tests.unit.fakes``.
"""
from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any, Optional

from ansible_collections.apikeys.rotation.plugins.module_utils._errors import CasConflict, StoreUnavailable
from ansible_collections.apikeys.rotation.plugins.module_utils.providers._base import NewKey, Provider, Usage
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._base import Entry, Store, same_version

PATH = "secret/apikeys/mailer"
NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


# -- fakes ----------------------------------------------------------------------------------------

class MemoryStore(Store):
    kind = "memory"

    def __init__(self, clock: Optional[Any] = None) -> None:
        self.records: dict[str, tuple[dict[str, Any], int]] = {}
        self.meta: dict[str, dict[str, str]] = {}
        self.writes: list[dict[str, Any]] = []
        self.clock = clock                  # the store's own clock (None: it has none)
        self.lose_answers: set[int] = set()  # numbers (1-based, counted in self.writes) of writes applied, answer lost
        self.retry_conflicts = False        # a lost answer shows as the client's retry conflicting with itself
        self.reads_fail = False             # every read fails (the store went away)

    def preflight(self, path: str) -> None:
        pass

    def now(self) -> Optional[datetime]:
        return self.clock() if self.clock is not None else None

    def read(self, path: str) -> Optional[Entry]:
        if self.reads_fail:
            raise StoreUnavailable("memory store: unreachable")
        if path not in self.records:
            return None
        data, version = self.records[path]
        return Entry(data=copy.deepcopy(data), version=version, metadata=dict(self.meta.get(path, {})))

    def version(self, path: str = PATH) -> int:
        return self.records.get(path, ({}, 0))[1]

    def data(self, path: str = PATH) -> dict[str, Any]:
        return copy.deepcopy(self.records[path][0])

    def write(self, path: str, data: dict[str, Any], cas: Any) -> int:
        current = self.version(path)
        if not same_version(cas, current):
            raise CasConflict(f"{path} changed since it was read (version {cas})")
        self.records[path] = (copy.deepcopy(data), current + 1)
        self.writes.append(copy.deepcopy(data))
        if len(self.writes) in self.lose_answers:
            if self.retry_conflicts:
                raise CasConflict(f"{path} changed since it was read (version {cas})")
            raise StoreUnavailable("memory store: no answer", maybe_applied=True)
        return current + 1

    def set_metadata(self, path: str, metadata: dict[str, str]) -> None:
        self.meta[path] = dict(metadata)


class FakeProvider(Provider):
    name = "fake"
    activation_timeout = 10.0
    activation_interval = 0.25

    def __init__(self, *, accept_after: Optional[int] = 1, limit: Optional[int] = None,
                 create_error: Optional[Exception] = None, lose_answer: bool = False) -> None:
        super().__init__("mailer", {}, "admin-credential")
        self.accept_after = accept_after      # accepts() tries before a new key works; None: never
        self.limit = limit
        self.create_error = create_error      # raised by create(); with lose_answer the key was made anyway
        self.lose_answer = lose_answer
        self.keys: dict[str, dict[str, Any]] = {}
        self.created: list[str] = []
        self.revoked: list[str] = []
        self.accept_calls: list[str] = []
        self.on_create = None
        self.on_revoke = None                 # called with the key id before it is revoked; may raise
        self._n = 0

    def add(self, key_id: str, secret: str, name: str = "", new: bool = False) -> None:
        self.keys[key_id] = {"secret": secret, "name": name, "alive": True, "tries": 0 if new else None}

    def alive(self) -> set[str]:
        return {k for k, v in self.keys.items() if v["alive"]}

    def create(self, name: str, like_key_id: Optional[str]) -> NewKey:
        if self.create_error is not None and not self.lose_answer:
            raise self.create_error
        self._n += 1
        key_id, secret = f"key-new-{self._n}", f"sk-NEW-canary-{self._n}-94d2"
        self.add(key_id, secret, name, new=True)
        self.created.append(key_id)
        if self.on_create:
            self.on_create(key_id)
        if self.create_error is not None:
            raise self.create_error
        return NewKey(key_id=key_id, secret=secret, name=name)

    def revoke(self, key_id: str) -> bool:
        if self.on_revoke:
            self.on_revoke(key_id)
        self.revoked.append(key_id)
        key = self.keys.get(key_id)
        if key is None or not key["alive"]:
            return False
        key["alive"] = False
        return True

    def accepts(self, secret: str, key_id: str) -> bool:
        self.accept_calls.append(key_id)
        key = self.keys.get(key_id)
        if key is None or not key["alive"] or key["secret"] != secret:
            return False
        if key["tries"] is None:
            return True
        key["tries"] += 1
        return self.accept_after is not None and key["tries"] >= self.accept_after

    def find_by_name(self, name: str, created_after: datetime, known_ids: set[str]) -> list[str]:
        return [k for k, v in self.keys.items() if v["alive"] and v["name"] == name and k not in known_ids]

    def usage(self) -> Usage:
        return Usage(count=len(self.alive()), limit=self.limit)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)
