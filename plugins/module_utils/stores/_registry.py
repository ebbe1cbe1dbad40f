# Internal to this collection: not a public API; may change without notice.
"""Which store class serves an ``apikeys_store`` value (as ``_factory.PROVIDERS`` for providers).

Adding a store: one file in this directory (a ``Store`` subclass with ``kind``, ``validate_path``,
``validate_options`` and ``from_options``), its line below (module and class: imported when a key first
uses the store, _lazy_classes.py), and its tests. See docs/stores.md.
"""
from __future__ import annotations

from typing import Any

from .._errors import ConfigError
from .._lazy_classes import MODULE_UTILS, LazyClasses
from ._base import Store

DEFAULT = "vault_kv2"

STORES: LazyClasses = LazyClasses(MODULE_UTILS + ".stores", {
    "vault_kv2": ("_vault_kv2", "VaultKV2Store"),
    "aws_secretsmanager": ("_aws_secretsmanager", "SecretsManagerStore"),
})


def store_class(key: str, name: Any) -> type[Store]:
    """The class of store ``name`` (None or '': the default, Vault/OpenBao KV v2)."""
    if name is None or name == "":
        name = DEFAULT
    if not isinstance(name, str) or name not in STORES:
        raise ConfigError(key, "apikeys_store", f"unknown store (known: {', '.join(sorted(STORES))})")
    return STORES[name]


def make_store(key: str, name: Any, args: dict[str, Any]) -> Store:
    """The store of key ``key``: ``name`` is its ``apikeys_store``, ``args`` the module's validated arguments.

    Every option is checked before any request; a ConfigError names the key and the inventory variable.
    """
    cls = store_class(key, name)
    cls.validate_options(key, args)
    return cls.from_options(key, args)
