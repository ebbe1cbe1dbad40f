"""How many store (OpenBao) and provider requests does one key cost, per run?

Counts, on the local bench (OpenBao dev server, SendGrid and Kong-style gateway emulators), for
--keys keys (half SendGrid, half gateway, made as tests/e2e/conftest.py's World makes them):
  * rotate.yml, every key due; then rotate.yml again, no key due;
  * revoke_after_grace.yml once every grace period is over (grace 2 s, usage evidence
    ``source: none``, so every old key is revoked); then again, nothing left to revoke.

Store requests: the playbooks reach OpenBao through tests/bench/tcpproxy.py's TcpProxy
(VAULT_ADDR points at it), which logs every HTTP request it forwards (method and path); the
requests the script makes itself to seed and read records go straight to OpenBao and are not
counted. Authentication is the default ``token`` method (VAULT_TOKEN): no login request.
The proxy counts only what it can read as whole HTTP/1.x requests; should a connection carry
anything else (a chunked body), it copies the rest unread, so the script watches for that and fails
rather than print a short count. (OpenBao's file audit device would be a second count, but OpenBao
refuses to enable audit devices through the API: "use declarative, config-based audit device
management", and the bench's dev server has no such configuration.)
Provider requests: the emulators' ``GET /__emulator/calls`` counters, zeroed before each run.
Connections: the playbooks reach the emulators through TcpProxies too; each proxy counts the TCP
connections it accepts, so a run's "connections" are the connections the collection opened (keep-alive
reuse shows as fewer connections than requests).

Run: .venv/bin/python benchmarks/requests_per_key.py --keys 20
     (--no-shared-connections: APIKEYS_HTTP_POOL_SIZE=0, a connection pool per client, to compare)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import hvac
import requests
import yaml

from _common import BIN, ROOT
from tests.bench.bench import Bench, start_all
from tests.bench import tcpproxy
from tests.bench.tcpproxy import TcpProxy

OLD = (datetime.now(timezone.utc) - timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
FAST = {"apikeys_grace_period": "2s", "apikeys_clock_skew": "0s", "apikeys_usage_evidence": {"source": "none"}}
STORE_KINDS = ("KV read", "KV write", "metadata read", "metadata write", "sys/health", "sys/internal mounts",
               "capabilities", "auth", "other")
PROVIDER_NAMES = {
    "GET /v3/api_keys": "list", "GET /v3/scopes": "scopes", "POST /v3/api_keys": "create",
    "GET /v3/api_keys/{id}": "read back", "DELETE /v3/api_keys/{id}": "delete",
    "GET /consumers/demo/key-auth": "list", "POST /consumers/demo/key-auth": "create",
    "GET /consumers/demo/key-auth/{id}": "read back", "DELETE /consumers/demo/key-auth/{id}": "delete",
    "GET /demo/ping": "test call",
}
UNREAD: list[int] = []  # sizes of what the proxy copied without reading it as requests
READ_REQUEST = tcpproxy._next_request  # pylint: disable=protected-access


def watched_next_request(sock, buffer):  # type: ignore[no-untyped-def]
    """tcpproxy's request reader, noting every time it gives up reading requests on a connection."""
    request = READ_REQUEST(sock, buffer)
    if isinstance(request, bytes):
        UNREAD.append(len(request))
    return request


tcpproxy._next_request = watched_next_request  # pylint: disable=protected-access


def store_kind(method: str, path: str) -> str:
    """Which kind of store request (method, path) is, as the docs name them."""
    writes = ("POST", "PUT", "PATCH", "DELETE")
    if re.match(r"/v1/[^/]+/data/", path):
        return "KV write" if method in writes else "KV read"
    if re.match(r"/v1/[^/]+/metadata/", path):
        return "metadata write" if method in writes else "metadata read"
    if path == "/v1/sys/health":
        return "sys/health"
    if path.startswith("/v1/sys/internal/ui/mounts"):
        return "sys/internal mounts"
    if path.startswith(("/v1/sys/capabilities", "/v1/sys/capabilities-self")):
        return "capabilities"
    if path.startswith("/v1/auth/"):
        return "auth"
    return "other"


def provider_call(call: str) -> str:
    """``"METHOD /path"`` with the key id replaced by {id}, named as the docs name it."""
    template = re.sub(r"/(api_keys|key-auth)/[^/]+$", r"/\1/{id}", call)
    return PROVIDER_NAMES.get(template, template)


class CountingProxy(TcpProxy):
    """A TcpProxy that counts the connections it accepts."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.connections = 0
        self._count_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def _forward_requests(self, link) -> None:  # type: ignore[no-untyped-def]
        with self._count_lock:  # one forwarding thread per connection
            self.connections += 1
        super()._forward_requests(link)


def seed(bench: Bench, vault: hvac.Client, count: int, urls: dict[str, str]) -> dict[str, dict]:
    """``count`` keys that are due, half SendGrid, half gateway (reached at ``urls``); their inventory hosts."""
    hosts: dict[str, dict] = {}
    for number in range(count):
        provider = "sendgrid" if number % 2 == 0 else "http"
        host = f"bench_{provider}_{number:04d}"
        if provider == "sendgrid":
            made = requests.post(bench.sendgrid.url + "/__emulator/seed",
                                 json={"name": host, "scopes": ["mail.send", "user.profile.read"]}, timeout=5).json()
            key_id, secret = made["api_key_id"], made["api_key"]
            options: dict = {"api_url": urls["sendgrid"], "activation_timeout": 3, "max_keys": 100000}
        else:
            made = requests.post(bench.gateway.url + "/__emulator/seed", json={"consumer": "demo", "tags": [host]},
                                 timeout=5).json()
            key_id, secret = made["id"], made["key"]
            options = {"admin_url": urls["http"], "admin_header": "Kong-Admin-Token", "admin_scheme": "",
                       "credential_env": "GATEWAY_ADMIN_TOKEN", "create_path": "/consumers/{consumer}/key-auth",
                       "key_path": "/consumers/{consumer}/key-auth/{key_id}", "path_params": {"consumer": "demo"},
                       "test_url": urls["http"] + "/demo/ping", "activation_timeout": 3}
        vault.secrets.kv.v2.create_or_update_secret(path=f"bench/{host}", mount_point="secret",
                                                    secret={"key": secret, "key_id": key_id, "rotated_at": OLD})
        hosts[host] = {"apikeys_provider": provider, "apikeys_vault_path": f"secret/bench/{host}",
                       "apikeys_provider_options": options, "apikeys_rotation_frequency": "30d", **FAST}
    return hosts


def records(vault: hvac.Client, hosts: dict[str, dict]) -> list[dict]:
    return [vault.secrets.kv.v2.read_secret_version(path=f"bench/{host}", mount_point="secret",
                                                    raise_on_deleted_version=True)["data"]["data"] for host in hosts]


class Counted:
    """Runs one playbook and counts what it asked of the store and the providers."""

    def __init__(self, bench: Bench, proxy: TcpProxy, command: list[str], env: dict[str, str],
                 counting: list[CountingProxy]) -> None:
        self.bench = bench
        self.proxy = proxy
        self.counting = counting
        self.command = command
        self.env = env

    def run(self, playbook: str) -> tuple[Counter, dict[str, Counter], Counter, list[int]]:
        emulators = {"sendgrid": self.bench.sendgrid.url, "http": self.bench.gateway.url}
        for url in emulators.values():
            requests.delete(url + "/__emulator/calls", timeout=5).raise_for_status()
        before = len(self.proxy.requests)
        opened = [proxy.connections for proxy in self.counting]
        done = subprocess.run(self.command + [str(ROOT / "playbooks" / playbook), "-e", "secret=fleet"],
                              env=self.env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"failed: {playbook} rc {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
        seen = self.proxy.requests[before:]
        store = Counter(store_kind(method, path) for method, path in seen)
        paths = Counter(f"{method} {re.sub('/bench/[^/]+', '/bench/{key}', path)}" for method, path in seen)
        if UNREAD:
            sys.exit(f"{playbook}: the proxy copied {len(UNREAD)} stretch(es) of a connection unread: the count is short")
        provider = {name: Counter() for name in emulators}
        for name, url in emulators.items():
            for call, count in requests.get(url + "/__emulator/calls", timeout=5).json().items():
                provider[name][provider_call(call)] += count
        opened = [proxy.connections - count for proxy, count in zip(self.counting, opened)]
        return store, provider, paths, opened


def store_cell(store: Counter, keys: int) -> str:
    parts = ", ".join(f"{store[kind] / keys:g} {kind}" for kind in STORE_KINDS if store[kind])
    return f"{sum(store.values()) / keys:g} ({parts})" if parts else "0"


def provider_cell(provider: dict[str, Counter], per_provider: int) -> str:
    cells = []
    for name, label in (("sendgrid", "SendGrid"), ("http", "gateway")):
        calls = provider[name]
        total = sum(calls.values()) / per_provider
        parts = ", ".join(f"{count / per_provider:g} {call}" for call, count in calls.items())
        cells.append(f"{label} {total:g}" + (f" ({parts})" if parts else ""))
    return ", ".join(cells)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=20, help="number of keys, even (half SendGrid, half gateway)")
    parser.add_argument("--no-shared-connections", action="store_true",
                        help="run with APIKEYS_HTTP_POOL_SIZE=0: each client its own pool (keep-alive not shared)")
    args = parser.parse_args()
    if args.keys < 2 or args.keys % 2:
        parser.error("--keys must be an even number, at least 2")

    with tempfile.TemporaryDirectory(prefix="apikeys-bench-") as workdir, \
            start_all(Path(workdir) / "bench", only="openbao,sendgrid,gateway") as bench:
        requests.post(bench.sendgrid.url + "/__emulator/config", json={"key_limit": 100000}, timeout=5)
        vault = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)
        proxy = CountingProxy("127.0.0.1", bench.openbao.port)
        providers = {"sendgrid": CountingProxy("127.0.0.1", bench.sendgrid.port),
                     "http": CountingProxy("127.0.0.1", bench.gateway.port)}
        hosts = seed(bench, vault, args.keys, {name: running.url for name, running in providers.items()})
        inventory = Path(workdir) / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                     "apikeys_vault_allow_http": True},
            "hosts": hosts, "children": {"fleet": {"hosts": {host: None for host in hosts}}}}}))
        home = Path(workdir) / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "VAULT_", "BAO_", "AWS_"))}
        env.update(bench.env(), VAULT_ADDR=proxy.url, HOME=str(home), ANSIBLE_HOME=str(home / ".ansible"),
                   ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_RETRY_FILES_ENABLED="0", PATH=f"{BIN}:{env.get('PATH', '')}")
        if args.no_shared_connections:
            env["APIKEYS_HTTP_POOL_SIZE"] = "0"
        counted = Counted(bench, proxy, [str(BIN / "ansible-playbook"), "-i", str(inventory)], env,
                          [proxy, providers["sendgrid"], providers["http"]])

        rows = [("rotate, key due", *counted.run("rotate.yml"))]
        rotated = [record for record in records(vault, hosts) if record.get("previous_key_id")]
        rows.append(("rotate, key not due", *counted.run("rotate.yml")))
        last = max(datetime.fromisoformat(record["previous_key_revocation_at"].replace("Z", "+00:00"))
                   for record in rotated)
        time.sleep(max(0.0, (last - datetime.now(timezone.utc)).total_seconds()) + 1)
        rows.append(("revoke-after-grace, grace over", *counted.run("revoke_after_grace.yml")))
        revoked = [record for record in records(vault, hosts) if not record.get("previous_key_id")]
        rows.append(("revoke-after-grace, nothing to revoke", *counted.run("revoke_after_grace.yml")))
        for running in (proxy, *providers.values()):
            running.stop()

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "plugins", "roles", "playbooks"],
                           capture_output=True, text=True, check=False).stdout.strip()
    print(f"commit {commit}{' (plugins/roles/playbooks modified!)' if dirty else ''}; "
          f"{os.cpu_count()} cores, load average {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    print(f"{args.keys} keys ({args.keys // 2} SendGrid, {args.keys // 2} gateway); rotated {len(rotated)}, "
          f"old keys revoked {len(revoked)}; connections "
          f"{'NOT shared (APIKEYS_HTTP_POOL_SIZE=0)' if args.no_shared_connections else 'shared'}\n")
    print("| run | store requests per key | provider requests per key | connections opened (store, SendGrid, gateway) |")
    print("|---|---|---|---|")
    for name, store, provider, _paths, opened in rows:
        print(f"| {name} | {store_cell(store, args.keys)} | {provider_cell(provider, args.keys // 2)} | "
              f"{', '.join(str(count) for count in opened)} |")
    for name, _store, _provider, paths, _opened in rows:
        print(f"\nstore requests, {name}:", json.dumps(dict(paths)))
    return 0 if len(rotated) == len(revoked) == args.keys else 1


if __name__ == "__main__":
    sys.exit(main())
