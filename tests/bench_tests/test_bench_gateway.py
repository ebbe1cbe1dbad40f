"""Gateway emulator: Kong Admin API (key-auth) and the protected proxy routes."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.bench.emulators import RunningEmulator
from tests.bench.emulators.gateway import GatewayEmulator

GW = RunningEmulator[GatewayEmulator]
NOT_FOUND = {"message": "Not found"}
INVALID = {"message": "Invalid authentication credentials"}


def admin(gw: GW) -> dict[str, str]:
    return {"Kong-Admin-Token": gw.app.admin_token}


@pytest.mark.parametrize("headers", [{}, {"Kong-Admin-Token": "wrong"}])
def test_admin_token_required(gateway: GW, http: requests.Session, headers: dict[str, str]) -> None:
    for method, path in [("GET", "/consumers/demo/key-auth"), ("POST", "/consumers/demo/key-auth")]:
        resp = http.request(method, f"{gateway.url}{path}", headers=headers)
        assert (resp.status_code, resp.json()) == (401, {"message": "Invalid RBAC credentials"})
    assert http.get(f"{gateway.url}/__emulator/keys").json() == []


def test_key_lifecycle(gateway: GW, http: requests.Session) -> None:
    base = f"{gateway.url}/consumers/billing-service/key-auth"
    resp = http.post(base, json={"tags": ["rotation"]}, headers=admin(gateway))
    assert resp.status_code == 201
    cred = resp.json()
    assert set(cred) == {"id", "key", "consumer", "created_at", "tags", "ttl"}
    uuid.UUID(cred["id"])
    assert isinstance(cred["created_at"], int) and len(cred["key"]) >= 32
    assert (cred["tags"], cred["ttl"]) == (["rotation"], None)
    consumer = http.get(f"{gateway.url}/consumers/billing-service", headers=admin(gateway)).json()
    assert cred["consumer"] == {"id": consumer["id"]}

    listing = http.get(base, headers=admin(gateway)).json()
    assert listing == {"data": [cred], "next": None}
    assert http.get(f"{base}/{cred['id']}", headers=admin(gateway)).json() == cred
    by_id = f"{gateway.url}/consumers/{consumer['id']}/key-auth/{cred['id']}"
    assert http.get(by_id, headers=admin(gateway)).json() == cred

    proxied = http.get(f"{gateway.url}/billing/invoices", headers={"apikey": cred["key"]})
    assert proxied.json() == {"ok": True, "consumer": "billing-service"}

    assert http.delete(f"{base}/{cred['id']}", headers=admin(gateway)).status_code == 204
    resp = http.get(f"{gateway.url}/billing/invoices", headers={"apikey": cred["key"]})
    assert (resp.status_code, resp.json()) == (401, INVALID)
    for method in ("GET", "DELETE"):
        resp = http.request(method, f"{base}/{cred['id']}", headers=admin(gateway))
        assert (resp.status_code, resp.json()) == (404, NOT_FOUND)
    assert http.get(base, headers=admin(gateway)).json() == {"data": [], "next": None}


def test_unknown_consumer_and_credential(gateway: GW, http: requests.Session) -> None:
    resp = http.post(f"{gateway.url}/consumers/nobody/key-auth", headers=admin(gateway))
    assert (resp.status_code, resp.json()) == (404, NOT_FOUND)
    other = http.post(f"{gateway.url}/consumers/demo/key-auth", headers=admin(gateway)).json()
    resp = http.get(
        f"{gateway.url}/consumers/billing-service/key-auth/{other['id']}", headers=admin(gateway)
    )
    assert (resp.status_code, resp.json()) == (404, NOT_FOUND)


def test_proxy_requires_a_valid_key(gateway: GW, http: requests.Session) -> None:
    resp = http.get(f"{gateway.url}/anything")
    assert (resp.status_code, resp.json()) == (401, {"message": "No API key found in request"})
    resp = http.post(f"{gateway.url}/anything", headers={"apikey": "guess"})
    assert (resp.status_code, resp.json()) == (401, INVALID)


def test_last_used_recorded_and_no_secrets_in_control_api(
    gateway: GW, http: requests.Session
) -> None:
    seeded = http.post(f"{gateway.url}/__emulator/seed", json={"consumer": "new-app"}).json()
    assert seeded["key"]
    keys = http.get(f"{gateway.url}/__emulator/keys").json()
    assert [(k["consumer"], k["last_used_at"], k["revoked"]) for k in keys] == [
        ("new-app", None, False)
    ]
    assert http.get(f"{gateway.url}/x", headers={"apikey": seeded["key"]}).status_code == 200
    text = http.get(f"{gateway.url}/__emulator/keys").text
    assert seeded["key"] not in text
    assert http.get(f"{gateway.url}/__emulator/keys").json()[0]["last_used_at"]


def test_ttl_expiry_and_validation(gateway: GW, http: requests.Session) -> None:
    base = f"{gateway.url}/consumers/demo/key-auth"
    cred = http.post(base, json={"ttl": 60}, headers=admin(gateway)).json()
    assert 0 < cred["ttl"] <= 60
    gateway.app._creds[cred["id"]].created -= 61  # age it instead of sleeping
    resp = http.get(f"{gateway.url}/x", headers={"apikey": cred["key"]})
    assert (resp.status_code, resp.json()) == (401, INVALID)
    assert http.get(f"{base}/{cred['id']}", headers=admin(gateway)).status_code == 404

    bad = http.post(base, json={"tags": "x"}, headers=admin(gateway))
    assert bad.status_code == 400 and bad.json()["fields"] == {"tags": "expected a set"}
    assert http.post(base, json={"nope": 1}, headers=admin(gateway)).status_code == 400
    assert http.post(base, data="{", headers=admin(gateway)).status_code == 400


def test_a_consumer_lists_only_its_own_usable_keys(gateway: GW, http: requests.Session) -> None:
    made = {name: [http.post(f"{gateway.url}/__emulator/seed", json={"consumer": name}).json() for _number in range(2)]
            for name in ("app-a", "app-b")}
    gone = made["app-a"][0]
    assert http.delete(f"{gateway.url}/consumers/app-a/key-auth/{gone['id']}", headers=admin(gateway)).status_code == 204
    for name, keys in made.items():
        listed = http.get(f"{gateway.url}/consumers/{name}/key-auth", headers=admin(gateway)).json()["data"]
        assert [k["id"] for k in listed] == [k["id"] for k in keys if k is not gone]
    gateway.app.reset()
    http.post(f"{gateway.url}/__emulator/seed", json={"consumer": "app-a"})
    assert len(http.get(f"{gateway.url}/consumers/app-a/key-auth", headers=admin(gateway)).json()["data"]) == 1


def test_the_key_list_says_when_each_key_was_deleted(gateway: GW, http: requests.Session) -> None:
    kept, deleted = (http.post(f"{gateway.url}/__emulator/seed", json={"consumer": "demo"}).json() for _number in range(2))
    before = time.time()
    assert http.delete(f"{gateway.url}/consumers/demo/key-auth/{deleted['id']}", headers=admin(gateway)).status_code == 204
    after = time.time()
    listed = {k["id"]: k for k in http.get(f"{gateway.url}/__emulator/keys").json()}
    assert listed[kept["id"]]["revoked_at"] is None
    assert listed[deleted["id"]]["revoked"] and before <= listed[deleted["id"]]["revoked_at"] <= after
