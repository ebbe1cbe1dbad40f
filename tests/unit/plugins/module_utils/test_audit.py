"""The audit trail: events of a key's life as JSON lines, to an append-only file and to syslog."""
from __future__ import annotations

import json
import multiprocessing
import os
import re
import socket
import stat
import threading
from datetime import datetime, timezone

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils import _audit
from ansible_collections.apikeys.rotation.plugins.module_utils._audit import AuditTrail, FileDestination, \
    SyslogDestination, actor, default_log_path, failure_event, from_task_vars, run_id, transition_event
from ansible_collections.apikeys.rotation.plugins.module_utils._config import KeyConfig
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ConfigError, ProviderError
from ansible_collections.apikeys.rotation.plugins.module_utils._record import HISTORY_KEPT, history
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.module_utils._session import Session
from ansible_collections.apikeys.rotation.plugins.module_utils.stores import _vault_tokens
from ansible_collections.apikeys.rotation.tests.unit.fakes import NOW, PATH, FakeProvider, MemoryStore

SECRET = "sk-AUDIT-canary-5b2e11"
NEW_SECRET = "sk-NEW-canary-77aa01"


def trail(tmp_path, preflight: bool = True, **over) -> AuditTrail:
    options = dict(log_path=str(tmp_path / "audit" / "audit.log"), syslog=None,
                   who={"type": "os", "user": "ops", "host": "ctl"}, run="run-1")
    options.update(over)
    audit = AuditTrail("mailer", **options)
    if preflight:
        audit.preflight()  # as KeyAction does before the task changes anything
    return audit


def lines(path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8").read().splitlines()]


# -- events ------------------------------------------------------------------------------------------------------

def test_a_transition_names_its_key_ids_and_never_a_secret():
    before = {"key": SECRET, "key_id": "k1", "rotation_id": "r1", "pending_key": NEW_SECRET, "pending_key_id": "k2"}
    after = {"key": NEW_SECRET, "key_id": "k2", "previous_key": SECRET, "previous_key_id": "k1",
             "last_rotation_id": "r1", "previous_key_compromised": True}
    event = transition_event("rotated", before, after, NOW, "mailer", module="vault_key_write")
    assert event == {"time": "2024-06-01T12:00:00Z", "key": "mailer", "action": "promoted", "result": "ok",
                     "cause": "emergency", "rotation_id": "r1", "key_id": "k2", "previous_key_id": "k1",
                     "module": "vault_key_write"}
    assert SECRET not in json.dumps(event) and NEW_SECRET not in json.dumps(event)


@pytest.mark.parametrize("step, action, came, went", [
    ("intent", "intent", [], []),
    ("pending", "stored", ["k2"], []),
    ("rolled back", "revoked", [], ["k2"]),
    ("revoked", "revoked", [], ["k0"]),
])
def test_key_ids_that_came_and_went(step, action, came, went):
    before = {"key_id": "k1", "previous_key_id": "k0"} if step == "revoked" else {"key_id": "k1"}
    if step == "rolled back":
        before = {"key_id": "k1", "revoking_key_id": "k2"}
    after = {"key_id": "k1"}
    if step == "pending":
        after = {"key_id": "k1", "pending_key_id": "k2"}
    event = transition_event(step, before, after, NOW, "mailer")
    assert (event["action"], event.get("new_key_ids", []), event.get("revoked_key_ids", [])) == (action, came, went)


def test_an_emergency_is_named_by_the_incident_the_write_records():
    after = {"key_id": "k1", "incidents": [{"kind": "emergency", "action": "revoked the pending key"}]}
    event = transition_event("discarded", {"key_id": "k1", "pending_key_id": "k2"}, after, NOW, "mailer")
    assert (event["action"], event["cause"], event["revoked_key_ids"]) == ("discarded", "emergency", ["k2"])


def test_a_failure_event_scrubs_its_message():
    error = ProviderError(f"sendgrid: 401: bad key {SECRET}", 401)
    event = failure_event(NOW, "mailer", error, lambda text: text.replace(SECRET, "<hidden>"))
    assert (event["action"], event["result"], event["error"]) == ("failed", "failed", "provider")
    assert event["message"] == "sendgrid: 401: bad key <hidden>"
    assert failure_event(NOW, "k", RuntimeError(SECRET), str)["message"] == "unexpected RuntimeError"


# -- who and which run -------------------------------------------------------------------------------------------

def test_the_actor_is_the_awx_job_and_its_launcher():
    found = actor({"awx_job_id": 42, "awx_user_name": "alice", "awx_job_launch_type": "manual",
                   "awx_job_template_name": "rotate", "awx_user_email": "a@example.com"})
    assert found == {"type": "awx", "job_id": 42, "user_name": "alice", "job_launch_type": "manual",
                     "job_template_name": "rotate"}
    assert actor({"tower_job_id": 7, "tower_schedule_name": "nightly"}) == {"type": "awx", "job_id": 7,
                                                                            "schedule_name": "nightly"}
    assert run_id({"awx_job_id": 42}) == "awx-job-42"


def test_the_actor_is_the_os_user_outside_awx(monkeypatch):
    _audit.os_actor.cache_clear()  # asked once per process: ask again with the user below
    monkeypatch.setattr(_audit.getpass, "getuser", lambda: "ops")
    try:
        assert actor({}) == {"type": "os", "user": "ops", "host": socket.gethostname()}
        actor({})["user"] = "changed by a caller"
        assert actor({})["user"] == "ops"  # each caller gets its own copy of the cached answer
    finally:
        _audit.os_actor.cache_clear()


def test_the_run_id_is_shared_by_the_tasks_of_one_run(monkeypatch):
    monkeypatch.delenv("APIKEYS_RUN_ID", raising=False)
    assert run_id({}) == run_id({}) and run_id({}).startswith(f"{socket.gethostname()}-{os.getppid()}-")
    monkeypatch.setenv("APIKEYS_RUN_ID", "nightly-2026-01-01")
    assert run_id({}) == "nightly-2026-01-01"


def test_a_batch_shard_has_its_workers_run_id(monkeypatch):
    """A shard is forked from a worker: its run is still the worker's ansible-playbook (pid and start time)."""
    monkeypatch.delenv("APIKEYS_RUN_ID", raising=False)
    worker_run = run_id({})
    monkeypatch.setattr(_vault_tokens, "_SHARD", [(os.getpid(), os.getppid())])
    assert run_id({}) == worker_run
    monkeypatch.setattr(_vault_tokens, "_SHARD", [(os.getppid(), os.getpid())])
    assert run_id({}) == f"{socket.gethostname()}-{os.getpid()}-{_audit.process_start(os.getpid())}"


def test_default_path_and_variables(tmp_path):
    assert default_log_path({"XDG_STATE_HOME": "/state"}) == "/state/apikeys.rotation/audit.log"
    assert default_log_path({}).endswith("/.local/state/apikeys.rotation/audit.log")
    assert from_task_vars("k", {"apikeys_audit_log": ""}).file is None
    assert from_task_vars("k", {}, environ={"XDG_STATE_HOME": str(tmp_path)}).file.path == \
        str(tmp_path / "apikeys.rotation" / "audit.log")
    for bad in ({"apikeys_audit_log": 3}, {"apikeys_audit_syslog": "http://x"}, {"apikeys_audit_syslog": "udp://"}):
        with pytest.raises(ConfigError) as info:
            from_task_vars("k", bad)
        assert "apikeys_audit_" in str(info.value)


# -- the file ------------------------------------------------------------------------------------------------------

def test_the_file_is_created_0600_in_a_0700_folder_and_appended(tmp_path):
    audit = trail(tmp_path)
    path = tmp_path / "audit" / "audit.log"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert audit.emit({"time": "t", "key": "mailer", "action": "intent", "result": "ok"}) == []
    assert audit.emit({"time": "t", "key": "mailer", "action": "stored", "result": "ok"}) == []
    got = lines(path)
    assert [e["action"] for e in got] == ["intent", "stored"]
    assert got[0]["actor"] == {"type": "os", "user": "ops", "host": "ctl"} and got[0]["run_id"] == "run-1"


def test_an_unwritable_file_stops_the_task_before_it_changes_anything(tmp_path):
    (tmp_path / "not-a-folder").write_text("")     # fails for root too
    audit = trail(tmp_path, preflight=False, log_path=str(tmp_path / "not-a-folder" / "audit.log"))
    with pytest.raises(ConfigError) as info:
        audit.preflight()
    assert "apikeys_audit_log" in str(info.value) and "nothing was changed" in str(info.value)


def test_a_file_that_fails_later_is_a_warning_with_the_line(tmp_path):
    audit = trail(tmp_path, preflight=False, log_path=str(tmp_path / "missing-dir" / "audit.log"))
    [warning] = audit.emit({"time": "t", "key": "mailer", "action": "revoked", "result": "ok"})
    assert "audit log" in warning and '"action":"revoked"' in warning


def _append_many(path: str, worker: int) -> None:
    destination = FileDestination(path)
    for n in range(200):
        destination.send(json.dumps({"worker": worker, "n": n, "pad": "x" * 3000}), False)


def test_concurrent_writers_never_interleave_lines(tmp_path):
    path = str(tmp_path / "audit.log")
    workers = [multiprocessing.Process(target=_append_many, args=(path, w)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    got = lines(path)                                 # every line parses: none was cut by another's write
    assert len(got) == 800 and {(e["worker"], e["n"]) for e in got} == {(w, n) for w in range(4) for n in range(200)}


def test_the_line_is_scrubbed_as_a_last_defence(tmp_path):
    audit = trail(tmp_path, scrub=lambda text: text.replace(SECRET, "<hidden>"))
    audit.emit({"time": "t", "key": "mailer", "action": "failed", "message": f"echo {SECRET}"})
    assert SECRET not in (tmp_path / "audit" / "audit.log").read_text()


# -- syslog --------------------------------------------------------------------------------------------------------

def test_udp_syslog_is_rfc5424(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)
        audit = trail(tmp_path, log_path=None, syslog=f"udp://127.0.0.1:{server.getsockname()[1]}")
        assert audit.emit({"time": "t", "key": "mailer", "action": "promoted", "result": "ok"}) == []
        audit.emit({"time": "t", "key": "mailer", "action": "failed", "result": "failed"})
        first, second = server.recv(65535).decode(), server.recv(65535).decode()
    found = re.match(r"^<86>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z \S+ apikeys\.rotation \d+ promoted - (\{.*\})$", first)
    assert found, first
    assert json.loads(found.group(2))["action"] == "promoted"
    assert second.startswith("<84>1 ")                 # authpriv.warning for a failure


def test_tcp_syslog_is_octet_counted(tmp_path):
    got: list[bytes] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def accept() -> None:
            connection = server.accept()[0]
            with connection:
                while chunk := connection.recv(65535):
                    got.append(chunk)

        reader = threading.Thread(target=accept)
        reader.start()
        audit = trail(tmp_path, log_path=None, syslog=f"tcp://127.0.0.1:{server.getsockname()[1]}")
        assert audit.emit({"time": "t", "key": "mailer", "action": "verified", "result": "ok"}) == []
        reader.join(5)
    frame = b"".join(got).decode()
    length, message = frame.split(" ", 1)
    assert int(length) == len(message.encode()) and message.startswith("<86>1 ")


def test_unix_syslog_is_the_local_format(tmp_path):
    address = str(tmp_path / "log.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(address)
        server.settimeout(5)
        audit = trail(tmp_path, log_path=None, syslog=f"unix://{address}")
        audit.emit({"time": "t", "key": "mailer", "action": "revoked", "result": "ok"})
        message = server.recv(65535).decode()
    assert re.match(r"^<86>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d apikeys\.rotation\[\d+\]: \{.*\}$", message), message


def test_a_syslog_that_is_down_is_a_warning_not_a_failure(tmp_path):
    audit = trail(tmp_path, syslog=f"unix://{tmp_path}/nothing-listens")
    [warning] = audit.emit({"time": "t", "key": "mailer", "action": "revoked", "result": "ok"})
    assert "audit syslog" in warning
    assert len(lines(tmp_path / "audit" / "audit.log")) == 1    # the file still got its line


def test_syslog_frames_carry_no_timezone_surprise():
    destination = SyslogDestination("k", "udp://127.0.0.1:514")
    frame = destination.frame('{"action":"intent"}', False, datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert frame.decode().startswith("<86>1 2026-01-02T03:04:05.000000Z ")


# -- through a rotation: the record's history and the trail ---------------------------------------------------------

def test_a_rotation_writes_its_events_to_the_trail_and_to_the_record(tmp_path):
    store = MemoryStore()
    store.write(PATH, {"key": SECRET, "key_id": "k-old", "rotated_at": "2024-01-01T00:00:00Z"}, cas=0)
    provider = FakeProvider()
    provider.add("k-old", SECRET)
    audit = trail(tmp_path)
    cfg = KeyConfig(name="mailer", provider="fake", vault_path=PATH, rotation_frequency=86400, grace_period=3600)
    rotation = Rotation(cfg, store, provider, clock=lambda: NOW, sleep=lambda s: None, audit=audit,
                        context={"module": "api_key_create"})
    out = rotation.create()
    rotation.promote(out["rotation_id"])
    got = lines(tmp_path / "audit" / "audit.log")
    assert [e["action"] for e in got] == ["intent", "created", "stored", "verified", "promoted"]
    assert {e["rotation_id"] for e in got} == {out["rotation_id"]}
    assert got[1]["new_key_ids"] == [out["key_id"]] and got[4]["previous_key_id"] == "k-old"
    assert all(e["owner"] == rotation.owner and e["module"] == "api_key_create" for e in got)
    text = (tmp_path / "audit" / "audit.log").read_text()
    assert SECRET not in text and store.data()["key"] not in text
    kept = history(store.data())
    assert [e["action"] for e in kept] == ["intent", "stored", "verified", "promoted"]
    assert kept[-1]["by"] == "ops@ctl" and kept[-1]["run_id"] == "run-1"


def test_the_history_is_bounded(tmp_path):
    store = MemoryStore()
    store.write(PATH, {"key": SECRET, "key_id": "k1", "rotated_at": "2024-01-01T00:00:00Z"}, cas=0)
    session = Session(KeyConfig(name="mailer", provider="fake", vault_path=PATH), store, clock=lambda: NOW)
    entry = session.read()
    for n in range(HISTORY_KEPT + 5):
        entry = session.write(entry, dict(entry.data, revocation_postponements=n), "postponed")
    assert len(history(store.data())) == HISTORY_KEPT
