# Internal to this collection: not a public API; may change without notice.
"""Evidence from the consumers' own metrics, through the Prometheus HTTP API (``/api/v1/query``).

``last_used_query`` is a PromQL expression with a ``{key_id}`` placeholder that returns the Unix
time at which that key was last used (see the README for an expression over a request counter
labelled by key id). An empty result means "not used within what Prometheus keeps".
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional
from urllib.parse import urlencode

from .._errors import ProviderError
from .._http import HttpClient
from ._base import Evidence, Observation


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


class PrometheusEvidence(Evidence):
    name = "prometheus"
    options_spec = {"url": (True, str), "last_used_query": (True, str), "timeout": (False, int)}

    def __init__(self, key: str, options: dict[str, Any]) -> None:
        super().__init__(key, options)
        self.client = HttpClient("prometheus", options["url"], {}, timeout=float(options.get("timeout") or 10))

    def last_used(self, key_id: str) -> Optional[datetime]:
        query = self.options["last_used_query"].replace("{key_id}", _label_value(key_id))
        answer = self.client.request("GET", "/api/v1/query?" + urlencode({"query": query}),
                                     label="/api/v1/query").json()
        if answer.get("status") != "success":
            raise ProviderError(f"prometheus: query failed: {answer.get('error', 'no status')}")
        result = answer.get("data", {}).get("result") or []
        times = []
        for sample in result:
            value = sample.get("value") if isinstance(sample, dict) else None
            if isinstance(value, list) and len(value) == 2 and value[1] not in ("NaN", "+Inf", "-Inf"):
                times.append(float(value[1]))
        return datetime.fromtimestamp(max(times), timezone.utc) if times else None

    def observe(self, new_key_id: str, old_key_id: str, since: datetime) -> Observation:
        new_last = self.last_used(new_key_id)
        old_last = self.last_used(old_key_id)
        return Observation(self.name, new_last is not None and new_last >= since, new_last, old_last,
                           "consumers' metrics in Prometheus")
