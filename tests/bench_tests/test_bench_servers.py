"""OpenBao and moto start, behave as the collection needs, and stop."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import hvac
import hvac.exceptions
import pytest
from botocore.exceptions import ClientError

from tests.bench.moto import Moto, client, start_moto
from tests.bench.openbao import OpenBao, start_openbao


@pytest.fixture(scope="module")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    with start_openbao(tmp_path_factory.mktemp("openbao")) as server:
        yield server


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    with start_moto(tmp_path_factory.mktemp("moto")) as server:
        yield server


def test_openbao_kv2_cas(openbao: OpenBao) -> None:
    vault = hvac.Client(url=openbao.url, token=openbao.token)
    kv = vault.secrets.kv.v2
    kv.create_or_update_secret(path="bench/cas", secret={"v": 1}, cas=0)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="check-and-set"):
        kv.create_or_update_secret(path="bench/cas", secret={"v": 2}, cas=0)
    kv.create_or_update_secret(path="bench/cas", secret={"v": 3}, cas=1)
    assert kv.read_secret_version(path="bench/cas", raise_on_deleted_version=True)["data"][
        "data"
    ] == {"v": 3}


def test_openbao_token_not_in_argv(openbao: OpenBao) -> None:
    cmdline = Path(f"/proc/{openbao.pid}/cmdline").read_bytes().decode()
    assert openbao.token not in cmdline
    assert openbao.log is not None and openbao.log.stat().st_mode & 0o077 == 0


def test_openbao_stop(tmp_path: Path) -> None:
    server = start_openbao(tmp_path)
    server.stop()
    assert not server.process.alive()
    server.stop()  # idempotent


def test_moto_rejects_unknown_keys(moto: Moto) -> None:
    fake_id, fake_secret = "AKIA" + secrets.token_hex(8).upper(), "x" * 40
    assert not moto.key_works(fake_id, fake_secret)
    assert moto.key_works(moto.admin_access_key_id, moto.admin_secret_access_key)
    assert moto.client("iam").get_user()["User"]["UserName"] == "apikeys-admin"


def test_moto_deleted_key_is_rejected(moto: Moto) -> None:
    key_id, secret = moto.create_user_with_key("svc-rotated")
    identity = client(moto.url, "sts", key_id, secret).get_caller_identity()
    assert identity["Arn"].endswith(":user/svc-rotated")
    assert not moto.key_works(key_id, "wrong-secret")

    moto.client("iam").delete_access_key(UserName="svc-rotated", AccessKeyId=key_id)
    with pytest.raises(ClientError) as err:
        client(moto.url, "sts", key_id, secret).get_caller_identity()
    assert err.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert not moto.key_works(key_id, secret)
