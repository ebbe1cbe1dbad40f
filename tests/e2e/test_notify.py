"""Notifications end to end: a real local receiver plays Slack, Microsoft Teams, PagerDuty and a JSON webhook.

The receiver answers as each service documents (Slack 200 ``ok``, Teams Workflows 202, PagerDuty 202 with
``{"status": "success", "dedup_key": ...}``); it can be told to answer 500 a number of times. Failures on the
bench are real emulator faults, asserted to have fired. Everything the receiver got and the run printed or
wrote is scanned for every secret of the run (the keys, the management credential, the Vault token, the
webhook URLs and the PagerDuty routing key).
"""
from __future__ import annotations

import http.server
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest
import requests

from .conftest import Key, Run, World, clear_faults, faults
from .test_canary import bench_secrets, files_under


@dataclass
class Received:
    service: str
    path: str
    body: dict[str, Any]
    raw: str


@dataclass
class Receiver:
    """Slack, Teams, PagerDuty and a JSON webhook on one local port; remembers every request."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    server: Any = None

    def of(self, service: str) -> list[Received]:
        return [r for r in self.received if r.service == service]

    def fail(self, service: str, times: int) -> None:
        """The next ``times`` requests to ``service`` are answered 500."""
        self.failures[service] = times


def start_receiver() -> Receiver:
    receiver = Receiver()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            service = self.path.strip("/").split("/")[0]
            with lock:
                receiver.received.append(Received(service, self.path, json.loads(raw or "{}"), raw))
                failing = receiver.failures.get(service, 0)
                if failing:
                    receiver.failures[service] = failing - 1
            if failing:
                return self.answer(500, "text/plain", b"rollup_error")
            if service == "slack":
                return self.answer(200, "text/plain", b"ok")
            if service == "pagerduty":
                dedup = json.loads(raw).get("dedup_key") or secrets.token_hex(8)
                return self.answer(202, "application/json", json.dumps(
                    {"status": "success", "message": "Event processed", "dedup_key": dedup}).encode())
            if service == "teams":
                return self.answer(202, "text/plain", b"")
            return self.answer(204, "text/plain", b"")

        def answer(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 # pylint: disable=redefined-builtin
            return

    receiver.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{receiver.server.server_address[1]}"
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver


@pytest.fixture(name="receiver")
def fixture_receiver() -> Iterator[Receiver]:
    receiver = start_receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@dataclass
class Targets:
    env: dict[str, str]
    inventory: list[dict[str, Any]]


def targets(receiver: Receiver, *formats: str, events: list[str] | None = None) -> Targets:
    """Webhook URLs (with a secret token in their path, as Slack's and Teams' are) and a routing key, by env var."""
    env = {"SLACK_WEBHOOK_URL": f"{receiver.url}/slack/services/T0CANARY/B0CANARY/{secrets.token_hex(12)}",
           "TEAMS_WORKFLOW_URL": f"{receiver.url}/teams/workflows/{secrets.token_hex(12)}/triggers/manual/run",
           "JSON_WEBHOOK_URL": f"{receiver.url}/json/{secrets.token_hex(12)}",
           "PD_ROUTING_KEY": "R0" + secrets.token_hex(15)}
    inventory = {"slack": {"format": "slack", "url_env": "SLACK_WEBHOOK_URL"},
                 "teams": {"format": "teams", "url_env": "TEAMS_WORKFLOW_URL"},
                 "json": {"format": "json", "url_env": "JSON_WEBHOOK_URL"},
                 "pagerduty": {"format": "pagerduty", "routing_key_env": "PD_ROUTING_KEY",
                               "url": f"{receiver.url}/pagerduty/v2/enqueue"}}
    chosen = [dict(inventory[f], **({"events": events} if events else {})) for f in formats]
    return Targets(env, chosen)


def fired(world: World) -> int:
    return requests.get(world.bench.sendgrid.url + "/__emulator/faults/fired", timeout=5).json()["total"]


def failing_rotation(world: World, key: Key, run_env: dict[str, str], *args: str) -> Run:
    """A scheduled rotation whose create is refused by SendGrid (a real emulator fault), asserted to have fired.

    The refusal quotes the management credential it was sent, as some real APIs do: the reason a notification
    carries must have it scrubbed.
    """
    before = fired(world)
    faults(world.bench.sendgrid.url, match="POST /v3/api_keys", status=403, count=1, echo_auth=True)
    try:
        run = world.playbook("rotate.yml", *args, secret=key.host, extra_env=run_env)
    finally:
        clear_faults(world.bench.sendgrid.url)
    assert fired(world) == before + 1, "the injected SendGrid fault must have been met"
    assert run.rc != 0 and f"{key.host}: FAILED:" in run.stdout, run.output[-3000:]
    return run


def assert_no_secret(world: World, runs: list[Run], receiver: Receiver, extra: dict[str, str],
                     routing_key: str) -> None:
    found = dict(bench_secrets(world), **extra)
    got = [r.raw for r in receiver.received if r.service != "pagerduty"]
    # the routing key belongs in PagerDuty's routing_key field, and nowhere else
    got += [json.dumps({k: v for k, v in r.body.items() if k != "routing_key"}) for r in receiver.of("pagerduty")]
    assert all(r.body.get("routing_key") == routing_key for r in receiver.of("pagerduty"))
    printed = [run.output for run in runs] + [p.read_text(errors="replace") for run in runs for p in files_under(run.home)]
    for name, secret in found.items():
        assert secret, name
        for text in got:
            assert secret not in text, f"{name} in a notification"
        for text in printed:
            assert secret not in text, f"{name} in the run's output or files"


def test_a_failed_rotation_reaches_slack_teams_and_pagerduty_with_the_key_name(world: World, receiver: Receiver) -> None:
    to = targets(receiver, "slack", "teams", "pagerduty")
    key = world.key("sendgrid", apikeys_notify=to.inventory)

    run = failing_rotation(world, key, to.env, "-vvvv", "--diff")

    assert "task path:" in run.stdout, "verbose output expected"
    (slack,), (teams,), (pd,) = receiver.of("slack"), receiver.of("teams"), receiver.of("pagerduty")
    assert key.host in slack.body["text"] and "failed" in slack.body["text"] and slack.body["blocks"]
    assert slack.path == to.env["SLACK_WEBHOOK_URL"].split(receiver.url, 1)[1]
    card = teams.body["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert key.host in json.dumps(card["content"])
    assert pd.body["event_action"] == "trigger" and pd.body["routing_key"] == to.env["PD_ROUTING_KEY"]
    assert pd.body["dedup_key"] == f"apikeys.rotation/{key.host}/rotation_failed"
    assert pd.body["payload"]["severity"] == "critical" and key.host in pd.body["payload"]["summary"]
    assert "HTTP 403: rejected credentials: " in pd.body["payload"]["summary"], "the reason says what failed"
    assert "<hidden>" in pd.body["payload"]["summary"], "the echoed credential was scrubbed"
    assert "NOT DELIVERED" not in run.stdout
    meta = world.record(key).meta
    assert meta["last_notify_result"] == "delivered" and meta["last_notify_event"] == "rotation_failed"
    assert meta["last_result"] == "failed", "the failure's own metadata is kept"
    assert_no_secret(world, [run], receiver, {"old key": key.secret, "slack url": to.env["SLACK_WEBHOOK_URL"],
                                              "teams url": to.env["TEAMS_WORKFLOW_URL"]}, to.env["PD_ROUTING_KEY"])


def test_a_receiver_down_is_retried_three_times_then_shown_in_the_summary_and_the_metadata(
        world: World, receiver: Receiver) -> None:
    to = targets(receiver, "slack", "pagerduty")
    key = world.key("sendgrid", apikeys_notify=to.inventory)
    receiver.fail("slack", 3)

    run = failing_rotation(world, key, to.env)

    assert len(receiver.of("slack")) == 3, "three attempts, then given up"
    assert len(receiver.of("pagerduty")) == 1, "the other target still got it"
    line = next(line for line in run.stdout.splitlines() if f"{key.host}: FAILED:" in line)
    assert "[rotation_failed notification NOT DELIVERED: slack target 1: HTTP 500: rollup_error after 3 attempts]" in line
    meta = world.record(key).meta
    assert meta["last_notify_result"] == "failed"
    assert meta["last_notify_error"] == "slack target 1: HTTP 500: rollup_error after 3 attempts"
    assert_no_secret(world, [run], receiver, {"old key": key.secret, "slack url": to.env["SLACK_WEBHOOK_URL"]},
                     to.env["PD_ROUTING_KEY"])


def test_emergency_goes_to_the_targets_and_the_deprecated_webhook_and_a_success_resolves_pagerduty(
        world: World, receiver: Receiver) -> None:
    to = targets(receiver, "teams", "pagerduty", events=["rotation_failed", "emergency", "rotated"])
    hook = f"{receiver.url}/json/legacy-{secrets.token_hex(12)}"  # a value in the inventory, a secret too
    key = world.key("sendgrid", apikeys_notify=to.inventory, rotate_webhook_url=hook)

    emergency = world.playbook("rotate.yml", "-vvvv", "--tags", "emergency", secret=key.host, extra_env=to.env)

    assert emergency.rc == 0, emergency.output[-3000:]
    data = world.record(key).data
    (legacy,) = receiver.of("json")
    assert legacy.body["event"] == "emergency" and legacy.body["key"] == key.host
    assert legacy.body["revoked_key_id"] == key.key_id and legacy.body["key_id"] == data["key_id"]
    assert "rotate_webhook_url is deprecated" in emergency.output
    (pd,) = receiver.of("pagerduty")
    assert pd.body["dedup_key"] == f"apikeys.rotation/{key.host}/emergency" and pd.body["payload"]["severity"] == "warning"
    assert len(receiver.of("teams")) == 1

    later = world.playbook("rotate.yml", secret=key.host, rotate_force=True, extra_env=to.env)

    assert later.rc == 0, later.output[-3000:]
    resolve = receiver.of("pagerduty")[-1].body
    assert resolve == {"routing_key": to.env["PD_ROUTING_KEY"], "event_action": "resolve",
                       "dedup_key": f"apikeys.rotation/{key.host}/rotation_failed"}
    assert key.host in json.dumps(receiver.of("teams")[-1].body) and len(receiver.of("json")) == 1
    assert_no_secret(world, [emergency, later], receiver,
                     {"first key": key.secret, "second key": data["key"], "third key": world.record(key).data["key"],
                      "teams url": to.env["TEAMS_WORKFLOW_URL"], "deprecated webhook url": hook},
                     to.env["PD_ROUTING_KEY"])


def test_alert_on_failure_false_or_no_target_sends_nothing(world: World, receiver: Receiver) -> None:
    to = targets(receiver, "slack")
    quiet = world.key("sendgrid", apikeys_notify=to.inventory, apikeys_alert_on_failure=False)
    plain = world.key("sendgrid")
    world.groups["pair"] = [quiet.host, plain.host]
    before = fired(world)
    faults(world.bench.sendgrid.url, match="POST /v3/api_keys", status=403, count=2)
    try:
        run = world.playbook("rotate.yml", secret="pair", extra_env=to.env)
    finally:
        clear_faults(world.bench.sendgrid.url)

    assert fired(world) == before + 2 and run.rc != 0, run.stdout[-4000:]
    assert receiver.received == []
    assert "last_notify_result" not in world.record(quiet).meta


def test_a_postponement_limit_pages_and_a_rollback_is_announced(world: World, receiver: Receiver, consumers: Any) -> None:
    to = targets(receiver, "slack", "pagerduty")
    key = world.key("sendgrid", apikeys_notify=to.inventory, apikeys_grace_period="2s", apikeys_clock_skew="0s",
                    apikeys_usage_evidence={"source": "http", "url": consumers.url + "/key-versions"})
    assert world.playbook("rotate.yml", secret=key.host, extra_env=to.env).rc == 0
    data = world.record(key).data
    world.wait_past(data["previous_key_revocation_at"])
    assert receiver.received == [], "a rotation nobody asked to hear about sends nothing"

    postponed = world.playbook("revoke_after_grace.yml", secret=key.host, revoke_after_grace_postpone_by="1m",
                               revoke_after_grace_max_postponements=1, extra_env=to.env)

    assert postponed.rc != 0 and f"{key.host}: ALERT: revocation postponed 1 times" in postponed.stdout
    (pd,) = receiver.of("pagerduty")
    assert pd.body["dedup_key"] == f"apikeys.rotation/{key.host}/postponement_limit"
    assert pd.body["payload"]["severity"] == "error" and pd.body["payload"]["custom_details"]["postponements"] == "1"
    assert "not seen in use" in pd.body["payload"]["summary"]
    assert world.record(key).meta["last_notify_event"] == "postponement_limit"

    rollback = world.playbook("rollback.yml", secret=key.host, rollback_reason="INC-9 new key never used",
                              extra_env=to.env)

    assert rollback.rc == 0, rollback.output[-3000:]
    slack = receiver.of("slack")[-1].body
    assert slack["text"].startswith(f"[warning] Key {key.host} was rolled back to its previous key: INC-9")
    assert receiver.of("pagerduty")[-1].body["dedup_key"] == f"apikeys.rotation/{key.host}/rollback"
    assert_no_secret(world, [postponed, rollback], receiver,
                     {"first key": key.secret, "second key": data["key"], "slack url": to.env["SLACK_WEBHOOK_URL"]},
                     to.env["PD_ROUTING_KEY"])
