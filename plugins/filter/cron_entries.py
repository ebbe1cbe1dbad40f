# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter apikeys.rotation.cron_entries (documented in cron_entries.yml beside): the keys grouped by their
``apikeys_schedule``, each schedule checked (plugins/module_utils/_schedule.py) before any crontab is written."""
from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.apikeys.rotation.plugins.plugin_utils import _preload

_preload.preload(_preload.FILTERS)  # the collection's modules below, from their byte code (plugin_utils/_preload.py)
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ConfigError
from ansible_collections.apikeys.rotation.plugins.module_utils._schedule import check_schedule
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import parse_duration

#: characters of a schedule, as they appear in an entry's name (a file name: no space, no slash)
_NAME_CHARS = {" ": "_", "*": "x", "/": "~", ",": "+", "@": "at-"}


def entry_name(expression: str) -> str:
    """A stable name for the entry of one schedule, usable as a file name: ``0 3 * * 0`` -> ``rotate-0_3_x_x_0``."""
    name = "".join(_NAME_CHARS.get(char, char) for char in expression)
    return "rotate-" + re.sub(r"[^A-Za-z0-9_.+~-]", "-", name)


def _duration(key: str, variable: str, value: Any) -> Any:
    if value in (None, ""):
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError(key, variable, str(exc)) from None


def cron_entries(keys: list[str], hostvars: Any) -> dict[str, Any]:
    """``{"entries": [{name, schedule, description, keys}], "unscheduled": [keys], "warnings": [...]}``, sorted.

    A bad schedule fails; one whose runs can be further apart than the key's frequency is a warning.
    """
    by_schedule: dict[str, list[str]] = {}
    descriptions: dict[str, str] = {}
    unscheduled = []
    warnings: list[str] = []
    try:
        for key in sorted(set(keys)):
            variables = hostvars[key]
            value = variables.get("apikeys_schedule")
            if value in (None, ""):
                unscheduled.append(key)
                continue
            frequency = _duration(key, "apikeys_rotation_frequency", variables.get("apikeys_rotation_frequency"))
            grace = _duration(key, "apikeys_grace_period", variables.get("apikeys_grace_period"))
            schedule, warning = check_schedule(key, value, frequency, grace)
            if warning:
                warnings.append(warning)
            by_schedule.setdefault(schedule.expression, []).append(key)
            descriptions[schedule.expression] = schedule.description
    except ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None
    entries = [{"name": entry_name(expression), "schedule": expression, "description": descriptions[expression],
                "key_names": members} for expression, members in sorted(by_schedule.items())]
    return {"entries": entries, "unscheduled": unscheduled, "warnings": warnings}


def cron_expression(value: Any, variable: str) -> str:
    """``value`` checked as a cron expression (named ``variable`` in the error) and normalized; '' stays ''."""
    if value in (None, ""):
        return ""
    try:
        schedule = check_schedule("(cron host)", value, None, None)[0]
    except ConfigError as exc:
        raise AnsibleFilterError(str(exc).replace("apikeys_schedule", variable)) from None
    return schedule.expression if schedule is not None else ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cron_entries": cron_entries, "cron_expression": cron_expression}
