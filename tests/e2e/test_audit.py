"""The audit trail on the bench: a rotation and its revocation after grace, as JSON lines in a file and in a
real UDP syslog receiver; the record's own history through api_key_info; no secret anywhere (issue 11 item 5)."""
from __future__ import annotations

import getpass
import json
import re
import socket
import stat
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from .conftest import World
from .test_canary import bench_secrets

RFC5424 = re.compile(r"^<(?P<pri>\d+)>1 \S+ \S+ apikeys\.rotation \d+ (?P<msgid>\S+) - (?P<json>\{.*\})$")
INFO = """---
- name: Show each key's history
  hosts: all
  gather_facts: false
  tasks:
    - name: Read the record
      apikeys.rotation.api_key_info:
      register: info
    - name: Keep the history
      ansible.builtin.copy:
        content: "{{ info.history | to_json }}"
        dest: "{{ out_dir }}/{{ inventory_hostname }}.json"
        mode: "0600"
"""
ROTATION = ["intent", "created", "stored", "verified", "promoted"]


class SyslogReceiver:
    """A UDP syslog receiver (the test's own, as a SIEM's collector would be): keeps every datagram."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = f"udp://127.0.0.1:{self.sock.getsockname()[1]}"
        self.messages: list[str] = []
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while self.running:
            try:
                self.messages.append(self.sock.recv(65535).decode())
            except socket.timeout:
                continue

    def stop(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def syslog() -> Iterator[SyslogReceiver]:
    receiver = SyslogReceiver()
    yield receiver
    receiver.stop()


def events(lines: list[dict[str, Any]], host: str) -> list[dict[str, Any]]:
    return [e for e in lines if e["key"] == host]


def test_rotation_and_revocation_leave_an_audit_trail_in_file_syslog_and_record(world: World, syslog: SyslogReceiver) -> None:
    audit_log = world.tmp / "audit" / "apikeys-audit.log"
    keys = [world.key(p, apikeys_grace_period="2s", apikeys_clock_skew="0s", apikeys_usage_evidence={"source": "none"},
                      apikeys_audit_log=str(audit_log), apikeys_audit_syslog=syslog.url) for p in ("sendgrid", "http")]
    world.groups["audited"] = [k.host for k in keys]

    rotate = world.playbook("rotate.yml", "-vvvv", secret="audited")
    assert rotate.rc == 0, rotate.output[-3000:]
    for key in keys:
        world.wait_past(world.record(key).data["previous_key_revocation_at"])
    revoke = world.playbook("revoke_after_grace.yml", "-vvvv", secret="audited", awx_job_id=4242, awx_user_name="alice",
                            awx_job_launch_type="scheduled")
    assert revoke.rc == 0, revoke.output[-3000:]

    # the file: 0600, one JSON object per line
    assert stat.S_IMODE(audit_log.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in audit_log.read_text().splitlines()]
    for key in keys:
        record = world.record(key).data
        mine = events(lines, key.host)
        assert [e["action"] for e in mine] == ROTATION + ["revoked"], mine
        rotation_id = record["last_rotation_id"]
        assert {e["rotation_id"] for e in mine[:5]} == {rotation_id}
        assert mine[1]["new_key_ids"] == [record["key_id"]]                 # created: the new key's id
        assert mine[4]["key_id"] == record["key_id"] and mine[4]["previous_key_id"] == key.key_id
        assert mine[5]["revoked_key_ids"] == [key.key_id] and mine[5]["cause"] == "grace ended"
        assert all(e["result"] == "ok" for e in mine)
        # who: the OS user for the manual rotation, the AWX job and its launcher for the scheduled revocation
        assert mine[0]["actor"]["type"] == "os" and mine[0]["actor"]["user"] == getpass.getuser()
        assert mine[5]["actor"] == {"type": "awx", "job_id": 4242, "user_name": "alice", "job_launch_type": "scheduled"}
        assert len({e["run_id"] for e in mine[:5]}) == 1 and mine[5]["run_id"] == "awx-job-4242"
        assert mine[0]["run_id"] != "awx-job-4242"

    # syslog: the same events, RFC 5424, authpriv.info
    received = [RFC5424.match(m) for m in syslog.messages]
    assert all(received), syslog.messages[:3]
    assert [json.loads(m.group("json")) for m in received] == lines
    assert {m.group("pri") for m in received} == {"86"}
    assert [m.group("msgid") for m in received] == [e["action"] for e in lines]

    # the record's own history, through api_key_info
    playbook = world.tmp / "info.yml"
    playbook.write_text(INFO)
    info = world.playbook(str(playbook), out_dir=str(world.tmp))
    assert info.rc == 0, info.output[-3000:]
    for key in keys:
        shown = json.loads((world.tmp / f"{key.host}.json").read_text())
        assert [e["action"] for e in shown] == ["intent", "stored", "verified", "promoted", "revoked"]
        assert shown[-1]["by"] == "awx job 4242 (alice)" and shown[-1]["revoked_key_ids"] == [key.key_id]

    # no secret: not the keys, not the management credentials, not the Vault token
    secrets = bench_secrets(world)
    for key in keys:
        secrets[f"{key.host} old"] = key.secret
        secrets[f"{key.host} new"] = world.record(key).data["key"]
    trail = audit_log.read_text() + "\n".join(syslog.messages) + json.dumps([world.record(k).data["history"] for k in keys])
    for name, secret in secrets.items():
        assert secret and secret not in trail, f"{name} in the audit trail"
    assert Path(audit_log).read_text().count("\n") == len(lines) == 12


def test_rollback_and_emergency_actions_are_audited(world: World) -> None:
    audit_log = world.tmp / "audit.log"
    rolled, contained = [world.key("sendgrid", apikeys_audit_log=str(audit_log)) for _number in range(2)]
    world.groups["audited"] = [rolled.host, contained.host]
    assert world.playbook("rotate.yml", secret="audited").rc == 0
    second = {key.host: world.record(key).data["key_id"] for key in (rolled, contained)}

    rollback = world.playbook("rollback.yml", secret=rolled.host)
    emergency = world.playbook("rotate.yml", "--tags", "emergency", secret=contained.host, confirm=contained.host)

    assert rollback.rc == 0, rollback.output[-3000:]
    assert emergency.rc == 0, emergency.output[-3000:]
    lines = [json.loads(line) for line in audit_log.read_text().splitlines()]
    # rollback: the first key back, the faulty second one revoked
    mine = events(lines, rolled.host)[len(ROTATION):]
    assert [(e["action"], e.get("cause")) for e in mine] == [("rolled_back", "rollback"), ("revoked", "rollback")]
    assert mine[0]["key_id"] == rolled.key_id and mine[1]["revoked_key_ids"] == [second[rolled.host]]
    # emergency during the grace period: the old key revoked at once, a third key made and promoted, the second revoked
    mine = events(lines, contained.host)[len(ROTATION):]
    third = world.record(contained).data["key_id"]
    assert [(e["action"], e.get("cause")) for e in mine] == [
        ("revoked", "emergency"), ("intent", None), ("created", None), ("stored", None), ("verified", None),
        ("promoted", "emergency"), ("revoked", "emergency")], mine
    assert mine[0]["revoked_key_ids"] == [contained.key_id]
    assert mine[2]["new_key_ids"] == [third] and mine[6]["revoked_key_ids"] == [second[contained.host]]
    trail = audit_log.read_text()
    for secret in (rolled.secret, contained.secret, world.record(contained).data["key"], world.bench.openbao.token,
                   world.bench.sendgrid_admin_key):
        assert secret not in trail
