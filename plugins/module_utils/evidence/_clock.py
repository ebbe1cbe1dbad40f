# Internal to this collection: not a public API; may change without notice.
"""No evidence: the clock alone. Said as such in every verdict it leads to."""
from __future__ import annotations

from datetime import datetime

from ._base import Evidence, Observation


class ClockOnly(Evidence):
    name = "none"

    def observe(self, new_key_id: str, old_key_id: str, since: datetime) -> Observation:
        return Observation(self.name, None, detail="no usage evidence configured: the clock alone")
