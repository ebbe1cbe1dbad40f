# Internal to this collection: not a public API; may change without notice.
"""Notifications: one event of one key, delivered to the key's targets (Slack, Microsoft Teams, PagerDuty, JSON).

* One small builder per format, each producing the documented shape of its receiver:
  Slack incoming webhooks (``text`` + ``blocks``), a Microsoft Teams Workflows webhook (a ``message`` with an
  Adaptive Card attachment), PagerDuty Events API v2 (``routing_key``, ``event_action``, ``dedup_key``,
  ``payload{summary,source,severity,...}``), and a flat generic JSON object.
* Webhook URLs and routing keys are secrets: read from environment variables named in the target
  (``url_env``, ``routing_key_env``) or given as values (kept in Ansible Vault); never in a message.
  Messages name a target by its ``name`` or ``<format> target <n>``.
* The event is scrubbed by the caller's scrubber before any payload is built, so no payload carries a secret.
* Delivery is retried with a bound: a few attempts, exponential backoff, ``Retry-After`` honoured up to a
  cap, one deadline per target. 429, 5xx and no answer are retried; any other 4xx is final.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional

from ._errors import ConfigError
from ._retry import RetryPolicy, Retryable, call_with_retry

#: event -> (severity, title); severities are PagerDuty's (critical, error, warning, info)
EVENTS: dict[str, tuple[str, str]] = {
    "rotation_failed": ("critical", "{stage} of key {key} failed"),
    "emergency": ("warning", "emergency rotation of key {key}: the compromised key was revoked"),
    "rollback": ("warning", "key {key} was rolled back to its previous key"),
    "postponement_limit": ("error", "revocation of the old key of {key} postponed too many times"),
    "alert": ("warning", "the old key of {key} is still in use after its grace period"),
    "rotated": ("info", "key {key} rotated"),
}
#: what a target receives unless it lists its own ``events``: every event but the successful rotation
DEFAULT_EVENTS = frozenset(EVENTS) - {"rotated"}
FORMATS = ("slack", "teams", "pagerduty", "json")
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
SOURCE = "apikeys.rotation"

# Documented limits (Slack Block Kit, PagerDuty Events API v2, Teams webhooks).
SLACK_TEXT_MAX = 3000           # a section block's text; also used for the top-level fallback ``text``
SLACK_HEADER_MAX = 150          # a header block's plain_text
SLACK_FIELD_MAX = 2000          # one section field
SLACK_FIELDS_MAX = 10           # fields per section
PAGERDUTY_SUMMARY_MAX = 1024
PAGERDUTY_DEDUP_MAX = 255
TEAMS_TEXT_MAX = 4000           # keeps a card far below the 28 KB message limit
JSON_TEXT_MAX = 4000


def truncate(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


# -- the event ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """What happened to one key. Built from texts already scrubbed; carries no secret."""

    name: str
    key: str
    at: str
    reason: str = ""
    stage: str = "rotation"
    provider: str = ""
    details: Mapping[str, str] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return EVENTS[self.name][0]

    @property
    def title(self) -> str:
        text = EVENTS[self.name][1].format(key=self.key, stage=self.stage or "rotation")
        return text[0].upper() + text[1:]

    @property
    def summary(self) -> str:
        return f"{self.title}: {self.reason}" if self.reason else self.title

    def facts(self) -> list[tuple[str, str]]:
        """(label, value) pairs shown by the chat formats: the key, then the details, then when."""
        pairs = [("key", self.key), ("event", self.name), ("severity", self.severity)]
        if self.provider:
            pairs.append(("provider", self.provider))
        pairs += [(k, str(v)) for k, v in sorted(self.details.items()) if v not in (None, "")]
        pairs.append(("at", self.at))
        return pairs


def scrubbed_event(name: str, key: str, at: str, scrub: Callable[[str], str], *, reason: str = "",
                   stage: str = "rotation", provider: str = "", details: Optional[Mapping[str, Any]] = None) -> Event:
    """The event with every text passed through ``scrub`` (the run's scrubber) before any payload sees it."""
    if name not in EVENTS:
        raise ValueError(f"unknown notification event {name!r}")
    clean = {scrub(str(k)): scrub(str(v)) for k, v in (details or {}).items() if v not in (None, "")}
    return Event(name=name, key=scrub(key), at=at, reason=scrub(reason or ""), stage=scrub(stage or "rotation"),
                 provider=scrub(provider or ""), details=clean)


# -- payload builders: one small function per format ------------------------------------------------------------


def _slack_escape(text: str) -> str:
    """Slack reads &, < and > as markup (``<!channel>`` pings everyone): escape them."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(event: Event) -> dict[str, Any]:
    """Slack incoming webhook: ``text`` (the notification's fallback) and ``blocks``."""
    fields = [{"type": "mrkdwn", "text": truncate(f"*{_slack_escape(label)}*\n{_slack_escape(value)}", SLACK_FIELD_MAX)}
              for label, value in event.facts()[:SLACK_FIELDS_MAX]]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(event.title, SLACK_HEADER_MAX)}},
    ]
    if event.reason:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": truncate(_slack_escape(event.reason), SLACK_TEXT_MAX)}})
    blocks.append({"type": "section", "fields": fields})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"{SOURCE} \u00b7 {event.severity}"}]})
    return {"text": truncate(_slack_escape(f"[{event.severity}] {event.summary}"), SLACK_TEXT_MAX), "blocks": blocks}


def teams_payload(event: Event) -> dict[str, Any]:
    """Microsoft Teams (Workflows "when a webhook request is received", or an incoming webhook): an Adaptive Card."""
    color = {"critical": "attention", "error": "attention", "warning": "warning"}.get(event.severity, "default")
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": truncate(event.title, 300), "weight": "Bolder", "size": "Medium",
         "wrap": True, "color": color},
    ]
    if event.reason:
        body.append({"type": "TextBlock", "text": truncate(event.reason, TEAMS_TEXT_MAX), "wrap": True})
    body.append({"type": "FactSet", "facts": [{"title": label, "value": truncate(value, 500)}
                                              for label, value in event.facts()]})
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": body}
    return {"type": "message", "summary": truncate(event.summary, 300),
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                             "content": card}]}


def dedup_key(event: Event) -> str:
    """One open PagerDuty alert per key and kind of problem; a successful rotation resolves the failure's."""
    kind = "rotation_failed" if event.name == "rotated" else event.name
    return truncate(f"{SOURCE}/{event.key}/{kind}", PAGERDUTY_DEDUP_MAX)


def pagerduty_payload(event: Event, routing_key: str) -> dict[str, Any]:
    """PagerDuty Events API v2: a ``trigger`` per problem; ``rotated`` resolves the key's rotation-failed alert."""
    if event.name == "rotated":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key(event)}
    payload: dict[str, Any] = {
        "summary": truncate(event.summary, PAGERDUTY_SUMMARY_MAX),
        "source": f"{SOURCE}/{event.key}",
        "severity": event.severity,
        "timestamp": event.at,
        "class": event.name,
        "custom_details": dict(event.details, key=event.key, reason=event.reason),
    }
    if event.provider:
        payload["component"] = event.provider
    return {"routing_key": routing_key, "event_action": "trigger", "dedup_key": dedup_key(event),
            "client": SOURCE, "payload": payload}


def json_payload(event: Event) -> dict[str, Any]:
    """Generic JSON: flat; the event's details (key ids, rotation id, ...) at the top level."""
    body: dict[str, Any] = dict(event.details)
    body.update(source=SOURCE, event=event.name, severity=event.severity, key=event.key,
                summary=truncate(event.summary, JSON_TEXT_MAX), at=event.at)
    if event.reason:
        body["reason"] = truncate(event.reason, JSON_TEXT_MAX)
    if event.provider:
        body["provider"] = event.provider
    return body


# -- targets --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    format: str
    label: str
    url: str = field(repr=False)
    routing_key: str = field(default="", repr=False)
    events: frozenset[str] = DEFAULT_EVENTS
    deprecated_name: str = ""

    def secrets(self) -> list[str]:
        return [s for s in (self.url, self.routing_key) if s]

    def payload(self, event: Event) -> dict[str, Any]:
        if self.format == "slack":
            return slack_payload(event)
        if self.format == "teams":
            return teams_payload(event)
        if self.format == "pagerduty":
            return pagerduty_payload(event, self.routing_key)
        return json_payload(event)


TARGET_FIELDS = frozenset({"format", "name", "url", "url_env", "routing_key", "routing_key_env", "events",
                           "deprecated_name"})


def check_targets(key: str, raw: Any) -> None:
    """Before a run changes anything: ``apikeys_notify`` is well formed (raises ConfigError naming the entry).

    Environment variables are not read here: one missing at send time is an undelivered notification.
    """
    parse_targets(key, raw, resolve=False)


def _secret_value(key: str, where: str, raw: Mapping[str, Any], name: str, env: Optional[Mapping[str, str]]) -> str:
    """A target's secret, from ``<name>`` or from the environment variable named by ``<name>_env``.

    With ``env`` None (a check before anything runs), a named variable stands for its value, unread.
    """
    given, variable = raw.get(name), raw.get(f"{name}_env")
    if given not in (None, "") and variable not in (None, ""):
        raise ConfigError(key, f"{where}.{name}", f"give {name} or {name}_env, not both")
    if variable not in (None, ""):
        if not isinstance(variable, str):
            raise ConfigError(key, f"{where}.{name}_env", "must be the name of an environment variable")
        if env is None:
            return "https://unread.invalid/" if name == "url" else "unread"
        value = env.get(variable, "")
        if not value:
            raise ConfigError(key, f"{where}.{name}_env", f"the environment variable {variable} is not set "
                              "on the controller")
        return value
    if given not in (None, "") and not isinstance(given, str):
        raise ConfigError(key, f"{where}.{name}", "must be a string")
    return given or ""


def parse_targets(key: str, raw: Any, env: Optional[Mapping[str, str]] = None, *, resolve: bool = True) -> list[Target]:
    """``apikeys_notify`` checked: each problem names the key and the entry, never a value.

    ``resolve=False`` checks the shape only and reads no environment variable (see ``check_targets``).
    """
    env = (os.environ if env is None else env) if resolve else None
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise ConfigError(key, "apikeys_notify", "must be a list of targets, e.g. [{format: slack, url_env: "
                          "SLACK_WEBHOOK_URL}]")
    targets = []
    for number, entry in enumerate(raw):
        where = f"apikeys_notify[{number}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(key, where, "must be a mapping with a format")
        unknown = sorted(set(entry) - TARGET_FIELDS)
        if unknown:
            raise ConfigError(key, f"{where}.{unknown[0]}", "unknown field (known: "
                              + ", ".join(sorted(TARGET_FIELDS - {"deprecated_name"})) + ")")
        kind = entry.get("format")
        if kind not in FORMATS:
            raise ConfigError(key, f"{where}.format", "missing or unknown: one of " + ", ".join(FORMATS))
        label = str(entry.get("name") or f"{kind} target {number + 1}")
        url = _secret_value(key, where, entry, "url", env) or (PAGERDUTY_URL if kind == "pagerduty" else "")
        if not url:
            raise ConfigError(key, f"{where}.url_env", f"a {kind} target needs its webhook URL: url_env (the name of "
                              "an environment variable holding it) or url (kept in Ansible Vault)")
        if not url.startswith(("https://", "http://")):
            raise ConfigError(key, f"{where}.url", "must be an http(s) URL")
        routing_key = ""
        if kind == "pagerduty":
            routing_key = _secret_value(key, where, entry, "routing_key", env)
            if not routing_key:
                raise ConfigError(key, f"{where}.routing_key_env", "a pagerduty target needs its routing key "
                                  "(integration key): routing_key_env or routing_key")
        events = entry.get("events")
        if events in (None, ""):
            chosen = DEFAULT_EVENTS
        elif isinstance(events, list) and all(e in EVENTS for e in events):
            chosen = frozenset(events)
        else:
            raise ConfigError(key, f"{where}.events", "must be a list of: " + ", ".join(EVENTS))
        targets.append(Target(format=kind, label=label, url=url, routing_key=routing_key, events=chosen,
                              deprecated_name=str(entry.get("deprecated_name") or "")))
    return targets


# -- delivery -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotifyPolicy(RetryPolicy):
    """Bounded delivery: ``attempts`` tries within ``max_total`` seconds; a Retry-After waits at most ``retry_after_cap``."""

    attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 8.0
    max_total: float = 30.0
    retry_after_cap: Optional[float] = 20.0


@dataclass
class Answer:
    status: int
    text: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


#: post(url, body, timeout) -> Answer; raises OSError-like exceptions when no answer came
Post = Callable[[str, bytes, float], Answer]


def requests_post(url: str, body: bytes, timeout: float) -> Answer:
    import requests  # pylint: disable=import-outside-toplevel

    response = requests.post(url, data=body, timeout=timeout,
                             headers={"Content-Type": "application/json; charset=utf-8"})
    return Answer(response.status_code, response.text[:2000], dict(response.headers))


class DeliveryFailed(Exception):
    pass


@dataclass
class Delivery:
    target: str
    format: str
    delivered: bool
    attempts: int
    status: Optional[int] = None
    error: str = ""
    dedup_key: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = {"target": self.target, "format": self.format, "delivered": self.delivered, "attempts": self.attempts,
               "status": self.status}
        if self.error:
            out["error"] = self.error
        if self.dedup_key:
            out["dedup_key"] = self.dedup_key
        return out


def _retry_after(headers: Mapping[str, str]) -> Optional[float]:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


def _detail(text: str) -> str:
    """The receiver's own short error text (Slack ``invalid_payload``, PagerDuty's ``message``)."""
    try:
        body = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:200]
    if isinstance(body, dict):
        parts = [str(body.get(k)) for k in ("status", "message", "error") if body.get(k)]
        errors = body.get("errors")
        if isinstance(errors, list):
            parts += [str(e) for e in errors[:3]]
        return "; ".join(parts)[:200]
    return ""


def accepted(target: Target, answer: Answer) -> bool:
    """Did the receiver take it? Slack answers 200 ``ok``, PagerDuty 202, Teams Workflows 202, others 2xx."""
    if target.format == "pagerduty":
        return answer.status == 202
    return 200 <= answer.status < 300


def deliver(target: Target, event: Event, scrub: Callable[[str], str], *, policy: NotifyPolicy = NotifyPolicy(),
            timeout: float = 10.0, post: Post = requests_post, sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], float] = time.monotonic) -> Delivery:
    """POST the event's payload to one target, retried within ``policy``. Never raises; never names the URL."""
    body = json.dumps(target.payload(event), separators=(",", ":")).encode()
    tries = [0]
    last: list[Optional[int]] = [None]

    def attempt() -> Answer:
        tries[0] += 1
        try:
            answer = post(target.url, body, timeout)
        except Exception as exc:  # pylint: disable=broad-except  # the text of a transport error holds the URL
            raise Retryable(DeliveryFailed(f"no answer ({type(exc).__name__})")) from None
        last[0] = answer.status
        if accepted(target, answer):
            return answer
        detail = _detail(answer.text)
        error = DeliveryFailed(f"HTTP {answer.status}" + (f": {detail}" if detail else ""))
        if answer.status == 429 or answer.status >= 500:
            raise Retryable(error, _retry_after(answer.headers))
        raise error

    try:
        answer = call_with_retry(attempt, policy, sleep=sleep, clock=clock)
    except DeliveryFailed as exc:
        times = "1 attempt" if tries[0] == 1 else f"{tries[0]} attempts"
        return Delivery(target.label, target.format, False, tries[0], last[0], scrub(f"{exc} after {times}"))
    dedup = ""
    if target.format == "pagerduty":
        try:
            dedup = str(json.loads(answer.text).get("dedup_key") or "")
        except (ValueError, AttributeError):
            dedup = ""
    return Delivery(target.label, target.format, True, tries[0], answer.status, dedup_key=scrub(dedup))


def notify(event: Event, targets: Iterable[Target], scrub: Callable[[str], str], **options: Any) -> list[Delivery]:
    """Deliver ``event`` to each target that takes it; one Delivery per target tried."""
    return [deliver(target, event, scrub, **options) for target in targets if event.name in target.events]


def failure_text(deliveries: Iterable[Delivery]) -> str:
    """One line for the summary and the record's metadata: which targets did not get it, and why."""
    return "; ".join(f"{d.target}: {d.error}" for d in deliveries if not d.delivered)
