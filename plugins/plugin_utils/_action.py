# Internal to this collection: not a public API; may change without notice.
"""The base of every action plugin here: the module's work, run in the controller's process.

One Python process per task costs ~250 ms; an action plugin ~12 ms. The
public modules are documentation files; their work is done here, over the
same module_utils, with one shared argument spec and one error path.
"""
from __future__ import annotations

import traceback
from typing import Any, Optional

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.apikeys.rotation.plugins.module_utils._config import KeyConfig, key_config
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ApiKeysError, ProviderError
from ansible_collections.apikeys.rotation.plugins.module_utils._factory import make_provider
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.module_utils._variables import check_variables
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_kv2 import HAS_HVAC, \
    vault_store_from_options


class KeyAction(ActionBase):
    """Validates arguments, builds the key's config, store and provider, runs ``execute``."""

    TRANSFERS_FILES = False
    _requires_connection = False
    #: the argument spec of the module (module_utils._argspec.spec(...))
    ARGSPEC: dict[str, Any] = {}
    #: must rotation_frequency and grace_period be set?
    NEEDS_SCHEDULE = False

    def execute(self, rotation: Rotation, args: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def run(self, tmp: Optional[str] = None, task_vars: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        given = self.arguments(task_vars or {})
        key = str(given.get("name", "?"))
        unknown = check_variables(key, task_vars or {})
        if unknown:
            return dict(result, failed=True, error="config", msg=unknown)
        validated = ArgumentSpecValidator(self.ARGSPEC).validate(given)
        if validated.error_messages:
            return dict(result, failed=True, error="config", msg=f"key '{key}': {validated.error_messages[0]}")
        args = validated.validated_parameters
        if not HAS_HVAC:
            return dict(result, failed=True, error="config", msg="apikeys.rotation needs the hvac and requests "
                        "Python libraries on the controller: pip install hvac requests")
        rotation = None
        try:
            cfg = key_config(args, need_schedule=self.NEEDS_SCHEDULE)
            rotation = self.rotation(cfg, args)
            out = self.execute(rotation, args)
        except ApiKeysError as exc:
            if rotation is not None and isinstance(exc, ProviderError) and not self._task.check_mode:
                rotation.record_failure(exc)
            scrub = rotation.scrub if rotation is not None else str
            return dict(result, failed=True, error=exc.kind, msg=scrub(str(exc)),
                        warnings=rotation.warnings if rotation is not None else [])
        except Exception as exc:  # a bug: report it without letting a secret through
            scrub = rotation.scrub if rotation is not None else str
            return dict(result, failed=True, error="internal",
                        msg=f"key '{key}': unexpected {type(exc).__name__}: {scrub(str(exc))}",
                        exception=scrub(traceback.format_exc()))
        diff = out.pop("diff", None)
        if self._task.diff and diff is not None:
            result["diff"] = diff
        if rotation.warnings:
            result["warnings"] = rotation.warnings
        result.update(out)
        return result

    def arguments(self, task_vars: dict[str, Any]) -> dict[str, Any]:
        """The task's arguments; each one not given falls back to the key's inventory variable.

        ``name`` falls back to ``inventory_hostname``, any other option ``X`` to ``apikeys_X``,
        so roles need not repeat the mapping and one inventory drives every module.
        """
        args = dict(self._task.args)
        for option in self.ARGSPEC:
            variable = "inventory_hostname" if option == "name" else f"apikeys_{option}"
            if option not in args and variable in task_vars:
                args[option] = self._templar.template(task_vars[variable])
        return args

    def rotation(self, cfg: KeyConfig, args: dict[str, Any]) -> Rotation:
        # Neither constructor touches the network: clients are made on first use.
        provider = make_provider(cfg.name, cfg.provider, cfg.provider_options, args.get("provider_credential"))
        store = vault_store_from_options(cfg.name, args)
        return Rotation(cfg, store, provider, check_mode=bool(self._task.check_mode), owner=args.get("owner"))
