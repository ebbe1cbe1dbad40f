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
from ansible_collections.apikeys.rotation.plugins.module_utils._audit import AUDIT_VARIABLES, from_task_vars
from ansible_collections.apikeys.rotation.plugins.module_utils._budget import VARIABLE as RATE_LIMIT, attach_budgets
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ApiKeysError
from ansible_collections.apikeys.rotation.plugins.module_utils._factory import make_provider
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.module_utils._scrub import Scrubber
from ansible_collections.apikeys.rotation.plugins.module_utils._variables import check_variables
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._registry import make_store
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_kv2 import HAS_HVAC

#: each action class's (ARGSPEC, validator)
VALIDATORS: dict[type, tuple[dict[str, Any], ArgumentSpecValidator]] = {}


class KeyAction(ActionBase):
    """Validates arguments, builds the key's config, store and provider, runs ``execute``."""

    TRANSFERS_FILES = False
    _requires_connection = False
    #: the argument spec of the module (module_utils._argspec.spec(...))
    ARGSPEC: dict[str, Any] = {}
    #: must rotation_frequency and grace_period be set?
    NEEDS_SCHEDULE = False
    #: documented as changing nothing: the task writes neither the record, nor its metadata, nor an audit line
    #: (as in check mode, which makes every module read-only)
    READ_ONLY = False

    def execute(self, rotation: Rotation, args: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def run(self, tmp: Optional[str] = None, task_vars: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        given = self.arguments(task_vars or {})
        key = str(given.get("name", "?"))
        unknown = check_variables(key, task_vars or {})
        if unknown:
            return dict(result, failed=True, error="config", msg=unknown)
        validated = self.validator().validate(given)
        if validated.error_messages:
            return dict(result, failed=True, error="config", msg=f"key '{key}': {validated.error_messages[0]}")
        args = validated.validated_parameters
        # every no_log value (Vault token, AppRole secret id, provider credential, a key), from the task or the
        # environment, is hidden from everything this task returns, from the moment it is known
        scrubber = Scrubber()
        scrubber.remember_all(getattr(validated, "_no_log_values", ()))
        if not HAS_HVAC:
            return dict(result, failed=True, error="config", msg="apikeys.rotation needs the hvac and requests "
                        "Python libraries on the controller: pip install hvac requests")
        rotation = None
        try:
            cfg = key_config(args, need_schedule=self.NEEDS_SCHEDULE)
            if "apikeys_notify" in (task_vars or {}):  # a bad target is found now, not when the first alert is lost
                # imported here: only keys with notification targets need it (compiled from source in every worker)
                from ansible_collections.apikeys.rotation.plugins.module_utils._notify import check_targets
                check_targets(key, self._templar.template((task_vars or {})["apikeys_notify"]))
            rotation = self.rotation(cfg, args, scrubber, task_vars or {})
            rotation.warnings.extend(cfg.warnings)
            out = self.execute(rotation, args)
        except ApiKeysError as exc:
            if rotation is not None:
                rotation.failed(exc)
            return scrubbed(scrubber, dict(result, failed=True, error=exc.kind, msg=str(exc),
                                           warnings=rotation.warnings if rotation is not None else []))
        except Exception as exc:  # a bug: report it without letting a secret through
            if rotation is not None:
                rotation.failed(exc)
            return scrubbed(scrubber, dict(result, failed=True, error="internal",
                                           msg=f"key '{key}': unexpected {type(exc).__name__}: {exc}",
                                           exception=traceback.format_exc(),
                                           warnings=rotation.warnings if rotation is not None else []))
        diff = out.pop("diff", None)
        if self._task.diff and diff is not None:
            result["diff"] = diff
        if rotation.warnings:
            result["warnings"] = rotation.warnings
        result.update(out)
        return scrubbed(scrubber, result)

    @classmethod
    def validator(cls) -> ArgumentSpecValidator:
        """The class's argument-spec validator, built once (it keeps nothing of what it validates)."""
        found = VALIDATORS.get(cls)
        if found is None or found[0] is not cls.ARGSPEC:
            found = VALIDATORS[cls] = (cls.ARGSPEC, ArgumentSpecValidator(cls.ARGSPEC))
        return found[1]

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

    def rotation(self, cfg: KeyConfig, args: dict[str, Any], scrubber: Optional[Scrubber] = None,
                 task_vars: Optional[dict[str, Any]] = None) -> Rotation:
        # Neither constructor touches the network: clients are made on first use.
        scrubber = scrubber if scrubber is not None else Scrubber()
        provider = make_provider(cfg.name, cfg.provider, cfg.provider_options, args.get("provider_credential"))
        scrubber.track(provider.credentials)  # the management credential, from the task or the environment
        store = make_store(cfg.name, cfg.store, args)
        # apikeys_rate_limit checked now (a bad value stops the task before any request); budgets per endpoint
        attach_budgets(cfg.name, provider, store, self.templated(task_vars or {}, (RATE_LIMIT,)).get(RATE_LIMIT))
        read_only = self.READ_ONLY or bool(self._task.check_mode)
        audit = None
        if not read_only:
            audit = from_task_vars(cfg.name, self.templated(task_vars or {}, AUDIT_VARIABLES), scrubber.scrub)
            audit.preflight()  # an audit file that cannot be written stops the task before it changes anything
        return Rotation(cfg, store, provider, check_mode=bool(self._task.check_mode), owner=args.get("owner"),
                        read_only=read_only, scrubber=scrubber, audit=audit,
                        context={"module": str(self._task.action).rsplit(".", 1)[-1]})

    def templated(self, task_vars: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
        """``task_vars`` with the variables ``names`` rendered (inventory values may be templates)."""
        return dict(task_vars, **{n: self._templar.template(task_vars[n]) for n in names if n in task_vars})


def scrubbed(scrubber: Scrubber, result: dict[str, Any]) -> dict[str, Any]:
    """The task's result with every secret the task holds hidden, at any depth, in any common encoding.

    A result that returns a secret on purpose (api_key_create ``return_secret``) is marked
    ``_ansible_no_log``; its ``secret`` is left as is and Ansible hides the whole result.
    """
    kept = result.pop("secret", None) if result.get("_ansible_no_log") else None
    clean = scrubber.scrub_value(result)
    if kept is not None:
        clean["secret"] = kept
    return clean
