# Internal to this collection: not a public API; may change without notice.
"""Load this collection's controller-side modules from their byte code, before the code that needs them imports them.

Why. ansible-core loads a plugin's own file (an action, a filter, the strategy) with importlib's ``SourceFileLoader``,
which reads its ``__pycache__`` like any installed Python package. The modules a plugin imports by name
(``ansible_collections.apikeys.rotation.plugins.module_utils.*``, ``plugin_utils.*``) are loaded by ansible-core's
collection loader instead, which compiles each from its source in every process and keeps no byte code: a one-key
rotation compiled 77-87 ms of this collection's Python per run, a quarter of what it cost above a bare play
(docs/speed.md).

What. :func:`preload` loads each module of a list the way ansible-core loads a plugin file: ``SourceFileLoader`` for
the module's file (``spec_from_file_location``), registered in ``sys.modules`` under its own name and set on its
package, as an import does. The loader reads ``__pycache__/<name>.<tag>.pyc`` when it matches its source (the
source's hash for the checked-hash files ``make setup`` and the execution environment compile; the modification time
and size for those Python writes itself) and compiles the source otherwise, writing the byte code where Python would
(not with ``PYTHONDONTWRITEBYTECODE``, not where the job cannot write). So a module is always its source.

* A module already imported is left as it is; so is a name that is not a plain ``.py`` module of this collection.
* Each list is in dependency order (a module after those it imports). A module that one imports before its own turn
  is imported the usual way, by ansible-core's loader: slower, never different.
  tests/unit/plugins/test_preload.py fails when a list misses a module (naming an order that works) or is out of order.
* A module whose code raises is removed from ``sys.modules`` and the exception raised, as an import does; the
  modules after it are not loaded.
* ``sys.meta_path`` and the import system are not changed (ansible-test forbids changing ``sys.meta_path[0]``).
* It runs where a plugin starts (its file's import, or the start of api_key_batch's ``run``), before that process
  starts threads that could import the same modules: it takes no import lock.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Iterable

PACKAGE = "ansible_collections.apikeys.rotation.plugins"
#: the collection's plugins directory (this file is plugins/plugin_utils/_preload.py)
PLUGINS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: what the filter plugins import (select_keys, key_outcomes, key_summary, cron_entries, cron_to_rrule): the hosts:
#: expression of every playbook loads them all
FILTERS = (
    "module_utils._errors", "module_utils._lazy", "module_utils._timeutil", "module_utils._schedule",
    "module_utils._outcomes", "module_utils._selection",
)
#: what the fleet strategy, api_key_result and api_key_batch's file import, in ansible-playbook's own process
STRATEGY = (
    "module_utils._errors", "module_utils._budget", "module_utils._timeutil", "module_utils.stores._vault_tokens",
    "module_utils._audit", "plugin_utils._batch", "module_utils._lazy", "module_utils._lazy_classes",
    "module_utils.stores._base", "module_utils.stores._registry",
)
#: what api_key_batch and its steps import, in the worker process that runs the batch (its code is never in
#: ansible-playbook's own process: a process that imported requests, hvac and the rest takes ~45 ms longer to exit);
#: STRATEGY first, which api_key_batch's own file imports
BATCH = STRATEGY + (
    "module_utils._defaults", "module_utils._schedule", "module_utils._argspec", "module_utils._record", "module_utils._info",
    "module_utils._protocol", "module_utils._checkpoint", "module_utils._results", "module_utils.evidence._base",
    "module_utils._retry", "module_utils.providers._base", "module_utils._factory", "module_utils._config",
    "module_utils._scrub", "module_utils._session", "module_utils._rotation", "module_utils._revocation",
    "module_utils._selection", "module_utils._variables", "module_utils._run_facts", "module_utils._http1",
    "module_utils._connections", "module_utils._lean_http", "module_utils._http", "module_utils.stores._vault_auth",
    "module_utils.stores._vault_kv2", "plugin_utils._action", "action.api_key_info", "action.api_key_create",
    "action.vault_key_write", "module_utils._rollback", "module_utils._watch", "action.api_key_watch",
    "action.api_key_revoke", "action.key_usage_check",
)


def preload(names: Iterable[str]) -> None:
    """Load each module of ``names`` (relative to ``plugins``, in dependency order) from its byte code when it has
    not been imported yet (see the module's docstring)."""
    for name in names:
        fullname = f"{PACKAGE}.{name}"
        if fullname in sys.modules:
            continue
        path = os.path.join(PLUGINS, *name.split(".")) + ".py"
        if not os.path.isfile(path) or os.path.isdir(path[:-3]):
            continue  # not a plain module of this collection: the usual import decides
        parent, _dot, child = fullname.rpartition(".")
        package = importlib.import_module(parent)  # packages stay ansible-core's (their __init__ may be synthetic)
        if fullname in sys.modules:  # the package's own code imported it
            continue
        spec = importlib.util.spec_from_file_location(fullname, path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[fullname] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(fullname, None)
            raise
        setattr(package, child, module)
