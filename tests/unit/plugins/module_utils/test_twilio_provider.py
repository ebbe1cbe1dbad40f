"""TwilioProvider against the bench's Twilio emulator, served for real on 127.0.0.1.

Twilio makes a Standard key (access to everything but Accounts and Keys) when a create names no
``KeyType``: the provider copies the current key's type and policy unless told otherwise, refuses
before the create when it cannot tell, and deletes a new key whose create answer lacks its secret
or carries another policy than asked, so that no key is left alive untracked.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

REPO = Path(__file__).resolve().parents[4]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# pylint: disable=wrong-import-position
from ansible_collections.apikeys.rotation.plugins.module_utils import _factory  # noqa: E402
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ConfigError, ProviderError  # noqa: E402
from ansible_collections.apikeys.rotation.plugins.module_utils.providers import _twilio  # noqa: E402
from ansible_collections.apikeys.rotation.plugins.module_utils.providers._twilio import (  # noqa: E402
    TwilioProvider, friendly_name)
from tests.bench.emulators import serve_in_thread  # noqa: E402
from tests.bench.emulators._base import Request, Response  # noqa: E402
from tests.bench.emulators.twilio import TwilioEmulator  # noqa: E402

KEY = "sms"
ALLOW = ["/twilio/messaging/messages/read"]
EPOCH = datetime(2020, 1, 1, tzinfo=timezone.utc)


class Emulator(TwilioEmulator):
    """The bench's emulator, recording create requests; can answer another policy than asked."""

    def __init__(self) -> None:
        super().__init__()
        self.creates: list[tuple[str, dict[str, str]]] = []
        self.grant: Any = "asked"
        self.next_page_elsewhere = False

    def _list(self, req: Request) -> Response:
        answer = super()._list(req)
        if self.next_page_elsewhere and answer.body["meta"]["next_page_url"]:
            answer.body["meta"]["next_page_url"] = "https://attacker.example/v1/Keys?Page=1"
        return answer

    def _create(self, req: Request) -> Response:
        self.creates.append((req.header("Content-Type") or "", self._form(req)))
        answer = super()._create(req)
        if self.grant != "asked" and answer.status == 201:
            answer.body["policy"] = self.grant
        return answer


class Bench:
    def __init__(self, running: Any) -> None:
        self.app: Emulator = running.app
        self.url: str = running.url

    def seed(self, name: str = KEY, **body: Any) -> dict[str, Any]:
        made: dict[str, Any] = requests.post(self.url + "/__emulator/seed", json=dict(body, name=name),
                                             timeout=5).json()
        return made

    def config(self, **settings: Any) -> None:
        requests.post(self.url + "/__emulator/config", json=settings, timeout=5).raise_for_status()

    def keys(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = requests.get(self.url + "/__emulator/keys", timeout=5).json()
        return found

    def live(self, name: str) -> list[dict[str, Any]]:
        return [k for k in self.keys() if k["name"] == name and not k["revoked"]]

    def provider(self, credential: str = "", **options: Any) -> TwilioProvider:
        options = dict({"account_sid": self.app.account_sid, "api_url": self.url, "account_api_url": self.url,
                        "max_attempts": 1, "timeout": 5}, **options)
        _factory.provider_class(KEY, "twilio").validate_options(KEY, options)
        return TwilioProvider(KEY, options, credential or self.app.auth_token)


@pytest.fixture(scope="module")
def running() -> Iterator[Any]:
    server = serve_in_thread(Emulator())
    yield server
    server.stop()


@pytest.fixture
def bench(running: Any) -> Bench:
    requests.post(running.url + "/__emulator/reset", timeout=5).raise_for_status()
    running.app.creates.clear()
    running.app.grant = "asked"
    running.app.next_page_elsewhere = False
    return Bench(running)


# -- options ---------------------------------------------------------------------------------

SID = "AC" + "0" * 32


@pytest.mark.parametrize("options, field, words", [
    ({}, "account_sid", "required"),
    ({"account_sid": "ACxyz"}, "account_sid", "32 hex"),
    ({"account_sid": SID, "key_type": "main"}, "key_type", "only in its Console"),
    ({"account_sid": SID, "key_type": "admin"}, "key_type", "standard, restricted"),
    ({"account_sid": SID, "key_type": "standard", "policy": {"allow": ALLOW}}, "policy", "only restricted"),
    ({"account_sid": SID, "policy": {"allow": []}}, "policy", '{"allow"'),
    ({"account_sid": SID, "policy": {"allow": ["/p"] * 0 + [f"/p{i}" for i in range(101)]}}, "policy", "at most 100"),
    ({"account_sid": SID, "credential_sid": "USxyz"}, "credential_sid", "Main API key"),
    ({"account_sid": SID, "test_path": "Balance.json"}, "test_path", "starting with /"),
    ({"account_sid": SID, "scopes": ["x"]}, "scopes", "unknown option"),
])
def test_bad_options_are_refused_naming_the_field(options: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _factory.make_provider(KEY, "twilio", options, "token")
    assert caught.value.field == f"apikeys_provider_options.{field}" and words in str(caught.value)


# -- a rotation's provider calls ---------------------------------------------------------------

def test_create_sends_a_form_and_returns_the_sid_and_the_secret_once(bench: Bench) -> None:
    old = bench.seed()
    provider = bench.provider()
    provider.prepare(old["sid"])

    new = provider.create("apikeys-sms-1", old["sid"])

    content_type, form = bench.app.creates[-1]
    assert content_type == "application/x-www-form-urlencoded"
    assert form == {"AccountSid": bench.app.account_sid, "FriendlyName": "apikeys-sms-1"}  # a standard key, as before
    assert new.key_id.startswith("SK") and len(new.secret) == 32 and new.secret not in repr(new)
    assert provider.accepts(new.secret, new.key_id)
    assert not provider.accepts(new.secret + "x", new.key_id)
    assert provider.find_by_name("apikeys-sms-1", EPOCH, set()) == [new.key_id]
    assert provider.find_by_name("apikeys-sms-1", EPOCH, {new.key_id}) == []
    assert provider.usage().count == 2 and provider.usage().limit is None
    assert provider.revoke(new.key_id) is True
    assert provider.revoke(new.key_id) is False            # already deleted: success
    assert not provider.accepts(new.secret, new.key_id)    # a deleted key is refused


def test_a_restricted_key_is_replaced_by_one_with_the_same_policy(bench: Bench) -> None:
    old = bench.seed(type="restricted", policy={"allow": ALLOW})
    provider = bench.provider()

    new = provider.create("apikeys-sms-2", old["sid"])

    made = next(k for k in bench.keys() if k["id"] == new.key_id)
    assert made["type"] == "restricted" and made["policy"] == {"allow": ALLOW}
    assert provider.accepts(new.secret, new.key_id)  # 403 on the balance: Twilio authenticated it


def test_the_inventory_policy_wins_over_the_current_key(bench: Bench) -> None:
    old = bench.seed()
    provider = bench.provider(key_type="restricted", policy={"allow": ALLOW})

    new = provider.create("apikeys-sms-3", old["sid"])

    assert next(k for k in bench.keys() if k["id"] == new.key_id)["policy"] == {"allow": ALLOW}


def test_when_the_current_key_cannot_be_read_nothing_is_created(bench: Bench) -> None:
    provider = bench.provider()

    with pytest.raises(ProviderError, match="not found at Twilio"):
        provider.prepare("SK" + "f" * 32)
    with pytest.raises(ConfigError, match="no current key"):
        provider.prepare(None)
    with pytest.raises(ConfigError, match="no policy to copy"):
        bench.provider(key_type="restricted").prepare(bench.seed()["sid"])
    assert bench.app.creates == []


@pytest.mark.parametrize("answer", ["no_secret", "null_secret"])
def test_a_create_answer_without_the_secret_deletes_the_key(bench: Bench, answer: str) -> None:
    old = bench.seed()
    bench.config(create_answer=answer)
    provider = bench.provider()

    with pytest.raises(ProviderError) as caught:
        provider.create("apikeys-sms-4", old["sid"])

    assert "holds no secret" in str(caught.value) and "deleted at once" in str(caught.value)
    assert caught.value.status == 201                      # Twilio answered: the rotation clears its intent
    assert len(bench.app.creates) == 1 and bench.live("apikeys-sms-4") == []
    assert [k["id"] for k in bench.live(KEY)] == [old["sid"]]


def test_a_create_answer_without_the_sid_leaves_the_key_to_the_lookup_by_name(bench: Bench) -> None:
    old = bench.seed()
    bench.config(create_answer="no_sid")
    provider = bench.provider()

    with pytest.raises(ProviderError, match="no sid") as caught:
        provider.create("apikeys-sms-5", old["sid"])

    assert caught.value.status is None                     # outcome unknown: look it up by name
    [made] = bench.live("apikeys-sms-5")
    assert provider.find_by_name("apikeys-sms-5", EPOCH, {old["sid"]}) == [made["id"]]


@pytest.mark.parametrize("grant", [{"allow": ["/twilio/voice/calls/create"]}, None])
def test_a_key_given_another_policy_is_deleted(bench: Bench, grant: Any) -> None:
    old = bench.seed(type="restricted", policy={"allow": ALLOW})
    bench.app.grant = grant

    with pytest.raises(ProviderError, match="another policy|does not say|standard key"):
        bench.provider().create("apikeys-sms-6", old["sid"])

    assert bench.live("apikeys-sms-6") == []


def test_a_standard_key_given_a_policy_is_deleted(bench: Bench) -> None:
    bench.app.grant = {"allow": ALLOW}

    with pytest.raises(ProviderError, match="a standard key was asked"):
        bench.provider(key_type="standard").create("apikeys-sms-7", None)

    assert bench.live("apikeys-sms-7") == []


def test_only_the_auth_token_or_a_main_key_may_manage_keys(bench: Bench) -> None:
    main = bench.seed("main", type="main")
    standard = bench.seed("standard")

    made = bench.provider(main["secret"], credential_sid=main["sid"], key_type="standard").create("apikeys-sms-8", None)
    with pytest.raises(ProviderError, match="HTTP 401: Authentication Error - invalid username"):
        bench.provider(standard["secret"], credential_sid=standard["sid"], key_type="standard").create("x", None)

    assert made.key_id and bench.live("x") == []


def test_the_account_read_would_call_a_live_standard_key_dead(bench: Bench) -> None:
    """Why test_path is not the account read: Twilio answers it 401 for standard and restricted keys."""
    key = bench.seed()
    on_account = bench.provider(test_path="/2010-04-01/Accounts/{AccountSid}.json")

    assert not on_account.accepts(key["secret"], key["sid"])
    assert bench.provider().accepts(key["secret"], key["sid"])


def test_a_long_name_is_cut_to_64_characters_and_still_found(bench: Bench) -> None:
    name = "apikeys-" + "a-very-long-inventory-host-name-" * 2 + "-20261126T153939Z-abcdef"
    provider = bench.provider(key_type="standard")

    new = provider.create(name, None)

    assert len(friendly_name(name)) == 64 and bench.live(friendly_name(name))
    assert friendly_name(name) != friendly_name(name + "x")
    assert provider.find_by_name(name, EPOCH, set()) == [new.key_id]


def test_every_page_is_read_but_only_at_the_api_s_own_address(bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_twilio, "PAGE_SIZE", 2)
    for number in range(5):
        bench.seed(f"k{number}")
    provider = bench.provider(key_type="standard")
    assert provider.usage().count == 5
    assert len(provider.find_by_name("k4", EPOCH, set())) == 1

    bench.app.next_page_elsewhere = True
    calls = requests.get(bench.url + "/__emulator/calls", timeout=5).json()["GET /v1/Keys"]
    with pytest.raises(ProviderError, match="another address"):
        provider.usage()
    assert requests.get(bench.url + "/__emulator/calls", timeout=5).json()["GET /v1/Keys"] == calls + 1


def test_the_management_credential_is_held_for_the_scrubber_and_never_in_errors(bench: Bench) -> None:
    provider = bench.provider()
    requests.post(bench.url + "/__emulator/faults", json={"match": "GET /v1/Keys", "status": 401, "echo_auth": True},
                  timeout=5).raise_for_status()

    with pytest.raises(ProviderError) as caught:
        provider.usage()

    held = provider.credentials()
    assert bench.app.auth_token in held and len(held) == 2
    assert "rejected credentials" in str(caught.value) and held[1] not in str(caught.value)
    assert bench.app.auth_token not in str(caught.value)


def test_when_the_secretless_key_cannot_be_deleted_it_is_left_to_the_lookup_by_name(bench: Bench) -> None:
    old = bench.seed()
    bench.config(create_answer="no_secret")
    requests.post(bench.url + "/__emulator/faults", json={"match": "DELETE /v1/Keys/", "status": 503, "count": 1},
                  timeout=5).raise_for_status()
    provider = bench.provider()

    with pytest.raises(ProviderError, match="deleting it failed") as caught:
        provider.create("apikeys-sms-9", old["sid"])

    assert caught.value.status is None                     # not "refused": the rotation keeps its intent
    [alive] = bench.live("apikeys-sms-9")
    assert provider.find_by_name("apikeys-sms-9", EPOCH, {old["sid"]}) == [alive["id"]]
