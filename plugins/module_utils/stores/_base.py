# Internal to this collection: not a public API; may change without notice.
"""The store interface: a versioned record per key, written only with check-and-set."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional


@dataclass
class Entry:
    """One read of a record: its data, the version it was read at, its non-secret metadata."""

    data: dict[str, Any]
    version: int
    metadata: dict[str, str] = field(default_factory=dict)


class Store(ABC):
    #: how the store is named in messages ("vault_kv2")
    kind = "store"

    @abstractmethod
    def preflight(self, path: str) -> None:
        """Check, before any change, that ``path`` is usable (right engine, reachable, unsealed)."""

    @abstractmethod
    def read(self, path: str) -> Optional[Entry]:
        """The current version of the record, or None when there is none."""

    @abstractmethod
    def write(self, path: str, data: dict[str, Any], cas: int) -> int:
        """Replace the record if its version is still ``cas`` (0: must not exist). Returns the new version.

        Raises CasConflict when another writer got there first.
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
