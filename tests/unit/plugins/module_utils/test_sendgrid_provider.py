"""SendGridProvider against the bench's SendGrid emulator, served for real on 127.0.0.1.

A SendGrid key created without ``scopes`` has Full Access (SendGrid's documentation, and the emulator's
behaviour): the provider must never send such a create, must refuse before the create whenever it cannot
tell the current key's scopes for sure, and must revoke a new key that SendGrid gave other scopes than asked.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import pytest
import requests

REPO = Path(__file__).resolve().parents[4]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# pylint: disable=wrong-import-position
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import (  # noqa: E402
    ConfigError, ProviderError)
from ansible_collections.apikeys.rotation.plugins.module_utils.providers._sendgrid import (  # noqa: E402
    SendGridProvider)
from tests.bench.emulators import serve_in_thread  # noqa: E402
from tests.bench.emulators._base import Request, Response  # noqa: E402
from tests.bench.emulators.sendgrid import SendGridEmulator  # noqa: E402

KEY = "mailer"
OLD_SCOPES = ["mail.send", "user.profile.read"]
SCOPES_OPTION = "apikeys_provider_options.scopes"


class Emulator(SendGridEmulator):
    """The bench's emulator, plus a misbehaving provider on demand; remembers the secrets it showed."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.extra_scopes: list[str] = []       # granted on create beyond what was asked
        self.drop_scopes: list[str] = []        # asked for but not granted
        self.omit_scopes_in_answer = False
        self.get_answer: Any = None             # a scripted answer to GET /v3/api_keys/{id}
        self.create_bodies: list[Any] = []

    def _create(self, req: Request) -> Response:
        self.create_bodies.append(req.json())
        return super()._create(req)

    def _new_key(self, name: str, scopes: list[str]) -> dict[str, Any]:
        granted = [s for s in scopes if s not in self.drop_scopes] + self.extra_scopes
        made = super()._new_key(name, granted)
        self.secrets.append(made["api_key"])
        if self.omit_scopes_in_answer:
            del made["scopes"]
        return made

    def _get(self, req: Request) -> Response:
        if self.get_answer is not None:
            return Response(200, self.get_answer)
        return super()._get(req)


class Bench:
    def __init__(self, running: Any) -> None:
        self.running = running
        self.app: Emulator = running.app
        self.url: str = running.url

    def seed(self, name: str = KEY, scopes: Optional[list[str]] = None) -> str:
        made = requests.post(self.url + "/__emulator/seed", json={"name": name, "scopes": scopes or OLD_SCOPES},
                             timeout=5).json()
        return str(made["api_key_id"])

    def config(self, **settings: Any) -> None:
        requests.post(self.url + "/__emulator/config", json=settings, timeout=5).raise_for_status()

    def calls(self) -> dict[str, int]:
        calls: dict[str, int] = requests.get(self.url + "/__emulator/calls", timeout=5).json()
        return calls

    def keys(self) -> dict[str, dict[str, Any]]:
        return {k["id"]: k for k in requests.get(self.url + "/__emulator/keys", timeout=5).json()}

    def alive(self) -> set[str]:
        return {key_id for key_id, k in self.keys().items() if not k["revoked"]}

    def provider(self, **options: Any) -> SendGridProvider:
        options = dict({"api_url": self.url, "max_attempts": 1, "timeout": 5}, **options)
        SendGridProvider.validate_options(KEY, options)
        return SendGridProvider(KEY, options, credential=self.app.admin_key)


@pytest.fixture(name="sg")
def fixture_sg():
    with serve_in_thread(Emulator()) as running:
        yield Bench(running)


def assert_no_create(sg: Bench, alive_before: set[str]) -> None:
    assert "POST /v3/api_keys" not in sg.calls()
    assert sg.alive() == alive_before


def assert_names_key_and_option(message: str) -> None:
    assert f"key '{KEY}'" in message
    assert SCOPES_OPTION in message


# -- the scopes the new key gets --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["documented", "flat"])
def test_the_current_keys_scopes_are_copied_from_either_documented_shape(sg: Bench, shape: str) -> None:
    old = sg.seed()
    sg.config(get_key_shape=shape)
    new = sg.provider().create("apikeys-mailer-r1", like_key_id=old)
    assert new.key_id != old and new.secret in sg.app.secrets
    made = sg.keys()[new.key_id]
    assert (made["name"], sorted(made["scopes"]), made["revoked"]) == ("apikeys-mailer-r1", OLD_SCOPES, False)
    assert sg.calls()[f"GET /v3/api_keys/{old}"] == 1 and sg.calls()["POST /v3/api_keys"] == 1


def test_the_scopes_option_is_used_exactly_and_the_current_key_is_not_read(sg: Bench) -> None:
    old = sg.seed()
    new = sg.provider(scopes=["mail.send", "mail.send"]).create("apikeys-mailer-r1", like_key_id=old)
    assert sg.keys()[new.key_id]["scopes"] == ["mail.send"]
    assert f"GET /v3/api_keys/{old}" not in sg.calls()


def test_an_answer_in_an_unknown_shape_is_refused_before_any_create(sg: Bench) -> None:
    old = sg.seed()
    sg.config(get_key_shape="unknown")
    before = sg.alive()
    with pytest.raises(ProviderError) as info:
        sg.provider().create("apikeys-mailer-r1", like_key_id=old)
    assert_names_key_and_option(str(info.value))
    assert "shape" in str(info.value) and old in str(info.value)
    assert_no_create(sg, before)


@pytest.mark.parametrize("answer", [
    pytest.param({"result": [{"api_key_id": "{id}", "name": KEY}]}, id="documented-without-scopes"),
    pytest.param({"result": [{"api_key_id": "{id}", "name": KEY, "scopes": []}]}, id="documented-empty-scopes"),
    pytest.param({"result": [{"api_key_id": "{id}", "scopes": "mail.send"}]}, id="scopes-a-string"),
    pytest.param({"result": [{"api_key_id": "{id}", "scopes": ["mail.send", 7]}]}, id="scopes-not-strings"),
    pytest.param({"result": [{"api_key_id": "{id}", "scopes": ["mail.send", ""]}]}, id="scopes-blank-name"),
    pytest.param({"result": [{"api_key_id": "someone-else", "scopes": ["mail.send"]}]}, id="another-keys-scopes"),
    pytest.param({"result": []}, id="documented-empty-result"),
    pytest.param({"result": None}, id="result-null"),
    pytest.param({"result": {"api_key_id": "{id}", "scopes": ["mail.send"]}}, id="result-an-object"),
    pytest.param({"api_key_id": "{id}", "name": KEY}, id="flat-without-scopes"),
    pytest.param({"api_key_id": "{id}", "scopes": []}, id="flat-empty-scopes"),
    pytest.param({"api_key_id": "someone-else", "scopes": ["mail.send"]}, id="flat-another-key"),
    pytest.param({}, id="empty-object"),
    pytest.param([{"api_key_id": "{id}", "scopes": ["mail.send"]}], id="a-list"),
    pytest.param("mail.send", id="a-string"),
])
def test_no_create_unless_the_scopes_are_known_for_sure(sg: Bench, answer: Any) -> None:
    old = sg.seed()
    sg.app.get_answer = _fill(answer, old)
    before = sg.alive()
    with pytest.raises(ProviderError) as info:
        sg.provider().create("apikeys-mailer-r1", like_key_id=old)
    assert_names_key_and_option(str(info.value))
    assert_no_create(sg, before)


def _fill(answer: Any, key_id: str) -> Any:
    if isinstance(answer, dict):
        return {k: _fill(v, key_id) for k, v in answer.items()}
    if isinstance(answer, list):
        return [_fill(v, key_id) for v in answer]
    return key_id if answer == "{id}" else answer


def test_without_a_current_key_and_without_the_option_nothing_is_sent(sg: Bench) -> None:
    before = sg.alive()
    for like in (None, ""):
        with pytest.raises(ConfigError) as info:
            sg.provider().create("apikeys-mailer-r1", like_key_id=like)
        assert info.value.field == SCOPES_OPTION and info.value.key == KEY
        assert "Full Access" in str(info.value)
    assert sg.calls() == {}
    assert sg.alive() == before


@pytest.mark.parametrize("scopes", [[], [""], ["mail.send", 3], [None]])
def test_a_bad_scopes_option_is_refused_before_any_network_call(sg: Bench, scopes: list[Any]) -> None:
    with pytest.raises(ConfigError) as info:
        SendGridProvider.validate_options(KEY, {"scopes": scopes})
    assert info.value.field == SCOPES_OPTION
    provider = SendGridProvider(KEY, {"api_url": sg.url, "scopes": scopes}, credential=sg.app.admin_key)
    with pytest.raises(ConfigError):  # and create refuses it too, should validation have been skipped
        provider.create("apikeys-mailer-r1", like_key_id=sg.seed())
    assert sg.calls() == {}


# -- after the create: the scopes SendGrid actually gave ---------------------------------------------------

def test_a_key_given_more_scopes_than_asked_is_revoked_at_once(sg: Bench) -> None:
    old = sg.seed()
    sg.app.extra_scopes = ["api_keys.delete", "api_keys.create"]
    with pytest.raises(ProviderError) as info:
        sg.provider().create("apikeys-mailer-r1", like_key_id=old)
    message = str(info.value)
    (new_id,) = [k for k, v in sg.keys().items() if v["name"] == "apikeys-mailer-r1"]
    assert sg.keys()[new_id]["revoked"] is True
    assert sg.alive() == {k for k, v in sg.keys().items() if v["name"] in ("bench-admin", KEY)}
    assert f"key '{KEY}'" in message and "other scopes than asked" in message and new_id in message
    assert "api_keys.create, api_keys.delete" in message and "revoked" in message
    assert sg.app.secrets and all(secret not in message and secret.rsplit(".", 1)[1] not in message
                                  for secret in sg.app.secrets)


def test_a_key_given_fewer_scopes_than_asked_is_revoked_at_once(sg: Bench) -> None:
    old = sg.seed()
    sg.app.drop_scopes = ["user.profile.read"]
    with pytest.raises(ProviderError) as info:
        sg.provider().create("apikeys-mailer-r1", like_key_id=old)
    (new_id,) = [k for k, v in sg.keys().items() if v["name"] == "apikeys-mailer-r1"]
    assert sg.keys()[new_id]["revoked"] is True
    assert "not granted: user.profile.read" in str(info.value)
    assert all(secret not in str(info.value) for secret in sg.app.secrets)


def test_a_create_answer_without_scopes_revokes_the_new_key(sg: Bench) -> None:
    old = sg.seed()
    sg.app.omit_scopes_in_answer = True
    with pytest.raises(ProviderError) as info:
        sg.provider().create("apikeys-mailer-r1", like_key_id=old)
    (new_id,) = [k for k, v in sg.keys().items() if v["name"] == "apikeys-mailer-r1"]
    assert sg.keys()[new_id]["revoked"] is True
    assert new_id in str(info.value) and "does not say which scopes" in str(info.value)
    assert all(secret not in str(info.value) for secret in sg.app.secrets)


def test_a_wrongly_scoped_key_that_cannot_be_revoked_is_named_for_revocation_by_hand(sg: Bench) -> None:
    old = sg.seed()
    sg.app.extra_scopes = ["api_keys.delete"]
    requests.post(sg.url + "/__emulator/faults", json={"match": "DELETE /v3/api_keys", "status": 500, "count": 5},
                  timeout=5).raise_for_status()
    with pytest.raises(ProviderError) as info:
        sg.provider().create("apikeys-mailer-r1", like_key_id=old)
    (new_id,) = [k for k, v in sg.keys().items() if v["name"] == "apikeys-mailer-r1"]
    assert sg.keys()[new_id]["revoked"] is False
    assert f"revoke key {new_id} by hand" in str(info.value)
    assert all(secret not in str(info.value) for secret in sg.app.secrets)


def test_every_create_carries_scopes(sg: Bench) -> None:
    """Whatever the path, the POST body names the scopes: a create without them would be Full Access."""
    old = sg.seed()
    sg.provider().create("apikeys-mailer-r1", like_key_id=old)
    sg.config(get_key_shape="flat")
    sg.provider().create("apikeys-mailer-r2", like_key_id=old)
    sg.provider(scopes=["mail.send"]).create("apikeys-mailer-r3", like_key_id=old)
    assert [body.get("scopes") for body in sg.app.create_bodies] == [OLD_SCOPES, OLD_SCOPES, ["mail.send"]]


def test_a_current_key_unknown_to_sendgrid_is_refused_before_any_create(sg: Bench) -> None:
    before = sg.alive()
    with pytest.raises(ProviderError) as info:
        sg.provider().create("apikeys-mailer-r1", like_key_id="deleted-by-hand")
    assert_names_key_and_option(str(info.value))
    assert "deleted-by-hand is not found" in str(info.value)
    assert_no_create(sg, before)
