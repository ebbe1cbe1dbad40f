# Internal to this collection: not a public API; may change without notice.
"""Optional libraries found without importing them, and imported on first use (once per process).

Every run imports the modules that use boto3, prometheus_client or the cron libraries (the argument
spec, the store and provider registries, the metrics action), and most runs use none of them: importing
them costs ~20-200 ms of CPU each. A module asks :func:`available` at import time (a search of
``sys.path``, nothing imported) and calls :func:`load` where the library is needed.

``except`` clauses must name a class even before the library is loaded: :func:`placeholder` makes one
exception class per name (nothing raises it, so nothing matches it), and :func:`bind` replaces the
placeholders held by a namespace class with the library's own classes when it is loaded.
"""
from __future__ import annotations

import functools
import importlib
from importlib.util import find_spec
from types import ModuleType
from typing import Any


@functools.lru_cache(maxsize=None)
def available(name: str) -> bool:
    """Can the top-level package ``name`` be imported? Found on ``sys.path``, not imported (a dotted name would
    import its parent package: ask for the top-level one)."""
    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):  # a broken installation, or a module without a spec
        return False


@functools.lru_cache(maxsize=None)
def load(name: str) -> ModuleType:
    """The module ``name`` (dotted names allowed), imported the first time it is asked for."""
    return importlib.import_module(name)


class NotLoaded(Exception):
    """Base of the placeholders: stands for a library's exception class until the library is loaded."""


def placeholder(name: str) -> Any:
    """A new placeholder exception class for the library class ``name``.

    One class per name, as the library's are distinct classes: two ``except`` clauses naming one shared
    class are a duplicate-except for pylint (ansible-test sanity).
    """
    return type(f"{name}NotLoaded", (NotLoaded,), {})


def bind(names: Any, module: str) -> None:
    """Replace each placeholder held as a class attribute of ``names`` with ``module``'s class of that name.

    Imports ``module`` on the first call; later calls return at once. The attributes are all set before
    ``names`` is marked bound, so a thread that sees it bound sees every real class; two threads binding at
    once set the same classes (no lock: nothing to reset in a forked child).
    """
    if getattr(names, "_bound", False):
        return
    loaded = load(module)
    for attribute, value in list(vars(names).items()):
        if isinstance(value, type) and issubclass(value, NotLoaded):
            setattr(names, attribute, getattr(loaded, attribute))
    setattr(names, "_bound", True)
