"""HttpClient against a scripted fake of ``requests.Session.request``: no network, no sleeping."""
from __future__ import annotations

import json

import pytest
import requests

from ansible_collections.apikeys.rotation.plugins.module_utils import _http
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ProviderError
from ansible_collections.apikeys.rotation.plugins.module_utils._http import HttpClient, provider_message
from ansible_collections.apikeys.rotation.plugins.module_utils._retry import RetryPolicy, call_with_retry

ADMIN_TOKEN = "ADMIN-TOKEN-CANARY-5f1e2d"


def response(status, body=None, headers=None):
    r = requests.Response()
    r.status_code = status
    r._content = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    r.headers.update(headers or {})
    return r


class FakeServer:
    """Answers each request with the next scripted item (a Response or an exception to raise)."""

    def __init__(self, monkeypatch, script):
        self.script = list(script)
        self.calls = []
        self.sleeps = []
        server = self

        def fake_request(session, method, url, **kwargs):
            server.calls.append({"method": method, "url": url, "session_headers": dict(session.headers), **kwargs})
            item = server.script.pop(0)
            if isinstance(item, BaseException):
                raise item
            return item

        def fake_retry(attempt, policy):
            return call_with_retry(attempt, policy, sleep=server.sleeps.append, clock=lambda: 0.0)

        monkeypatch.setattr(requests.Session, "request", fake_request)
        monkeypatch.setattr(_http, "call_with_retry", fake_retry)


def client(**kwargs):
    return HttpClient("sendgrid", "https://api.example.test/", {"Authorization": f"Bearer {ADMIN_TOKEN}"},
                      retry=RetryPolicy(attempts=4, max_total=1e9), **kwargs)


def test_success_first_try(monkeypatch):
    server = FakeServer(monkeypatch, [response(200, {"ok": True})])
    answer = client(timeout=7.0).request("GET", "/v3/scopes")
    assert answer.json() == {"ok": True}
    assert len(server.calls) == 1
    call = server.calls[0]
    assert call["url"] == "https://api.example.test/v3/scopes"   # base_url's trailing slash stripped
    assert call["timeout"] == 7.0
    assert call["session_headers"]["Authorization"] == f"Bearer {ADMIN_TOKEN}"


def test_absolute_url_used_as_is(monkeypatch):
    server = FakeServer(monkeypatch, [response(204)])
    client().request("GET", "https://other.example.test/health")
    assert server.calls[0]["url"] == "https://other.example.test/health"


@pytest.mark.parametrize("method, idempotent", [("GET", True), ("POST", False)])
def test_429_with_retry_after_is_retried_and_counted(monkeypatch, method, idempotent):
    server = FakeServer(monkeypatch, [response(429, {"message": "slow down"}, {"Retry-After": "2"}),
                                      response(429, {"message": "slow down"}, {"Retry-After": "3"}),
                                      response(201, {"id": "k1"})])
    answer = client().request(method, "/keys", json={"name": "n"}, idempotent=idempotent)
    assert answer.status_code == 201
    assert len(server.calls) == 3
    assert server.sleeps == [2.0, 3.0]


def test_429_spent_attempts_raise_provider_error(monkeypatch):
    server = FakeServer(monkeypatch, [response(429, {"message": "rate limited"}, {"Retry-After": "1"})] * 4)
    with pytest.raises(ProviderError) as info:
        client().request("GET", "/keys")
    assert len(server.calls) == 4
    assert info.value.status == 429
    assert "rate limited" in str(info.value)


def test_unparsable_retry_after_falls_back_to_backoff(monkeypatch):
    server = FakeServer(monkeypatch, [response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
                                      response(200)])
    client().request("GET", "/keys")
    assert len(server.sleeps) == 1 and 0 < server.sleeps[0] <= 8.0


@pytest.mark.parametrize("status", [502, 503, 504])
def test_get_retried_on_gateway_errors(monkeypatch, status):
    server = FakeServer(monkeypatch, [response(status), response(200, {"data": []})])
    assert client().request("GET", "/keys").status_code == 200
    assert len(server.calls) == 2


@pytest.mark.parametrize("status", [502, 503, 504, 500])
def test_post_not_retried_on_server_errors(monkeypatch, status):
    server = FakeServer(monkeypatch, [response(status, {"message": "unavailable"}), response(201)])
    with pytest.raises(ProviderError) as info:
        client().request("POST", "/keys", idempotent=False)
    assert len(server.calls) == 1
    assert info.value.status == status
    assert server.sleeps == []


def test_post_not_retried_on_read_timeout(monkeypatch):
    server = FakeServer(monkeypatch, [requests.exceptions.ReadTimeout("read timed out"), response(201)])
    with pytest.raises(ProviderError) as info:
        client().request("POST", "/keys", idempotent=False)
    assert len(server.calls) == 1
    assert "ReadTimeout" in str(info.value)


@pytest.mark.parametrize("error", [requests.exceptions.ConnectionError("reset"),
                                   requests.exceptions.ChunkedEncodingError("cut")])
def test_post_not_retried_when_request_may_have_arrived(monkeypatch, error):
    server = FakeServer(monkeypatch, [error, response(201)])
    with pytest.raises(ProviderError):
        client().request("POST", "/keys", idempotent=False)
    assert len(server.calls) == 1


def test_post_retried_on_connect_timeout(monkeypatch):
    server = FakeServer(monkeypatch, [requests.exceptions.ConnectTimeout("never connected"), response(201)])
    assert client().request("POST", "/keys", idempotent=False).status_code == 201
    assert len(server.calls) == 2


@pytest.mark.parametrize("error", [requests.exceptions.ReadTimeout("t"), requests.exceptions.ConnectionError("c")])
def test_get_retried_on_transport_errors(monkeypatch, error):
    server = FakeServer(monkeypatch, [error, response(200)])
    assert client().request("GET", "/keys").status_code == 200
    assert len(server.calls) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_client_errors_not_retried(monkeypatch, status):
    server = FakeServer(monkeypatch, [response(status), response(200)])
    with pytest.raises(ProviderError) as info:
        client().request("GET", "/keys")
    assert info.value.status == status
    assert len(server.calls) == 1


def test_tolerated_status_returned(monkeypatch):
    FakeServer(monkeypatch, [response(404)])
    assert client().request("DELETE", "/keys/1", tolerate=(404,)).status_code == 404


def test_error_message_has_status_and_provider_text_but_no_credential(monkeypatch):
    body = {"errors": [{"field": "name", "message": "name is too long"}, {"message": "scope denied"}]}
    FakeServer(monkeypatch, [response(400, body)])
    with pytest.raises(ProviderError) as info:
        client().request("POST", "/v3/api_keys/abc123", label="/v3/api_keys/{id}", json={"secret": "BODY-SECRET"},
                         headers={"X-Extra": "EXTRA-HEADER-VALUE"}, idempotent=False)
    message = str(info.value)
    assert "HTTP 400" in message
    assert "name is too long; scope denied" in message
    assert "sendgrid: POST /v3/api_keys/{id}" in message   # the label, not the concrete path
    for leaked in (ADMIN_TOKEN, "Bearer", "Authorization", "BODY-SECRET", "EXTRA-HEADER-VALUE", "abc123"):
        assert leaked not in message


def test_error_with_non_json_body(monkeypatch):
    FakeServer(monkeypatch, [response(418, b"<html>teapot</html>")])
    with pytest.raises(ProviderError) as info:
        client().request("GET", "/x")
    assert str(info.value) == "sendgrid: GET /x answered HTTP 418"


def test_transport_error_message_has_no_exception_text(monkeypatch):
    # requests' own messages may contain the URL with query parameters; only the type is reported
    FakeServer(monkeypatch, [requests.exceptions.ReadTimeout(f"timeout for token={ADMIN_TOKEN}")])
    with pytest.raises(ProviderError) as info:
        client().request("POST", "/keys", idempotent=False)
    assert ADMIN_TOKEN not in str(info.value)


@pytest.mark.parametrize("body, text", [
    ({"errors": [{"message": "a"}, {"message": "b"}]}, "a; b"),
    ({"errors": [{"field": "x"}], "message": "fallback"}, "fallback"),
    ({"message": "kong says no"}, "kong says no"),
    ({"error": "denied"}, "denied"),
    ({"detail": "gone"}, "gone"),
    ({"message": "x" * 1000}, "x" * 300),
    ({"message": 5}, ""),
    (["not", "a", "dict"], ""),
    (None, ""),
])
def test_provider_message(body, text):
    assert provider_message(body) == text
