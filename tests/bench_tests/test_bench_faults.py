"""Fault injection and call counting through the control API."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.bench.emulators import RunningEmulator
from tests.bench.emulators.gateway import GatewayEmulator
from tests.bench.emulators.sendgrid import SendGridEmulator


def fault(url: str, http: requests.Session, **spec: Any) -> requests.Response:
    return http.post(f"{url}/__emulator/faults", json=spec)


def test_status_with_retry_after_for_count_requests(
    sendgrid: RunningEmulator[SendGridEmulator], http: requests.Session
) -> None:
    headers = {"Authorization": f"Bearer {sendgrid.app.admin_key}"}
    spec = {"match": "POST /v3/api_keys", "status": 429, "count": 2, "retry_after": 7}
    assert fault(sendgrid.url, http, **spec).status_code == 201
    assert len(http.get(f"{sendgrid.url}/__emulator/faults").json()) == 1

    # Other methods and paths are not affected.
    assert http.get(f"{sendgrid.url}/v3/api_keys", headers=headers).status_code == 200
    statuses = []
    for _attempt in range(3):
        resp = http.post(f"{sendgrid.url}/v3/api_keys", json={"name": "n"}, headers=headers)
        statuses.append((resp.status_code, resp.headers.get("Retry-After")))
    assert statuses == [(429, "7"), (429, "7"), (201, None)]
    assert resp.json()["name"] == "n"
    assert http.get(f"{sendgrid.url}/__emulator/faults").json() == []
    calls = http.get(f"{sendgrid.url}/__emulator/calls").json()
    assert calls == {"GET /v3/api_keys": 1, "POST /v3/api_keys": 3}


def test_fault_body_uses_the_providers_format(
    gateway: RunningEmulator[GatewayEmulator], http: requests.Session
) -> None:
    fault(gateway.url, http, match="* /", status=503)
    resp = http.get(f"{gateway.url}/anything")
    assert (resp.status_code, resp.json()) == (503, {"message": "service unavailable"})
    assert "Retry-After" not in resp.headers


def test_delay_and_drop(gateway: RunningEmulator[GatewayEmulator], http: requests.Session) -> None:
    fault(gateway.url, http, match="GET /slow", delay=0.3)
    started = time.monotonic()
    assert http.get(f"{gateway.url}/slow").status_code == 401  # delayed, then normal
    assert time.monotonic() - started >= 0.3

    fault(gateway.url, http, match="GET /flaky", drop=True)
    with pytest.raises(requests.ConnectionError):
        http.get(f"{gateway.url}/flaky")
    assert http.get(f"{gateway.url}/flaky").status_code == 401
    assert http.get(f"{gateway.url}/__emulator/calls").json()["GET /flaky"] == 2


@pytest.mark.parametrize(
    "spec",
    [
        {"status": 500},
        {"match": "GET nopath", "status": 500},
        {"match": "GET /", "count": 2},
        {"match": "GET /", "status": 42},
        {"match": "GET /", "delay": 0.1, "retry_after": 3},
        {"match": "GET /", "status": 500, "surprise": 1},
    ],
)
def test_invalid_fault_spec_is_400(
    gateway: RunningEmulator[GatewayEmulator], http: requests.Session, spec: dict[str, object]
) -> None:
    resp = fault(gateway.url, http, **spec)
    assert resp.status_code == 400 and "error" in resp.json()


def test_reset_clears_faults_calls_and_keys(
    gateway: RunningEmulator[GatewayEmulator], http: requests.Session
) -> None:
    http.post(f"{gateway.url}/__emulator/seed", json={"consumer": "demo"})
    fault(gateway.url, http, match="* /", status=500, count=5)
    assert http.get(f"{gateway.url}/x").status_code == 500
    assert http.post(f"{gateway.url}/__emulator/reset").json() == {"ok": True}
    assert http.get(f"{gateway.url}/__emulator/keys").json() == []
    assert http.get(f"{gateway.url}/__emulator/calls").json() == {}
    assert http.get(f"{gateway.url}/x").status_code == 401


def test_lose_answer_applies_the_request_and_drops_the_connection(
    sendgrid: RunningEmulator[SendGridEmulator], http: requests.Session
) -> None:
    headers = {"Authorization": f"Bearer {sendgrid.app.admin_key}"}
    before = http.get(f"{sendgrid.url}/__emulator/faults/fired").json()["total"]
    assert fault(sendgrid.url, http, match="POST /v3/api_keys", lose_answer=True).status_code == 201
    assert http.get(f"{sendgrid.url}/v3/api_keys", headers=headers).status_code == 200  # not matched
    with pytest.raises(requests.ConnectionError):
        http.post(f"{sendgrid.url}/v3/api_keys", json={"name": "created-unseen"}, headers=headers)
    keys = http.get(f"{sendgrid.url}/__emulator/keys").json()
    made = [k for k in keys if k["name"] == "created-unseen"]
    assert len(made) == 1 and not made[0]["revoked"], "the request was applied"
    fired = http.get(f"{sendgrid.url}/__emulator/faults/fired").json()
    assert fired["total"] == before + 1 and fired["by_match"]["POST /v3/api_keys"] == 1

    # A lost DELETE answer: the key is gone all the same, and a retry finds it gone.
    fault(sendgrid.url, http, match="DELETE /v3/api_keys", lose_answer=True)
    with pytest.raises(requests.ConnectionError):
        http.delete(f"{sendgrid.url}/v3/api_keys/{made[0]['id']}", headers=headers)
    assert http.delete(f"{sendgrid.url}/v3/api_keys/{made[0]['id']}", headers=headers).status_code == 404
    assert http.get(f"{sendgrid.url}/__emulator/faults/fired").json()["total"] == before + 2
    assert http.get(f"{sendgrid.url}/__emulator/faults").json() == []


def test_fired_counts_every_kind_of_fault_and_only_when_hit(
    gateway: RunningEmulator[GatewayEmulator], http: requests.Session
) -> None:
    fault(gateway.url, http, match="GET /a", status=503, count=3)
    fault(gateway.url, http, match="GET /never", status=503)
    for _attempt in range(2):
        assert http.get(f"{gateway.url}/a").status_code == 503
    assert http.get(f"{gateway.url}/b").status_code == 401
    assert http.get(f"{gateway.url}/__emulator/faults/fired").json() == {"total": 2, "by_match": {"GET /a": 2}}
    pending = http.get(f"{gateway.url}/__emulator/faults").json()
    assert [(f["match"], f["count"]) for f in pending] == [("GET /a", 1), ("GET /never", 1)]


@pytest.mark.parametrize(
    "spec",
    [
        {"match": "GET /", "lose_answer": "yes"},
        {"match": "GET /", "lose_answer": True, "drop": True},
        {"match": "GET /", "lose_answer": True, "status": 500},
    ],
)
def test_invalid_lose_answer_spec_is_400(
    gateway: RunningEmulator[GatewayEmulator], http: requests.Session, spec: dict[str, object]
) -> None:
    resp = fault(gateway.url, http, **spec)
    assert resp.status_code == 400 and "error" in resp.json()
