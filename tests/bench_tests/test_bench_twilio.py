"""Twilio emulator: wire format of the Key resource v1 and the key types' documented access."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests

from tests.bench.emulators import RunningEmulator, serve_in_thread
from tests.bench.emulators.twilio import TwilioEmulator

TW = RunningEmulator[TwilioEmulator]
SK = re.compile(r"^SK[0-9a-f]{32}$")


@pytest.fixture
def twilio() -> Iterator[TW]:
    with serve_in_thread(TwilioEmulator()) as running:
        yield running


def account(tw: TW) -> tuple[str, str]:
    return tw.app.account_sid, tw.app.auth_token


def create(tw: TW, auth: tuple[str, str], **form: Any) -> requests.Response:
    return requests.post(f"{tw.url}/v1/Keys", data=dict({"AccountSid": tw.app.account_sid}, **form), auth=auth,
                         timeout=5)


def seed(tw: TW, **body: Any) -> dict[str, Any]:
    made: dict[str, Any] = requests.post(f"{tw.url}/__emulator/seed", json=dict({"name": "seeded"}, **body),
                                         timeout=5).json()
    return made


def error(resp: requests.Response, status: int, code: int) -> dict[str, Any]:
    body: dict[str, Any] = resp.json()
    assert resp.status_code == status and body["status"] == status and body["code"] == code, body
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}" and body["message"]
    return body


def test_create_is_a_form_and_shows_the_secret_once(twilio: TW) -> None:
    resp = create(twilio, account(twilio), FriendlyName="billing")

    assert resp.status_code == 201
    body = resp.json()
    assert set(body) == {"sid", "friendly_name", "date_created", "date_updated", "secret", "policy"}
    assert SK.match(body["sid"]) and len(body["secret"]) == 32 and body["policy"] is None
    assert parsedate_to_datetime(body["date_created"]).tzinfo is not None  # RFC 2822
    fetched = requests.get(f"{twilio.url}/v1/Keys/{body['sid']}", auth=account(twilio), timeout=5).json()
    assert "secret" not in fetched and fetched["friendly_name"] == "billing"
    as_json = requests.post(f"{twilio.url}/v1/Keys", json={"AccountSid": twilio.app.account_sid},
                            auth=account(twilio), timeout=5)
    error(as_json, 400, 20001)
    error(create(twilio, account(twilio), FriendlyName="x" * 65), 400, 20001)
    error(create(twilio, account(twilio), KeyType="main"), 400, 20001)
    error(create(twilio, account(twilio), KeyType="restricted"), 400, 20001)  # no Policy


def test_restricted_keys_take_a_policy_of_at_most_100_permissions(twilio: TW) -> None:
    policy = {"allow": ["/twilio/messaging/messages/read"]}
    made = create(twilio, account(twilio), KeyType="restricted", Policy=json.dumps(policy)).json()
    assert made["policy"] == policy
    too_many = {"allow": [f"/twilio/p{i}" for i in range(101)]}
    error(create(twilio, account(twilio), KeyType="restricted", Policy=json.dumps(too_many)), 400, 20001)

    base = f"{twilio.url}/2010-04-01/Accounts/{twilio.app.account_sid}"
    auth = (made["sid"], made["secret"])
    assert requests.get(base + "/Messages.json", auth=auth, timeout=5).status_code == 200
    error(requests.get(base + "/Balance.json", auth=auth, timeout=5), 403, 20403)
    error(requests.get(base + ".json", auth=auth, timeout=5), 401, 20003)


def test_only_the_auth_token_or_a_main_key_manage_keys_and_read_the_account(twilio: TW) -> None:
    standard, main = seed(twilio), seed(twilio, type="main")
    base = f"{twilio.url}/2010-04-01/Accounts/{twilio.app.account_sid}"

    refused = error(create(twilio, (standard["sid"], standard["secret"])), 401, 20003)
    assert refused["message"] == "Authentication Error - invalid username"
    error(requests.get(base + ".json", auth=(standard["sid"], standard["secret"]), timeout=5), 401, 20003)
    assert requests.get(base + "/Balance.json", auth=(standard["sid"], standard["secret"]), timeout=5).status_code == 200
    assert create(twilio, (main["sid"], main["secret"])).status_code == 201
    account_read = requests.get(base + ".json", auth=(main["sid"], main["secret"]), timeout=5).json()
    assert account_read["auth_token"] == twilio.app.auth_token  # as Twilio's Account resource does
    unauthenticated = requests.get(base + "/Balance.json", timeout=5)
    error(unauthenticated, 401, 20003)
    assert unauthenticated.headers["WWW-Authenticate"].startswith("Basic")


def test_list_pages_and_delete(twilio: TW) -> None:
    made = [create(twilio, account(twilio), FriendlyName=f"k{i}").json()["sid"] for i in range(3)]
    url = f"{twilio.url}/v1/Keys?AccountSid={twilio.app.account_sid}&PageSize=2"

    first = requests.get(url, auth=account(twilio), timeout=5).json()
    second = requests.get(first["meta"]["next_page_url"], auth=account(twilio), timeout=5).json()

    assert first["meta"]["key"] == "keys" and [k["sid"] for k in first["keys"] + second["keys"]] == made
    assert second["meta"]["next_page_url"] is None and "secret" not in first["keys"][0]
    error(requests.get(f"{twilio.url}/v1/Keys", auth=account(twilio), timeout=5), 400, 20001)
    assert requests.delete(f"{twilio.url}/v1/Keys/{made[0]}", auth=account(twilio), timeout=5).status_code == 204
    error(requests.delete(f"{twilio.url}/v1/Keys/{made[0]}", auth=account(twilio), timeout=5), 404, 20404)


def test_a_deleted_key_is_refused_and_a_lost_create_answer_still_makes_the_key(twilio: TW) -> None:
    key = seed(twilio)
    base = f"{twilio.url}/2010-04-01/Accounts/{twilio.app.account_sid}/Balance.json"
    requests.delete(f"{twilio.url}/v1/Keys/{key['sid']}", auth=account(twilio), timeout=5).raise_for_status()
    error(requests.get(base, auth=(key["sid"], key["secret"]), timeout=5), 401, 20003)

    requests.post(f"{twilio.url}/__emulator/faults", json={"match": "POST /v1/Keys", "lose_answer": True},
                  timeout=5).raise_for_status()
    with pytest.raises(requests.ConnectionError):
        create(twilio, account(twilio), FriendlyName="lost")
    assert [k["name"] for k in requests.get(f"{twilio.url}/__emulator/keys", timeout=5).json()
            if not k["revoked"]] == ["lost"]


@pytest.mark.parametrize("answer, fields", [("no_secret", {"sid"}), ("null_secret", {"sid", "secret"}),
                                            ("no_sid", set())])
def test_the_create_answer_can_be_told_to_lack_the_secret(twilio: TW, answer: str, fields: set[str]) -> None:
    requests.post(f"{twilio.url}/__emulator/config", json={"create_answer": answer}, timeout=5).raise_for_status()

    body = create(twilio, account(twilio), FriendlyName="x").json()

    assert {"sid", "secret"} & set(body) == fields and not body.get("secret")
    assert len(requests.get(f"{twilio.url}/__emulator/keys", timeout=5).json()) == 1  # made all the same
