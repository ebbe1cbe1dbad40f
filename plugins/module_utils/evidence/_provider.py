# Internal to this collection: not a public API; may change without notice.
"""Evidence from the provider's own last-used data (AWS IAM GetAccessKeyLastUsed)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from .._errors import ConfigError
from ..providers._base import Provider
from ._base import Evidence, Observation


class ProviderEvidence(Evidence):
    name = "provider"

    def __init__(self, key: str, options: dict[str, Any], provider: Provider) -> None:
        super().__init__(key, options)
        self.provider = provider

    def observe(self, new_key_id: str, old_key_id: str, since: datetime) -> Observation:
        try:
            new_last = self.provider.last_used(new_key_id)
            old_last = self.provider.last_used(old_key_id)
        except NotImplementedError as exc:
            raise ConfigError(self.key, "apikeys_usage_evidence.source",
                              f"{exc}; choose another source (prometheus, http or none)") from None
        seen = new_last is not None and new_last >= since
        return Observation(self.name, seen, new_last, old_last,
                           f"{self.provider.name} last-used data")
