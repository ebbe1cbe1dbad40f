"""The AWX job templates, run as AWX runs them: through ansible-runner, against the local bench.

No AWX can run here (it needs Kubernetes). What AWX does for a job is: install the project's collections, render
the job template's credentials into environment variables and extra variables (their credential types'
injectors), add the survey answers to the extra variables, and hand ansible-runner the playbook, the inventory,
the job tags and the limit (a slice of the inventory when the job template is sliced). This test does exactly
that, from the same data the configuration role gives AWX (roles/awx_config/vars/main.yml): the playbooks, tags,
surveys and injectors cannot drift from what is tested. State is checked through the bench's own readers.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import ansible_runner
import jwt as pyjwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .conftest import BIN, COLLECTIONS, ROOT, Key, World

ROTATOR_POLICY = (ROOT / "docs" / "policies" / "rotator.hcl").read_text()
#: what a token needs to renew and revoke itself (docs/vault-auth.md): the run revokes its login token at the end
SELF_POLICY = """
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
"""
# a short grace, and no usage evidence to wait for (tests/e2e/test_revoke.py covers the evidence)
FAST = {"apikeys_grace_period": "2s", "apikeys_clock_skew": "0s", "apikeys_usage_evidence": {"source": "none"}}
# Environment a job must not inherit from this test process: only the credentials may bring it.
FOREIGN = ("VAULT_", "BAO_", "AWS_", "SENDGRID_", "GATEWAY_", "STRIPE_", "TWILIO_", "APIKEYS_", "ANSIBLE_HASHI_VAULT_")


class _Loader(yaml.SafeLoader):
    """Reads the role's vars file: an !unsafe value is an AWX template, kept as written."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
AWX = yaml.load((ROOT / "roles" / "awx_config" / "vars" / "main.yml").read_text(), Loader=_Loader)
TYPES: dict[str, Any] = AWX["awx_config__credential_types"]
TEMPLATES: dict[str, Any] = AWX["awx_config__job_templates"]


def credential_inputs(world: World, vault: tuple[str, dict[str, str]] | None = None) -> dict[str, dict[str, str]]:
    """The credentials an AWX admin would create for the bench, by credential type (a Vault token unless given)."""
    bench = world.bench
    vault = vault or ("vault_token", {"url": bench.openbao.url, "token": bench.openbao.token})
    return dict([vault,
                 ("sendgrid", {"admin_key": bench.sendgrid_admin_key}),
                 ("gateway", {"admin_token": bench.gateway_admin_token}),
                 ("stripe", {"management_key": bench.stripe_management_key}),
                 ("twilio", {"auth_token": bench.twilio_auth_token}),
                 ("aws", {"access_key_id": bench.moto.admin_access_key_id,
                          "secret_access_key": bench.moto.admin_secret_access_key, "region": bench.moto.region})])


def inject(credentials: dict[str, dict[str, str]]) -> tuple[dict[str, str], dict[str, Any]]:
    """Environment and extra variables from the credentials' injectors, rendered as AWX renders them (a sandbox)."""
    jinja = ImmutableSandboxedEnvironment()
    env: dict[str, str] = {}
    extra: dict[str, Any] = {}
    for type_id, inputs in credentials.items():
        spec = TYPES[type_id]
        assert set(spec["inputs"]["required"]) <= set(inputs), f"{type_id}: every required input is given"
        for name, template in spec["injectors"].get("env", {}).items():
            env[name] = jinja.from_string(template).render(**inputs)
        for name, template in spec["injectors"].get("extra_vars", {}).items():
            extra[name] = jinja.from_string(str(template)).render(**inputs)
    return env, extra


def survey(template: dict[str, Any], answers: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Extra variables from a survey, as AWX fills them: answers, else defaults; a required question must be answered."""
    questions = {q["variable"]: q for q in template["survey"]}
    unknown = set(answers) - set(questions)
    assert not unknown, f"answers to questions the survey does not ask: {unknown}"
    values: dict[str, Any] = {}
    for name, question in questions.items():
        if name in answers:
            values[name] = answers[name]
        elif question.get("default") not in (None, ""):
            values[name] = question["default"]
        else:
            assert not question["required"], f"AWX refuses to launch without an answer to '{name}'"
    return values, [str(values[n]) for n, q in questions.items() if q["type"] == "password" and n in values]


class Launch:
    """One AWX job of a job template: its runner result, output and events."""

    def __init__(self, world: World, name: str, answers: dict[str, Any], *, inventory: Path | None = None,
                 vault: tuple[str, dict[str, str]] | None = None) -> None:
        template = TEMPLATES[name]
        env, credential_vars = inject(credential_inputs(world, vault))
        extra, self.passwords = survey(template, answers)
        extra.update(template.get("extra_vars") or {})
        extra.update(credential_vars)  # AWX passes credential extra_vars last: they win
        # a fresh directory even when jobs start at the same moment (concurrent launches)
        home = Path(tempfile.mkdtemp(prefix=f"job-{name}-", dir=world.tmp))
        # what the project sync and the job set up in AWX: the project's collections and a private HOME
        env.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), HOME=str(home), ANSIBLE_HOME=str(home / ".ansible"),
                   ANSIBLE_LOCAL_TEMP=str(home / ".ansible" / "tmp"), ANSIBLE_NOCOLOR="1",
                   PATH=f"{BIN}:{os.environ.get('PATH', '')}")  # the EE's ansible-playbook
        self.result = ansible_runner.run(
            private_data_dir=str(home), project_dir=str(ROOT), playbook=template["playbook"],
            inventory=str(inventory or world.inventory()), extravars=extra, envvars=env,
            tags=template.get("job_tags") or None, forks=5, quiet=True, timeout=240)
        self.stdout = self.result.stdout.read()
        self.events = [json.dumps(e) for e in self.result.events]
        self.extra = extra

    @property
    def ok(self) -> bool:
        return self.result.rc == 0 and self.result.status == "successful"

    def shows(self, secret: str) -> bool:
        return secret in self.stdout or any(secret in e for e in self.events)


@pytest.fixture(autouse=True)
def _no_inherited_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # ansible-runner starts the job with this process's environment plus the job's: keep out anything
    # a credential type should be the one to bring
    for name in list(os.environ):
        if name.startswith(FOREIGN):
            monkeypatch.delenv(name)


def gateway_key(world: World, **inventory: Any) -> Key:
    """An http key whose admin token comes from APIKEYS_HTTP_ADMIN_TOKEN, the gateway credential type's variable."""
    key = world.key("http", **inventory)
    world.hosts[key.host]["apikeys_provider_options"] = {
        k: v for k, v in key.options.items() if k != "credential_env"}
    return key


def test_every_job_template_and_credential_type_is_exercised() -> None:
    """The tests below launch each job template; of the Vault logins they run token, AppRole and JWT (docs/awx.md)."""
    assert set(TEMPLATES) == {"rotate", "revoke_after_grace", "rollback", "import", "emergency"}
    assert set(TYPES) == {"vault_token", "vault_approle", "vault_jwt", "vault_kubernetes", "sendgrid", "gateway", "aws",
                          "stripe", "twilio"}
    assert TEMPLATES["emergency"]["job_tags"] == "emergency"
    assert [q for q in TEMPLATES["import"]["survey"] if q["type"] == "password"][0]["variable"] == "import_key"


def planned_schedules(world: World, *args: str) -> list[dict[str, Any]]:
    """The schedules the configuration role makes for this inventory (its tasks/plan.yml, run by tests/awx/plan.yml)."""
    home = world.tmp / "plan"
    home.mkdir()
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(world.inventory()), str(ROOT / "tests" / "awx" / "plan.yml"),
                           "-e", f"plan_file={home / 'plan.json'}", *args], env=world.env(home), capture_output=True,
                          text=True, timeout=120, cwd=world.tmp, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((home / "plan.json").read_text())


def awx_slice(world: World, number: int, count: int) -> Path:
    """The inventory of slice ``number`` of ``count`` of a sliced job: AWX gives it every count-th host only."""
    inventory = yaml.safe_load(world.inventory().read_text())
    keep = sorted(inventory["all"]["hosts"])[number - 1::count]
    inventory["all"]["hosts"] = {h: v for h, v in inventory["all"]["hosts"].items() if h in keep}
    for group in inventory["all"]["children"].values():
        group["hosts"] = {h: None for h in group["hosts"] if h in keep}
    path = world.tmp / f"slice{number}of{count}.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def concurrently(*jobs: Any) -> list[Launch]:
    done: list[Launch] = []
    threads = [threading.Thread(target=lambda job=job: done.append(job())) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(done) == len(jobs)
    return done


def test_schedules_of_one_cron_expression_then_revoke_after_grace_in_slices(world: World) -> None:
    """The workflow rotate -> revoke-after-grace as the schedules run it: the rotation schedules of one cron
    expression (one per chunk of keys) start together; revoke-after-grace runs as two concurrent slices."""
    weekly = {**FAST, "apikeys_schedule": "0 3 * * 0"}
    keys = [world.key("sendgrid", **weekly), gateway_key(world, **weekly), world.key("aws_iam", **weekly),
            world.key("stripe", **weekly), world.key("twilio", **weekly)]
    schedules = planned_schedules(world, "-e", "awx_config_schedule_chunk_size=3")
    rotations = [s for s in schedules if s["job_template"] == "apikeys: rotate"]
    assert [s["name"] for s in rotations] == ["apikeys: rotate at 0 3 * * 0 (1/2)", "apikeys: rotate at 0 3 * * 0 (2/2)"]
    # the Stripe and Twilio keys' management credentials come only from their credential types (FOREIGN)
    assert TEMPLATES["rotate"]["simultaneous"] and not TEMPLATES["rotate"].get("sliced")

    launches = concurrently(*(lambda s=s: Launch(world, "rotate", {"secret": s["secret"]}) for s in rotations))

    assert all(launch.ok for launch in launches), [launch.stdout[-3000:] for launch in launches]
    records = {k.host: world.record(k).data for k in keys}
    for key in keys:
        assert records[key.host]["previous_key_id"] == key.key_id, key.host
        assert world.live_key_ids(key) == {key.key_id, records[key.host]["key_id"]}
    for launch in launches:
        assert not any(launch.shows(k.secret) or launch.shows(records[k.host]["key"]) for k in keys)

    world.wait_past(max(r["previous_key_revocation_at"] for r in records.values()))
    revoke = [s for s in schedules if s["job_template"] == "apikeys: revoke-after-grace"]
    assert len(revoke) == 1 and revoke[0]["secret"] == "all" and TEMPLATES["revoke_after_grace"]["sliced"]
    slices = concurrently(*(lambda n=n: Launch(world, "revoke_after_grace", {"secret": revoke[0]["secret"]},
                                               inventory=awx_slice(world, n, 2)) for n in (1, 2)))

    assert all(s.ok for s in slices), [s.stdout[-3000:] for s in slices]
    for key in keys:
        assert world.live_key_ids(key) == {records[key.host]["key_id"]}, key.host
        assert world.works(key, records[key.host]["key"], records[key.host]["key_id"])


def test_a_slice_without_the_named_keys_fails_so_rotations_are_not_sliced(world: World) -> None:
    """Why a cron expression's keys run as chunks, not slices: a slice sees every n-th key only, and a pattern
    naming keys of another slice selects nothing there, which the playbooks refuse (a typo guard)."""
    keys = [world.key("sendgrid"), world.key("sendgrid")]
    first, second = sorted(k.host for k in keys)
    versions = [world.record(k).version for k in keys]

    run = Launch(world, "rotate", {"secret": second}, inventory=awx_slice(world, 1, 2))

    assert run.result.rc != 0 and second in run.stdout, run.stdout[-3000:]
    assert [world.record(k).version for k in keys] == versions, "nothing changed"


def test_rollback_with_its_reason_logged_in_with_approle(world: World) -> None:
    vault = world.vault
    if "approle/" not in vault.sys.list_auth_methods()["data"]:
        vault.sys.enable_auth_method("approle")
    policy = f"apikeys-rotator-{world.prefix}"
    vault.sys.create_or_update_policy(name=policy, policy=ROTATOR_POLICY + SELF_POLICY)
    role = f"awx-{world.prefix}"
    vault.auth.approle.create_or_update_approle(role, token_policies=[policy], token_ttl="5m", token_no_default_policy=True)
    role_id = vault.auth.approle.read_role_id(role)["data"]["role_id"]
    secret_id = vault.auth.approle.generate_secret_id(role)["data"]["secret_id"]
    approle = ("vault_approle", {"url": world.bench.openbao.url, "role_id": role_id, "secret_id": secret_id})
    key = world.key("sendgrid", root="apikeys/")

    rotate = Launch(world, "rotate", {"secret": key.host}, vault=approle)
    assert rotate.extra["apikeys_vault_auth_method"] == "approle" and rotate.ok, rotate.stdout[-3000:]
    new_id = world.record(key).data["key_id"]
    rollback = Launch(world, "rollback", {"secret": key.host, "rollback_reason": "AWX survey: the new key fails"},
                      vault=approle)

    assert rollback.ok, rollback.stdout[-3000:]
    data = world.record(key).data
    assert data["key_id"] == key.key_id and data["rollback_reason"] == "AWX survey: the new key fails"
    assert world.live_key_ids(key) == {key.key_id}, f"the faulty key {new_id} is revoked"
    assert not rollback.shows(secret_id) and not rotate.shows(secret_id)


def jwt_login(world: World) -> tuple[str, dict[str, str]]:
    """The JWT credential for OpenBao's jwt method at its default mount, trusting a key pair made here
    (as tests/e2e/test_vault_auth.py does): what an OIDC issuer AWX's jobs get tokens from would be."""
    vault = world.vault
    if "jwt/" not in vault.sys.list_auth_methods()["data"]:
        vault.sys.enable_auth_method("jwt")
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    vault.write("auth/jwt/config", jwt_validation_pubkeys=[public])
    policy = f"apikeys-rotator-{world.prefix}"
    vault.sys.create_or_update_policy(name=policy, policy=ROTATOR_POLICY + SELF_POLICY)
    role = f"awx-{world.prefix}"
    vault.write(f"auth/jwt/role/{role}", role_type="jwt", user_claim="sub", bound_audiences=["apikeys"],
                token_policies=[policy], token_ttl="5m")
    now = int(time.time())
    token = pyjwt.encode({"sub": "awx-job", "aud": "apikeys", "iat": now, "nbf": now - 5, "exp": now + 600},
                         private, algorithm="RS256")
    return "vault_jwt", {"url": world.bench.openbao.url, "role": role, "jwt": token}


def test_import_takes_the_secret_from_the_survey_password_field_logged_in_with_jwt(world: World) -> None:
    key = gateway_key(world, record=False, root="apikeys/")
    vault = jwt_login(world)

    run = Launch(world, "import", {"secret": key.host, "key_id": key.key_id, "import_key": key.secret}, vault=vault)

    assert run.ok, run.stdout[-3000:]
    assert run.passwords == [key.secret] and "rotated_at" not in run.extra
    assert run.extra["apikeys_vault_auth_method"] == "jwt"
    data = world.record(key).data
    assert data["key"] == key.secret and data["key_id"] == key.key_id
    assert not run.shows(key.secret), "the survey's password never reaches the job's output or events"
    assert not run.shows(vault[1]["jwt"])


def test_emergency_over_two_keys_needs_the_pattern_typed_again(world: World) -> None:
    keys = [world.key("sendgrid"), gateway_key(world)]
    pattern = ":".join(k.host for k in keys)
    versions = [world.record(k).version for k in keys]

    refused = Launch(world, "emergency", {"secret": pattern})

    assert refused.result.rc != 0 and "confirm" in refused.stdout, refused.stdout[-3000:]
    assert [world.record(k).version for k in keys] == versions, "nothing changed"

    run = Launch(world, "emergency", {"secret": pattern, "confirm": pattern})

    assert run.ok, run.stdout[-3000:]
    for key in keys:
        data = world.record(key).data
        assert data["key_id"] != key.key_id and world.live_key_ids(key) == {data["key_id"]}, key.host
        assert not world.works(key, key.secret, key.key_id)
