# Internal to this collection: not a public API; may change without notice.
"""Facts about a store that hold for a whole run, asked once per run instead of once per task.

Which secrets engine is mounted where (and its KV version), and how far the store's clock is from the
controller's, do not change between two tasks of one run; asking them again costs two store requests per
task (a mount lookup and ``sys/health``). They are kept here:

* in this process, for every thread (a batch drives many keys from one task);
* in the run's private directory (``stores/_vault_tokens.run_dir``: ``$XDG_RUNTIME_DIR/apikeys-rotation-<uid>/
  run-<pid>-<start>/``, mode 0700, tied to the ``ansible-playbook`` process), as ``facts.json``, so the run's
  later tasks, each in its own forked worker, read them instead of asking the store.

No secret is kept: mount paths, engine versions, a clock offset in seconds. A fact has an age; the caller
says how old it may be. Outside an Ansible run (unit tests, scripts) only the process keeps them.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from typing import Any, Iterator, Optional

from .stores import _vault_tokens

_LOCK = threading.Lock()
_MEMORY: dict[str, dict[str, list[Any]]] = {}  # scope -> name -> [value, when]
_FILE_NAME = "facts.json"
_ASKING: dict[tuple[str, str], Any] = {}  # (scope, name) -> set once the process's first ask of it is over
ASK_WAIT = 5.0
_SWEPT: list[bool] = []  # finished runs' facts looked for once per process
_MAX_BYTES = 1 << 20


def _run_file() -> Optional[str]:
    """The facts file of this run, or None outside an ansible-playbook run (or without a private directory)."""
    try:
        owner = _vault_tokens.run_owner()
        if not owner:
            return None
        directory = _vault_tokens.run_dir(owner)
    except (OSError, ValueError, ImportError):
        return None
    if not _SWEPT:
        _SWEPT.append(True)
        sweep(os.path.dirname(directory))
    return os.path.join(directory, _FILE_NAME)


def sweep(root: str) -> None:
    """Remove the facts of finished runs under ``root`` (and their directory when nothing else is left in it).

    A run's directory holds its facts and, when it logged in, its token broker's files; the broker removes its
    own when the run ends, this removes ours: the first task of each later run looks once.
    """
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if len(parts) != 3 or parts[0] != "run" or not parts[1].isdigit():
            continue
        if str(_vault_tokens.start_time(int(parts[1]))) == parts[2]:
            continue  # that ansible-playbook still runs
        directory = os.path.join(root, name)
        try:
            leftovers = [n for n in os.listdir(directory) if n in (_FILE_NAME, _FILE_NAME + ".lock")
                         or n.startswith(".facts-")]
        except OSError:
            continue
        for leftover in leftovers:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, leftover))
        with contextlib.suppress(OSError):
            os.rmdir(directory)  # fails while the broker's own files are there: it removes them and the directory


def _read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(_MAX_BYTES) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def get(scope: str, name: str, max_age: Optional[float] = None) -> Any:
    """The fact ``name`` of ``scope`` (e.g. a store's address), or None when unknown or older than ``max_age``."""
    now = time.time()
    with _LOCK:
        found = _MEMORY.get(scope, {}).get(name)
    if found is None:
        path = _run_file()
        entry = _read_file(path).get(scope, {}).get(name) if path else None
        if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], (int, float)):
            found = entry
            with _LOCK:
                _MEMORY.setdefault(scope, {})[name] = list(entry)
    if found is None or (max_age is not None and not 0 <= now - found[1] <= max_age):
        return None
    return found[0]


@contextlib.contextmanager
def asking(scope: str, name: str) -> Iterator[None]:
    """Around looking up a fact and, if missing, asking the store for it. The first thread of the process to do so
    asks; the others wait for it (at most ASK_WAIT seconds), then look again: a batch's workers starting together
    ask once, not once each. Once that first ask is over, nobody waits: a store that failed is asked in parallel."""
    with _LOCK:
        first = (scope, name) not in _ASKING
        if first:
            _ASKING[(scope, name)] = threading.Event()
        done = _ASKING[(scope, name)]
    if not first:
        done.wait(ASK_WAIT)
        yield
        return
    try:
        yield
    finally:
        done.set()


def put(scope: str, name: str, value: Any) -> None:
    """Keep a fact (a JSON value, no secret) for this process and for the run's later tasks."""
    entry = [value, time.time()]
    with _LOCK:
        _MEMORY.setdefault(scope, {})[name] = entry
    _update_file(scope, name, entry)


def forget(scope: str, name: Optional[str] = None) -> None:
    """Drop a fact (or every fact of ``scope``): an error said the store changed."""
    with _LOCK:
        if name is None:
            _MEMORY.pop(scope, None)
        else:
            _MEMORY.get(scope, {}).pop(name, None)
    _update_file(scope, name, None)


def _update_file(scope: str, name: Optional[str], entry: Optional[list[Any]]) -> None:
    """Change one fact in the run's file, atomically (write aside, rename), under the run's facts lock."""
    path = _run_file()
    if path is None:
        return
    try:
        with _vault_tokens.locked(path + ".lock"):
            data = _read_file(path)
            facts = data.setdefault(scope, {})
            if entry is not None and name is not None:
                facts[name] = entry
            elif name is not None:
                facts.pop(name, None)
            else:
                data.pop(scope, None)
            handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".facts-")
            with os.fdopen(handle, "w") as out:
                json.dump(data, out)
            os.replace(temporary, path)
    except OSError:
        return  # the run's later tasks ask the store again: slower, never wrong


def _after_fork() -> None:
    global _LOCK  # pylint: disable=global-statement
    _LOCK = threading.Lock()
    _ASKING.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
