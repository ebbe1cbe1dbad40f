# Internal to this collection: not a public API; may change without notice.
"""Evidence that consumers have switched keys: one small class per source, one interface."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from .._errors import ConfigError


@dataclass
class Observation:
    """What a source saw. ``new_seen`` is None when the source cannot tell."""

    source: str
    new_seen: Optional[bool]
    new_last_seen: Optional[datetime] = None
    old_last_seen: Optional[datetime] = None
    detail: str = ""


class Evidence(ABC):
    #: the ``source`` value in ``apikeys_usage_evidence``
    name = "evidence"
    #: option name -> (required, type)
    options_spec: dict[str, tuple[bool, type]] = {}

    def __init__(self, key: str, options: dict[str, Any]) -> None:
        self.key = key
        self.options = options

    @classmethod
    def validate_options(cls, key: str, options: dict[str, Any]) -> None:
        known = dict(cls.options_spec, source=(True, str))
        for option, (required, kind) in known.items():
            value = options.get(option)
            if value is None:
                if required:
                    raise ConfigError(key, f"apikeys_usage_evidence.{option}", f"required by source '{cls.name}'")
            elif not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
                raise ConfigError(key, f"apikeys_usage_evidence.{option}", f"must be of type {kind.__name__}")
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ConfigError(key, f"apikeys_usage_evidence.{unknown[0]}",
                              f"unknown option for source '{cls.name}' (known: {', '.join(sorted(known))})")

    @abstractmethod
    def observe(self, new_key_id: str, old_key_id: str, since: datetime) -> Observation:
        """Has ``new_key_id`` been used since ``since`` (its promotion), and when was ``old_key_id`` last used?"""
