"""inventories/example (the seed's three keys: Stripe, SendGrid, the internal gateway) plans with no refusal.

The example is run as shipped except for where things are: the store's address and the record paths
(unique per test), and the providers' URLs, which point at the bench's emulators. Every other
setting (providers, options, schedules, frequencies, grace periods, cache TTLs, groups) is the
example's own, so a setting the collection refuses, or a provider it cannot rotate, fails here.
"""
from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from .conftest import BIN, ROOT, World

EXAMPLE = ROOT / "inventories" / "example"
SEED_KEYS = ("stripe", "sendgrid", "internal_gateway")


def seed(world: World, host: str, options: dict[str, Any]) -> tuple[str, str]:
    """The key in use today at the host's provider (the bench's emulator): (key_id, secret)."""
    bench = world.bench
    if host == "stripe":
        made = requests.post(bench.stripe.url + "/__emulator/seed", json={"name": host, "permissions":
                             options["permissions"]}, timeout=5).json()
        return made["id"], made["token"]
    if host == "sendgrid":
        made = requests.post(bench.sendgrid.url + "/__emulator/seed", json={"name": host, "scopes": ["mail.send"]},
                             timeout=5).json()
        return made["api_key_id"], made["api_key"]
    made = requests.post(bench.gateway.url + "/__emulator/seed", json={
        "consumer": options["path_params"]["consumer"], "tags": [host]}, timeout=5).json()
    return made["id"], made["key"]


def relocated(world: World, host: str, hostvars: dict[str, Any]) -> dict[str, Any]:
    """The example's variables for ``host`` with only the addresses changed to the bench's."""
    found = copy.deepcopy(hostvars)
    found["apikeys_vault_path"] = f"secret/{world.prefix}/{hostvars['apikeys_vault_path'].split('/', 1)[1]}"
    options = found.setdefault("apikeys_provider_options", {})
    if host == "stripe":
        options["api_url"] = world.bench.stripe.url
    elif host == "sendgrid":
        options["api_url"] = world.bench.sendgrid.url
    else:
        options["admin_url"] = world.bench.gateway.url
        options["test_url"] = world.bench.gateway.url + urlsplit(options["test_url"]).path
    return found


def example_inventory(world: World, tmp: Path) -> tuple[Path, dict[str, tuple[str, str]]]:
    inventory = yaml.safe_load((EXAMPLE / "hosts.yml").read_text())
    group_vars = yaml.safe_load((EXAMPLE / "group_vars" / "all.yml").read_text())
    production = inventory["all"]["children"]["production"]["hosts"]
    assert set(production) == set(SEED_KEYS), "the example's production keys are the seed's three"
    made = {}
    for host in SEED_KEYS:
        production[host] = relocated(world, host, production[host])
        made[host] = seed(world, host, production[host].get("apikeys_provider_options") or {})
        path = production[host]["apikeys_vault_path"].split("/", 1)[1]
        world.vault.secrets.kv.v2.create_or_update_secret(path=path, mount_point="secret", secret={
            "key": made[host][1], "key_id": made[host][0], "rotated_at": "2026-01-01T00:00:00Z"})
    group_vars.update(apikeys_vault_url=world.bench.openbao.url, apikeys_vault_allow_http=True)
    inventory["all"]["vars"].update(group_vars)
    path = tmp / "example.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path, made


def test_the_example_plans_all_three_seed_keys_with_no_refusal(world: World, tmp_path: Path) -> None:
    inventory, made = example_inventory(world, tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = dict(world.env(home), APIKEYS_HTTP_ADMIN_TOKEN=world.bench.gateway_admin_token or "")
    run = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / "rotate.yml"),
                          "-e", "secret=production", "--check", "--diff"], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, check=False)
    output = run.stdout + run.stderr

    assert run.returncode == 0, output
    assert "cannot be rotated" not in output and "refuse" not in output.lower(), output
    for host in SEED_KEYS:
        stored = world.vault.secrets.kv.v2.read_secret_version(
            path=f"{world.prefix}/apikeys/{host}", mount_point="secret", raise_on_deleted_version=True)["data"]
        assert stored["metadata"]["version"] == 1, f"{host}: the plan changed the record"
        assert stored["data"]["key_id"] == made[host][0]
        assert made[host][1] not in output, f"{host}: the plan printed the key"
    # every key is due (rotated_at 2026-01-01 is older than each frequency): the summary says each would rotate
    for host in SEED_KEYS:
        assert f'"{host}: would rotate: age ' in output, output
