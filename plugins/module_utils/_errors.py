# Internal to this collection: not a public API; may change without notice.
"""Domain errors. Modules turn them into fail_json at the top level only.

Every message is written by this collection and names keys, fields and key
ids, never a secret value.
"""
from __future__ import annotations


class ApiKeysError(Exception):
    """Base class of every error this collection raises on purpose."""

    #: short machine-readable kind, returned to Ansible as ``error``
    kind = "error"


class ConfigError(ApiKeysError):
    """An inventory or task argument is wrong. Raised before any network call."""

    kind = "config"

    def __init__(self, key: str, field: str, problem: str) -> None:
        self.key = key
        self.field = field
        self.problem = problem
        super().__init__(f"key '{key}': {field}: {problem}")


class StoreError(ApiKeysError):
    kind = "store"


class StoreUnavailable(StoreError):
    """The store could not be reached or failed. ``maybe_applied``: the request may have been carried out
    and only its answer lost (a timeout or a dropped connection after it was sent)."""

    kind = "store_unavailable"

    def __init__(self, message: str, maybe_applied: bool = False) -> None:
        self.maybe_applied = maybe_applied
        super().__init__(message)


class StoreSealed(StoreError):
    kind = "store_sealed"


class StoreForbidden(StoreError):
    kind = "store_forbidden"


class CasConflict(StoreError):
    """The record changed since it was read: another run got there first."""

    kind = "conflict"


class ProviderError(ApiKeysError):
    kind = "provider"

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class KeyCapReached(ProviderError):
    kind = "key_cap"


class KeyTestFailed(ProviderError):
    kind = "key_test_failed"


class RotationRefused(ApiKeysError):
    """The record's state does not allow the requested step (in progress, in grace...)."""

    kind = "refused"


class OutcomeUnknown(StoreError):
    """A write's answer never came and the record could not be read back: it may or may not have happened.

    Nothing is compensated after it; the next run finds out from the record.
    """

    kind = "unknown_outcome"


class LostOwnership(CasConflict):
    """Another run took over this run's rotation (its lease had expired): this run stops, touching nothing."""

    kind = "lost_ownership"


class ClockSkew(ApiKeysError):
    """The controller's clock and the store's disagree by more than ``apikeys_clock_skew``."""

    kind = "clock_skew"


class ReadOnlyViolation(ApiKeysError):
    """A task documented as read-only tried to write: a bug, refused before anything is written."""

    kind = "internal"
