# Internal to this collection: not a public API; may change without notice.
"""A registry of classes by name, each class's module imported on first use of its name.

The provider, store and evidence registries (``_factory.PROVIDERS``, ``_factory.EVIDENCE``,
``stores._registry.STORES``) are imported by every action, and a key uses one provider, one store and one
evidence source: importing every module (compiled from source by ansible-core's collection loader in each
process) cost a one-key run ~40 ms of CPU. A :class:`LazyClasses` knows its names without importing anything
(``in``, ``sorted``, ``len``: the "known: ..." lists of a config error); ``registry[name]`` imports that one
module the first time (and keeps the class); ``items()`` and ``values()`` import every module (for what needs
them all: tests, docs).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from ._lazy import load

#: the package of this collection's module_utils (absolute: the collection loader imports by full name)
MODULE_UTILS = "ansible_collections.apikeys.rotation.plugins.module_utils"


class LazyClasses(Mapping):
    """name -> class, from a table name -> (module under ``package``, class name)."""

    def __init__(self, package: str, table: dict[str, tuple[str, str]]) -> None:
        self._package = package
        self._table = dict(table)
        self._classes: dict[str, Any] = {}

    def where(self, name: str) -> str:
        """The full module name and class name of ``name``, as ``module:Class`` (KeyError if unknown)."""
        module, attribute = self._table[name]
        return f"{self._package}.{module}:{attribute}"

    def __getitem__(self, name: str) -> Any:
        found = self._classes.get(name)
        if found is None:
            module, attribute = self._table[name]  # an unknown name: KeyError, as a dict
            found = self._classes[name] = getattr(load(f"{self._package}.{module}"), attribute)
        return found

    def __contains__(self, name: object) -> bool:  # Mapping's own would import the module
        return name in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        return f"LazyClasses({sorted(self._table)!r})"
