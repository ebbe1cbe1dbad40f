# Internal to this collection: not a public API; may change without notice.
"""What a module returns for a step: message, record summary and diff, never a secret."""
from __future__ import annotations

from typing import Any, Optional

from ._record import redacted, summary


def result(changed: bool, msg: str, before: Optional[dict[str, Any]], after: Optional[dict[str, Any]],
           version: int, **extra: Any) -> dict[str, Any]:
    """``after`` None: nothing changed. Secret fields show as ``<hidden>`` in the diff."""
    shown = after if after is not None else before
    out = {"changed": changed, "msg": msg, "record": summary(shown, version),
           "diff": {"before": redacted(before), "after": redacted(shown)}}
    out.update(extra)
    return out
