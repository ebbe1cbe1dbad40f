"""Keys for a run: made "by hand" at the emulators, imported into their records, listed in an inventory.

Each key is an inventory host (one key = one host, as in the collection); its record lives at
``secret/zd/<prefix>/<host>`` in OpenBao, or, for a key kept in AWS Secrets Manager
(``apikeys_store: aws_secretsmanager``), in the secret ``zd/<prefix>/<host>`` (moto) whose
``SecretString`` is the record's JSON. The consumers read with a token of their own whose policy
allows ``read`` on those records only (the collection's consumer policy, docs/policies/consumer.hcl),
or with an IAM user allowed ``GetSecretValue`` and ``DescribeSecret`` on those secrets only.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import hvac
import requests
import yaml

from ..bench import Bench
from .aws_sm import AwsAccess
from .store import VaultAccess, split_path

PROVIDERS = ("sendgrid", "gateway")
VAULT, SECRETS_MANAGER = "vault", "aws_secretsmanager"  # where a key's record is kept (apikeys_store)


@dataclass
class BenchKey:
    """One key: where its record is, what its consumers call, its inventory variables."""

    host: str
    provider: str  # "sendgrid" or "gateway"
    group: str  # "real", "control-a", "control-b"
    inventory_group: str  # what ``-e secret=`` selects
    vault_path: str
    endpoint: str
    initial_key_id: str
    options: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    store: str = VAULT  # VAULT: vault_path is "<mount>/<path>"; SECRETS_MANAGER: vault_path is the secret's name


def _old(days: int = 40) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_key(bench: Bench, vault: hvac.Client, prefix: str, provider: str, number: int, group: str,
             inventory_group: str, variables: dict[str, Any], store: str = VAULT) -> BenchKey:
    """Seed a key at the emulator and write its record (``key``, ``key_id``, ``rotated_at`` 40 days ago) in ``store``."""
    host = f"{prefix}_{inventory_group}_{provider}_{number}"
    if provider == "sendgrid":
        made = requests.post(bench.sendgrid.url + "/__emulator/seed", timeout=10,
                             json={"name": host, "scopes": ["mail.send", "user.profile.read"]}).json()
        key_id, secret = made["api_key_id"], made["api_key"]
        endpoint = bench.sendgrid.url + "/v3/user/profile"
        # max_keys: one account holds every test's keys; the default 100-key cap is not what is tested here
        options: dict[str, Any] = {"api_url": bench.sendgrid.url, "activation_timeout": 3, "max_keys": 100000}
    elif provider == "gateway":
        consumer = host.replace("_", "-")
        made = requests.post(bench.gateway.url + "/__emulator/seed", json={"consumer": consumer, "tags": [host]},
                             timeout=10).json()
        key_id, secret = made["id"], made["key"]
        endpoint = f"{bench.gateway.url}/{consumer}/ping"
        options = {"admin_url": bench.gateway.url, "admin_header": "Kong-Admin-Token", "admin_scheme": "",
                   "credential_env": "GATEWAY_ADMIN_TOKEN", "create_path": "/consumers/{consumer}/key-auth",
                   "key_path": "/consumers/{consumer}/key-auth/{key_id}", "path_params": {"consumer": consumer},
                   "test_url": endpoint, "activation_timeout": 3}
    else:
        raise ValueError(f"unknown provider {provider!r}")
    record = {"key": secret, "key_id": key_id, "rotated_at": _old()}
    if store == SECRETS_MANAGER:
        if bench.moto is None:
            raise ValueError("keys in Secrets Manager need moto in the bench")
        location = f"zd/{prefix}/{host}"
        bench.moto.client("secretsmanager").create_secret(Name=location, SecretString=json.dumps(record))
        variables = {"apikeys_store": SECRETS_MANAGER,
                     "apikeys_store_options": {"region": bench.moto.region, "endpoint_url": bench.moto.url}, **variables}
    elif store == VAULT:
        location = f"secret/zd/{prefix}/{host}"
        mount, path = split_path(location)
        vault.secrets.kv.v2.create_or_update_secret(path=path, mount_point=mount, secret=record)
    else:
        raise ValueError(f"unknown store {store!r}")
    return BenchKey(host, provider, group, inventory_group, location, endpoint, key_id, options, dict(variables), store)


def consumer_access(vault: hvac.Client, url: str, prefix: str, agent: bool = False) -> VaultAccess:
    """A token that may only read this run's records (no list, no write, no metadata).

    ``agent``: the OpenBao Agent's token, which also has the ``default`` policy: auto-auth looks
    the token up (``auth/token/lookup-self``) and renews it, as with any token an agent is given.
    """
    policy = f"zd-consumer-{prefix}"
    vault.sys.create_or_update_policy(name=policy, policy=f'path "secret/data/zd/{prefix}/*" {{\n  capabilities = ["read"]\n}}\n')
    token = vault.auth.token.create(policies=[policy], ttl="6h", no_default_policy=not agent)["auth"]["client_token"]
    return VaultAccess(url, token)


def consumer_aws_access(bench: Bench, prefix: str) -> AwsAccess:
    """An IAM user that may only describe and read secrets, as an application's role.

    On AWS the statement's ``Resource`` would be ``arn:aws:secretsmanager:<region>:<account>:secret:zd/<prefix>/*``;
    moto 5 does not evaluate ``Resource`` (it checks every action against ``"*"``, see moto/iam/access_control.py),
    so a scoped resource denies everything there. The actions are enforced: the user cannot write a secret.
    """
    if bench.moto is None:
        raise ValueError("Secrets Manager consumers need moto in the bench")
    user = f"zd-consumer-{prefix}"
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], "Resource": "*"}]}
    access_key_id, secret_access_key = bench.moto.create_user_with_key(user)
    bench.moto.client("iam").put_user_policy(UserName=user, PolicyName="read-zd-secrets", PolicyDocument=json.dumps(policy))
    return AwsAccess(bench.moto.url, bench.moto.region, access_key_id, secret_access_key)


def write_inventory(path: Path, keys: list[BenchKey], common: dict[str, Any]) -> Path:
    """An inventory: every key a host with its variables, grouped by ``inventory_group``."""
    hosts: dict[str, Any] = {}
    children: dict[str, Any] = {}
    for key in keys:
        hosts[key.host] = {"apikeys_provider": "sendgrid" if key.provider == "sendgrid" else "http",
                           "apikeys_vault_path": key.vault_path, "apikeys_provider_options": key.options, **key.variables}
        children.setdefault(key.inventory_group, {"hosts": {}})["hosts"][key.host] = None
    base = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "apikeys_vault_allow_http": True, "apikeys_clock_skew": "0s", "apikeys_rotation_frequency": "30d"}
    base.update(common)
    path.write_text(yaml.safe_dump({"all": {"vars": base, "hosts": hosts, "children": children}}), encoding="utf-8")
    return path


def revoke_at_provider(bench: Bench, key: BenchKey, key_id: str) -> int:
    """Delete ``key_id`` at the provider with the admin credential, as a naive rotation would; the HTTP status."""
    if key.provider == "sendgrid":
        answer = requests.delete(f"{bench.sendgrid.url}/v3/api_keys/{key_id}", timeout=10,
                                 headers={"Authorization": f"Bearer {bench.sendgrid_admin_key}"})
    else:
        consumer = key.options["path_params"]["consumer"]
        answer = requests.delete(f"{bench.gateway.url}/consumers/{consumer}/key-auth/{key_id}", timeout=10,
                                 headers={"Kong-Admin-Token": bench.gateway_admin_token or ""})
    return answer.status_code


__all__ = ["PROVIDERS", "SECRETS_MANAGER", "VAULT", "BenchKey", "consumer_access", "consumer_aws_access", "make_key", "revoke_at_provider", "write_inventory"]
