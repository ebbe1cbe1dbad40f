"""Evidence that a new API key is in use: the consumer fleet, scraped by a real Prometheus.

The Prometheus tests need Debian's ``prometheus`` binary, which ``make test`` installs
(tests/bench/install_prometheus.sh); without it they fail, naming the script. One scrape timeline (about 12 s, ~5 s of it Prometheus' wait
before its first scrape) checks the PromQL documented in tests/bench/prometheus.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.bench.consumers import METRIC, ConsumerFleet, start_consumers
from tests.bench.prometheus import (
    INSTALL_HINT,
    Prometheus,
    PrometheusQueryError,
    find_prometheus,
    start_prometheus,
)

SCRAPE = 1.0  # seconds; the scrape_interval passed to start_prometheus
# A scrape's samples carry the time it started, so one that starts a few ms before
# fleet.use() may already count that use: compare times with this much slack.
SLACK = 0.1


def C(key_id: str) -> str:
    return f'{METRIC}{{key_id="{key_id}"}}'


def used_since(key_id: str, t: float) -> str:
    """Requests made with ``key_id`` since unix time ``t``; always one sample."""
    c = C(key_id)
    return f"(sum({c}) or vector(0)) - (sum({c} @ {t:.3f}) or vector(0))"


def last_used(key_id: str, window: str = "5m", step: str = "1s") -> str:
    """Last subquery step at which a series of ``key_id`` grew or appeared.

    The previous value is the last real sample (``last_over_time`` skips the
    staleness markers a failed scrape writes), so a scrape failure is not a use.
    """
    c = C(key_id)
    prev = f"last_over_time({c}[{window}] offset {step})"
    changed = f"({c} > {prev}) or ({c} unless {prev})"
    return f"max(max_over_time(timestamp({changed})[{window}:{step}]))"


def last_used_naive(key_id: str, window: str = "5m", step: str = "1s") -> str:
    """Like last_used, but a series back after a failed scrape looks new."""
    c = C(key_id)
    changed = f"({c} > {c} offset {step}) or ({c} unless {c} offset {step})"
    return f"max(max_over_time(timestamp({changed})[{window}:{step}]))"


def _value(result: list[Any]) -> float | None:
    return float(result[0]["value"][1]) if result else None


# --- the fleet alone -------------------------------------------------------------------


@pytest.fixture
def fleet() -> Iterator[ConsumerFleet]:
    with start_consumers() as running:
        yield running


def test_metrics_exposition(fleet: ConsumerFleet) -> None:
    empty = requests.get(f"{fleet.url}/metrics", timeout=5)
    assert empty.status_code == 200
    assert empty.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert empty.text.splitlines() == [
        f"# HELP {METRIC} Requests a consumer made with an API key, by key id.",
        f"# TYPE {METRIC} counter",
    ]
    fleet.use("KEYOLD", 3)
    fleet.use("KEYNEW", 5, consumer="app-2")
    fleet.use("KEYNEW")
    lines = requests.get(f"{fleet.url}/metrics", timeout=5).text.splitlines()
    assert lines[2:] == [
        f'{METRIC}{{consumer="app-1",key_id="KEYNEW"}} 1',
        f'{METRIC}{{consumer="app-1",key_id="KEYOLD"}} 3',
        f'{METRIC}{{consumer="app-2",key_id="KEYNEW"}} 5',
    ]
    assert fleet.counts()[("app-2", "KEYNEW")] == 5
    fleet.fail_metrics()
    assert requests.get(f"{fleet.url}/metrics", timeout=5).status_code == 503
    fleet.fail_metrics(False)
    assert requests.get(f"{fleet.url}/metrics", timeout=5).status_code == 200


def test_key_versions(fleet: ConsumerFleet) -> None:
    assert requests.get(f"{fleet.url}/key-versions", timeout=5).json() == {"consumers": []}
    fleet.use("KEYOLD", 2, consumer="app-2")
    fleet.hold("app-1", "KEYOLD")
    first = requests.get(f"{fleet.url}/key-versions", timeout=5).json()["consumers"]
    assert [(c["name"], c["key_id"]) for c in first] == [("app-1", "KEYOLD"), ("app-2", "KEYOLD")]
    for consumer in first:
        assert set(consumer) == {"name", "key_id", "updated_at"}
        assert consumer["updated_at"].endswith("Z")
        time.strptime(consumer["updated_at"], "%Y-%m-%dT%H:%M:%S.%fZ")

    time.sleep(0.01)
    fleet.use("KEYOLD", consumer="app-2")  # same key again: updated_at stays
    fleet.hold("app-1", "KEYNEW")  # a new key, no request counted
    resp = requests.get(f"{fleet.url}/key-versions", timeout=5)
    assert resp.headers["Content-Type"] == "application/json"
    second = resp.json()["consumers"]
    assert second[0]["key_id"] == "KEYNEW" and second[0]["updated_at"] > first[0]["updated_at"]
    assert second[1] == first[1]
    assert ("app-1", "KEYNEW") not in fleet.counts()


def test_rejects_odd_names_and_counts(fleet: ConsumerFleet) -> None:
    for bad in ("", 'k"}', "a b", "x" * 129, "k\n"):
        with pytest.raises(ValueError):
            fleet.use(bad)
        with pytest.raises(ValueError):
            fleet.hold(bad, "KEY")
    for n in (0, -1, True):
        with pytest.raises(ValueError):
            fleet.use("KEY", n)
    assert requests.get(f"{fleet.url}/nope", timeout=5).status_code == 404


def test_stop_closes_keep_alive() -> None:
    fleet = start_consumers()
    with requests.Session() as http:
        assert http.get(f"{fleet.url}/metrics", timeout=5).status_code == 200
        fleet.stop()
        with pytest.raises(requests.ConnectionError):
            http.get(f"{fleet.url}/metrics", timeout=2)
    fleet.stop()  # idempotent


# --- with a real Prometheus --------------------------------------------------------------


def _require_prometheus() -> None:
    try:
        find_prometheus()
    except FileNotFoundError:
        pytest.fail(f"prometheus not installed: {INSTALL_HINT}")


@dataclass
class Timeline:
    """What one scrape timeline recorded (unix seconds)."""

    prom: Prometheus
    t: float  # between KEYOLD's last use and KEYNEW's first
    first_use: float  # fleet.use("KEYNEW", 5)
    second_use: float  # fleet.use("KEYNEW", 2)
    flap: float  # /metrics starts failing (after second_use)
    fleet: ConsumerFleet


@pytest.fixture(scope="module")
def timeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Timeline]:
    _require_prometheus()
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    with start_consumers() as fleet:
        fleet.use("KEYOLD", 3)  # in use before Prometheus starts
        with start_prometheus(workdir, [fleet.target], scrape_interval="1s") as prom:
            prom.wait_for(f"sum({C('KEYOLD')})", lambda r: _value(r) == 3, timeout=15)
            assert prom.targets_up()
            time.sleep(SCRAPE + 0.2)  # KEYOLD gets a second, unchanged sample
            t = time.time()
            time.sleep(0.1)
            fleet.use("KEYNEW", 5)
            first_use = time.time()
            seen = prom.wait_for(f'sum({C("KEYNEW")}) > 0', bool, timeout=3 * SCRAPE + 2)
            assert _value(seen) == 5
            assert prom.value(used_since("KEYNEW", t)) == 5
            time.sleep(SCRAPE + 0.2)
            fleet.use("KEYNEW", 2)
            second_use = time.time()
            prom.wait_for(f"sum({C('KEYNEW')})", lambda r: _value(r) == 7, timeout=3 * SCRAPE + 2)
            # The subquery's steps are whole seconds: wait until one follows that scrape.
            prom.wait_for(
                last_used("KEYNEW"),
                lambda r: (_value(r) or 0) >= second_use - SLACK,
                timeout=3 * SCRAPE,
            )
            # One failed scrape, then back: the series go stale and return unchanged.
            flap = time.time()
            fleet.fail_metrics()
            prom.wait_for('up{job="bench"} == 0', bool, timeout=3 * SCRAPE)
            assert prom.query(C("KEYOLD")) == []  # stale at once, not after 5 minutes
            fleet.fail_metrics(False)
            prom.wait_for(f"sum({C('KEYOLD')})", bool, timeout=3 * SCRAPE)
            back = time.time()
            prom.wait_for(
                last_used_naive("KEYOLD"),
                lambda r: (_value(r) or 0) >= back - 2 * SCRAPE,
                timeout=3 * SCRAPE,
            )
            yield Timeline(prom, t, first_use, second_use, flap, fleet)


def test_prometheus_is_debian_build(timeline: Timeline) -> None:
    info = timeline.prom.build_info()
    assert info["version"].startswith("2.")
    log = timeline.prom.log
    assert log is not None and log.stat().st_mode & 0o077 == 0
    assert timeline.prom.config.stat().st_mode & 0o077 == 0
    series = timeline.prom.query(C("KEYNEW"))
    assert [s["metric"] for s in series] == [
        {
            "__name__": METRIC,
            "consumer": "app-1",
            "instance": timeline.fleet.target,
            "job": "bench",
            "key_id": "KEYNEW",
        }
    ]


def test_used_since(timeline: Timeline) -> None:
    prom, t = timeline.prom, timeline.t
    assert prom.value(used_since("KEYNEW", t)) == 7
    assert prom.value(used_since("KEYOLD", t)) == 0
    assert prom.value(used_since("NEVER", t)) == 0
    # Evaluated at t itself, nothing had been used since t yet.
    assert prom.value(used_since("KEYNEW", t), at=t) == 0
    # Between the two uses: only the first 5 requests.
    assert prom.value(used_since("KEYNEW", t), at=timeline.second_use - SLACK) == 5


def test_increase_misses_a_new_series(timeline: Timeline) -> None:
    """increase() ignores the first sample of a series that appears already > 0."""
    prom = timeline.prom
    window = f"{int(time.time() - timeline.t) + 1}s"
    grew = prom.value(f"sum(increase({C('KEYNEW')}[{window}]))")
    assert grew is not None and 0 < grew < 7  # only the +2, extrapolated
    assert prom.value(f"sum(increase({C('KEYOLD')}[{window}]))") == 0
    # changes() has the same blind spot: KEYOLD's appearance is not a change.
    assert prom.query(f"max_over_time(timestamp(changes({C('KEYOLD')}[2s]) > 0)[5m:1s])") == []


def test_last_used(timeline: Timeline) -> None:
    prom = timeline.prom
    new = prom.value(last_used("KEYNEW"))
    use = timeline.second_use
    assert new is not None and use - SLACK <= new <= use + 2 * SCRAPE + 1
    assert new == int(new)  # subquery steps are multiples of the step (1s) since the epoch
    old = prom.value(last_used("KEYOLD"))  # its first scrape: before t
    assert old is not None and old < timeline.t
    assert prom.query(last_used("NEVER")) == []
    # Last used as of just before the second use: the first one.
    earlier = prom.value(last_used("KEYNEW"), at=use - SLACK)
    assert earlier is not None and timeline.first_use - SLACK <= earlier < use
    # timestamp() alone is the last scrape, whatever was used.
    scraped = prom.value(f"max(timestamp({C('KEYOLD')}))")
    assert scraped is not None and scraped > timeline.flap


def test_failed_scrape_is_not_a_use(timeline: Timeline) -> None:
    """After a failed scrape, ``C offset S`` is empty (stale), ``last_over_time`` is not."""
    prom = timeline.prom
    old = prom.value(last_used("KEYOLD"))
    assert old is not None and old < timeline.t
    naive = prom.value(last_used_naive("KEYOLD"))
    assert naive is not None and naive > timeline.flap  # the flap looks like a use
    new = prom.value(last_used("KEYNEW"))
    assert new is not None and new < timeline.flap
    assert prom.value(used_since("KEYOLD", timeline.t)) == 0


def test_query_errors_are_raised(timeline: Timeline) -> None:
    with pytest.raises(PrometheusQueryError, match="bad_data"):
        timeline.prom.query("sum(")


def test_missing_binary_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr("os.access", lambda path, mode: False)
    with pytest.raises(FileNotFoundError, match="install_prometheus.sh"):
        start_prometheus(Path("/nonexistent"), ["127.0.0.1:1"])
