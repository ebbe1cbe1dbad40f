# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for apikeys.rotation.api_key_report (documented in plugins/modules/api_key_report.py).

Runs once for the whole play (``BYPASS_HOST_LOOP``), on the controller: the keys' ``api_key_info``
results in, three files out (HTML, JSON, text), written atomically; check mode writes nothing.
"""
from __future__ import annotations

import os
import traceback
from typing import Any, Optional

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.apikeys.rotation.plugins.module_utils import _report as report
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import parse_duration, utcnow

FILES = {"html": "report.html", "json": "report.json", "text": "report.txt"}
#: the calendar draws one square per day: a year at most
MAX_HORIZON_DAYS = 366


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    BYPASS_HOST_LOOP = True
    _requires_connection = False

    ARGSPEC: dict[str, Any] = {
        "keys": {"type": "dict", "required": True},
        "output_dir": {"type": "path", "default": "apikeys-report"},
        "horizon_days": {"type": "int", "default": report.HORIZON_DAYS},
        "chart_limit": {"type": "int", "default": 200},
        "title": {"type": "str", "default": "API key fleet report"},
        "stuck_after": {"type": "str", "default": "1h"},
    }

    def run(self, tmp: Optional[str] = None, task_vars: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        validated = ArgumentSpecValidator(self.ARGSPEC).validate(dict(self._task.args))
        if validated.error_messages:
            return dict(result, failed=True, error="config", msg=f"api_key_report: {validated.error_messages[0]}")
        args = validated.validated_parameters
        for option, most in (("horizon_days", MAX_HORIZON_DAYS), ("chart_limit", None)):
            if args[option] < 1 or (most is not None and args[option] > most):
                limits = f"between 1 and {most}" if most else "at least 1"
                return dict(result, failed=True, error="config", msg=f"api_key_report: {option} must be {limits}")
        try:
            args["stuck_after"] = parse_duration(args["stuck_after"], allow_zero=True)
        except ValueError as exc:
            return dict(result, failed=True, error="config", msg=f"api_key_report: stuck_after: {exc}")
        try:
            return dict(result, **self.report(args))
        except OSError as exc:
            return dict(result, failed=True, error="output", msg=f"api_key_report: cannot write the report under "
                        f"{args['output_dir']}: {exc.strerror or exc}")
        except Exception as exc:  # a bug: say so; the input holds no secret (api_key_info results)
            return dict(result, failed=True, error="internal", msg=f"api_key_report: unexpected {type(exc).__name__}: "
                        f"{exc}", exception=traceback.format_exc())

    def report(self, args: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        keys = report.rows(args["keys"], now, args["stuck_after"])
        contents = report.render(keys, now, title=args["title"], horizon_days=args["horizon_days"],
                                 chart_limit=args["chart_limit"])
        directory = os.path.abspath(os.path.expanduser(args["output_dir"]))
        paths = {kind: os.path.join(directory, name) for kind, name in FILES.items()}
        if not self._task.check_mode:
            os.makedirs(directory, mode=0o755, exist_ok=True)
            for kind, path in paths.items():
                report.write_atomic(path, contents[kind])
        counts = report.summary(keys, now, args["horizon_days"])
        verb = "would write" if self._task.check_mode else "wrote"
        return {"changed": True, "paths": paths, "summary": counts, "table": contents["text"].rstrip("\n").split("\n"),
                "msg": f"{verb} the report of {counts['keys']} keys to {paths['html']}, {paths['json']}, {paths['text']}"}
