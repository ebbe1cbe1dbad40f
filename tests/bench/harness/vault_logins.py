"""How many AppRole logins, and how long, a rotate run of N keys takes: with the run's token cache, without it,
and (optionally) with another checkout of the collection (e.g. the code before the cache).

    .venv/bin/python -m tests.bench.harness.vault_logins --keys 20 --runs 3 [--old /path/to/old/collections]

Logins are counted by OpenBao itself: the secret id is created with num_uses, and OpenBao keeps the uses left.
Each run rotates N fresh SendGrid keys (emulator) for real, not in check mode.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import requests

from tests.e2e.conftest import ROOT, World

from ..bench import start_all

USES = 100000
POLICY = (ROOT / "docs" / "policies" / "rotator.hcl").read_text() + """
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
"""


def measure(world: World, keys: int, role: str, role_id: str, secret_id: str, label: str,
            env: dict[str, str], collections: Path | None = None) -> None:
    hosts = [world.key("sendgrid", root="apikeys/", apikeys_vault_auth_method="approle").host for _number in range(keys)]
    world.groups[label] = hosts
    before = int(world.vault.auth.approle.read_secret_id(role, secret_id)["data"]["secret_id_num_uses"])
    extra = dict(env, VAULT_TOKEN="", VAULT_ROLE_ID=role_id, VAULT_SECRET_ID=secret_id)
    playbook = "rotate.yml"
    if collections is not None:
        extra["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
        playbook = str(collections / "ansible_collections" / "apikeys" / "rotation" / "playbooks" / "rotate.yml")
    started = time.monotonic()
    run = world.playbook(playbook, extra_env=extra, secret=label)
    took = time.monotonic() - started
    after = int(world.vault.auth.approle.read_secret_id(role, secret_id)["data"]["secret_id_num_uses"])
    print(f"{label}: rc={run.rc} keys={keys} logins={before - after} seconds={took:.1f}", flush=True)
    if run.rc:
        print("\n".join(line[:400] for line in run.output.splitlines() if "fatal:" in line or "FAILED" in line))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--runs", type=int, default=1, help="how many times each (interleaved)")
    parser.add_argument("--old", type=Path, help="collections path holding another ansible_collections/apikeys/rotation")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vault-logins-"))
    bench = start_all(workdir / "bench", only="openbao,sendgrid")
    try:
        # 60 keys or more in one emulated account: lift the emulator's 100-key cap
        requests.post(bench.sendgrid.url + "/__emulator/config", json={"key_limit": 100000}, timeout=5)
        world = World(bench, workdir)
        vault = world.vault
        vault.sys.enable_auth_method("approle")
        vault.sys.create_or_update_policy(name="rotator", policy=POLICY)
        vault.auth.approle.create_or_update_approle("rotator", token_policies=["rotator"], token_ttl="10m")
        role_id = vault.auth.approle.read_role_id("rotator")["data"]["role_id"]
        secret_id = vault.write("auth/approle/role/rotator/secret-id", num_uses=USES)["data"]["secret_id"]
        for _number in range(args.runs):
            if args.old:
                measure(world, args.keys, "rotator", role_id, secret_id, "old", {}, args.old)
            measure(world, args.keys, "rotator", role_id, secret_id, "uncached", {"APIKEYS_VAULT_TOKEN_CACHE": "false"})
            measure(world, args.keys, "rotator", role_id, secret_id, "cached", {})
    finally:
        bench.stop()
        os.system(f"rm -rf {workdir}")  # noqa: S605 - our own temp dir


if __name__ == "__main__":
    main()
