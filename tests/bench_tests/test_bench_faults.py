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
