"""The zero-downtime harness's real clients, each against its real server (tests/bench/harness).

* the OpenBao Agent (``bao agent``) renders a record's key to a 0600 file, re-renders it within
  ``static_secret_render_interval`` of a write, logs no key, and is gone once stopped;
* ``aws-secretsmanager-caching``'s ``SecretCache`` consumer reads the AWSCURRENT ``SecretString``,
  takes up a new AWSCURRENT version within its refresh interval, keeps serving its key when the
  endpoint fails, and its IAM user cannot write the secret.
"""
from __future__ import annotations

import json
import os
import stat
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import boto3
from botocore.config import Config

import hvac
import pytest
from botocore.exceptions import ClientError

from tests.bench.bench import Bench
from tests.bench.harness.agent import FileSource
from tests.bench.harness.aws_sm import SecretsManagerSource
from tests.bench.harness.bao_agent import leftover_agents, parse_rendered, start_agent, template_contents
from tests.bench.harness.consumers import ConsumerPool, ConsumerSpec
from tests.bench.harness.keys import consumer_access, consumer_aws_access


def wait_for(check: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.02)
    return time.monotonic() - started


def test_template_is_the_guides_pattern_1() -> None:
    assert template_contents("secret/zd/p/k") == ('{{ with secret "secret/data/zd/p/k" }}{{ .Data.data.key }}\n'
                                                  '{{ .Data.data.key_id }}{{ end }}')
    held = parse_rendered("s3cr3t\nkid-1")
    assert (held.key, held.key_id) == ("s3cr3t", "kid-1")
    with pytest.raises(ValueError):
        parse_rendered("s3cr3t-without-an-id")


def test_bao_agent_renders_and_re_renders_a_record_and_logs_no_key(bench: Bench, tmp_path: Path) -> None:
    prefix = "zdc" + uuid.uuid4().hex[:6]
    vault = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)
    path = f"zd/{prefix}/k"
    secrets = [f"agent-secret-{uuid.uuid4().hex}" for _number in range(3)]
    vault.secrets.kv.v2.create_or_update_secret(path=path, mount_point="secret", secret={"key": secrets[0], "key_id": "kid-0"})
    directory = tmp_path / "apikeys-zd-clients"
    agent = start_agent(directory, consumer_access(vault, bench.openbao.url, prefix, agent=True), [f"secret/{path}"], "1s")
    try:
        rendered = agent.files[f"secret/{path}"]
        assert stat.S_IMODE(os.stat(rendered).st_mode) == 0o600
        source = FileSource(rendered, ttl=30.0, parse=parse_rendered)
        assert (source.get().key_id, source.get().key) == ("kid-0", secrets[0])
        for number in (1, 2):
            vault.secrets.kv.v2.create_or_update_secret(path=path, mount_point="secret",
                                                        secret={"key": secrets[number], "key_id": f"kid-{number}"})
            # the agent re-reads within the render interval; the consumer sees the new file at once (inode/mtime)
            took = wait_for(lambda: source.get().key_id == f"kid-{number}", 5.0)  # noqa: B023 - evaluated in the loop
            print(f"bao agent (static_secret_render_interval 1s): write -> consumer has the new key in {took:.2f} s")
            assert took < 3.0 and source.get().key == secrets[number]  # 1 s interval, on a loaded machine
    finally:
        agent.stop()
    assert agent.renders() >= 3  # counted in its log, complete once it stopped
    assert not agent.alive() and agent.pid not in leftover_agents(str(directory))
    assert not rendered.exists() and not (directory / "token").exists()
    log = agent.log.read_text()
    assert " rendered " in log and not any(secret in log for secret in secrets)
    assert stat.S_IMODE(os.stat(agent.log).st_mode) == 0o600


def test_bao_agent_without_a_usable_token_fails_clearly(bench: Bench, tmp_path: Path) -> None:
    vault = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)
    prefix = "zdc" + uuid.uuid4().hex[:6]
    no_lookup = consumer_access(vault, bench.openbao.url, prefix)  # no default policy: auto-auth's lookup-self is denied
    directory = tmp_path / "apikeys-zd-denied"
    with pytest.raises(TimeoutError, match="rendered nothing"):
        start_agent(directory, no_lookup, [f"secret/zd/{prefix}/missing"], "1s", timeout=3)
    assert not leftover_agents(str(directory))


def test_secret_cache_consumer_follows_awscurrent_and_keeps_its_key_on_errors(bench: Bench) -> None:
    prefix = "zdc" + uuid.uuid4().hex[:6]
    name = f"zd/{prefix}/k"
    admin = bench.moto.client("secretsmanager")
    admin.create_secret(Name=name, SecretString=json.dumps({"key": "sm-secret-0", "key_id": "kid-0"}))
    access = consumer_aws_access(bench, prefix)
    source = SecretsManagerSource(access, name, refresh_interval=1)
    assert (source.get().key_id, source.get().key) == ("kid-0", "sm-secret-0")

    admin.put_secret_value(SecretId=name, SecretString=json.dumps({"key": "sm-secret-1", "key_id": "kid-1"}))  # moves AWSCURRENT
    took = wait_for(lambda: source.get().key_id == "kid-1", 5.0)
    print(f"SecretCache (secret_refresh_interval 1): AWSCURRENT moved -> consumer has the new key in {took:.2f} s")
    assert took < 2.5 and source.get().key == "sm-secret-1"  # randint(0, 1) s, on a loaded machine

    with pytest.raises(ClientError):  # the consumer's IAM user reads, never writes
        access.client().put_secret_value(SecretId=name, SecretString="{}")

    broken = SecretsManagerSource(access, name, refresh_interval=1)
    broken._cache._client = boto3.client(  # pylint: disable=protected-access  # the endpoint goes away
        "secretsmanager", endpoint_url="http://127.0.0.1:9", region_name=access.region, aws_access_key_id=access.access_key_id,
        aws_secret_access_key=access.secret_access_key, config=Config(retries={"total_max_attempts": 1}, connect_timeout=1))
    time.sleep(1.1)
    assert broken.get().key_id == "kid-1" and broken.errors == 0  # SecretCache serves the cached version on a failed refresh
    with pytest.raises(ValueError):
        SecretsManagerSource(access, name, refresh_interval=0)


def test_consumer_pool_stops_its_agents_when_a_worker_cannot_start(bench: Bench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pool starts the bao agents before its worker processes; a worker that cannot start leaves no agent behind."""
    prefix = "zdc" + uuid.uuid4().hex[:6]
    vault = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)
    vault.secrets.kv.v2.create_or_update_secret(path=f"zd/{prefix}/k", mount_point="secret", secret={"key": "pool-secret", "key_id": "kid"})
    access = consumer_access(vault, bench.openbao.url, prefix, agent=True)
    spec = ConsumerSpec(name="app", group="g", provider="gateway", url="http://127.0.0.1:9/", vault_path=f"secret/zd/{prefix}/k",
                        source="agent")
    directory = tmp_path / "apikeys-zd-pool"
    pool = ConsumerPool([spec], access, directory, agent_vault=access)
    started: list[int] = []

    def no_process(*args: object, **kwargs: object) -> None:
        started.extend(agent.pid for agent in pool.agents)  # the agent was running when the worker failed
        raise OSError("cannot spawn")

    monkeypatch.setattr(pool._ctx, "Process", no_process)  # pylint: disable=protected-access
    with pytest.raises(OSError, match="cannot spawn"):
        pool.start()
    assert started and not pool.agents and not leftover_agents(str(directory))
