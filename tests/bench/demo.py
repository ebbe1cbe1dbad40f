"""`make demo`: the whole cycle for four keys against the local servers, start to finish.

Starts OpenBao, moto, the SendGrid, gateway and Stripe emulators and the applications that
use the keys, all on 127.0.0.1 (the Stripe key's record is in AWS Secrets Manager, on moto);
creates one key per provider "by hand" (as the world has them before this collection);
imports each into its record with playbooks/import.yml; prints the plan (--check --diff);
rotates; checks through independent readers that old and new keys both work during the grace
period; runs again to show that nothing is due; lets the applications pick up the new keys;
revokes the old keys once the grace is over and the new keys are seen in use; checks that the
old keys are rejected and the new ones work; stops every server. Prints key ids, never a secret.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import hvac
import requests

from .moto import client as aws_client

from .bench import Bench, start_all
from .consumers import ConsumerFleet, start_consumers

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
INVENTORY = ROOT / "inventories" / "local"


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def playbook(env: dict[str, str], name: str, *args: str) -> None:
    command = [str(BIN / "ansible-playbook"), "-i", str(INVENTORY), str(ROOT / "playbooks" / name), *args]
    print("$ " + " ".join(["ansible-playbook", "-i", "inventories/local", f"playbooks/{name}", *args]), flush=True)
    subprocess.run(command, env=env, check=True)


def make_keys(bench: Bench) -> dict[str, tuple[str, str]]:
    """One key per provider, made the way a person would have made it: {host: (key_id, secret)}."""
    sendgrid = requests.post(bench.sendgrid.url + "/__emulator/seed",
                             json={"name": "notification-service", "scopes": ["mail.send"]}, timeout=5).json()
    gateway = requests.post(bench.gateway.url + "/__emulator/seed", json={"consumer": "demo"}, timeout=5).json()
    stripe = requests.post(bench.stripe.url + "/__emulator/seed",
                           json={"name": "stripe_demo", "permissions": ["customer_read"]}, timeout=5).json()
    aws = bench.moto.create_user_with_key("demo-app")
    return {"sendgrid_demo": (sendgrid["api_key_id"], sendgrid["api_key"]),
            "gateway_demo": (gateway["id"], gateway["key"]), "stripe_demo": (stripe["id"], stripe["token"]),
            "aws_demo": aws}


def works(bench: Bench, host: str, key_id: str, secret: str) -> bool:
    if host == "sendgrid_demo":
        return requests.get(bench.sendgrid.url + "/v3/scopes", headers={"Authorization": f"Bearer {secret}"},
                            timeout=5).status_code == 200
    if host == "gateway_demo":
        return requests.get(bench.gateway.url + "/demo/ping", headers={"apikey": secret}, timeout=5).status_code == 200
    if host == "stripe_demo":
        return requests.get(bench.stripe.url + "/v1/customers", params={"limit": 1},
                            headers={"Authorization": f"Bearer {secret}"}, timeout=5).status_code == 200
    return bench.moto.key_works(key_id, secret)


def records(bench: Bench) -> dict[str, dict]:
    """Each key's record, read with raw hvac and raw boto3 (not with the collection's code)."""
    vault = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)
    found = {host: vault.secrets.kv.v2.read_secret_version(path=f"apikeys/{host}", mount_point="secret",
                                                           raise_on_deleted_version=True)["data"]["data"]
             for host in ("sendgrid_demo", "gateway_demo", "aws_demo")}
    found["stripe_demo"] = json.loads(secrets_manager(bench).get_secret_value(
        SecretId="apikeys/stripe_demo", VersionStage="AWSCURRENT")["SecretString"])
    return found


def secrets_manager(bench: Bench) -> Any:
    return aws_client(bench.moto.url, "secretsmanager", bench.moto.admin_access_key_id,
                      bench.moto.admin_secret_access_key)


def show_secrets_manager(bench: Bench) -> None:
    """Where the Stripe key's record is: its versions' stages and the non-secret tags (DescribeSecret)."""
    described = secrets_manager(bench).describe_secret(SecretId="apikeys/stripe_demo")
    stages = sorted(stage for labels in described["VersionIdsToStages"].values() for stage in labels)
    tags = {t["Key"]: t["Value"] for t in described.get("Tags") or []}
    print(f"AWS Secrets Manager secret apikeys/stripe_demo: stages {', '.join(stages)}; "
          f"phase {tags.get('apikeys:phase', '?')}, key_id {tags.get('apikeys:key_id', '?')}")


def switch_applications(bench: Bench, fleet: ConsumerFleet) -> None:
    """The applications re-read the store (as a Vault Agent template or a TTL cache would) and call with the new key."""
    for host, data in records(bench).items():
        if host == "aws_demo":
            bench.moto.key_works(data["key_id"], data["key"])  # shows in IAM's last-used data
        else:
            fleet.hold(f"{host}-app", data["key_id"])
        print(f"{host:14} application now uses key {data['key_id']}")


def check(bench: Bench, made: dict[str, tuple[str, str]], old_should_work: bool) -> int:
    failures = 0
    for host, data in records(bench).items():
        old_id, old_secret = made[host]
        new_ok = works(bench, host, data["key_id"], data["key"])
        old_ok = works(bench, host, old_id, old_secret)
        failures += not (new_ok and old_ok == old_should_work and data["key_id"] != old_id)
        print(f"{host:14} current key {data['key_id']} works: {'yes' if new_ok else 'NO'}; "
              f"old key {old_id} works: {'yes' if old_ok else 'no'}")
    return failures


def seconds_until(when: str) -> float:
    return (datetime.fromisoformat(when.replace("Z", "+00:00")) - datetime.now(timezone.utc)).total_seconds()


def monitor_token(bench: Bench) -> str:
    """A token of the shipped monitor policy (docs/policies/monitor.hcl): metadata only, no key."""
    vault = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)
    vault.sys.create_or_update_policy(name="apikeys-monitor", policy=(ROOT / "docs/policies/monitor.hcl").read_text())
    return vault.auth.token.create(policies=["apikeys-monitor"], no_default_policy=True, ttl="10m")["auth"]["client_token"]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="apikeys-demo-") as workdir:
        banner("starting OpenBao, moto, the provider emulators and the applications on 127.0.0.1")
        with start_all(Path(workdir) / "bench") as bench, start_consumers() as fleet:
            env = dict(os.environ, **bench.env(), APIKEYS_CONSUMERS_URL=fleet.url,
                       ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), ANSIBLE_NOCOLOR="1")
            for name, service in dict(bench.services(), applications=fleet).items():
                print(f"{name:12} {service.url}")

            banner("the keys in use today, made by hand 45 days ago, imported into their records")
            made = make_keys(bench)
            created = (datetime.now(timezone.utc) - timedelta(days=45)).strftime("%Y-%m-%dT%H:%M:%SZ")
            for host, (key_id, secret) in made.items():
                fleet.hold(f"{host}-app", key_id)
                playbook(dict(env, APIKEYS_IMPORT_KEY=secret), "import.yml", "-e", f"secret={host}",
                         "-e", f"key_id={key_id}", "-e", f"rotated_at={created}")

            banner("the plan: what would rotate and why (--check --diff changes nothing)")
            playbook(env, "rotate.yml", "-e", "secret=local", "--check", "--diff")

            banner("rotate")
            playbook(env, "rotate.yml", "-e", "secret=local")

            banner("during the grace period both keys work (raw hvac, raw HTTP / boto3)")
            failures = check(bench, made, old_should_work=True)
            show_secrets_manager(bench)

            banner("rotate again right away: nothing is due")
            playbook(env, "rotate.yml", "-e", "secret=local")

            banner("revoke-after-grace before the grace is over: nothing is due")
            left = seconds_until(min(data["previous_key_revocation_at"] for data in records(bench).values()))
            if left > 10:
                playbook(env, "revoke_after_grace.yml", "-e", "secret=local")
            else:  # on a loaded machine the grace may be nearly over already: the run would (rightly) find the
                # applications still on the old keys and refuse to revoke them
                print(f"skipped: the first grace period ends in {max(left, 0):.0f}s (a busy machine)")

            banner("the applications pick up the new keys")
            switch_applications(bench, fleet)
            ends = max(data["previous_key_revocation_at"] for data in records(bench).values())
            wait = seconds_until(ends)
            print(f"grace ends at {ends}; waiting {max(wait, 0) + 1.5:.1f}s")
            time.sleep(max(wait, 0) + 1.5)

            banner("revoke after grace: usage checked, old keys revoked")
            playbook(env, "revoke_after_grace.yml", "-e", "secret=local")

            banner("after revocation: old keys rejected, new keys work")
            failures += check(bench, made, old_should_work=False)
            show_secrets_manager(bench)

            banner("the fleet report, read from the records' metadata with a token of the monitor policy")
            report = ROOT / ".build" / "report"
            playbook(dict(env, VAULT_TOKEN=monitor_token(bench)), "report.yml", "-e", f"report_output_dir={report}")
            print(f"report: {report / 'report.html'} (and report.json, report.txt)")
            banner("stopping the servers")
        print("demo " + ("finished: every key rotated and its old key revoked, with no downtime"
                         if not failures else "FAILED"))
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
