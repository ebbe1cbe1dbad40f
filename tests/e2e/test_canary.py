"""No secret in anything a rotation prints or writes, at -vvvv with --diff.

The scan covers the keys, the bench's management credentials and its Vault token, each also
base64- and URL-encoded (the forms an API or a library could echo), in stdout, stderr, every file
the run wrote (its log, the audit log under its HOME) and the records' metadata.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Optional
from urllib.parse import quote

import requests

from .conftest import PROVIDERS, Key, Run, World, clear_faults, faults


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def bench_secrets(world: World) -> dict[str, str]:
    return {"vault token": world.bench.openbao.token, "sendgrid admin": world.bench.sendgrid_admin_key,
            "gateway admin": world.bench.gateway_admin_token,
            "aws admin": world.bench.moto.admin_secret_access_key, "twilio auth token": world.bench.twilio_auth_token,
            # Twilio's Basic credential names the account: base64("AC...:token") as sent, not only "apikey:token"
            "twilio basic auth": base64.b64encode(
                f"{world.bench.twilio_account_sid}:{world.bench.twilio_auth_token}".encode()).decode(),
            "stripe management": world.bench.stripe_management_key,
            # the RSA key pair a Stripe rotation makes for its JWE: its private half is never serialized
            "rsa private key (PEM marker)": "PRIVATE KEY"}


def encodings(secret: str) -> dict[str, str]:
    """The secret and the forms in which it could be echoed back: base64 (alone, and as Basic user:secret), URL-encoded."""
    return {"": secret, " (base64)": base64.b64encode(secret.encode()).decode(),
            " (basic auth)": base64.b64encode(f"apikey:{secret}".encode()).decode(),
            " (url-encoded)": quote(secret, safe="")}


def assert_nowhere(secrets: dict[str, str], run: Run, world: World, keys: Optional[list[Key]] = None) -> None:
    written = files_under(run.home) + files_under(world.tmp)
    assert any(p.name == "ansible.log" for p in written), "the run's log file must be among the scanned files"
    assert len(run.stdout) > 10000, "-vvvv output expected"
    texts = {str(path): path.read_text(errors="replace") for path in written}
    texts.update({f"metadata of {key.host}": json.dumps(world.record(key).meta) for key in keys or []})
    for name, secret in secrets.items():
        assert secret, f"{name}: no value to look for"
        for form, value in encodings(secret).items():
            assert value not in run.output, f"{name} secret{form} printed"
            for where, text in texts.items():
                assert value not in text, f"{name} secret{form} written to {where}"


def test_no_secret_in_rotation_output_or_files_at_vvvv(world: World) -> None:
    keys = [world.key(p) for p in PROVIDERS]
    world.groups["canary"] = [k.host for k in keys]

    run = world.playbook("rotate.yml", "-vvvv", "--diff", secret="canary")

    assert run.rc == 0, run.output[-3000:]
    secrets = bench_secrets(world)
    for key in keys:
        data = world.record(key).data
        assert data["previous_key"] == key.secret
        secrets[f"{key.host} old"] = key.secret
        secrets[f"{key.host} new"] = data["key"]
    assert_nowhere(secrets, run, world, keys)


def test_no_secret_in_revoke_after_grace_output_or_files_at_vvvv(world: World) -> None:
    keys = [world.key(p, apikeys_grace_period="2s", apikeys_clock_skew="0s",
                      apikeys_usage_evidence={"source": "none"}) for p in PROVIDERS]
    world.groups["canary"] = [k.host for k in keys]
    assert world.playbook("rotate.yml", secret="canary").rc == 0
    secrets = bench_secrets(world)
    for key in keys:
        data = world.record(key).data
        secrets[f"{key.host} old"] = key.secret
        secrets[f"{key.host} new"] = data["key"]
        world.wait_past(data["previous_key_revocation_at"])

    run = world.playbook("revoke_after_grace.yml", "-vvvv", "--diff", secret="canary")

    assert run.rc == 0, run.output[-3000:]
    assert all("previous_key_id" not in world.record(key).data for key in keys)
    assert_nowhere(secrets, run, world)


def test_no_secret_in_emergency_or_rollback_output_or_files_at_vvvv(world: World) -> None:
    keys = [world.key(p) for p in PROVIDERS]
    world.groups["canary"] = [k.host for k in keys]
    assert world.playbook("rotate.yml", secret="canary").rc == 0
    secrets = bench_secrets(world)
    for key in keys:
        secrets[f"{key.host} first"] = key.secret
        secrets[f"{key.host} second"] = world.record(key).data["key"]

    rollback = world.playbook("rollback.yml", "-vvvv", "--diff", secret="canary")
    emergency = world.playbook("rotate.yml", "-vvvv", "--diff", "--tags", "emergency", secret="canary",
                               confirm="canary")

    assert rollback.rc == 0, rollback.output[-3000:]
    assert emergency.rc == 0, emergency.output[-3000:]
    for key in keys:
        secrets[f"{key.host} third"] = world.record(key).data["key"]
    assert_nowhere(secrets, rollback, world)
    assert_nowhere(secrets, emergency, world)


def test_no_management_credential_when_the_provider_echoes_it_at_vvvv(world: World) -> None:
    """SendGrid, Twilio and Stripe answer 401 and the gateway 500, each quoting the credential it was sent (as some APIs do)."""
    keys = [world.key("sendgrid"), world.key("http"), world.key("twilio"), world.key("stripe")]
    world.groups["canary"] = [k.host for k in keys]
    targets = {world.bench.sendgrid.url: ("POST /v3/api_keys", 401), world.bench.gateway.url: ("POST /consumers/", 500),
               world.bench.twilio.url: ("POST /v1/Keys", 401), world.bench.stripe.url: ("POST /v2/iam/api_keys", 401)}
    fired = {url: requests.get(url + "/__emulator/faults/fired", timeout=5).json()["total"] for url in targets}
    for url, (match, status) in targets.items():
        faults(url, match=match, status=status, echo_auth=True)
    try:
        run = world.playbook("rotate.yml", "-vvvv", "--diff", secret="canary")
    finally:
        for url in targets:
            clear_faults(url)

    for url in targets:
        assert requests.get(url + "/__emulator/faults/fired", timeout=5).json()["total"] == fired[url] + 1, url
    assert run.rc != 0
    assert run.output.count("rejected credentials") >= 4                 # the echo reached the messages...
    for key in keys:
        meta = world.record(key).meta
        assert meta["last_result"] == "failed" and "rejected credentials" in meta["last_error"], meta
        assert "<hidden>" in meta["last_error"]                          # ...with the credential hidden
    audit = [p for p in files_under(run.home) if p.name == "audit.log"]
    assert audit and '"action":"failed"' in audit[0].read_text()        # the default audit log, scanned below
    secrets = bench_secrets(world)
    secrets.update({f"{key.host} current": key.secret for key in keys})
    assert_nowhere(secrets, run, world, keys)


def test_no_secret_in_a_secretsmanager_rotation_nor_its_aws_credentials_at_vvvv(world: World) -> None:
    """A key kept in AWS Secrets Manager (moto): its keys, the rotator's AWS secret access key, the bench's."""
    from .secretsmanager import current, rotator, sm_key, tags  # pylint: disable=import-outside-toplevel

    key, name = sm_key(world)
    credentials = rotator(world)
    denied = rotator(world, without=("secretsmanager:PutSecretValue",))

    refused = world.playbook("rotate.yml", "-vvvv", "--diff", extra_env=denied, secret=key.host)
    run = world.playbook("rotate.yml", "-vvvv", "--diff", extra_env=credentials, secret=key.host)

    assert run.rc == 0, run.output[-3000:]
    assert refused.rc != 0 and "secretsmanager:PutSecretValue" in refused.output
    data = current(world, name)
    secrets = dict(bench_secrets(world), **{"old key": key.secret, "new key": data["key"],
                                            "rotator aws secret key": credentials["AWS_SECRET_ACCESS_KEY"],
                                            "denied aws secret key": denied["AWS_SECRET_ACCESS_KEY"]})
    assert data["previous_key"] == key.secret
    for found in (run, refused):
        assert_nowhere(secrets, found, world)
    shown = json.dumps(tags(world, name))
    assert not any(value in shown for s in secrets.values() for value in encodings(s).values())
