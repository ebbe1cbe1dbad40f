"""Inventory mistakes fail before any network call, name the key and the field, echo no value."""
from __future__ import annotations

import pytest

from .conftest import World

CASES = [
    ("unknown provider", {"apikeys_provider": "mailgunzz"}, "apikeys_provider", "unknown provider", "mailgunzz"),
    ("bad duration", {"apikeys_rotation_frequency": "5x"}, "apikeys_rotation_frequency",
     "expected a positive duration", "5x"),
    ("zero duration", {"apikeys_rotation_frequency": "00d"}, "apikeys_rotation_frequency", "zero is not allowed",
     "00d"),
    ("missing vault_path", {"apikeys_vault_path": None}, "apikeys_vault_path", "missing", None),
    ("grace longer than frequency", {"apikeys_grace_period": "45d"}, "apikeys_grace_period",
     "is longer than apikeys_rotation_frequency", "45d"),
    ("unknown provider option", {"apikeys_provider_options": {"api_url": "http://127.0.0.1:9", "colour": "SECRETISH"}},
     "apikeys_provider_options.colour", "unknown option for provider 'sendgrid'", "SECRETISH"),
    ("stripe permission", {"apikeys_provider": "stripe", "apikeys_provider_options": {"permissions": ["SECRETISH x"]}},
     "apikeys_provider_options.permissions", "must be a non-empty list of Stripe permission names", "SECRETISH"),
    ("grace shorter than the consumers' cache", {"apikeys_grace_period": "5m", "apikeys_consumer_cache_ttl": "5m"},
     "apikeys_grace_period", "5m is shorter than apikeys_consumer_cache_ttl 5m + margin 1m = 6m", None),
]
#: the role's first task (all keys at once: docs/fleet.md)
FIRST_TASK = "TASK [apikeys.rotation.rotate : Rotate the keys that are due (plan, create, store, verify, promote; keys concurrently)]"


@pytest.mark.parametrize("case, inventory, field, problem, value", CASES, ids=[c[0] for c in CASES])
def test_inventory_mistake(world: World, case: str, inventory: dict, field: str, problem: str,
                           value: str | None) -> None:
    key = world.key("sendgrid", **inventory)
    calls_before = world.provider_calls(key)

    run = world.playbook("rotate.yml", secret=key.host)

    assert run.rc != 0
    errors = [line for line in run.output.splitlines() if f"key '{key.host}': {field}: " in line]
    assert errors, run.output
    assert problem in errors[0]
    if value is not None:
        assert value not in run.stdout.split(FIRST_TASK)[1]
    assert world.record(key).version == 1, "the record must not change"
    assert world.provider_calls(key) == calls_before, "no call may reach the provider"
