"""SendGrid emulator: wire format of the v3 API-keys endpoints."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
import requests

from tests.bench.emulators import RunningEmulator
from tests.bench.emulators.sendgrid import ALL_SCOPES, SendGridEmulator

SG = RunningEmulator[SendGridEmulator]
AUTH_REQUIRED = {"errors": [{"field": None, "message": "authorization required"}]}
NOT_FOUND = {"errors": [{"field": None, "message": "unable to find API Key"}]}
KEY_FORMAT = re.compile(r"^SG\.([A-Za-z0-9_-]{22})\.[A-Za-z0-9_-]{43}$")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def create(http: requests.Session, sg: SG, key: str, **body: Any) -> requests.Response:
    return http.post(f"{sg.url}/v3/api_keys", json=body, headers=bearer(key))


def test_create_shows_the_secret_once(sendgrid: SG, http: requests.Session) -> None:
    admin = sendgrid.app.admin_key
    resp = create(http, sendgrid, admin, name="billing", scopes=["mail.send"])
    assert resp.status_code == 201
    body = resp.json()
    assert set(body) == {"api_key", "api_key_id", "name", "scopes"}
    found = KEY_FORMAT.match(body["api_key"])
    assert found and found[1] == body["api_key_id"]
    assert (body["name"], body["scopes"]) == ("billing", ["mail.send"])
    secret = body["api_key"]

    listing = http.get(f"{sendgrid.url}/v3/api_keys", headers=bearer(admin))
    assert listing.status_code == 200
    assert {"name": "billing", "api_key_id": body["api_key_id"]} in listing.json()["result"]
    assert all(set(item) == {"name", "api_key_id"} for item in listing.json()["result"])
    one = http.get(f"{sendgrid.url}/v3/api_keys/{body['api_key_id']}", headers=bearer(admin))
    assert one.json() == {
        "result": [{"api_key_id": body["api_key_id"], "name": "billing", "scopes": ["mail.send"]}]
    }
    control = http.get(f"{sendgrid.url}/__emulator/keys")
    for text in (listing.text, one.text, control.text):
        assert secret not in text and secret.rsplit(".", 1)[1] not in text


def test_new_key_authenticates_and_defaults_to_full_access(
    sendgrid: SG, http: requests.Session
) -> None:
    resp = create(http, sendgrid, sendgrid.app.admin_key, name="full")
    assert resp.json()["scopes"] == list(ALL_SCOPES)
    scopes = http.get(f"{sendgrid.url}/v3/scopes", headers=bearer(resp.json()["api_key"]))
    assert scopes.status_code == 200
    assert scopes.json() == {"scopes": list(ALL_SCOPES)}


def test_key_created_without_scopes_has_full_access_whoever_asks(
    sendgrid: SG, http: requests.Session
) -> None:
    """SendGrid: "omitting the scopes field ... will create a key with Full Access permissions by default"."""
    admin = sendgrid.app.admin_key
    manager = create(
        http, sendgrid, admin, name="manager", scopes=["api_keys.create", "mail.send"]
    ).json()
    resp = create(http, sendgrid, manager["api_key"], name="no-scopes")
    assert resp.status_code == 201
    assert sorted(resp.json()["scopes"]) == sorted(ALL_SCOPES)  # every scope, not the caller's two
    one = http.get(f"{sendgrid.url}/v3/api_keys/{resp.json()['api_key_id']}", headers=bearer(admin))
    assert sorted(one.json()["result"][0]["scopes"]) == sorted(ALL_SCOPES)
    keys = {k["name"]: k for k in http.get(f"{sendgrid.url}/__emulator/keys").json()}
    assert sorted(keys["no-scopes"]["scopes"]) == sorted(ALL_SCOPES)
    # asking explicitly for scopes the caller lacks is still refused
    assert (
        create(http, sendgrid, manager["api_key"], name="x", scopes=["api_keys.delete"]).status_code
        == 403
    )
    assert create(http, sendgrid, manager["api_key"], name="x", scopes=[]).json()["scopes"] == []


def test_get_key_answers_in_the_configured_shape(sendgrid: SG, http: requests.Session) -> None:
    admin = sendgrid.app.admin_key
    made = create(
        http, sendgrid, admin, name="mailer", scopes=["mail.send", "user.profile.read"]
    ).json()
    url = f"{sendgrid.url}/v3/api_keys/{made['api_key_id']}"
    flat = {
        "api_key_id": made["api_key_id"],
        "name": "mailer",
        "scopes": ["mail.send", "user.profile.read"],
    }
    assert http.get(url, headers=bearer(admin)).json() == {
        "result": [flat]
    }  # documented, by default

    def shape(name: str) -> dict[str, Any]:
        resp = http.post(f"{sendgrid.url}/__emulator/config", json={"get_key_shape": name})
        assert resp.status_code == 200, resp.text
        answer: dict[str, Any] = http.get(url, headers=bearer(admin)).json()
        return answer

    assert shape("flat") == flat
    unknown = shape("unknown")
    assert "result" not in unknown and "scopes" not in unknown
    assert shape("documented") == {"result": [flat]}
    for bad in ({"get_key_shape": "xml"}, {"get_key_shape": None}, {"colour": "red"}, {}):
        resp = http.post(f"{sendgrid.url}/__emulator/config", json=bad)
        assert resp.status_code == 400, bad
    shape("flat")
    assert http.post(f"{sendgrid.url}/__emulator/reset").status_code == 200
    assert http.get(f"{sendgrid.url}/__emulator/keys").json()[0]["name"] == "bench-admin"
    admin_id = http.get(f"{sendgrid.url}/__emulator/keys").json()[0]["id"]
    after_reset = http.get(f"{sendgrid.url}/v3/api_keys/{admin_id}", headers=bearer(admin)).json()
    assert list(after_reset) == ["result"]  # reset goes back to the documented shape


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("SG.nope.nope"), {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}],
)
def test_missing_or_unknown_key_is_401(
    sendgrid: SG, http: requests.Session, headers: dict[str, str]
) -> None:
    for path in ("/v3/scopes", "/v3/api_keys", "/v3/user/profile"):
        resp = http.get(f"{sendgrid.url}{path}", headers=headers)
        assert (resp.status_code, resp.json()) == (401, AUTH_REQUIRED)


def test_validation_and_scopes(sendgrid: SG, http: requests.Session) -> None:
    admin = sendgrid.app.admin_key
    resp = create(http, sendgrid, admin, scopes=["mail.send"])
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["field"] == "name"
    assert create(http, sendgrid, admin, name="x", scopes=["billing.read"]).status_code == 403

    mail_only = create(http, sendgrid, admin, name="mailer", scopes=["mail.send"]).json()
    key = mail_only["api_key"]
    assert create(http, sendgrid, key, name="escalate").status_code == 403
    assert http.get(f"{sendgrid.url}/v3/api_keys", headers=bearer(key)).status_code == 403
    assert http.get(f"{sendgrid.url}/v3/user/profile", headers=bearer(key)).status_code == 200


def test_account_key_limit(sendgrid: SG, http: requests.Session) -> None:
    admin = sendgrid.app.admin_key  # limit is 5 in the fixture; admin is key 1
    for i in range(4):
        assert create(http, sendgrid, admin, name=f"k{i}").status_code == 201
    resp = create(http, sendgrid, admin, name="one-too-many")
    assert resp.status_code == 403
    assert resp.json() == {
        "errors": [{"field": None, "message": "Cannot create more than 5 API keys"}]
    }
    cfg = http.post(f"{sendgrid.url}/__emulator/config", json={"key_limit": 6})
    assert cfg.json() == {"key_limit": 6, "get_key_shape": "documented"}
    assert create(http, sendgrid, admin, name="fits-now").status_code == 201


def test_revoked_key_is_rejected(sendgrid: SG, http: requests.Session) -> None:
    admin = sendgrid.app.admin_key
    body = create(http, sendgrid, admin, name="old").json()
    key, key_id = body["api_key"], body["api_key_id"]
    assert http.get(f"{sendgrid.url}/v3/scopes", headers=bearer(key)).status_code == 200

    url = f"{sendgrid.url}/v3/api_keys/{key_id}"
    resp = http.delete(url, headers=bearer(admin))
    assert (resp.status_code, resp.content) == (204, b"")
    resp = http.get(f"{sendgrid.url}/v3/scopes", headers=bearer(key))
    assert (resp.status_code, resp.json()) == (401, AUTH_REQUIRED)
    for method in ("GET", "DELETE"):
        resp = http.request(method, url, headers=bearer(admin))
        assert (resp.status_code, resp.json()) == (404, NOT_FOUND)
    listed = http.get(f"{sendgrid.url}/v3/api_keys", headers=bearer(admin)).json()["result"]
    assert key_id not in {item["api_key_id"] for item in listed}
    control = {k["id"]: k for k in http.get(f"{sendgrid.url}/__emulator/keys").json()}
    assert control[key_id]["revoked"] is True


def test_last_used_is_recorded(sendgrid: SG, http: requests.Session) -> None:
    seeded = http.post(f"{sendgrid.url}/__emulator/seed", json={"name": "consumer"})
    assert seeded.status_code == 201
    key, key_id = seeded.json()["api_key"], seeded.json()["api_key_id"]

    def last_used() -> str | None:
        keys = http.get(f"{sendgrid.url}/__emulator/keys").json()
        stamp: str | None = next(k["last_used_at"] for k in keys if k["id"] == key_id)
        return stamp

    assert last_used() is None
    assert http.get(f"{sendgrid.url}/v3/user/profile", headers=bearer(key)).status_code == 200
    stamp = last_used()
    assert stamp is not None and stamp.endswith("Z")
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")).tzinfo is not None


def test_reset_keeps_only_the_admin_key(sendgrid: SG, http: requests.Session) -> None:
    create(http, sendgrid, sendgrid.app.admin_key, name="temp")
    assert http.post(f"{sendgrid.url}/__emulator/reset").status_code == 200
    keys = http.get(f"{sendgrid.url}/__emulator/keys").json()
    assert [k["name"] for k in keys] == ["bench-admin"]
    resp = http.get(f"{sendgrid.url}/v3/scopes", headers=bearer(sendgrid.app.admin_key))
    assert resp.status_code == 200
