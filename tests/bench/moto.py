"""moto server (AWS emulator) with IAM authentication enforced.

How enforcement is bootstrapped
-------------------------------
moto authenticates and authorizes every AWS action once it has served
``INITIAL_NO_AUTH_ACTION_COUNT`` unauthenticated actions (``/moto-api/*`` calls
do not count). We start it with that count set to 3 and spend exactly those
three actions, signed with dummy credentials, on::

    iam.create_user(UserName="apikeys-admin")
    iam.put_user_policy(...)          # inline policy: Allow "*" on "*"
    iam.create_access_key(UserName="apikeys-admin")

From then on every call must be signed with a key that exists in moto's IAM.
start_moto() checks that a call signed with a random key is rejected before
returning.

Findings (moto 5.2.5, measured with this bench)
-----------------------------------------------
* Testing a key: use ``sts.get_caller_identity()`` signed with it. moto always
  permits ``sts:GetCallerIdentity`` (as AWS does), so it needs no policy and
  returns ``Arn`` ``arn:aws:iam::123456789012:user/<name>``. ``iam.get_user()``
  is NOT a good probe: a valid key of a user without IAM permissions gets
  ``AccessDenied``.
* Unknown or deleted access key id -> ``ClientError`` code
  ``InvalidClientTokenId`` (HTTP 403). Right id, wrong secret ->
  ``SignatureDoesNotMatch`` (HTTP 403).
* An ``Inactive`` key is still accepted (moto's gap; AWS rejects it), so only
  deletion can be verified here.
* ``get_access_key_last_used`` returns a ``LastUsedDate`` only after a call
  signed with that key.
* ``POST /moto-api/reset`` also wipes the admin user and would lock the bench
  out; use :meth:`Moto.reset`, which re-bootstraps (and issues new admin keys).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.exceptions import ClientError

from ._ports import free_port
from ._proc import ServerProcess, find_executable, spawn, wait_until
from ._service import Stoppable

REGION = "us-east-1"
ADMIN_USER = "apikeys-admin"
BOOTSTRAP_ACTIONS = 3
READY_TIMEOUT = 20.0
_ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def client(url: str, service: str, access_key_id: str, secret_access_key: str) -> Any:
    """A boto3 client for ``service`` pointed at moto and signed with the given key."""
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
    )


def _random_key() -> tuple[str, str]:
    return "AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)


def _bootstrap(url: str) -> tuple[str, str]:
    """Spend the unauthenticated actions on the admin user; return its key."""
    iam = client(url, "iam", *_random_key())
    iam.create_user(UserName=ADMIN_USER)
    iam.put_user_policy(
        UserName=ADMIN_USER, PolicyName="admin-all", PolicyDocument=json.dumps(_ADMIN_POLICY)
    )
    key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
    try:
        client(url, "sts", *_random_key()).get_caller_identity()
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "InvalidClientTokenId":
            return key["AccessKeyId"], key["SecretAccessKey"]
        raise
    raise RuntimeError("moto accepted a random key: IAM authentication is not enforced")


@dataclass
class Moto(Stoppable):
    """A running moto server with IAM auth enforced and an admin key."""

    url: str
    port: int
    admin_access_key_id: str
    admin_secret_access_key: str = field(repr=False)
    process: ServerProcess
    region: str = REGION

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self, service: str) -> Any:
        """A boto3 client signed with the admin key."""
        return client(self.url, service, self.admin_access_key_id, self.admin_secret_access_key)

    def create_user_with_key(self, user_name: str) -> tuple[str, str]:
        """Create IAM user ``user_name`` (if absent) and one access key for it."""
        iam = self.client("iam")
        try:
            iam.create_user(UserName=user_name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "EntityAlreadyExists":
                raise
        key = iam.create_access_key(UserName=user_name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def key_works(self, access_key_id: str, secret_access_key: str) -> bool:
        """True if moto authenticates a call signed with this key."""
        try:
            client(self.url, "sts", access_key_id, secret_access_key).get_caller_identity()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("InvalidClientTokenId", "SignatureDoesNotMatch"):
                return False
            raise
        return True

    def reset(self) -> None:
        """Wipe all moto state, re-enforce auth and create a new admin key."""
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()
        requests.post(
            f"{self.url}/moto-api/reset-auth", data=str(BOOTSTRAP_ACTIONS), timeout=10
        ).raise_for_status()
        self.admin_access_key_id, self.admin_secret_access_key = _bootstrap(self.url)

    def stop(self) -> None:
        self.process.stop()


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/moto-api/", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def start_moto(workdir: Path, timeout: float = READY_TIMEOUT) -> Moto:
    """Start ``moto_server`` on a free port with IAM auth enforced.

    Logs (request lines only) go to ``workdir/moto.log``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(BOOTSTRAP_ACTIONS)
    argv = [find_executable("moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    process = spawn(
        argv, log=workdir / "moto.log", marker=f"moto_server -H 127.0.0.1 -p {port} ", env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url), timeout, f"moto ({process.log})", process.alive)
        key_id, secret = _bootstrap(url)
    except BaseException:
        process.stop()
        raise
    return Moto(
        url=url,
        port=port,
        admin_access_key_id=key_id,
        admin_secret_access_key=secret,
        process=process,
    )
