"""Notification payloads against their receivers' documented shapes; targets; bounded delivery with a fake clock."""
from __future__ import annotations

import json
from typing import Any

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils import _notify as notify
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ConfigError

SECRET = "SG.canary-secret-7c1e0b9a"
AT = "2026-11-26T12:00:00Z"


def scrub(text: str) -> str:
    return str(text).replace(SECRET, "<hidden>")


def event(name: str = "rotation_failed", reason: str = "sendgrid: POST /v3/api_keys answered HTTP 500", **kw: Any):
    details = kw.pop("details", {"key_id": "kid-1", "rotation_id": "20261126T120000Z-abc123"})
    return notify.scrubbed_event(name, kw.pop("key", "billing-mailer"), AT, scrub, reason=reason, provider="sendgrid",
                                 details=details, **kw)


# -- the event ---------------------------------------------------------------------------------------------------


def test_every_event_has_a_pagerduty_severity_and_a_title():
    for name, (severity, title) in notify.EVENTS.items():
        assert severity in ("critical", "error", "warning", "info"), name
        assert "{key}" in title, name
    assert notify.DEFAULT_EVENTS == set(notify.EVENTS) - {"rotated"}


def test_the_event_is_scrubbed_before_any_payload_is_built():
    made = event(reason=f"provider echoed {SECRET}", details={"note": f"x{SECRET}y", "key_id": "kid-1", "empty": ""})
    assert SECRET not in made.reason and "<hidden>" in made.reason
    assert made.details == {"note": "x<hidden>y", "key_id": "kid-1"}
    for build in (notify.slack_payload, notify.teams_payload, notify.json_payload,
                  lambda e: notify.pagerduty_payload(e, "R0UTING")):
        assert SECRET not in json.dumps(build(made))


def test_an_unknown_event_is_refused():
    with pytest.raises(ValueError):
        notify.scrubbed_event("exploded", "k", AT, scrub)


# -- Slack --------------------------------------------------------------------------------------------------------


def test_slack_has_text_and_blocks_within_block_kit_limits():
    body = notify.slack_payload(event(reason="x" * 10000, key="k" * 400))
    assert isinstance(body["text"], str) and body["text"] and len(body["text"]) <= notify.SLACK_TEXT_MAX
    header, reason, facts, context = body["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert len(header["text"]["text"]) <= 150
    assert reason["type"] == "section" and len(reason["text"]["text"]) <= 3000
    assert facts["type"] == "section" and 0 < len(facts["fields"]) <= 10
    assert all(f["type"] == "mrkdwn" and len(f["text"]) <= 2000 for f in facts["fields"])
    assert context["type"] == "context"
    assert len(body["blocks"]) <= 50


def test_slack_escapes_its_markup():
    body = notify.slack_payload(event(reason="<!channel> & <@U123>"))
    text = json.dumps(body)
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; &lt;@U123&gt;" in text


def test_slack_carries_the_key_and_the_event():
    body = notify.slack_payload(event())
    assert "billing-mailer" in body["text"] and "[critical]" in body["text"]
    assert any("kid-1" in f["text"] for f in body["blocks"][2]["fields"])


# -- Microsoft Teams -----------------------------------------------------------------------------------------------


def test_teams_is_a_message_with_one_adaptive_card_attachment():
    body = notify.teams_payload(event(reason="r" * 50000))
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert "contentUrl" in attachment and attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    kinds = [b["type"] for b in card["body"]]
    assert kinds == ["TextBlock", "TextBlock", "FactSet"]
    assert all({"title", "value"} == set(f) for f in card["body"][2]["facts"])
    assert len(json.dumps(body).encode()) < 28 * 1024, "Teams webhooks take at most ~28 KB"


# -- PagerDuty ------------------------------------------------------------------------------------------------------


def test_pagerduty_trigger_has_the_required_fields():
    body = notify.pagerduty_payload(event(), "R0UTINGKEY0123456789")
    assert body["routing_key"] == "R0UTINGKEY0123456789"
    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == "apikeys.rotation/billing-mailer/rotation_failed"
    payload = body["payload"]
    assert payload["summary"].startswith("Rotation of key billing-mailer failed: ")
    assert payload["source"] and payload["severity"] == "critical"
    assert payload["timestamp"] == AT and payload["component"] == "sendgrid"
    assert payload["custom_details"]["key_id"] == "kid-1"


def test_pagerduty_limits_summary_and_dedup_key():
    body = notify.pagerduty_payload(event(reason="y" * 5000, key="k" * 600), "R")
    assert len(body["payload"]["summary"]) <= 1024
    assert len(body["dedup_key"]) <= 255
    assert len(json.dumps(body).encode()) < 512 * 1024


@pytest.mark.parametrize("name, severity", [("rotation_failed", "critical"), ("postponement_limit", "error"),
                                            ("alert", "warning"), ("emergency", "warning"), ("rollback", "warning")])
def test_pagerduty_severity_is_one_of_the_four(name, severity):
    assert notify.pagerduty_payload(event(name), "R")["payload"]["severity"] == severity


def test_a_successful_rotation_resolves_the_keys_failure_alert():
    body = notify.pagerduty_payload(event("rotated", reason=""), "R")
    assert body == {"routing_key": "R", "event_action": "resolve",
                    "dedup_key": notify.pagerduty_payload(event(), "R")["dedup_key"]}


# -- generic JSON -----------------------------------------------------------------------------------------------------


def test_json_is_flat_with_the_details_at_the_top():
    body = notify.json_payload(event("rollback", reason="INC-7",
                                     details={"restored_key_id": "kid-0", "revoked_key_id": "kid-1", "key": "spoof"}))
    assert body["key"] == "billing-mailer", "the event's own fields win over details"
    assert body["event"] == "rollback" and body["severity"] == "warning" and body["reason"] == "INC-7"
    assert body["restored_key_id"] == "kid-0" and body["revoked_key_id"] == "kid-1"
    assert body["source"] == "apikeys.rotation" and body["at"] == AT


# -- targets ----------------------------------------------------------------------------------------------------------

ENV = {"SLACK_URL": "https://hooks.slack.com/services/T0/B0/" + SECRET, "PD_KEY": "pdkey-" + SECRET}


def test_targets_from_env_and_values():
    slack, pd, hook = notify.parse_targets("k", [
        {"format": "slack", "url_env": "SLACK_URL"},
        {"format": "pagerduty", "routing_key_env": "PD_KEY", "name": "on-call"},
        {"format": "json", "url": "https://hooks.example.test/x", "events": ["rotated"]},
    ], env=ENV)
    assert slack.url == ENV["SLACK_URL"] and slack.label == "slack target 1" and slack.events == notify.DEFAULT_EVENTS
    assert pd.url == notify.PAGERDUTY_URL and pd.routing_key == ENV["PD_KEY"] and pd.label == "on-call"
    assert hook.events == {"rotated"}
    assert SECRET not in repr(slack) + repr(pd), "a target's repr must not show its secrets"


@pytest.mark.parametrize("raw, field", [
    ("https://hooks.slack.com/x", "apikeys_notify"),
    ([SECRET], "apikeys_notify[0]"),
    ([{"format": "discord", "url": SECRET}], "apikeys_notify[0].format"),
    ([{"format": "slack"}], "apikeys_notify[0].url_env"),
    ([{"format": "slack", "url_env": "NOT_SET_ANYWHERE"}], "apikeys_notify[0].url_env"),
    ([{"format": "slack", "url": SECRET}], "apikeys_notify[0].url"),
    ([{"format": "slack", "url": "https://x", "url_env": "SLACK_URL"}], "apikeys_notify[0].url"),
    ([{"format": "pagerduty"}], "apikeys_notify[0].routing_key_env"),
    ([{"format": "json", "url": "https://x", "events": ["everything"]}], "apikeys_notify[0].events"),
    ([{"format": "json", "url": "https://x", "webhook": SECRET}], "apikeys_notify[0].webhook"),
])
def test_bad_targets_name_the_key_and_the_entry_never_the_value(raw, field):
    with pytest.raises(ConfigError) as caught:
        notify.parse_targets("billing-mailer", raw, env=ENV)
    assert caught.value.field == field and "key 'billing-mailer'" in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("raw, field", [
    ([{"format": "slak", "url_env": "SLACK_URL"}], "apikeys_notify[0].format"),
    ([{"format": "pagerduty"}], "apikeys_notify[0].routing_key_env"),
    ([{"format": "teams", "url_env": "T", "evnts": ["alert"]}], "apikeys_notify[0].evnts"),
])
def test_the_shape_is_checked_before_anything_runs_without_reading_the_environment(raw, field):
    with pytest.raises(ConfigError) as caught:
        notify.check_targets("billing-mailer", raw)
    assert caught.value.field == field
    notify.check_targets("billing-mailer", [{"format": "slack", "url_env": "NOT_SET_HERE"},
                                            {"format": "pagerduty", "routing_key_env": "NOR_THIS"}])


def test_no_targets_is_no_targets():
    assert notify.parse_targets("k", None, env={}) == [] and notify.parse_targets("k", [], env={}) == []


# -- delivery, with a fake clock -----------------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 500.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Receiver:
    """Answers in turn (an Answer, or an exception to raise); records every body and URL."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, url: str, body: bytes, timeout: float) -> notify.Answer:
        self.bodies.append(json.loads(body))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def target(kind: str = "slack", **kw: Any) -> notify.Target:
    return notify.Target(format=kind, label=f"{kind} target 1", url="https://hooks.example.test/" + SECRET,
                         routing_key=kw.pop("routing_key", ""), **kw)


def deliver(receiver: Receiver, fake: FakeTime, kind: str = "slack", **policy: Any) -> notify.Delivery:
    return notify.deliver(target(kind, routing_key="R" if kind == "pagerduty" else ""), event(), scrub,
                          policy=notify.NotifyPolicy(**policy), post=receiver, sleep=fake.sleep, clock=fake.clock)


def test_delivered_at_once():
    fake, receiver = FakeTime(), Receiver(notify.Answer(200, "ok"))
    done = deliver(receiver, fake)
    assert done.delivered and done.attempts == 1 and done.status == 200 and fake.sleeps == []


def test_three_500s_are_three_attempts_with_growing_backoff_then_a_failure():
    fake = FakeTime()
    receiver = Receiver(*[notify.Answer(500, "rollup_error")] * 3)
    done = deliver(receiver, fake)
    assert not done.delivered and done.attempts == 3 and done.status == 500
    assert done.error == "HTTP 500: rollup_error after 3 attempts"
    assert len(fake.sleeps) == 2 and 0.5 <= fake.sleeps[0] <= 1.0 and 1.0 <= fake.sleeps[1] <= 2.0
    assert len(receiver.bodies) == 3


def test_retry_after_is_honoured_up_to_its_cap():
    fake = FakeTime()
    receiver = Receiver(notify.Answer(429, "", {"Retry-After": "7"}), notify.Answer(429, "", {"retry-after": "999"}),
                        notify.Answer(200, "ok"))
    done = deliver(receiver, fake, max_total=100.0)
    assert done.delivered and done.attempts == 3
    assert fake.sleeps == [7.0, 20.0]


def test_the_deadline_stops_the_retries_before_it_is_passed():
    fake = FakeTime()
    receiver = Receiver(notify.Answer(503, "", {"Retry-After": "15"}), notify.Answer(503, "", {"Retry-After": "15"}),
                        notify.Answer(200, "ok"))
    done = deliver(receiver, fake, max_total=20.0)
    assert not done.delivered and done.attempts == 2 and fake.sleeps == [15.0]


def test_a_refusal_is_final():
    fake = FakeTime()
    done = deliver(Receiver(notify.Answer(400, "invalid_payload")), fake)
    assert not done.delivered and done.attempts == 1 and done.error == "HTTP 400: invalid_payload after 1 attempt"
    assert fake.sleeps == []


def test_no_answer_is_retried_and_the_error_never_names_the_url():
    fake = FakeTime()
    url_in_text = ConnectionError(f"HTTPSConnectionPool: Max retries exceeded with url: /{SECRET}")
    done = deliver(Receiver(url_in_text, url_in_text, url_in_text), fake)
    assert not done.delivered and done.attempts == 3 and done.status is None
    assert done.error == "no answer (ConnectionError) after 3 attempts"


def test_pagerduty_wants_202_and_its_dedup_key_is_kept():
    fake = FakeTime()
    answer = notify.Answer(202, json.dumps({"status": "success", "message": "Event processed",
                                            "dedup_key": "apikeys.rotation/billing-mailer/rotation_failed"}))
    done = deliver(Receiver(answer), fake, kind="pagerduty")
    assert done.delivered and done.dedup_key == "apikeys.rotation/billing-mailer/rotation_failed"
    refused = deliver(Receiver(notify.Answer(400, json.dumps({"status": "invalid event", "message": "Event object is "
                                                              "invalid", "errors": ["Length of 'routing_key' is "
                                                                                    "incorrect"]}))), fake, kind="pagerduty")
    assert refused.error.startswith("HTTP 400: invalid event; Event object is invalid; Length of")


def test_notify_sends_only_to_targets_that_take_the_event_and_reports_failures_in_one_line():
    ok, down = Receiver(notify.Answer(200, "ok")), Receiver(*[notify.Answer(502, "")] * 3)
    fake = FakeTime()
    only_rotated = target(events=frozenset({"rotated"}))
    results = [notify.deliver(t, event(), scrub, post=r, sleep=fake.sleep, clock=fake.clock)
               for t, r in ((target(), ok), (target("json"), down)) if "rotation_failed" in t.events]
    assert notify.notify(event(), [only_rotated], scrub, post=Receiver()) == []
    assert [d.delivered for d in results] == [True, False]
    assert notify.failure_text(results) == "json target 1: HTTP 502 after 3 attempts"
