"""The scrubber: a secret is hidden, and so are the encodings under which an API could echo it."""
from __future__ import annotations

import base64
import json
from types import SimpleNamespace
from urllib.parse import quote, quote_plus

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils._http import HttpClient
from ansible_collections.apikeys.rotation.plugins.module_utils._scrub import HIDDEN, Scrubber

SECRET = "SG.abc+def/ghi=jkl&mno?p\"q\\r-0123456789"


@pytest.mark.parametrize("encode", [
    lambda s: s,
    lambda s: quote(s, safe=""),
    quote_plus,
    lambda s: json.dumps(s)[1:-1],
    lambda s: base64.b64encode(s.encode()).decode(),
    lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
])
def test_a_secret_and_its_encodings_are_hidden(encode):
    scrubber = Scrubber()
    scrubber.remember(SECRET)
    text = f"error: got {encode(SECRET)} back"
    assert scrubber.scrub(text) == f"error: got {HIDDEN} back"


@pytest.mark.parametrize("user", ["", "a", "ab", "apikey", "admin@example.com"])
def test_basic_auth_of_any_user_leaves_no_recoverable_secret(user):
    scrubber = Scrubber()
    scrubber.remember(SECRET)
    basic = base64.b64encode(f"{user}:{SECRET}".encode()).decode()
    scrubbed = scrubber.scrub(f"Authorization: Basic {basic}")
    assert HIDDEN in scrubbed
    left = scrubbed.split("Basic ", 1)[1].replace(HIDDEN, "")
    assert len(left) <= 4 * ((len(user) + 1) // 3 + 2)  # at most the user's part and two edge groups remain
    assert basic not in scrubbed


def test_short_values_are_not_scrubbed_and_none_is_ignored():
    scrubber = Scrubber()
    scrubber.remember("abc")
    scrubber.remember(None)
    scrubber.remember("")
    assert scrubber.scrub("abc abc") == "abc abc"


def test_a_tracked_holder_is_asked_at_each_scrub():
    held: list[str] = []
    scrubber = Scrubber()
    scrubber.track(lambda: held)
    assert scrubber.scrub("token s.later-token") == "token s.later-token"
    held.append("s.later-token")                  # e.g. a Vault login during the task
    assert scrubber.scrub("token s.later-token") == f"token {HIDDEN}"
    assert scrubber.holds("s.later-token") and not scrubber.holds("nothing")


def test_a_failing_holder_never_breaks_scrubbing():
    scrubber = Scrubber()
    scrubber.remember("s.known-secret")
    scrubber.track(lambda: 1 / 0)
    assert scrubber.scrub("s.known-secret") == HIDDEN


def test_scrub_value_walks_nested_values_and_keys():
    scrubber = Scrubber()
    scrubber.remember("s.nested-secret")
    value = {"a": ["x s.nested-secret", ("s.nested-secret",)], "s.nested-secret": 3, "n": None}
    assert scrubber.scrub_value(value) == {"a": [f"x {HIDDEN}", (HIDDEN,)], HIDDEN: 3, "n": None}


def test_http_errors_hide_the_credential_headers_the_request_sent():
    admin = "kong-admin-token-canary-0099"
    body = {"message": f"bad token: Kong-Admin-Token: {admin} (Basic {base64.b64encode(f'u:{admin}'.encode()).decode()})"}
    response = SimpleNamespace(status_code=401, json=lambda: body,
                               request=SimpleNamespace(headers={"Kong-Admin-Token": admin, "Accept": "*/*",
                                                                "Content-Type": "application/json"}))
    error = HttpClient.error("http: GET /consumers", response)
    assert admin not in str(error) and "HTTP 401" in str(error) and HIDDEN in str(error)
    assert base64.b64encode(f"u:{admin}".encode()).decode() not in str(error)


def test_http_errors_hide_a_bearer_token_on_its_own():
    token = "SG.bearer-canary-token-12345"
    body = {"errors": [{"message": f"key {token} is not valid"}]}
    response = SimpleNamespace(status_code=401, json=lambda: body,
                               request=SimpleNamespace(headers={"Authorization": f"Bearer {token}"}))
    assert str(HttpClient.error("sendgrid: GET /v3/scopes", response)).endswith(f"key {HIDDEN} is not valid")
