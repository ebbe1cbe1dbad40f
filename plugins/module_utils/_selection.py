# Internal to this collection: not a public API; may change without notice.
"""Which keys a run is for, checked before the play starts, so an unattended run cannot go green by mistake.

* Every term of the ``-e secret=`` pattern must name something: a plain name an existing key or group, a
  wildcard or ``~regex`` term at least one of them. A typo is an error naming the closest names, not a
  warning and an empty, successful play.
* An emergency (``--tags emergency``) over more than one key needs ``-e confirm=<the same pattern>``.
"""
from __future__ import annotations

import difflib
import fnmatch
import re
from typing import Any, Iterable, Optional


class SelectionError(ValueError):
    """The pattern selects nothing (or not what was meant); the message says what to type instead."""


def closest(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``choices`` closest to ``word`` (difflib), best first."""
    return difflib.get_close_matches(word, sorted(set(choices)), n=n, cutoff=0.6)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    near = closest(word, choices)
    return f" (did you mean {' or '.join(repr(c) for c in near)}?)" if near else ""


def _terms(pattern: str) -> list[str]:
    # Ansible splits a host pattern on ',' and, outside regexes, on ':' (a single ':' between names).
    terms: list[str] = []
    for part in pattern.split(","):
        part = part.strip()
        if not part:
            continue
        if part.startswith("~"):
            terms.append(part)
        else:
            terms.extend(t for t in part.split(":") if t)
    return terms


def _matches(term: str, names: set[str]) -> bool:
    if term.startswith("~"):
        try:
            regex = re.compile(term[1:])
        except re.error:
            return False
        return any(regex.search(name) for name in names)
    if any(c in term for c in "*?["):
        return any(fnmatch.fnmatchcase(name, term) for name in names)
    return term in names


def select_keys(pattern: Any, matched: Optional[list[str]], groups: dict[str, list[str]],
                run_tags: Optional[list[str]] = None, confirm: Any = None) -> str:
    """``pattern`` if it is safe to run, else ``SelectionError`` saying why and what to type.

    ``matched`` is what Ansible's own pattern matching selects (``inventory_hostnames`` lookup),
    ``groups`` the inventory's groups (``groups`` magic variable), ``run_tags`` ``ansible_run_tags``.
    """
    if not isinstance(pattern, str) or not pattern.strip():
        raise SelectionError("say which keys: -e secret=<key, group or pattern>")
    selected = sorted(set(matched or []))
    # Every key and group name, only if a term names none of the groups and none of the selected keys: listing
    # every member of every group costs a second or so with 10,000 keys, and `all` or a group never needs it.
    known = set(groups) | set(selected)
    names: Optional[set[str]] = None
    for term in _terms(pattern):
        bare = term.lstrip("!&")
        if not bare or _matches(bare, known):
            continue
        if names is None:
            names = {h for members in groups.values() for h in members or []} | known
        if not _matches(bare, names):
            raise SelectionError(f"-e secret={pattern}: '{bare}' is no key or group of this inventory"
                                 f"{did_you_mean(bare, names)}; nothing was run")
    if not selected:
        raise SelectionError(f"-e secret={pattern} selects no key of this inventory; nothing was run")
    if "emergency" in (run_tags or []) and len(selected) > 1 and confirm != pattern:
        shown = ", ".join(selected[:10]) + (f" and {len(selected) - 10} more" if len(selected) > 10 else "")
        raise SelectionError(f"an emergency over {len(selected)} keys ({shown}) replaces every one of them and "
                             f"revokes their current keys at once: to confirm, run again with -e confirm={pattern}")
    return pattern
