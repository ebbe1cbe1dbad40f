"""Revoke-after-grace with a real Prometheus as the evidence: the consumers' own request metrics."""
from __future__ import annotations

from typing import Any

from .conftest import World, parse_iso

COUNTER = 'app_api_key_requests_total{key_id="{key_id}"}'
PREVIOUS = f"last_over_time({COUNTER}[10m] offset 1s)"
# The last time a key's request counter grew (or first appeared), to the scrape interval.
LAST_USED = f"max(max_over_time(timestamp(({COUNTER} > {PREVIOUS}) or ({COUNTER} unless {PREVIOUS}))[10m:1s]))"


def evidence(prometheus: Any) -> dict[str, Any]:
    return {"source": "prometheus", "url": prometheus.url, "last_used_query": LAST_USED}


def scraped(prometheus: Any, key_id: str, after: float) -> None:
    query = LAST_USED.replace("{key_id}", key_id)
    prometheus.wait_for(query, lambda result: bool(result) and float(result[0]["value"][1]) >= after, timeout=20)


def test_prometheus_sees_the_new_key_in_use_and_the_old_key_is_revoked(world: World, consumers: Any,
                                                                       prometheus: Any) -> None:
    key = world.key("sendgrid", apikeys_usage_evidence=evidence(prometheus), apikeys_grace_period="3s",
                    apikeys_clock_skew="0s")
    consumers.use(key.key_id, 3, consumer=f"{key.host}-app")
    scraped(prometheus, key.key_id, after=0)  # the old key's history is in Prometheus before the rotation
    run = world.playbook("rotate.yml", secret=key.host)
    assert run.rc == 0, run.output
    data = world.record(key).data
    world.wait_past(data["rotated_at"])
    consumers.use(data["key_id"], 2, consumer=f"{key.host}-app")
    scraped(prometheus, data["key_id"], after=0)
    world.wait_past(data["previous_key_revocation_at"])

    run = world.playbook("revoke_after_grace.yml", secret=key.host)

    assert run.rc == 0, run.output
    assert "consumers' metrics in Prometheus" in run.stdout and f"previous key {key.key_id} revoked" in run.stdout
    assert not world.works(key, key.secret, key.key_id)
    assert world.works(key, data["key"], data["key_id"])


def test_prometheus_sees_the_old_key_after_grace_and_raises_an_alert(world: World, consumers: Any,
                                                                     prometheus: Any) -> None:
    key = world.key("sendgrid", apikeys_usage_evidence=evidence(prometheus), apikeys_grace_period="2s",
                    apikeys_clock_skew="0s")
    run = world.playbook("rotate.yml", secret=key.host)
    assert run.rc == 0, run.output
    data = world.record(key).data
    consumers.use(data["key_id"], 1, consumer=f"{key.host}-app-1")
    world.wait_past(data["previous_key_revocation_at"], extra=1)
    consumers.use(key.key_id, 1, consumer=f"{key.host}-app-2")  # a consumer still on the old key
    scraped(prometheus, key.key_id, after=parse_iso(data["previous_key_revocation_at"]).timestamp())

    run = world.playbook("revoke_after_grace.yml", secret=key.host)

    assert run.rc != 0
    assert f"{key.host}: ALERT: old key {key.key_id} was still used at" in run.stdout
    assert world.works(key, key.secret, key.key_id)
