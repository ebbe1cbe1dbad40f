# Internal to this collection: not a public API; may change without notice.
"""The store interface: a versioned record per key, written only conditionally (check-and-set).

A store is one file in this directory plus its entry in ``_registry.STORES`` (see docs/stores.md).
Nothing outside the store reads its version tokens: they are compared for equality and shown, nothing
more (Vault KV v2 counts versions 1, 2, 3...; AWS Secrets Manager names them with version ids).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from .._errors import ConfigError

#: a version token, opaque outside its store (an int for Vault KV v2, a VersionId for Secrets Manager)
Version = Any
#: the version to write at when the record must not exist yet (Vault's ``cas=0``)
ABSENT: Version = None


def is_absent(version: Version) -> bool:
    """Does ``version`` mean "no record"? (None; 0 too, as written before the seam, Vault's cas=0)."""
    return version is None or version == 0


def same_version(one: Version, other: Version) -> bool:
    """Are two version tokens the same version (every way of saying "no record" being one)?"""
    if is_absent(one) or is_absent(other):
        return is_absent(one) and is_absent(other)
    return one == other


@dataclass
class Entry:
    """One read of a record: its data, the version it was read at, its non-secret metadata."""

    data: dict[str, Any]
    version: Version
    metadata: dict[str, str] = field(default_factory=dict)


class Store(ABC):
    #: how the store is named in messages and in ``apikeys_store`` ("vault_kv2")
    kind = "store"

    # -- configuration: checked before any request, messages name the key and the variable --------------

    @classmethod
    def validate_path(cls, key: str, path: Any) -> str:
        """The record's location (``apikeys_vault_path``), checked; returns it normalised."""
        if not isinstance(path, str) or not path.strip("/"):
            raise ConfigError(key, "apikeys_vault_path", "missing: where the key's record lives")
        return path.strip("/")

    @classmethod
    def validate_options(cls, key: str, args: dict[str, Any]) -> None:
        """Check this store's options among the module's arguments (no request). Default: nothing to check."""

    @classmethod
    def from_options(cls, key: str, args: dict[str, Any]) -> "Store":
        """Build the store from the module's validated arguments (no request yet)."""
        raise NotImplementedError

    @classmethod
    def reuse_slot(cls, args: dict[str, Any]) -> Optional[str]:
        """What the store built from ``args`` depends on, when a store built for one step may serve the next
        step, or the next key, of the same thread with the same answer (``_registry.keep_stores``); None: build
        one per step (the default, and the answer whenever building reads anything but ``args``, such as a file)."""
        return None

    # -- the record ----------------------------------------------------------------------------------

    @abstractmethod
    def preflight(self, path: str) -> None:
        """Check, before any change, that ``path`` is usable (right engine, reachable, unsealed)."""

    @abstractmethod
    def read(self, path: str) -> Optional[Entry]:
        """The current version of the record, or None when there is none."""

    @abstractmethod
    def write(self, path: str, data: dict[str, Any], cas: Version) -> Version:
        """Replace the record if its version is still ``cas`` (ABSENT: it must not exist). Returns the new version.

        Raises CasConflict when another writer got there first; the losing write leaves no current record.
        """

    @abstractmethod
    def set_metadata(self, path: str, metadata: dict[str, str]) -> None:
        """Replace the record's non-secret metadata (readable without the right to read secrets)."""

    def secrets(self) -> list[str]:
        """Every secret the store's client holds (its token, a login's secret id): the task's scrubber asks
        at each scrub, so a token obtained mid-run (a login, a re-login) is hidden too. Default: none."""
        return []

    def now(self) -> Optional[datetime]:
        """The store's own clock (UTC), the reference for deadlines; None when the store has none."""
        return None
