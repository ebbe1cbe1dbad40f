"""plugin_utils/_preload.py: the collection's controller-side modules come from their byte code, and are their source.

Each case runs a fresh interpreter with ansible-core's own collection loader installed (as ansible-playbook has it),
so which loader loaded what is exactly what a run sees.
"""
from __future__ import annotations

import json
import os
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
COLLECTIONS = REPO / ".build" / "collections"
PACKAGE = "ansible_collections.apikeys.rotation.plugins"

# Imports the given entry points the way a run does, with a list preloaded first or with no preload at all, and says, for every module of
# the collection then imported: which loader loaded it, in the order their code finished running (a module finishes
# after those it imports: a dependency order).
PROBE = r"""
import importlib, json, sys
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder, _AnsibleCollectionPkgLoaderBase
_AnsibleCollectionFinder(paths=[sys.argv[1]])._install()
P = "ansible_collections.apikeys.rotation.plugins"
done = []
original = _AnsibleCollectionPkgLoaderBase.exec_module
def recording(self, module):
    original(self, module)
    done.append(module.__name__)
_AnsibleCollectionPkgLoaderBase.exec_module = recording
spec = json.loads(sys.argv[2])
preload = importlib.import_module(P + ".plugin_utils._preload")
if spec["preload"]:
    preload.preload(getattr(preload, spec["preload"]))
else:
    preload.preload = lambda names: None  # the entry points' own calls too: what they import, the usual way
for name in spec["imports"]:
    importlib.import_module(P + "." + name)
if spec.get("action_classes"):
    importlib.import_module(P + ".plugin_utils._batch").action_classes()
entries = {P + "." + name for name in spec["imports"]}
own = {name: type(module.__spec__.loader).__name__ for name, module in sys.modules.items()
       if name.startswith(P + ".") and name not in entries and not hasattr(module, "__path__")
       and name != P + ".plugin_utils._preload"}  # modules, not packages (ansible-core's, __init__ or synthetic)
print(json.dumps({"order": [name[len(P) + 1:] for name in done if name in own], "loaders": own}))
"""

FILTER_IMPORTS = ["filter.cron_entries", "filter.cron_to_rrule", "filter.select_keys"]  # ansible-core loads them all
# ansible-playbook's own process: the strategy, api_key_result (made there), api_key_batch's file (Ansible loads its class)
STRATEGY_IMPORTS = ["strategy.fleet", "action.api_key_result", "action.api_key_batch"]
BATCH_IMPORTS = ["action.api_key_batch"]  # and, in the worker that runs it, what its steps import (action_classes)
LISTS = [("FILTERS", FILTER_IMPORTS, False), ("STRATEGY", STRATEGY_IMPORTS, False), ("BATCH", BATCH_IMPORTS, True)]


def probe(spec: dict, root: Path = COLLECTIONS) -> dict:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-c", PROBE, str(root), json.dumps(spec)], env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("which, imports, action_classes", LISTS)
def test_each_list_holds_every_module_its_entry_points_import(which: str, imports: list[str], action_classes: bool) -> None:
    """Without preload, what the entry points import: the list holds exactly those modules (the next test checks that
    its order loads each after those it imports); on failure, the order in which their code finished is one to use."""
    from ansible_collections.apikeys.rotation.plugins.plugin_utils import _preload
    found = probe({"preload": None, "imports": imports, "action_classes": action_classes})["order"]
    listed = getattr(_preload, which)
    assert len(set(listed)) == len(listed) and set(listed) == set(found), f"_preload.{which} could be {tuple(found)!r}"


@pytest.mark.parametrize("which, imports, action_classes", LISTS)
def test_after_preload_nothing_is_left_to_ansible_cores_loader(which: str, imports: list[str], action_classes: bool) -> None:
    """Each list in an order that loads every module after those it imports: then none is compiled from source."""
    seen = probe({"preload": which, "imports": imports, "action_classes": action_classes})
    assert seen["loaders"] and set(seen["loaders"].values()) == {"SourceFileLoader"}, seen["loaders"]


def small_tree(tmp_path: Path) -> Path:
    """A collection with _preload.py and two modules, module_utils/_first.py and module_utils/_second.py (which
    imports the first)."""
    root = tmp_path / "collections"
    plugins = root / "ansible_collections" / "apikeys" / "rotation" / "plugins"
    (plugins / "plugin_utils").mkdir(parents=True)
    (plugins / "module_utils").mkdir()
    (plugins.parent / "meta").mkdir()
    (plugins.parent / "meta" / "runtime.yml").write_text("requires_ansible: '>=2.17.0'\n")
    shutil.copyfile(REPO / "plugins" / "plugin_utils" / "_preload.py", plugins / "plugin_utils" / "_preload.py")
    (plugins / "module_utils" / "_first.py").write_text("VALUE = 'first, one'\n")
    (plugins / "module_utils" / "_second.py").write_text("from ._first import VALUE\nSECOND = VALUE\n")
    return root


SMALL = r"""
import importlib, json, sys
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
_AnsibleCollectionFinder(paths=[sys.argv[1]])._install()
P = "ansible_collections.apikeys.rotation.plugins"
preload = importlib.import_module(P + ".plugin_utils._preload")
try:
    preload.preload(json.loads(sys.argv[2]))
except Exception as exc:
    print(json.dumps({"raised": repr(exc), "left": sorted(n for n in sys.modules if n.startswith(P + ".module_utils."))}))
    raise SystemExit(0)
second = importlib.import_module(P + ".module_utils._second")
first = sys.modules[P + ".module_utils._first"]
package = sys.modules[P + ".module_utils"]
print(json.dumps({"second": second.SECOND, "first": first.VALUE, "loader": type(first.__spec__.loader).__name__,
                  "cached": first.__cached__, "attribute": package._first is first}))
"""


def small(root: Path, names: list[str], write_bytecode: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run([sys.executable, "-c", SMALL, str(root), json.dumps(names)], env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_preloaded_module_is_its_source_even_when_its_byte_code_is_stale(tmp_path: Path) -> None:
    root = small_tree(tmp_path)
    first = root / "ansible_collections" / "apikeys" / "rotation" / "plugins" / "module_utils" / "_first.py"
    py_compile.compile(str(first), invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH, doraise=True)
    seen = small(root, ["module_utils._first", "module_utils._second"])
    assert seen == {"second": "first, one", "first": "first, one", "loader": "SourceFileLoader",
                    "cached": seen["cached"], "attribute": True}
    assert Path(seen["cached"]).is_file()  # the checked-hash file make setup writes is the one read
    first.write_text("VALUE = 'first, two'\n")  # same size, same second: only the hash tells them apart
    assert small(root, ["module_utils._first", "module_utils._second"])["second"] == "first, two"


def test_byte_code_is_written_only_where_python_would(tmp_path: Path) -> None:
    root = small_tree(tmp_path)
    cache = root / "ansible_collections" / "apikeys" / "rotation" / "plugins" / "module_utils" / "__pycache__"
    small(root, ["module_utils._first"])  # PYTHONDONTWRITEBYTECODE=1
    assert not cache.exists()
    small(root, ["module_utils._first"], write_bytecode=True)
    assert [p.name for p in cache.iterdir()] == [f"_first.{sys.implementation.cache_tag}.pyc"]


def test_out_of_order_or_unknown_names_change_nothing_but_speed(tmp_path: Path) -> None:
    root = small_tree(tmp_path)
    # _second first: it imports _first the usual way (ansible-core's loader); _first is then skipped
    seen = small(root, ["module_utils._second", "module_utils._first", "module_utils._absent", "module_utils"])
    assert (seen["second"], seen["first"], seen["attribute"]) == ("first, one", "first, one", True)
    assert seen["loader"].startswith("_AnsibleCollection")


def test_a_module_that_raises_is_not_left_half_loaded(tmp_path: Path) -> None:
    root = small_tree(tmp_path)
    bad = root / "ansible_collections" / "apikeys" / "rotation" / "plugins" / "module_utils" / "_first.py"
    bad.write_text("raise ImportError('no hvac here')\n")
    seen = small(root, ["module_utils._first", "module_utils._second"])
    assert seen == {"raised": "ImportError('no hvac here')", "left": []}
