"""Keys whose record lives in AWS Secrets Manager (moto's server of the bench), reached by a rotator user that has
exactly the actions of docs/policies/aws-secretsmanager-rotator.json, and independent readers (raw boto3)."""
from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from tests.bench.moto import client as aws_client

from .conftest import ROOT, Key, World, iso

POLICY_FILE = ROOT / "docs" / "policies" / "aws-secretsmanager-rotator.json"
STORE = "aws_secretsmanager"


def policy_actions() -> list[str]:
    actions: list[str] = []
    for statement in json.loads(POLICY_FILE.read_text())["Statement"]:
        given = statement["Action"]
        actions.extend([given] if isinstance(given, str) else given)
    return actions


def rotator(world: World, without: tuple[str, ...] = ()) -> dict[str, str]:
    """A new IAM user holding the shipped policy's actions (minus ``without``); its key as the run's AWS_* env.

    moto evaluates policies against the resource ``*`` only, so the actions are granted on ``*`` here; the
    file's resource pattern is checked against real ARNs by test_the_policy_names_the_records_secrets.
    """
    iam = world.bench.moto.client("iam")
    user = f"rotator-{world.prefix}-{secrets.token_hex(3)}"
    iam.create_user(UserName=user)
    allowed = [a for a in policy_actions() if a not in without]
    iam.put_user_policy(UserName=user, PolicyName="apikeys-rotator", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": allowed, "Resource": "*"}]}))
    made = iam.create_access_key(UserName=user)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": made["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": made["SecretAccessKey"]}


def admin(world: World) -> Any:
    """Secrets Manager as the bench's admin sees it (the independent reader)."""
    return world.bench.moto.client("secretsmanager")


def sm_key(world: World, provider: str = "sendgrid", *, age: timedelta = timedelta(days=40), record: bool = True,
           endpoint_url: Optional[str] = None, **inventory: Any) -> tuple[Key, str]:
    """A key at ``provider`` whose record is the secret ``apikeys/<prefix>/<host>``; returns it and the name."""
    key = world.key(provider, record=False, **inventory)
    name = f"apikeys/{world.prefix}/{key.host}"
    world.hosts[key.host].update(apikeys_store=STORE, apikeys_vault_path=name, apikeys_store_options={
        "endpoint_url": endpoint_url or world.bench.moto.url, "region": world.bench.moto.region, "timeout": 5})
    if record:
        admin(world).create_secret(Name=name, SecretString=json.dumps(
            {"key": key.secret, "key_id": key.key_id, "rotated_at": iso(datetime.now(timezone.utc) - age)}))
    return key, name


def current(world: World, name: str) -> dict[str, Any]:
    """The record as a consumer reads it: the AWSCURRENT version (named: see docs/stores.md on moto)."""
    return json.loads(admin(world).get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"])


def stages(world: World, name: str) -> dict[str, list[str]]:
    return admin(world).describe_secret(SecretId=name)["VersionIdsToStages"]


def tags(world: World, name: str) -> dict[str, str]:
    described = admin(world).describe_secret(SecretId=name)
    return {t["Key"]: t["Value"] for t in described.get("Tags") or []}


def consumer_reads(world: World, name: str, credentials: dict[str, str]) -> str:
    """``key`` of AWSCURRENT read with the given credentials (a consumer's read)."""
    sm = aws_client(world.bench.moto.url, "secretsmanager", credentials["AWS_ACCESS_KEY_ID"],
                    credentials["AWS_SECRET_ACCESS_KEY"])
    return json.loads(sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"])["key"]
