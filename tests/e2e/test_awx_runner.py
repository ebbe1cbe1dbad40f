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
import threading
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .conftest import BIN, COLLECTIONS, ROOT, Key, World

ROTATOR_POLICY = (ROOT / "docs" / "policies" / "rotator.hcl").read_text()
# a short grace, and no usage evidence to wait for (tests/e2e/test_revoke.py covers the evidence)
FAST = {"apikeys_grace_period": "2s", "apikeys_clock_skew": "0s", "apikeys_usage_evidence": {"source": "none"}}
# Environment a job must not inherit from this test process: only the credentials may bring it.
FOREIGN = ("VAULT_", "BAO_", "AWS_", "SENDGRID_", "GATEWAY_", "APIKEYS_", "ANSIBLE_HASHI_VAULT_")


class _Loader(yaml.SafeLoader):
    """Reads the role's vars file: an !unsafe value is an AWX template, kept as written."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
AWX = yaml.load((ROOT / "roles" / "awx_config" / "vars" / "main.yml").read_text(), Loader=_Loader)
TYPES: dict[str, Any] = AWX["awx_config__credential_types"]
TEMPLATES: dict[str, Any] = AWX["awx_config__job_templates"]


def credential_inputs(world: World, approle: tuple[str, str] | None = None) -> dict[str, dict[str, str]]:
    """The credentials an AWX admin would create for the bench, by credential type."""
    bench = world.bench
    vault = ("vault_approle", {"url": bench.openbao.url, "role_id": approle[0], "secret_id": approle[1]}) if approle \
        else ("vault_token", {"url": bench.openbao.url, "token": bench.openbao.token})
    return dict([vault,
                 ("sendgrid", {"admin_key": bench.sendgrid_admin_key}),
                 ("gateway", {"admin_token": bench.gateway_admin_token}),
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

    def __init__(self, world: World, name: str, answers: dict[str, Any], *, limit: str = "",
                 approle: tuple[str, str] | None = None) -> None:
        template = TEMPLATES[name]
        env, credential_vars = inject(credential_inputs(world, approle))
        extra, self.passwords = survey(template, answers)
        extra.update(template.get("extra_vars") or {})
        extra.update(credential_vars)  # AWX passes credential extra_vars last: they win
        home = world.tmp / f"job-{name}-{len(list(world.tmp.glob('job-*')))}"
        home.mkdir()
        # what the project sync and the job set up in AWX: the project's collections and a private HOME
        env.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), HOME=str(home), ANSIBLE_HOME=str(home / ".ansible"),
                   ANSIBLE_LOCAL_TEMP=str(home / ".ansible" / "tmp"), ANSIBLE_NOCOLOR="1",
                   PATH=f"{BIN}:{os.environ.get('PATH', '')}")  # the EE's ansible-playbook
        self.result = ansible_runner.run(
            private_data_dir=str(home), project_dir=str(ROOT), playbook=template["playbook"],
            inventory=str(world.inventory()), extravars=extra, envvars=env, tags=template.get("job_tags") or None,
            limit=limit or None, forks=5, quiet=True, timeout=240)
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
    """The tests below launch each job template; the JWT type is the one Vault login they cannot run (docs/awx.md)."""
    assert set(TEMPLATES) == {"rotate", "revoke_after_grace", "rollback", "import", "emergency"}
    assert set(TYPES) == {"vault_token", "vault_approle", "vault_jwt", "sendgrid", "gateway", "aws"}
    assert TEMPLATES["emergency"]["job_tags"] == "emergency"
    assert [q for q in TEMPLATES["import"]["survey"] if q["type"] == "password"][0]["variable"] == "import_key"


def test_sliced_rotation_then_revoke_after_grace_the_workflow(world: World) -> None:
    keys = [world.key("sendgrid", **FAST), gateway_key(world, **FAST), world.key("aws_iam", **FAST)]
    hosts = sorted(k.host for k in keys)
    # a schedule's extra_data: the keys sharing its cron expression; AWX slices the inventory's hosts in turn
    answers = {"secret": ":".join(hosts)}
    slices = [hosts[0::2], hosts[1::2]]
    launches: list[Launch] = []
    threads = [threading.Thread(target=lambda s=s: launches.append(Launch(world, "rotate", answers, limit=",".join(s))))
               for s in slices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(launches) == 2 and all(launch.ok for launch in launches), [launch.stdout[-3000:] for launch in launches]
    records = {k.host: world.record(k).data for k in keys}
    for key in keys:
        assert records[key.host]["previous_key_id"] == key.key_id, key.host
        assert world.live_key_ids(key) == {key.key_id, records[key.host]["key_id"]}
    for launch in launches:
        assert not any(launch.shows(k.secret) or launch.shows(records[k.host]["key"]) for k in keys)

    world.wait_past(max(r["previous_key_revocation_at"] for r in records.values()))
    revoke = Launch(world, "revoke_after_grace", {})  # the workflow's second node: the survey's default, all

    assert revoke.extra["secret"] == "all" and revoke.ok, revoke.stdout[-3000:]
    for key in keys:
        assert world.live_key_ids(key) == {records[key.host]["key_id"]}, key.host
        assert world.works(key, records[key.host]["key"], records[key.host]["key_id"])


def test_rollback_with_its_reason_logged_in_with_approle(world: World) -> None:
    vault = world.vault
    if "approle/" not in vault.sys.list_auth_methods()["data"]:
        vault.sys.enable_auth_method("approle")
    policy = f"apikeys-rotator-{world.prefix}"
    vault.sys.create_or_update_policy(name=policy, policy=ROTATOR_POLICY)
    role = f"awx-{world.prefix}"
    vault.auth.approle.create_or_update_approle(role, token_policies=[policy], token_ttl="5m", token_no_default_policy=True)
    approle = (vault.auth.approle.read_role_id(role)["data"]["role_id"],
               vault.auth.approle.generate_secret_id(role)["data"]["secret_id"])
    key = world.key("sendgrid", root="apikeys/")

    rotate = Launch(world, "rotate", {"secret": key.host}, approle=approle)
    assert rotate.extra["apikeys_vault_auth_method"] == "approle" and rotate.ok, rotate.stdout[-3000:]
    new_id = world.record(key).data["key_id"]
    rollback = Launch(world, "rollback", {"secret": key.host, "rollback_reason": "AWX survey: the new key fails"},
                      approle=approle)

    assert rollback.ok, rollback.stdout[-3000:]
    data = world.record(key).data
    assert data["key_id"] == key.key_id and data["rollback_reason"] == "AWX survey: the new key fails"
    assert world.live_key_ids(key) == {key.key_id}, f"the faulty key {new_id} is revoked"
    assert not rollback.shows(approle[1]) and not rotate.shows(approle[1])


def test_import_takes_the_secret_from_the_survey_password_field(world: World) -> None:
    key = gateway_key(world, record=False)

    run = Launch(world, "import", {"secret": key.host, "key_id": key.key_id, "import_key": key.secret})

    assert run.ok, run.stdout[-3000:]
    assert run.passwords == [key.secret] and "rotated_at" not in run.extra
    data = world.record(key).data
    assert data["key"] == key.secret and data["key_id"] == key.key_id
    assert not run.shows(key.secret), "the survey's password never reaches the job's output or events"


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
