"""Issue 9, case 1 end to end: OpenBao applies a write and its answer never reaches the run.

The run reaches OpenBao through a TCP proxy; paused at a step, the proxy is told to lose the answer
of the next write to the record, then the run goes on. It must read the record back, find its own
write there, and finish the rotation: no "another run", no revoked key, no FAILED.
"""
from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from tests.bench.tcpproxy import TcpProxy

from .conftest import World


@pytest.fixture(scope="module")
def proxy(bench: Any) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", bench.openbao.port) as running:
        yield running


@pytest.mark.parametrize("step, write", [("before_intent", "intent"), ("before_pending_write", "pending"),
                                         ("before_verify", "verified"), ("before_promote", "rotated")])
def test_a_lost_answer_from_the_store_is_read_back_and_the_rotation_finishes(world: World, proxy: TcpProxy,
                                                                             step: str, write: str) -> None:
    key = world.key("sendgrid", apikeys_vault_url=proxy.url)
    gate = world.tmp / "gate"
    gate.mkdir()
    process, home = world.start_playbook("rotate.yml", "-vvv", secret=key.host,
                                         extra_env={"APIKEYS_TEST_PAUSE_AT": f"{step}:{gate}"})
    deadline = time.monotonic() + 60
    while not list(gate.glob(f"{step}.reached.*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(gate.glob(f"{step}.reached.*")), "the run reached the step"
    lost_before = proxy.lost_answers
    proxy.lose_answers(1, methods=("POST", "PUT"), prefix=f"/v1/{key.vault_path.split('/', 1)[0]}/data/")
    (gate / f"{step}.go").touch()
    run = world.finish(process, home)
    proxy.keep_answers()

    assert proxy.lost_answers == lost_before + 1, "the answer of one write was lost"
    assert run.rc == 0, run.output[-3000:]
    assert f"the store's answer to the {write} write was lost" in run.output
    assert "another run" not in run.stdout and "FAILED" not in run.stdout
    assert f"{key.host}: rotated (" in run.stdout
    data = world.record(key).data
    assert data["previous_key_id"] == key.key_id and data["key_id"] != key.key_id
    assert world.works(key, data["key"], data["key_id"]), "the key the store holds works: it was not revoked"
    assert world.works(key, key.secret, key.key_id)
    assert world.live_key_ids(key) == {key.key_id, data["key_id"]}
    for secret in (key.secret, data["key"], world.bench.openbao.token, world.bench.sendgrid_admin_key):
        assert secret not in run.output
