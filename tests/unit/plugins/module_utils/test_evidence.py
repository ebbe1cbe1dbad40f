"""Usage evidence sources and make_evidence, with ``requests.Session.request`` scripted: no network."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ConfigError, ProviderError
from ansible_collections.apikeys.rotation.plugins.module_utils._factory import make_evidence
from ansible_collections.apikeys.rotation.plugins.module_utils.evidence import _http_versions
from ansible_collections.apikeys.rotation.plugins.module_utils.evidence._base import Observation
from ansible_collections.apikeys.rotation.plugins.module_utils.evidence._clock import ClockOnly
from ansible_collections.apikeys.rotation.plugins.module_utils.evidence._http_versions import HttpVersionsEvidence
from ansible_collections.apikeys.rotation.plugins.module_utils.evidence._prometheus import PrometheusEvidence
from ansible_collections.apikeys.rotation.plugins.module_utils.evidence._provider import ProviderEvidence
from ansible_collections.apikeys.rotation.tests.unit.fakes import NOW, FakeProvider

KEY = "mailer"
CANARY = "CANARY-value-4b9e01"
NEW_ID = "key-new"
OLD_ID = "key-old"
SINCE = NOW - timedelta(days=1)
PROM = "http://prometheus.example.test:9090"
QUERY = 'max(app_key_last_used{key_id="{key_id}"})'
CONSUMERS = "https://consumers.example.test/keys"


def response(status: int, body: Any = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    return r


class Server:
    """Answers each request with ``answer(url)`` (a Response), recording every call."""

    def __init__(self, monkeypatch, answer):
        self.calls: list[dict[str, Any]] = []
        server = self

        def fake_request(session, method, url, **kwargs):
            server.calls.append({"method": method, "url": url, **kwargs})
            return answer(url)

        monkeypatch.setattr(requests.Session, "request", fake_request)

    def queries(self) -> list[str]:
        return [parse_qs(urlsplit(c["url"]).query)["query"][0] for c in self.calls]


def vector(*values: Any) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"key_id": "x"}, "value": [1717243200.5, v]} for v in values]}}


def epoch(moment: datetime) -> str:
    return str(moment.timestamp())


def prometheus(**options: Any) -> PrometheusEvidence:
    return PrometheusEvidence(KEY, dict({"source": "prometheus", "url": PROM, "last_used_query": QUERY}, **options))


def by_key(answers: dict[str, Any]):
    """A Prometheus that answers according to the key id found in the query."""

    def answer(url):
        query = parse_qs(urlsplit(url).query)["query"][0]
        for key_id, body in answers.items():
            if f'"{key_id}"' in query:
                return body if isinstance(body, requests.Response) else response(200, body)
        raise AssertionError(f"unexpected query {query}")

    return answer


# -- make_evidence --------------------------------------------------------------------------------

@pytest.mark.parametrize("options, field, words", [
    pytest.param("prometheus", "apikeys_usage_evidence", ["mapping"], id="not-a-mapping"),
    pytest.param({"source": CANARY}, "apikeys_usage_evidence.source", ["http, none, prometheus, provider"],
                 id="unknown-source"),
    pytest.param({}, "apikeys_usage_evidence.source", [], id="no-source"),
    pytest.param({"source": "prometheus", "last_used_query": QUERY}, "apikeys_usage_evidence.url",
                 ["required by source 'prometheus'"], id="prometheus-without-url"),
    pytest.param({"source": "prometheus", "url": PROM}, "apikeys_usage_evidence.last_used_query",
                 ["required"], id="prometheus-without-query"),
    pytest.param({"source": "http"}, "apikeys_usage_evidence.url", ["required by source 'http'"],
                 id="http-without-url"),
    pytest.param({"source": "none", "url": CANARY}, "apikeys_usage_evidence.url",
                 ["unknown option for source 'none'", "known: source"], id="unknown-option-for-none"),
    pytest.param({"source": "http", "url": CONSUMERS, "bogus": CANARY}, "apikeys_usage_evidence.bogus",
                 ["unknown option", "min_consumers"], id="unknown-option"),
    pytest.param({"source": "http", "url": CONSUMERS, "min_consumers": "2"}, "apikeys_usage_evidence.min_consumers",
                 ["must be of type int"], id="wrong-type-str-for-int"),
    pytest.param({"source": "prometheus", "url": PROM, "last_used_query": QUERY, "timeout": True},
                 "apikeys_usage_evidence.timeout", ["must be of type int"], id="wrong-type-bool-for-int"),
    pytest.param({"source": "http", "url": 8080}, "apikeys_usage_evidence.url", ["must be of type str"],
                 id="wrong-type-int-for-str"),
    pytest.param({"source": ["prometheus"]}, "apikeys_usage_evidence.source", [], id="unhashable-source"),
])
def test_make_evidence_validation(options, field, words):
    provider = FakeProvider()
    with pytest.raises(ConfigError) as info:
        make_evidence(KEY, options, provider)
    message = str(info.value)
    assert info.value.field == field and info.value.key == KEY
    assert message.startswith(f"key '{KEY}': {field}: ")
    for word in words:
        assert word in message
    assert CANARY not in message
    assert provider.revoked == [] and provider.created == []


@pytest.mark.parametrize("options, cls", [
    ({"source": "none"}, ClockOnly),
    ({"source": "provider"}, ProviderEvidence),
    ({"source": "prometheus", "url": PROM, "last_used_query": QUERY, "timeout": 5}, PrometheusEvidence),
    ({"source": "http", "url": CONSUMERS, "list_field": "items", "key_id_field": "kid", "min_consumers": 2,
      "timeout": 3}, HttpVersionsEvidence),
])
def test_make_evidence_builds_the_source(options, cls):
    provider = FakeProvider()
    evidence = make_evidence(KEY, options, provider)
    assert isinstance(evidence, cls)
    assert evidence.key == KEY and evidence.options == options
    if cls is ProviderEvidence:
        assert evidence.provider is provider


def test_make_evidence_builds_nothing_on_the_network(monkeypatch):
    calls = []
    monkeypatch.setattr(requests.Session, "request", lambda *a, **k: calls.append(a))
    make_evidence(KEY, {"source": "prometheus", "url": PROM, "last_used_query": QUERY}, None)
    make_evidence(KEY, {"source": "http", "url": CONSUMERS}, None)
    assert calls == []


# -- none -----------------------------------------------------------------------------------------

def test_clock_only():
    seen = make_evidence(KEY, {"source": "none"}, FakeProvider()).observe(NEW_ID, OLD_ID, SINCE)
    assert seen.source == "none"
    assert seen.new_seen is None and seen.new_last_seen is None and seen.old_last_seen is None
    assert "clock alone" in seen.detail


# -- provider -------------------------------------------------------------------------------------

class LastUsedProvider(FakeProvider):
    name = "lastused"

    def __init__(self, times: dict[str, Optional[datetime]]) -> None:
        super().__init__()
        self.times = times
        self.asked: list[str] = []

    def last_used(self, key_id: str) -> Optional[datetime]:
        self.asked.append(key_id)
        return self.times.get(key_id)


def test_provider_evidence_without_last_used_data():
    evidence = make_evidence(KEY, {"source": "provider"}, FakeProvider())
    with pytest.raises(ConfigError) as info:
        evidence.observe(NEW_ID, OLD_ID, SINCE)
    assert info.value.field == "apikeys_usage_evidence.source" and info.value.key == KEY
    message = str(info.value)
    assert "apikeys_usage_evidence.source" in message and "provider 'fake'" in message
    assert "choose another source" in message


@pytest.mark.parametrize("new_last, seen", [
    (SINCE + timedelta(minutes=5), True),
    (SINCE, True),
    (SINCE - timedelta(seconds=1), False),          # only a use before the promotion
    (None, False),                                  # never used
])
def test_provider_evidence(new_last, seen):
    old_last = SINCE - timedelta(hours=3)
    provider = LastUsedProvider({NEW_ID: new_last, OLD_ID: old_last})
    observation = make_evidence(KEY, {"source": "provider"}, provider).observe(NEW_ID, OLD_ID, SINCE)
    assert observation == Observation("provider", seen, new_last, old_last, "lastused last-used data")
    assert sorted(provider.asked) == [NEW_ID, OLD_ID]


# -- prometheus -----------------------------------------------------------------------------------

def test_prometheus_parses_a_vector_to_utc(monkeypatch):
    used = datetime(2024, 6, 1, 11, 30, 15, tzinfo=timezone.utc)
    server = Server(monkeypatch, lambda url: response(200, vector(epoch(used))))
    got = prometheus(timeout=4).last_used(NEW_ID)
    assert got == used and got.utcoffset() == timedelta(0)
    call = server.calls[0]
    assert call["method"] == "GET" and call["timeout"] == 4.0
    assert call["url"].startswith(PROM + "/api/v1/query?query=")


def test_prometheus_takes_the_latest_sample_and_skips_nan(monkeypatch):
    early, late = NOW - timedelta(hours=2), NOW - timedelta(minutes=1)
    Server(monkeypatch, lambda url: response(200, vector(epoch(early), "NaN", epoch(late), "+Inf")))
    assert prometheus().last_used(NEW_ID) == late


@pytest.mark.parametrize("body", [
    pytest.param(vector(), id="empty-result"),
    pytest.param(vector("NaN"), id="only-nan"),
    pytest.param({"status": "success", "data": {"resultType": "vector", "result": None}}, id="null-result"),
])
def test_prometheus_no_sample_is_none(monkeypatch, body):
    Server(monkeypatch, lambda url: response(200, body))
    assert prometheus().last_used(NEW_ID) is None


def test_prometheus_status_error(monkeypatch):
    Server(monkeypatch, lambda url: response(200, {"status": "error", "errorType": "bad_data",
                                                   "error": "parse error at char 4"}))
    with pytest.raises(ProviderError) as info:
        prometheus().last_used(NEW_ID)
    assert "prometheus: query failed: parse error at char 4" == str(info.value)


def test_prometheus_http_error(monkeypatch):
    server = Server(monkeypatch, lambda url: response(400, {"status": "error", "error": "bad query"}))
    with pytest.raises(ProviderError) as info:
        prometheus().last_used(NEW_ID)
    assert info.value.status == 400
    assert "/api/v1/query" in str(info.value) and "bad query" in str(info.value)
    assert "app_key_last_used" not in str(info.value)        # the label, not the query
    assert len(server.calls) == 1                             # a 400 is not retried


@pytest.mark.parametrize("body", [
    pytest.param(b"<html>proxy error</html>", id="not-json"),
    pytest.param([1, 2], id="json-list"),
    pytest.param({"status": "success", "data": []}, id="data-not-a-mapping"),
    pytest.param({"status": "success", "data": {"result": [{"value": [1717243200, "soon"]}]}},
                 id="value-not-a-number"),
])
def test_prometheus_malformed_answer_is_provider_error(monkeypatch, body):
    Server(monkeypatch, lambda url: response(200, body))
    with pytest.raises(ProviderError):
        prometheus().last_used(NEW_ID)


def test_prometheus_substitutes_and_escapes_the_key_id(monkeypatch):
    server = Server(monkeypatch, lambda url: response(200, vector()))
    template = 'max(a{key_id="{key_id}"}) or max(b{kid="{key_id}"})'
    prometheus(last_used_query=template).last_used('we"ird\\id')
    sent = server.queries()[0]
    assert sent == 'max(a{key_id="we\\"ird\\\\id"}) or max(b{kid="we\\"ird\\\\id"})'
    assert "{key_id}" not in sent


def test_prometheus_observe(monkeypatch):
    new_last, old_last = SINCE + timedelta(hours=1), SINCE - timedelta(hours=1)
    server = Server(monkeypatch, by_key({NEW_ID: vector(epoch(new_last)), OLD_ID: vector(epoch(old_last))}))
    seen = prometheus().observe(NEW_ID, OLD_ID, SINCE)
    assert seen == Observation("prometheus", True, new_last, old_last, "consumers' metrics in Prometheus")
    assert server.queries() == [QUERY.replace("{key_id}", NEW_ID), QUERY.replace("{key_id}", OLD_ID)]


@pytest.mark.parametrize("new_body, new_seen", [
    pytest.param(vector(epoch(SINCE - timedelta(seconds=1))), False, id="used-before-promotion-only"),
    pytest.param(vector(epoch(SINCE)), True, id="used-at-promotion"),
    pytest.param(vector(), False, id="never-used"),
])
def test_prometheus_observe_new_seen(monkeypatch, new_body, new_seen):
    Server(monkeypatch, by_key({NEW_ID: new_body, OLD_ID: vector()}))
    seen = prometheus().observe(NEW_ID, OLD_ID, SINCE)
    assert seen.new_seen is new_seen and seen.old_last_seen is None


# -- http (consumers' key versions) ---------------------------------------------------------------

@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr(_http_versions, "utcnow", lambda: NOW)
    return NOW


def http(**options: Any) -> HttpVersionsEvidence:
    return HttpVersionsEvidence(KEY, dict({"source": "http", "url": CONSUMERS}, **options))


def consumers(*key_ids: Any, field: str = "key_id", extra: Optional[list[Any]] = None) -> dict[str, Any]:
    return {"consumers": [{"name": f"app-{n}", field: k, "updated_at": "2024-06-01T11:00:00Z"}
                          for n, k in enumerate(key_ids)] + (extra or [])}


def test_http_counts_consumers(monkeypatch, frozen):
    server = Server(monkeypatch, lambda url: response(200, consumers(NEW_ID, NEW_ID, OLD_ID, "key-other")))
    seen = http(timeout=3).observe(NEW_ID, OLD_ID, SINCE)
    assert seen == Observation("http", True, frozen, frozen,
                               "2 of 4 consumers hold the new key, 1 the old one")
    assert server.calls[0]["method"] == "GET" and server.calls[0]["url"] == CONSUMERS
    assert server.calls[0]["timeout"] == 3.0


@pytest.mark.parametrize("held, options, new_seen, on_new, on_old", [
    pytest.param([NEW_ID, NEW_ID], {}, True, True, False, id="all-on-new"),
    pytest.param([OLD_ID, OLD_ID], {}, False, False, True, id="all-on-old"),
    pytest.param([], {}, False, False, False, id="no-consumers"),
    pytest.param([NEW_ID, NEW_ID, OLD_ID], {"min_consumers": 2}, True, True, True, id="min-consumers-met"),
    pytest.param([NEW_ID, OLD_ID], {"min_consumers": 2}, False, True, True, id="min-consumers-not-met"),
    pytest.param([NEW_ID, NEW_ID, NEW_ID], {"min_consumers": 3}, True, True, False, id="min-consumers-exact"),
])
def test_http_min_consumers(monkeypatch, frozen, held, options, new_seen, on_new, on_old):
    Server(monkeypatch, lambda url: response(200, consumers(*held)))
    seen = http(**options).observe(NEW_ID, OLD_ID, SINCE)
    assert seen.new_seen is new_seen
    assert seen.new_last_seen == (frozen if on_new else None)
    assert seen.old_last_seen == (frozen if on_old else None)


def test_http_custom_fields_and_odd_entries(monkeypatch, frozen):
    body = {"items": consumers(NEW_ID, OLD_ID, field="kid")["consumers"] + ["junk", 5, None, {"name": "no-key"}]}
    Server(monkeypatch, lambda url: response(200, body))
    seen = http(list_field="items", key_id_field="kid").observe(NEW_ID, OLD_ID, SINCE)
    assert seen.new_seen is True and seen.old_last_seen == frozen
    assert seen.detail == "1 of 3 consumers hold the new key, 1 the old one"


@pytest.mark.parametrize("body", [
    pytest.param({"consumers": "app-1"}, id="consumers-not-a-list"),
    pytest.param({"clients": []}, id="no-consumers-field"),
    pytest.param([{"key_id": NEW_ID}], id="answer-is-a-list"),
    pytest.param(None, id="empty-json-null"),
])
def test_http_malformed_answer(monkeypatch, frozen, body):
    Server(monkeypatch, lambda url: response(200, b"null" if body is None else body))
    with pytest.raises(ProviderError) as info:
        http().observe(NEW_ID, OLD_ID, SINCE)
    assert "no consumers list" in str(info.value)
    assert CONSUMERS not in str(info.value)


def test_http_non_json_answer_is_provider_error(monkeypatch, frozen):
    Server(monkeypatch, lambda url: response(200, b"<html>502 Bad Gateway</html>"))
    with pytest.raises(ProviderError):
        http().observe(NEW_ID, OLD_ID, SINCE)


def test_http_error_status_hides_the_url(monkeypatch, frozen):
    url = f"https://consumers.example.test/keys?token={CANARY}"
    Server(monkeypatch, lambda u: response(403, {"message": "forbidden"}))
    with pytest.raises(ProviderError) as info:
        http(url=url).observe(NEW_ID, OLD_ID, SINCE)
    assert info.value.status == 403 and "forbidden" in str(info.value)
    assert CANARY not in str(info.value)
