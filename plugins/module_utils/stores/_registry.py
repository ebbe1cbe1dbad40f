# Internal to this collection: not a public API; may change without notice.
"""Which store class serves an ``apikeys_store`` value (as ``_factory.PROVIDERS`` for providers).

Adding a store: one file in this directory (a ``Store`` subclass with ``kind``, ``validate_path``,
``validate_options`` and ``from_options``), its line below (module and class: imported when a key first
uses the store, _lazy_classes.py), and its tests. See docs/stores.md.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from .._errors import ConfigError
from .._lazy_classes import MODULE_UTILS, LazyClasses
from ._base import Store

DEFAULT = "vault_kv2"
#: the stores a thread keeps (keep_stores): only threads that asked for it have ``kept``
_THREAD = threading.local()

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
    kept = getattr(_THREAD, "kept", None)
    slot = cls.reuse_slot(args) if kept is not None else None
    if slot is None:
        return cls.from_options(key, args)
    store = kept.get((cls, slot))
    if store is None:
        store = kept[(cls, slot)] = cls.from_options(key, args)
        while len(kept) > _THREAD.limit:
            kept.popitem(last=False)
    else:
        kept.move_to_end((cls, slot))
    return store


def keep_stores(limit: int = 4) -> None:
    """From now on this thread keeps the stores it builds (the ``limit`` latest) and serves a later step whose
    store options are the same (``Store.reuse_slot``) from them. A batch's worker threads ask for it: a key's
    steps, and the next keys with the same store settings, then share one store (its client, its token) instead
    of building one per step (~0.3 ms each: hvac's client and its API classes). A thread runs one step at a time,
    so a kept store is never used by two steps at once."""
    if getattr(_THREAD, "kept", None) is None:
        _THREAD.kept = OrderedDict()
    _THREAD.limit = max(1, int(limit))
