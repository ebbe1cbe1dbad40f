# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters apikeys.rotation.select_keys, key_outcomes and key_summary (documented in the .yml files beside)."""
from __future__ import annotations

import functools
from typing import Any, Callable, Optional, TypeVar

from ansible import context
from ansible.errors import AnsibleFilterError

from ansible_collections.apikeys.rotation.plugins.plugin_utils import _preload

_preload.preload(_preload.FILTERS)  # the collection's modules below, from their byte code (plugin_utils/_preload.py)
from ansible_collections.apikeys.rotation.plugins.module_utils._outcomes import outcomes, summary
from ansible_collections.apikeys.rotation.plugins.module_utils._selection import SelectionError, select_keys

T = TypeVar("T")


def _select_keys(pattern: Any, matched: Optional[list[str]], groups: dict[str, list[str]],
                 run_tags: Optional[list[str]] = None, confirm: Any = None) -> str:
    if context.CLIARGS.get("syntax"):
        # ansible-playbook --syntax-check (and ansible-lint, which runs it) templates ``hosts`` with no
        # inventory: the selection is checked by every real run, not by a syntax check.
        return pattern if isinstance(pattern, str) else ""
    try:
        return select_keys(pattern, matched, groups, run_tags, confirm)
    except SelectionError as exc:
        raise AnsibleFilterError(str(exc)) from None


def _as_filter_errors(function: Callable[..., T]) -> Callable[..., T]:
    """``function`` with a ValueError (an unknown role, a bad argument) raised as AnsibleFilterError, same message."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return function(*args, **kwargs)
        except ValueError as exc:
            raise AnsibleFilterError(str(exc)) from None
    return wrapper


@_as_filter_errors
def _key_outcomes(hosts: list[str], hostvars: Any, role: str, check_mode: bool = False) -> dict[str, Any]:
    return outcomes(hosts, hostvars, role, check_mode)


@_as_filter_errors
def _key_summary(hosts: list[str], hostvars: Any, role: str, check_mode: bool = False) -> list[str]:
    return summary(hosts, hostvars, role, check_mode)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"select_keys": _select_keys, "key_outcomes": _key_outcomes, "key_summary": _key_summary}
