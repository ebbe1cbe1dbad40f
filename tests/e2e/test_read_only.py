"""Checks documented as read-only write nothing to the record or its metadata, even when they fail (issue 11)."""
from __future__ import annotations

import json
import socket
import time

import requests

from .conftest import World, clear_faults, faults

CHECK = """---
- name: Check the usage of the new key
  hosts: all
  gather_facts: false
  tasks:
    - name: Check
      apikeys.rotation.key_usage_check:
"""


def dead_url() -> str:
    """An address where nothing listens (a port just freed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_a_failing_usage_check_leaves_record_and_metadata_untouched(world: World) -> None:
    key = world.key("sendgrid", apikeys_grace_period="1h")
    assert world.playbook("rotate.yml", secret=key.host).rc == 0
    before = world.record(key)
    assert before.meta["last_result"] == "verified" or before.meta["phase"] == "grace", before.meta
    time.sleep(1.1)  # updated_at has whole seconds: a write now would change it
    world.hosts[key.host]["apikeys_usage_evidence"] = {"source": "prometheus", "url": dead_url(),
                                                       "last_used_query": "max(last_used_seconds{key_id=\"{key_id}\"})"}
    playbook = world.tmp / "check.yml"
    playbook.write_text(CHECK)

    run = world.playbook(str(playbook), "-vvv")

    assert run.rc != 0, run.output[-3000:]
    assert "prometheus" in run.stdout and "failed" in run.stdout   # it failed on the evidence source...
    after = world.record(key)
    assert after.version == before.version                         # ...and wrote nothing: not the record,
    assert after.meta == before.meta                               # not its metadata (updated_at, last_error)
    assert "last_error" not in after.meta


def test_check_mode_with_a_failing_provider_writes_nothing(world: World) -> None:
    key = world.key("sendgrid")
    before = world.record(key)
    url = world.bench.sendgrid.url
    fired = requests.get(url + "/__emulator/faults/fired", timeout=5).json()["total"]
    faults(url, match="GET /v3/api_keys", status=500, count=50, echo_auth=True)
    try:
        run = world.playbook("rotate.yml", "--check", "-vvv", secret=key.host)
    finally:
        clear_faults(url)

    assert requests.get(url + "/__emulator/faults/fired", timeout=5).json()["total"] > fired, "the fault must fire"
    assert run.rc != 0, run.output[-3000:]
    assert "rejected credentials" in run.stdout                    # the emulator echoed the credential...
    assert world.bench.sendgrid_admin_key not in run.output        # ...which was hidden
    after = world.record(key)
    assert (after.version, after.meta, after.data) == (before.version, before.meta, before.data)
    assert json.dumps(after.meta).count("failed") == 0
