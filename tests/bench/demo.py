"""`make demo`: a real rotation of three keys against the local servers, start to finish.

Starts OpenBao, moto and the SendGrid and gateway emulators on 127.0.0.1; creates one key
per provider "by hand" (as the world has them before this collection); imports each into its
record with playbooks/import.yml; prints the plan (--check --diff); rotates; runs again to show
that nothing is due; checks through independent readers that old and new keys both work;
stops every server. Prints key ids, never a secret.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import hvac
import requests

from .bench import Bench, start_all

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
    aws = bench.moto.create_user_with_key("demo-app")
    return {"sendgrid_demo": (sendgrid["api_key_id"], sendgrid["api_key"]),
            "gateway_demo": (gateway["id"], gateway["key"]), "aws_demo": aws}


def works(bench: Bench, host: str, key_id: str, secret: str) -> bool:
    if host == "sendgrid_demo":
        return requests.get(bench.sendgrid.url + "/v3/scopes", headers={"Authorization": f"Bearer {secret}"},
                            timeout=5).status_code == 200
    if host == "gateway_demo":
        return requests.get(bench.gateway.url + "/demo/ping", headers={"apikey": secret}, timeout=5).status_code == 200
    return bench.moto.key_works(key_id, secret)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="apikeys-demo-") as workdir:
        banner("starting OpenBao, moto and the provider emulators on 127.0.0.1")
        with start_all(Path(workdir) / "bench") as bench:
            env = dict(os.environ, **bench.env(), ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"),
                       ANSIBLE_NOCOLOR="1")
            for name, service in bench.services().items():
                print(f"{name:9} {service.url}")

            banner("the keys in use today, made by hand 45 days ago, imported into their records")
            made = make_keys(bench)
            created = (datetime.now(timezone.utc) - timedelta(days=45)).strftime("%Y-%m-%dT%H:%M:%SZ")
            for host, (key_id, secret) in made.items():
                playbook(dict(env, APIKEYS_IMPORT_KEY=secret), "import.yml", "-e", f"secret={host}",
                         "-e", f"key_id={key_id}", "-e", f"rotated_at={created}")

            banner("the plan: what would rotate and why (--check --diff changes nothing)")
            playbook(env, "rotate.yml", "-e", "secret=local", "--check", "--diff")

            banner("rotate")
            playbook(env, "rotate.yml", "-e", "secret=local")

            banner("rotate again right away: nothing is due")
            playbook(env, "rotate.yml", "-e", "secret=local")

            banner("checked independently: the store (raw hvac) and the providers (raw HTTP / boto3)")
            vault = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)
            failures = 0
            for host, (old_id, old_secret) in made.items():
                data = vault.secrets.kv.v2.read_secret_version(path=f"apikeys/{host}", mount_point="secret",
                                                               raise_on_deleted_version=True)["data"]["data"]
                new_ok = works(bench, host, data["key_id"], data["key"])
                old_ok = works(bench, host, old_id, old_secret)
                rotated = data["key_id"] != old_id and data["previous_key_id"] == old_id
                failures += not (new_ok and old_ok and rotated)
                print(f"{host:14} key {data['key_id']} (works: {'yes' if new_ok else 'NO'}), previous "
                      f"{data['previous_key_id']} (works: {'yes' if old_ok else 'NO'}) until "
                      f"{data['previous_key_revocation_at']}")
            banner("stopping the servers")
        print("demo " + ("finished: every key rotated with no downtime" if not failures else "FAILED"))
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
