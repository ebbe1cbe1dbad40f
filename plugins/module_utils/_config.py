# Internal to this collection: not a public API; may change without notice.
"""A key's settings from the inventory, checked before any network call.

Messages name the key and the inventory variable, never the value (a value
put in the wrong field may be a secret).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ._defaults import CACHE_MARGIN, CLOCK_SKEW
from ._errors import ConfigError
from ._factory import provider_class
from ._schedule import Schedule, check_schedule
from ._timeutil import format_duration, parse_duration
from .stores._registry import DEFAULT as DEFAULT_STORE, store_class


@dataclass(frozen=True)
class KeyConfig:
    name: str
    provider: str
    vault_path: str
    provider_options: dict[str, Any] = field(default_factory=dict)
    rotation_frequency: Optional[int] = None   # seconds
    grace_period: Optional[int] = None         # seconds
    clock_skew: int = parse_duration(CLOCK_SKEW)  # seconds allowed between the controller's and others' clocks
    schedule: Optional[Schedule] = None        # apikeys_schedule, checked (_schedule.py)
    warnings: tuple[str, ...] = ()             # shown by every task on the key (Ansible shows each once)
    store: str = DEFAULT_STORE                 # apikeys_store: stores/_registry.STORES
    store_options: dict[str, Any] = field(default_factory=dict)  # apikeys_store_options (stores other than Vault)


def _duration(key: str, field_name: str, value: Any, allow_zero: bool = False) -> Optional[int]:
    if value is None or value == "":
        return None
    try:
        return parse_duration(value, allow_zero=allow_zero)
    except ValueError as exc:
        raise ConfigError(key, field_name, str(exc)) from None


def key_config(args: dict[str, Any], need_schedule: bool = False) -> KeyConfig:
    """Build and check a KeyConfig from module arguments (which the roles fill from ``apikeys_*`` variables)."""
    key = args.get("name") or "?"
    cls = provider_class(key, args.get("provider"))
    store = store_class(key, args.get("store"))
    path = store.validate_path(key, args.get("vault_path"))
    store.validate_options(key, args)
    options = args.get("provider_options") or {}
    if not isinstance(options, dict):
        raise ConfigError(key, "apikeys_provider_options", "must be a mapping")
    cls.validate_options(key, options)
    frequency = _duration(key, "apikeys_rotation_frequency", args.get("rotation_frequency"))
    grace = _duration(key, "apikeys_grace_period", args.get("grace_period"))
    skew = _duration(key, "apikeys_clock_skew", args.get("clock_skew") or CLOCK_SKEW, allow_zero=True)
    if need_schedule and frequency is None:
        raise ConfigError(key, "apikeys_rotation_frequency", "missing")
    if need_schedule and grace is None:
        raise ConfigError(key, "apikeys_grace_period", "missing")
    if frequency is not None and grace is not None and grace > frequency:
        raise ConfigError(key, "apikeys_grace_period", "is longer than apikeys_rotation_frequency: the next "
                          "rotation would be due before the old key may be revoked")
    cache_ttl = _duration(key, "apikeys_consumer_cache_ttl", args.get("consumer_cache_ttl"))
    margin = _duration(key, "apikeys_consumer_cache_margin", args.get("consumer_cache_margin") or CACHE_MARGIN,
                       allow_zero=True) or 0
    if cache_ttl is not None and grace is not None and grace < cache_ttl + margin:
        raise ConfigError(key, "apikeys_grace_period", f"{format_duration(grace)} is shorter than "
                          f"apikeys_consumer_cache_ttl {format_duration(cache_ttl)} + margin {format_duration(margin)} "
                          f"= {format_duration(cache_ttl + margin)}: consumers could still hold the old key when it "
                          "is revoked")
    schedule, warning = check_schedule(key, args.get("schedule"), frequency, grace)
    return KeyConfig(name=key, provider=args["provider"], vault_path=path, provider_options=options,
                     rotation_frequency=frequency, grace_period=grace, clock_skew=skew or 0, schedule=schedule,
                     warnings=(warning,) if warning else (), store=store.kind,
                     store_options=dict(args.get("store_options") or {}))
