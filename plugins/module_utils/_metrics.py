# Internal to this collection: not a public API; may change without notice.
"""Prometheus metrics of the keys (from ``api_key_info`` results, metadata only) and of the runs.

Built with ``prometheus_client`` (never formatted by hand) and written as a node_exporter textfile
(``write_to_textfile``: a temporary file renamed over the old one, so a scrape never sees half a file).
The names are a contract with the rules in ``monitoring/prometheus/apikeys-rules.yml``; the unit
tests check that every name the rules use is one written here. No secret is ever a label or a value:
the inputs are ``api_key_info`` results, which hold none, and only ids, phases and times are read.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from ._lazy import available, load
from ._record import PHASES
from ._timeutil import from_iso

# Only found here, imported on first use (_client()): Ansible's strategy imports this module (through the
# api_key_metrics action) for every run of the roles, also when the metrics task is skipped (no
# apikeys_metrics_dir); prometheus_client costs ~0.1-0.2 s of CPU to import. Reported by the action when missing.
HAS_PROMETHEUS_CLIENT = available("prometheus_client")
MISSING_LIBRARY = ("apikeys.rotation's metrics need the prometheus-client Python library on the controller: "
                   "pip install prometheus-client")

KEY = ("key", "provider")
#: every key metric: name -> (extra labels, help)
KEY_METRICS: dict[str, tuple[tuple[str, ...], str]] = {
    "apikeys_key_info": (("key_id", "phase"), "The key's current key id and phase (always 1)."),
    "apikeys_key_previous_info": (("key_id",), "The previous key's id, while it is kept for its grace period (always 1)."),
    "apikeys_key_revoked_info": (("key_id",), "The id of the last key revoked (always 1)."),
    "apikeys_key_age_seconds": ((), "Seconds since the current key became current (rotated_at), in every phase."),
    "apikeys_key_rotation_frequency_seconds": ((), "The key's rotation frequency (apikeys_rotation_frequency)."),
    "apikeys_key_grace_period_seconds": ((), "The key's grace period (apikeys_grace_period)."),
    "apikeys_key_next_due_timestamp_seconds": ((), "When the current key is due for rotation (Unix time)."),
    "apikeys_key_phase": (("phase",), "1 for the key's phase, 0 for the others."),
    "apikeys_key_grace_deadline_timestamp_seconds": ((), "When the previous key's grace period ends (Unix time; only in grace)."),
    "apikeys_key_revocation_postponements": ((), "How many times the revocation of the previous key was postponed."),
    "apikeys_key_last_result_timestamp_seconds": ((), "When the last task that wrote the key's record ran (Unix time)."),
    "apikeys_key_last_failed": ((), "1 when the last task on the key failed (metadata last_result), else 0."),
    "apikeys_key_last_rotation_timestamp_seconds": ((), "When the key was last rotated: rotated_at (Unix time)."),
    "apikeys_key_metadata_read_success": ((), "1 when the key's metadata was read for these metrics, 0 when the read failed."),
}
RUN = ("playbook",)
RUN_METRICS: dict[str, tuple[tuple[str, ...], str]] = {
    "apikeys_run_duration_seconds": ((), "How long the last run of the playbook took, up to its metrics task."),
    "apikeys_run_success": ((), "1 when no key failed in the last run of the playbook, else 0."),
    "apikeys_run_last_timestamp_seconds": ((), "When the last run of the playbook ended (Unix time)."),
    "apikeys_run_keys": (("outcome",), "Keys per outcome in the last run of the playbook."),
}
#: the counter the gateway in front of the keys exports (the contract rules 3-5 rely on; docs/monitoring.md)
REQUESTS = "api_key_requests_total"
REQUESTS_LABELS = ("service", "key_id", "key_state", "code")
COLLECTED = "apikeys_metrics_collected_timestamp_seconds"
COLLECTED_HELP = "When these metrics were written (Unix time)."
#: outcomes that make a run unsuccessful (apikeys_run_success 0)
FAILED_OUTCOMES = ("failed",)
#: values that change at every write without anything having happened: not a change (changed: false)
VOLATILE = ("apikeys_key_age_seconds", COLLECTED, "apikeys_run_duration_seconds", "apikeys_run_last_timestamp_seconds")


def metric_names() -> set[str]:
    """Every metric name this module writes."""
    return set(KEY_METRICS) | set(RUN_METRICS) | {COLLECTED}


def _client() -> Any:
    """prometheus_client (imported once, on first use)."""
    return load("prometheus_client")


class _Gauges:
    def __init__(self, registry: Any, table: dict[str, tuple[tuple[str, ...], str]], labels: tuple[str, ...]) -> None:
        self.gauges = {name: _client().Gauge(name, help_, labels + extra, registry=registry)
                       for name, (extra, help_) in table.items()}

    def set(self, name: str, value: Optional[float], **labels: Any) -> None:
        if value is None:
            return
        self.gauges[name].labels(**{k: "" if v is None else str(v) for k, v in labels.items()}).set(value)


def timestamp(text: Any) -> Optional[float]:
    """Unix time of an ISO 8601 UTC time, None when absent or unreadable."""
    if not text:
        return None
    try:
        return from_iso(str(text)).timestamp()
    except ValueError:
        return None


def key_registry(keys: dict[str, dict[str, Any]], now: datetime) -> Any:
    """The key metrics: ``keys`` maps each key's name to ``{"provider": ..., "result": <api_key_info result>}``.

    A failed ``api_key_info`` result (``failed: true``) only gives apikeys_key_metadata_read_success 0.
    """
    registry = _client().CollectorRegistry()
    gauges = _Gauges(registry, KEY_METRICS, KEY)
    for name in sorted(keys):
        key_metrics(gauges, name, keys[name].get("provider"), keys[name].get("result") or {})
    _client().Gauge(COLLECTED, COLLECTED_HELP, registry=registry).set(now.timestamp())
    return registry


def key_metrics(gauges: _Gauges, name: str, provider: Any, result: dict[str, Any]) -> None:
    record = result.get("record") or {}
    provider = provider or record.get("provider") or ""
    labels = {"key": name, "provider": provider}
    if result.get("failed") or "record" not in result:
        gauges.set("apikeys_key_metadata_read_success", 0, **labels)
        return
    gauges.set("apikeys_key_metadata_read_success", 1, **labels)
    schedule = result.get("schedule") or {}
    phase = str(record.get("phase") or "unknown")
    gauges.set("apikeys_key_info", 1, key_id=record.get("key_id"), phase=phase, **labels)
    for each in PHASES:
        gauges.set("apikeys_key_phase", 1 if each == phase else 0, phase=each, **labels)
    if not record.get("exists") or phase == "unknown":
        return
    if record.get("previous_key_id"):
        gauges.set("apikeys_key_previous_info", 1, key_id=record["previous_key_id"], **labels)
        gauges.set("apikeys_key_grace_deadline_timestamp_seconds", timestamp(record.get("previous_key_revocation_at")),
                   **labels)
    if record.get("last_revoked_key_id"):
        gauges.set("apikeys_key_revoked_info", 1, key_id=record["last_revoked_key_id"], **labels)
    gauges.set("apikeys_key_age_seconds", schedule.get("age_seconds"), **labels)
    gauges.set("apikeys_key_rotation_frequency_seconds", schedule.get("rotation_frequency_seconds"), **labels)
    gauges.set("apikeys_key_grace_period_seconds", schedule.get("grace_period_seconds"), **labels)
    gauges.set("apikeys_key_next_due_timestamp_seconds", timestamp(schedule.get("due_at")), **labels)
    gauges.set("apikeys_key_revocation_postponements", int(record.get("revocation_postponements") or 0), **labels)
    gauges.set("apikeys_key_last_result_timestamp_seconds", timestamp(record.get("last_result_at")), **labels)
    if record.get("last_result"):
        gauges.set("apikeys_key_last_failed", 1 if record["last_result"] == "failed" else 0, **labels)
    gauges.set("apikeys_key_last_rotation_timestamp_seconds", timestamp(record.get("rotated_at")), **labels)


def run_registry(playbook: str, counts: dict[str, int], duration: Optional[float], now: datetime) -> Any:
    """The run metrics of one playbook run: its duration, whether any key failed, keys per outcome."""
    registry = _client().CollectorRegistry()
    gauges = _Gauges(registry, RUN_METRICS, RUN)
    gauges.set("apikeys_run_duration_seconds", duration, playbook=playbook)
    failed = sum(n for outcome, n in counts.items() if outcome in FAILED_OUTCOMES)
    gauges.set("apikeys_run_success", 0 if failed else 1, playbook=playbook)
    gauges.set("apikeys_run_last_timestamp_seconds", now.timestamp(), playbook=playbook)
    for outcome, n in sorted(counts.items()):
        gauges.set("apikeys_run_keys", n, playbook=playbook, outcome=outcome)
    # not COLLECTED: node_exporter refuses a sample that two files of its directory both hold
    return registry


def exposition(registry: Any) -> str:
    return _client().generate_latest(registry).decode("utf-8")


def write(path: str, registry: Any) -> None:
    """Write the textfile atomically (prometheus_client writes a temporary file and renames it)."""
    _client().write_to_textfile(path, registry)


def lasting(text: str) -> list[str]:
    """The samples of an exposition that mean something happened (the volatile ones left out)."""
    return [line for line in text.splitlines()
            if line and not line.startswith("#") and not line.startswith(VOLATILE)]


def names_in(text: str) -> set[str]:
    """Metric names of the samples in an exposition text (for the tests and the diff)."""
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
