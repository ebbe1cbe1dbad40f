"""The alerting bench: the gateway's request metric, the alert receiver, a real Alertmanager
(Debian's ``prometheus-alertmanager``, with ``amtool``) and node_exporter's textfile collector,
chained to a real Prometheus with a small rule file of this test's own.

The binaries come from tests/bench/install_prometheus.sh (``make tools``); without them the
tests fail, naming the script. The chain test takes ~8 s (Prometheus hands targets and
Alertmanagers over ~5 s after start).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.bench.alertmanager import (
    AlertReceiver,
    find_alertmanager,
    find_amtool,
    start_alertmanager,
    start_receiver,
    write_config,
)
from tests.bench.emulators import RunningEmulator, serve_in_thread
from tests.bench.emulators.gateway import METRICS_CONTENT_TYPE, REQUESTS_METRIC, GatewayEmulator
from tests.bench.node_exporter import start_node_exporter
from tests.bench.prometheus import start_prometheus

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "monitoring" / "alertmanager" / "alertmanager.example.yml"
ADMIN = {"Kong-Admin-Token": "admin-token-for-tests"}


def _series(text: str) -> dict[str, float]:
    """``{'name{labels}': value}`` of the exposition lines of the request metric."""
    found = {}
    for line in text.splitlines():
        if line.startswith(REQUESTS_METRIC + "{"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def _labels(key_id: str, state: str, code: int, service: str = "demo") -> str:
    return f'{REQUESTS_METRIC}{{code="{code}",key_id="{key_id}",key_state="{state}",service="{service}"}}'


@pytest.fixture
def gw() -> Iterator[RunningEmulator[GatewayEmulator]]:
    with serve_in_thread(GatewayEmulator(admin_token=ADMIN["Kong-Admin-Token"])) as running:
        yield running


def _seed(gw: RunningEmulator[GatewayEmulator], **body: object) -> dict[str, str]:
    made: dict[str, str] = requests.post(gw.url + "/__emulator/seed", json={"consumer": "demo", **body}, timeout=5).json()
    return made


def _call(gw: RunningEmulator[GatewayEmulator], key: str | None, path: str = "/demo/ping") -> int:
    headers = {"apikey": key} if key is not None else {}
    return requests.get(gw.url + path, headers=headers, timeout=5).status_code


# --- the gateway's request metric ----------------------------------------------------


def test_gateway_counts_requests_by_key_state(gw: RunningEmulator[GatewayEmulator]) -> None:
    empty = requests.get(gw.url + "/metrics", timeout=5)
    assert empty.status_code == 200 and empty.headers["Content-Type"] == METRICS_CONTENT_TYPE
    assert f"# TYPE {REQUESTS_METRIC} counter" in empty.text and _series(empty.text) == {}

    cred = _seed(gw)
    assert [_call(gw, cred["key"]) for _attempt in range(2)] == [200, 200]
    deleted = requests.delete(f"{gw.url}/consumers/demo/key-auth/{cred['id']}", headers=ADMIN, timeout=5)
    assert deleted.status_code == 204
    assert _call(gw, cred["key"]) == 401  # revoked: remembered, still a 401
    never = "never-issued-" + "x" * 20
    assert _call(gw, never) == 401 and _call(gw, None, "/billing/charge") == 401

    text = requests.get(gw.url + "/metrics", timeout=5).text
    assert _series(text) == {
        _labels(cred["id"], "active", 200): 2.0,
        _labels(cred["id"], "revoked", 401): 1.0,
        _labels("unknown", "unknown", 401): 1.0,
        _labels("unknown", "unknown", 401, "billing"): 1.0,
    }
    assert cred["key"] not in text and never not in text, "a key never appears in the metrics"
    calls = requests.get(gw.url + "/__emulator/calls", timeout=5).json()
    assert calls.get("GET /demo/ping") == 4


def test_expired_key_counts_as_revoked(gw: RunningEmulator[GatewayEmulator]) -> None:
    made = requests.post(gw.url + "/consumers/demo/key-auth", json={"ttl": 1}, headers=ADMIN, timeout=5).json()
    time.sleep(1.1)
    assert _call(gw, made["key"]) == 401
    assert _series(requests.get(gw.url + "/metrics", timeout=5).text) == {_labels(made["id"], "revoked", 401): 1.0}


def test_reset_forgets_keys_not_counts(gw: RunningEmulator[GatewayEmulator]) -> None:
    cred = _seed(gw)
    requests.delete(f"{gw.url}/consumers/demo/key-auth/{cred['id']}", headers=ADMIN, timeout=5)
    requests.post(gw.url + "/__emulator/reset", timeout=5).raise_for_status()
    assert _call(gw, cred["key"]) == 401
    counted = _series(requests.get(gw.url + "/metrics", timeout=5).text)
    assert counted == {_labels("unknown", "unknown", 401): 1.0}


# --- the receiver and the configs ---------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[AlertReceiver]:
    with start_receiver() as running:
        yield running


def test_receiver_records_every_post(receiver: AlertReceiver) -> None:
    payload = {"alerts": [{"status": "firing", "labels": {"alertname": "A", "key": "k1"}}]}
    before = time.time()
    assert requests.post(receiver.url, json=payload, timeout=5).status_code == 200
    assert requests.post(receiver.url, data=b"not json", timeout=5).status_code == 200
    assert requests.get(receiver.url, timeout=5).status_code == 405
    first, second = receiver.deliveries()
    assert first.path == "/alerts" and first.body == payload and first.received_at >= before
    assert second.body is None
    delivery, alert = receiver.wait_for("A", timeout=1)
    assert delivery is first and alert["labels"]["key"] == "k1"
    with pytest.raises(TimeoutError, match=r"no firing B delivered .* so far: \['A'\]"):
        receiver.wait_for("B", timeout=0.2)
    with pytest.raises(TimeoutError):
        receiver.wait_for("A", status="resolved", timeout=0.2)


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([find_amtool(), *args], capture_output=True, text=True, timeout=30, check=False)


def test_example_config_passes_amtool() -> None:
    checked = _amtool("check-config", str(EXAMPLE))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout and "2 receivers" in checked.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["alertname=ApiKeyRotationFailed", "severity=critical", "page=true", "key=k"], "pager,slack"),
        (["alertname=ApiKeyAuthFailureSpike", "severity=critical", "page=true"], "pager,slack"),
        (["alertname=Other", "severity=critical"], "pager,slack"),
        (["alertname=ApiKeyApproachingMaxAge", "severity=high", "key=k"], "slack"),
        (["alertname=ApiKeyOldKeyUsedAfterGrace", "severity=warning", "key=k"], "slack"),
        (["alertname=ApiKeyRevokedKeyUsed", "severity=high"], "slack"),
    ],
)
def test_example_config_routes_pages_to_the_pager(labels: list[str], receivers: str) -> None:
    routed = _amtool("config", "routes", "test", f"--config.file={EXAMPLE}", *labels)
    assert routed.returncode == 0, routed.stderr
    assert routed.stdout.strip() == receivers


def test_bench_config_passes_amtool(tmp_path: Path) -> None:
    write_config(tmp_path / "am.yml", "http://127.0.0.1:1/alerts")
    checked = _amtool("check-config", str(tmp_path / "am.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_missing_binaries_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr("os.access", lambda path, mode: False)
    with pytest.raises(FileNotFoundError, match="install_prometheus.sh"):
        find_alertmanager()
    with pytest.raises(FileNotFoundError, match="install_prometheus.sh"):
        start_node_exporter(Path("/nonexistent"), Path("/nonexistent/tf"))


# --- the chain: textfile / gateway -> Prometheus -> rules -> Alertmanager -> receiver ---

RULES = """\
groups:
  - name: bench
    rules:
      - alert: BenchTextfileFlag
        expr: bench_flag > 0
        labels: {severity: critical, page: "true"}
        annotations: {summary: "flag {{ $labels.key }} is up"}
      - alert: BenchRevokedKeyUsed
        expr: >-
          sum by (key_id) (increase(api_key_requests_total{key_state="revoked"}[1m])) > 0
          or sum by (key_id) (api_key_requests_total{key_state="revoked"}
                              unless api_key_requests_total{key_state="revoked"} offset 1m) > 0
        labels: {severity: high}
        annotations: {summary: "revoked key {{ $labels.key_id }} used"}
"""


def test_alerts_flow_from_textfile_and_gateway_to_the_receiver(
    tmp_path: Path, receiver: AlertReceiver, gw: RunningEmulator[GatewayEmulator]
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    cred = _seed(gw)
    _call(gw, cred["key"])
    requests.delete(f"{gw.url}/consumers/demo/key-auth/{cred['id']}", headers=ADMIN, timeout=5)
    with (
        start_node_exporter(tmp_path / "node", tmp_path / "textfile") as node,
        start_alertmanager(tmp_path / "am", receiver.url) as am,
        start_prometheus(
            tmp_path / "prom",
            [node.target, gw.url],
            scrape_interval="1s",
            rule_files=[rules],
            alertmanagers=[am.target],
        ) as prom,
    ):
        assert [g["name"] for g in prom.rule_groups()] == ["bench"]
        for path in (am.log, am.config, node.log):
            assert path is not None and path.stat().st_mode & 0o077 == 0
        # The revoked series is born at 1 by the use below: increase() alone cannot see such a
        # series' first sample, the rule's `unless ... offset` arm does.
        prom.wait_for(f'{REQUESTS_METRIC}{{key_state="active"}}', bool, timeout=15)
        (tmp_path / "textfile" / "bench.prom.tmp").write_text('bench_flag{key="k1"} 1\n')
        (tmp_path / "textfile" / "bench.prom.tmp").rename(tmp_path / "textfile" / "bench.prom")
        flag_at = time.time()
        assert _call(gw, cred["key"]) == 401
        used_at = time.time()
        flag, flag_alert = receiver.wait_for("BenchTextfileFlag", timeout=20)
        used, used_alert = receiver.wait_for("BenchRevokedKeyUsed", timeout=20)
        assert flag_alert["labels"]["key"] == "k1" and flag_alert["labels"]["page"] == "true"
        assert flag_alert["annotations"]["summary"] == "flag k1 is up"
        assert used_alert["labels"]["key_id"] == cred["id"]
        assert flag.body["receiver"] == "bench" and flag.body["version"] == "4"
        assert cred["key"] not in str(used.body)
        assert flag.received_at - flag_at < 10 and used.received_at - used_at < 10
        assert {a["labels"]["alertname"] for a in am.alerts()} >= {"BenchTextfileFlag", "BenchRevokedKeyUsed"}
        # Resolved notices are delivered too (send_resolved): the flag goes down.
        (tmp_path / "textfile" / "bench.prom").write_text('bench_flag{key="k1"} 0\n')
        receiver.wait_for("BenchTextfileFlag", status="resolved", after=flag.received_at, timeout=20)
    assert not am.process.alive() and not node.process.alive() and not prom.process.alive()
