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
        answer = self.client.request_json("GET", "/api/v1/query?" + urlencode({"query": query}),
                                          label="/api/v1/query")
        if not isinstance(answer, dict) or answer.get("status") != "success":
            error = answer.get("error", "no status") if isinstance(answer, dict) else "not an object"
            raise ProviderError(f"prometheus: query failed: {error}")
        data = answer.get("data")
        if not isinstance(data, dict):
            raise ProviderError("prometheus: the answer has no data object")
        result = data.get("result") or []
        if not isinstance(result, list):
            raise ProviderError("prometheus: the answer has no result list")
        times = []
        for sample in result:
            value = sample.get("value") if isinstance(sample, dict) else None
            if not (isinstance(value, list) and len(value) == 2):
                raise ProviderError("prometheus: a sample of the answer has no [time, value] pair")
            if value[1] in ("NaN", "+Inf", "-Inf"):
                continue
            try:
                times.append(float(value[1]))
            except (TypeError, ValueError):
                raise ProviderError("prometheus: the query must return a Unix time; got a value that is not "
                                    "a number") from None
        return datetime.fromtimestamp(max(times), timezone.utc) if times else None

    def observe(self, new_key_id: str, old_key_id: str, since: datetime) -> Observation:
        new_last = self.last_used(new_key_id)
        old_last = self.last_used(old_key_id)
        return Observation(self.name, new_last is not None and new_last >= since, new_last, old_last,
                           "consumers' metrics in Prometheus")
