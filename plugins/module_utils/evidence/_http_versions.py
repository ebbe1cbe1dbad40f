# Internal to this collection: not a public API; may change without notice.
"""Evidence from a JSON endpoint that reports which key each consumer holds.

Expected answer: ``{"consumers": [{"name": "app-1", "key_id": "...", "updated_at": "<UTC ISO 8601>"}]}``
(field names configurable). The new key counts as in use when at least ``min_consumers`` hold it;
a consumer still holding the old key makes the old key "seen now".
"""
from __future__ import annotations

from datetime import datetime

from .._errors import ProviderError
from .._http import HttpClient
from .._timeutil import utcnow
from ._base import Evidence, Observation


class HttpVersionsEvidence(Evidence):
    name = "http"
    options_spec = {"url": (True, str), "list_field": (False, str), "key_id_field": (False, str),
                    "min_consumers": (False, int), "timeout": (False, int)}

    def observe(self, new_key_id: str, old_key_id: str, since: datetime) -> Observation:
        client = HttpClient("usage evidence", self.options["url"], {}, timeout=float(self.options.get("timeout") or 10))
        answer = client.request_json("GET", self.options["url"], label="url")
        consumers = answer.get(self.options.get("list_field") or "consumers") if isinstance(answer, dict) else None
        if not isinstance(consumers, list):
            raise ProviderError("usage evidence: the answer of url has no consumers list")
        field = self.options.get("key_id_field") or "key_id"
        held = [str(c.get(field)) for c in consumers if isinstance(c, dict)]
        on_new, on_old = held.count(new_key_id), held.count(old_key_id)
        now = utcnow()
        minimum = self.options.get("min_consumers")
        return Observation(self.name, on_new >= (1 if minimum is None else minimum),
                           now if on_new else None, now if on_old else None,
                           f"{on_new} of {len(held)} consumers hold the new key, {on_old} the old one")
