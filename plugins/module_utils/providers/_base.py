# Internal to this collection: not a public API; may change without notice.
"""The provider interface: one small class per API provider."""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from .._errors import ConfigError, ProviderError
from .._retry import RetryPolicy


@dataclass
class NewKey:
    """A key just created. ``secret`` is shown once by the provider; it goes to the store and nowhere else."""

    key_id: str
    secret: str
    name: str

    def __repr__(self) -> str:  # never let a traceback or a debug print show the secret
        return f"NewKey(key_id={self.key_id!r}, name={self.name!r}, secret=<hidden>)"


@dataclass
class Usage:
    """How many keys exist where this key lives, and how many the provider allows (None: no cap)."""

    count: int
    limit: Optional[int]


#: options every provider takes: seconds to wait for a new key to work, and for one API call
COMMON_OPTIONS: dict[str, tuple[bool, type]] = {"activation_timeout": (False, int), "timeout": (False, int),
                                                "max_attempts": (False, int)}


class Provider(ABC):
    #: the ``apikeys_provider`` value
    name = "provider"
    #: how long a new key may take before the provider accepts it (seconds)
    activation_timeout = 10.0
    #: seconds between two tries of a new key while it is not yet accepted
    activation_interval = 0.5
    #: the environment variable holding the management credential when none is given
    credential_env: Optional[str] = None
    #: option name -> (required, type) checked before any network call
    options_spec: dict[str, tuple[bool, type]] = {}

    def __init__(self, key: str, options: dict[str, Any], credential: Optional[str] = None) -> None:
        self.key = key
        self.options = options
        if options.get("activation_timeout") is not None:
            self.activation_timeout = float(options["activation_timeout"])
        self.timeout = float(options.get("timeout") or 10)
        #: bounded retries of one call (429, 5xx, timeouts); creates are only retried when surely not processed
        self.retry = RetryPolicy(attempts=max(1, int(options.get("max_attempts") or 4)))
        self.credential = credential or (os.environ.get(self.credential_env) if self.credential_env else None)

    @classmethod
    def validate_options(cls, key: str, options: dict[str, Any]) -> None:
        """Raise ConfigError naming the field; no network. Subclasses extend for cross-field rules."""
        known = dict(COMMON_OPTIONS, **cls.options_spec)
        for option, (required, kind) in known.items():
            value = options.get(option)
            if value is None:
                if required:
                    raise ConfigError(key, f"apikeys_provider_options.{option}",
                                      f"required by provider '{cls.name}'")
                continue
            if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
                raise ConfigError(key, f"apikeys_provider_options.{option}",
                                  f"must be of type {kind.__name__}")
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ConfigError(key, f"apikeys_provider_options.{unknown[0]}",
                              f"unknown option for provider '{cls.name}' "
                              f"(known: {', '.join(sorted(known))})")

    def credentials(self) -> list[str]:
        """Every secret this provider holds to manage keys (the management credential, from wherever it
        came): the task's scrubber asks at each scrub, so none of them can leave in a message."""
        return [self.credential] if self.credential else []

    def require_credential(self) -> str:
        if not self.credential:
            where = f"the {self.credential_env} environment variable or " if self.credential_env else ""
            raise ConfigError(self.key, "provider_credential",
                              f"provider '{self.name}' needs a management credential: set {where}provider_credential")
        return self.credential

    def prepare(self, like_key_id: Optional[str]) -> None:
        """Read, before anything is written, what ``create`` will need (e.g. the current key's rights);
        raise here when it cannot be known for sure. Default: nothing to read."""

    @abstractmethod
    def create(self, name: str, like_key_id: Optional[str]) -> NewKey:
        """Create a key named ``name`` with the same rights as ``like_key_id``. Never retried blindly."""

    @abstractmethod
    def revoke(self, key_id: str) -> bool:
        """Revoke a key. True if revoked now, False if it was already gone (which is success)."""

    @abstractmethod
    def accepts(self, secret: str, key_id: str) -> bool:
        """Call the provider with the key: True if accepted, False if rejected as invalid."""

    @abstractmethod
    def find_by_name(self, name: str, created_after: datetime, known_ids: set[str]) -> list[str]:
        """Ids of keys that a run with this ``name`` created (to clean up after a crash)."""

    @abstractmethod
    def usage(self) -> Usage:
        """Keys counted against the provider's cap."""

    def confirm_revoked(self, key_id: str, secret: str) -> None:
        """After ``revoke``: return once the provider rejects ``secret``, or raise ProviderError, so that the
        record forgets a key only when it is dead. Default: the provider's answer to the revoke suffices
        (Stripe's expiry takes minutes to take effect, so its provider polls here)."""

    def deactivate(self, key_id: str) -> None:
        """Reversible soft revoke, where the provider has one (AWS IAM ``Inactive``)."""
        raise ProviderError(f"provider '{self.name}' has no reversible deactivation; revoke the key instead")

    def last_used(self, key_id: str) -> Optional[datetime]:
        """When the key was last used, where the provider's API tells. Default: it does not."""
        raise NotImplementedError(f"provider '{self.name}' has no last-used data in its API")
