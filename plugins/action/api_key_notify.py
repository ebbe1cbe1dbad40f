# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for apikeys.rotation.api_key_notify (documented in plugins/modules/api_key_notify.py).

Never fails the task: a notification comes after the change it reports (the key is already replaced, rolled
back, postponed), so a target that does not take it, or a wrong target setting, is returned as
``notify_error``, written to the record's metadata (``last_notify_*``) and shown by the roles' summaries.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.apikeys.rotation.plugins.module_utils import _notify as notify
from ansible_collections.apikeys.rotation.plugins.module_utils._argspec import KEY, SCHEDULE, STORE, spec
from ansible_collections.apikeys.rotation.plugins.module_utils._config import KeyConfig
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ApiKeysError
from ansible_collections.apikeys.rotation.plugins.module_utils._factory import make_provider
from ansible_collections.apikeys.rotation.plugins.module_utils._scrub import Scrubber
from ansible_collections.apikeys.rotation.plugins.module_utils._session import Session
from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import to_iso, utcnow
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._registry import make_store
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_kv2 import HAS_HVAC
from ansible_collections.apikeys.rotation.plugins.plugin_utils._action import KeyAction, scrubbed

TARGET = {
    "format": {"type": "str", "required": True, "choices": list(notify.FORMATS)},
    "name": {"type": "str"},
    "url": {"type": "str", "no_log": True},
    "url_env": {"type": "str", "no_log": False},
    "routing_key": {"type": "str", "no_log": True},
    "routing_key_env": {"type": "str", "no_log": False},
    "events": {"type": "list", "elements": "str", "choices": list(notify.EVENTS)},
    "deprecated_name": {"type": "str"},
}

DEPRECATED_IN = "2.0.0"


class ActionModule(KeyAction):
    # KEY and SCHEDULE as every module (the doc fragment); only name, provider*, vault_path and STORE are used
    ARGSPEC = spec(
        KEY, SCHEDULE, STORE,
        event={"type": "str", "required": True, "choices": list(notify.EVENTS)},
        reason={"type": "str", "default": ""},
        stage={"type": "str", "default": "rotation"},
        details={"type": "dict", "default": {}},
        notify={"type": "list", "elements": "dict", "default": [], "options": TARGET},
        notify_attempts={"type": "int", "default": 3},
        notify_timeout={"type": "float", "default": 10.0},
        notify_deadline={"type": "float", "default": 30.0},
    )

    #: injectable for tests: post, sleep, clock of the delivery
    delivery_options: dict[str, Any] = {}

    def run(self, tmp: Optional[str] = None, task_vars: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        result = ActionBase.run(self, tmp, task_vars)  # pylint: disable=bad-super-call
        scrubber = Scrubber()  # the run's scrubber: every secret this task holds, in every form
        try:
            return scrubbed(scrubber, self.deliver_event(result, task_vars or {}, scrubber))
        except Exception as exc:  # pylint: disable=broad-except  # a bug must not fail a rotation already done
            return self.undelivered(result, f"unexpected {type(exc).__name__} in api_key_notify", "", [])

    def deliver_event(self, result: dict[str, Any], task_vars: dict[str, Any], scrubber: Scrubber) -> dict[str, Any]:
        given = self.arguments(task_vars)
        key = str(given.get("name", "?"))
        validated = ArgumentSpecValidator(self.ARGSPEC).validate(given)
        scrubber.remember_all(getattr(validated, "_no_log_values", ()) or ())
        scrub = scrubber.scrub
        if validated.error_messages:
            return self.undelivered(result, f"key '{key}': {scrub(validated.error_messages[0])}", "", [])
        args = validated.validated_parameters
        scrubber.remember(args.get("provider_credential"))
        scrubber.track(_credentials(key, args))
        try:
            targets = notify.parse_targets(key, args["notify"])
        except ApiKeysError as exc:
            return self.undelivered(result, scrub(str(exc)), "", [])
        for target in targets:
            scrubber.remember_all(target.secrets())
        event_name = args["event"]
        chosen = [t for t in targets if event_name in t.events]
        warnings = [f"key '{key}': {t.deprecated_name} is deprecated and will be removed in {DEPRECATED_IN}; use "
                    f"apikeys_notify: [{{format: json, url_env: ...}}] (docs/notifications.md)"
                    for t in chosen if t.deprecated_name]
        if not chosen:
            return dict(result, changed=False, event=event_name, deliveries=[], notify_error="",
                        msg=f"key '{key}': no notification target takes event {event_name}")
        labels = [t.label for t in chosen]
        if self._task.check_mode:
            return dict(result, changed=False, event=event_name, deliveries=[], notify_error="", would_notify=labels,
                        warnings=warnings, msg=f"key '{key}': would notify {', '.join(labels)} of {event_name}")

        session, metadata_error = self.session(key, args, scrubber)
        event = notify.scrubbed_event(event_name, key, to_iso(utcnow()), scrub, reason=args["reason"],
                                      stage=args["stage"], provider=args.get("provider") or "",
                                      details=args["details"])
        policy = notify.NotifyPolicy(attempts=max(1, args["notify_attempts"]), max_total=max(0.0, args["notify_deadline"]))
        deliveries = notify.notify(event, chosen, scrub, policy=policy, timeout=args["notify_timeout"],
                                   **self.delivery_options)
        failed = notify.failure_text(deliveries)
        if session is not None:
            metadata_error = session.annotate({
                "last_notify_at": event.at, "last_notify_event": event.name,
                "last_notify_result": "failed" if failed else "delivered",
                "last_notify_error": failed[:500] if failed else None,
            }) or ""
        if failed:
            warnings.append(f"key '{key}': notification of {event.name} not delivered: {failed}")
        if metadata_error:
            warnings.append(f"key '{key}': notification outcome not written to the record's metadata: {metadata_error}")
        sent = [d.target for d in deliveries if d.delivered]
        parts = ([f"delivered to {', '.join(sent)}"] if sent else []) + ([f"NOT delivered: {failed}"] if failed else [])
        msg = f"key '{key}': {event.name}: " + "; ".join(parts)
        return dict(result, changed=bool(sent), event=event.name, deliveries=[d.as_dict() for d in deliveries],
                    notify_error=failed, metadata_error=metadata_error, warnings=warnings, msg=scrub(msg),
                    notify_summary=summary_suffix(event.name, failed, metadata_error))

    @staticmethod
    def undelivered(result: dict[str, Any], error: str, metadata_error: str, warnings: list[str]) -> dict[str, Any]:
        """A configuration problem: nothing was sent; reported, not raised (the change it reports is done)."""
        return dict(result, changed=False, deliveries=[], notify_error=error, metadata_error=metadata_error,
                    warnings=warnings + [f"notification not sent: {error}"], msg=f"notification not sent: {error}",
                    notify_summary=summary_suffix("", error, metadata_error))

    def session(self, key: str, args: dict[str, Any], scrubber: Scrubber) -> tuple[Optional[Session], str]:
        """The key's session, for the record's secrets (scrubbing) and its metadata; None and why when unusable."""
        path = str(args.get("vault_path") or "").strip("/")
        if not HAS_HVAC:
            return None, "the hvac Python library is missing on the controller"
        if not path:
            return None, f"key '{key}': apikeys_vault_path is not set"
        try:
            store = make_store(key, args.get("store"), args)
        except ApiKeysError as exc:
            return None, scrubber.scrub(str(exc))
        # not read_only: it writes the metadata (never the record); no audit trail: a notice is not a key event
        session = Session(KeyConfig(name=key, provider=str(args.get("provider") or ""), vault_path=path,
                                    store=store.kind), store,
                          scrubber=scrubber)
        try:
            session.read()  # learns the record's secrets, so that no message can carry one
        except ApiKeysError as exc:
            return session, scrubber.scrub(str(exc))
        return session, ""


def _credentials(key: str, args: dict[str, Any]) -> Callable[[], list[str]]:
    """The provider's management credential as the provider finds it (an option or its environment variable)."""
    try:
        provider = make_provider(key, args.get("provider"), args.get("provider_options") or {},
                                 args.get("provider_credential"))
    except Exception:  # pylint: disable=broad-except  # an unknown or refused provider holds no credential
        return list
    return provider.credentials


def summary_suffix(event: str, error: str, metadata_error: str) -> str:
    """What the roles' summary lines append for this key: empty when the notification went out."""
    if not error:
        return ""
    what = f"{event} notification" if event else "notification"
    kept = "; not recorded in the metadata either: " + metadata_error if metadata_error else ""
    return f" [{what} NOT DELIVERED: {error}{kept}]"
