# Internal to this collection: not a public API; may change without notice.
"""What ``api_key_info`` reports of a key: its record (no secret), its schedule, from the record or its metadata.

The metadata (KV v2 ``custom_metadata``, see ``_record.metadata``) is readable with the shipped monitor
policy, which may not read any key: ``metadata_only`` builds the same view from it alone. The view of
the record is rebuilt from the metadata's fields, so the phase, the plan and the revocation plan are
decided by the same functions in both modes.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from ._errors import StoreError
from ._record import summary
from ._timeutil import add_seconds, from_iso, to_iso
from .stores._base import Entry, Store

#: metadata fields that are record fields of the same name (strings in the metadata)
RECORD_FIELDS = ("key_id", "rotated_at", "previous_key_id", "previous_key_revocation_at", "rotation_id",
                 "pending_key_id", "revocation_postponed_until", "last_revoked_key_id", "lease_until",
                 "revoking_key_id")
#: what the metadata says of the last task on the key (not record fields)
RESULT_FIELDS = ("last_result", "last_result_at", "last_error", "provider")


def read_metadata(store: Store, path: str) -> Optional[Entry]:
    """The record's metadata only, as an Entry with no data; None when there is no record.

    A store may offer ``read_metadata(path)``; for Vault KV v2 the metadata endpoint is read, which the
    monitor policy allows (``<mount>/metadata/...``: read), while the data endpoint stays forbidden.
    """
    own = getattr(store, "read_metadata", None)
    if callable(own):
        return own(path)
    split, call, client = (getattr(store, name, None) for name in ("_split", "_call", "client"))
    if split is None or call is None or client is None:
        raise StoreError(f"{store.kind}: metadata_only is not supported by this store")
    mount, sub = split(path)

    def fetch() -> Optional[dict[str, Any]]:
        import hvac.exceptions as hvac_errors  # present: the store is built on hvac
        try:
            return client.secrets.kv.v2.read_secret_metadata(path=sub, mount_point=mount)
        except hvac_errors.InvalidPath:
            return None

    answer = call(f"read the metadata of {path}", fetch)
    if not answer:
        return None
    body = answer.get("data") or {}
    version = int(body.get("current_version") or 0)
    state = (body.get("versions") or {}).get(str(version)) or {}
    if version == 0 or state.get("destroyed") or state.get("deletion_time"):
        return None
    return Entry(data={}, version=version, metadata=dict(body.get("custom_metadata") or {}))


def data_from_metadata(meta: dict[str, str]) -> dict[str, Any]:
    """The record as far as its metadata tells it: the non-secret fields plan and revocation need.

    Empty when the metadata was never written by this collection (no ``phase``): nothing is guessed.
    """
    if not meta.get("phase"):
        return {}
    data: dict[str, Any] = {k: meta[k] for k in RECORD_FIELDS if meta.get(k)}
    try:
        data["revocation_postponements"] = int(meta.get("revocation_postponements") or 0)
    except ValueError:
        data["revocation_postponements"] = 0
    if meta.get("phase") == "revoking" and not data.get("revoking_key_id"):
        data["revoking_key_id"] = "?"  # metadata written before revoking_key_id was published
    return data


def record_view(entry: Optional[Entry], data: Optional[dict[str, Any]]) -> dict[str, Any]:
    """``record`` of the result: the summary of ``data`` plus what the metadata says of the last task."""
    view = summary(data if entry is not None else None, entry.version if entry is not None else 0)
    meta = entry.metadata if entry is not None else {}
    view["exists"] = entry is not None
    if entry is not None and not data:  # a record whose metadata was never published: say so, guess nothing
        view["phase"] = meta.get("phase") or "unknown"
    for name in RESULT_FIELDS:
        view[name] = meta.get(name) or None
    view["last_result_at"] = view["last_result_at"] or meta.get("updated_at") or None
    view["provider"] = view["provider"] or None
    return view


def schedule(data: Optional[dict[str, Any]], frequency: Optional[int], grace: Optional[int],
             now: datetime) -> dict[str, Any]:
    """Age, due time and how overdue, from ``rotated_at``, in every phase (None where unknown)."""
    out: dict[str, Any] = {"rotation_frequency_seconds": frequency, "grace_period_seconds": grace,
                           "age_seconds": None, "due_at": None, "overdue_seconds": None}
    rotated = (data or {}).get("rotated_at")
    if not rotated:
        return out
    try:
        since = from_iso(str(rotated))
    except ValueError:
        return out
    out["age_seconds"] = max(0, int((now - since).total_seconds()))
    if frequency:
        due = add_seconds(since, frequency)
        out["due_at"] = to_iso(due)
        out["overdue_seconds"] = max(0, int((now - due).total_seconds()))
    return out
