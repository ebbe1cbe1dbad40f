"""End-to-end fixtures: the real bench (OpenBao, moto, emulators) and ansible-playbook runs.

State is checked through independent readers (raw hvac, raw HTTP, raw boto3), never
through the collection's own code.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import hvac
import pytest
import requests
import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.bench import Bench, start_all  # noqa: E402
from tests.bench.consumers import start_consumers  # noqa: E402
from tests.bench.moto import client as aws_client  # noqa: E402

BIN = Path(sys.executable).parent
COLLECTIONS = ROOT / ".build" / "collections"
PROVIDERS = ("sendgrid", "http", "aws_iam", "twilio", "stripe")


@pytest.fixture(scope="session")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    link = COLLECTIONS / "ansible_collections" / "apikeys" / "rotation"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT)
    running = start_all(tmp_path_factory.mktemp("bench"))
    # The suite leaves many keys alive in one SendGrid account: lift the emulator's 100-key cap.
    requests.post(running.sendgrid.url + "/__emulator/config", json={"key_limit": 100000}, timeout=5)
    yield running
    running.stop()


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Key:
    """A key made at the provider "by hand", as the world has it before the collection takes over."""

    host: str
    provider: str
    key_id: str
    secret: str
    vault_path: str
    options: dict[str, Any]


@dataclass
class Stored:
    """A record as read straight from OpenBao."""

    data: dict[str, Any]
    version: int
    meta: dict[str, str]


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    home: Path

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class World:
    """One test's keys, inventory and ansible-playbook runs, isolated by a unique prefix."""

    def __init__(self, bench: Bench, tmp: Path) -> None:
        self.bench = bench
        self.tmp = tmp
        self.prefix = "t" + uuid.uuid4().hex[:8]
        self.vault = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)
        self.hosts: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, list[str]] = {}

    # -- independent readers ---------------------------------------------------

    def record(self, key: Key) -> Stored:
        answer = self.vault.secrets.kv.v2.read_secret_version(
            path=key.vault_path.split("/", 1)[1], mount_point="secret", raise_on_deleted_version=True)
        meta = answer["data"]["metadata"]
        return Stored(answer["data"]["data"], meta["version"], meta.get("custom_metadata") or {})

    def works(self, key: Key, secret: str, key_id: str) -> bool:
        if key.provider == "sendgrid":
            return requests.get(self.bench.sendgrid.url + "/v3/scopes",
                                headers={"Authorization": f"Bearer {secret}"}, timeout=5).status_code == 200
        if key.provider == "http":
            return requests.get(self.bench.gateway.url + "/demo/ping", headers={"apikey": secret},
                                timeout=5).status_code == 200
        if key.provider == "twilio":
            return requests.get(f"{self.bench.twilio.url}/2010-04-01/Accounts/{self.bench.twilio_account_sid}/"
                                "Balance.json", auth=(key_id, secret), timeout=5).status_code == 200
        if key.provider == "stripe":
            return requests.get(self.bench.stripe.url + "/v1/customers?limit=1", headers={"Authorization": f"Bearer {secret}"},
                                timeout=5).status_code == 200
        return self.bench.moto.key_works(key_id, secret)

    def live_key_ids(self, key: Key) -> set[str]:
        """Ids of the keys alive at the provider that belong to this key (seeded as it, or made by its rotations)."""

        def ours(name: str) -> bool:
            return name == key.host or name.startswith(f"apikeys-{key.host}-")

        if key.provider == "sendgrid":
            keys = requests.get(self.bench.sendgrid.url + "/__emulator/keys", timeout=5).json()
            return {k["id"] for k in keys if not k["revoked"] and ours(k["name"])}
        if key.provider == "http":
            keys = requests.get(self.bench.gateway.url + "/__emulator/keys", timeout=5).json()
            return {k["id"] for k in keys if not k["revoked"] and any(ours(t) for t in k["tags"] or [])}
        if key.provider == "twilio":
            keys = requests.get(self.bench.twilio.url + "/__emulator/keys", timeout=5).json()
            return {k["id"] for k in keys if not k["revoked"] and ours(k["name"])}
        if key.provider == "stripe":  # not expired (an expired key may still authenticate for a while)
            keys = requests.get(self.bench.stripe.url + "/__emulator/keys", timeout=5).json()
            return {k["id"] for k in keys if not k["revoked"] and ours(k["name"] or "")}
        iam = self.bench.moto.client("iam")
        return {k["AccessKeyId"] for k in iam.list_access_keys(UserName=key.options["user_name"])["AccessKeyMetadata"]}

    def provider_calls(self, key: Key) -> dict[str, int]:
        url = {"sendgrid": self.bench.sendgrid, "http": self.bench.gateway, "twilio": self.bench.twilio,
               "stripe": self.bench.stripe}[key.provider].url
        return requests.get(url + "/__emulator/calls", timeout=5).json()

    # -- the world before the collection -------------------------------------------

    def key(self, provider: str, *, age: timedelta = timedelta(days=40), record: bool = True,
            root: str = "", **inventory: Any) -> Key:
        host = f"{self.prefix}_{provider}_{len(self.hosts)}"
        if provider == "sendgrid":
            made = requests.post(self.bench.sendgrid.url + "/__emulator/seed",
                                 json={"name": host, "scopes": ["mail.send", "user.profile.read"]}, timeout=5).json()
            key_id, secret = made["api_key_id"], made["api_key"]
            options: dict[str, Any] = {"api_url": self.bench.sendgrid.url, "activation_timeout": 3, "max_keys": 100000}
        elif provider == "http":
            made = requests.post(self.bench.gateway.url + "/__emulator/seed", json={"consumer": "demo",
                                 "tags": [host]}, timeout=5).json()
            key_id, secret = made["id"], made["key"]
            options = {"admin_url": self.bench.gateway.url, "admin_header": "Kong-Admin-Token", "admin_scheme": "",
                       "credential_env": "GATEWAY_ADMIN_TOKEN", "create_path": "/consumers/{consumer}/key-auth",
                       "key_path": "/consumers/{consumer}/key-auth/{key_id}", "path_params": {"consumer": "demo"},
                       "test_url": self.bench.gateway.url + "/demo/ping", "activation_timeout": 3}
        elif provider == "twilio":
            made = requests.post(self.bench.twilio.url + "/__emulator/seed", json={"name": host}, timeout=5).json()
            key_id, secret = made["sid"], made["secret"]
            options = {"account_sid": self.bench.twilio_account_sid, "api_url": self.bench.twilio.url,
                       "account_api_url": self.bench.twilio.url, "activation_timeout": 3}
        elif provider == "stripe":
            made = requests.post(self.bench.stripe.url + "/__emulator/seed",
                                 json={"name": host, "permissions": ["customer_read", "charge_read"]}, timeout=5).json()
            key_id, secret = made["id"], made["token"]
            options = {"api_url": self.bench.stripe.url, "activation_timeout": 3, "expire_timeout": 30,
                       "expire_interval": 1}
        else:
            user = host.replace("_", "-")
            key_id, secret = self.bench.moto.create_user_with_key(user)
            options = {"user_name": user, "endpoint_url": self.bench.moto.url, "activation_timeout": 5}
        key = Key(host, provider, key_id, secret, f"secret/{root}{self.prefix}/{host}", options)
        if record:
            self.write_record(key, {"key": secret, "key_id": key_id, "rotated_at": iso(datetime.now(timezone.utc) - age)})
        vars_ = {"apikeys_provider": provider, "apikeys_vault_path": key.vault_path,
                 "apikeys_provider_options": options, "apikeys_rotation_frequency": "30d",
                 "apikeys_grace_period": "1h"}
        vars_.update(inventory)
        self.hosts[host] = {k: v for k, v in vars_.items() if v is not None}
        return key

    def write_record(self, key: Key, data: dict[str, Any]) -> None:
        path = key.vault_path.split("/", 1)[1]
        self.vault.secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point="secret")

    # -- running the collection ----------------------------------------------------------------

    def inventory(self) -> Path:
        path = self.tmp / "inventory.yml"
        children = {group: {"hosts": {h: None for h in hosts}} for group, hosts in self.groups.items()}
        # The emulators are local: no provider rate budget (docs/rate-limits.md), so tests of many keys are not
        # paced at SendGrid's 10/s; Retry-After still pauses. test_rate_limits sets its own per key.
        common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                  "apikeys_vault_allow_http": True, "apikeys_rate_limit": {"provider": "unlimited"}}
        # written whole, then renamed into place: tests that run two jobs at once (test_awx_runner's slices) call
        # this from two threads, and a reader must never see the file half written
        fd, temporary = tempfile.mkstemp(dir=self.tmp, prefix=".inventory-", suffix=".yml")
        with os.fdopen(fd, "w") as out:
            out.write(yaml.safe_dump({"all": {"vars": common, "hosts": self.hosts, "children": children}}))
        os.replace(temporary, path)
        return path

    def env(self, home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "VAULT_", "AWS_"))}
        env.update(self.bench.env())
        env.update(HOME=str(home), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_HOME=str(home / ".ansible"),
                   ANSIBLE_LOG_PATH=str(home / "ansible.log"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_LOCAL_TEMP=str(home / ".ansible" / "tmp"),
                   PATH=f"{BIN}:{env.get('PATH', '')}")
        return env

    def wait_past(self, moment: str, extra: float = 0.0) -> None:
        """Sleep until ``extra`` seconds after the UTC time ``moment`` (ISO 8601)."""
        left = (parse_iso(moment) - datetime.now(timezone.utc)).total_seconds() + extra
        time.sleep(max(0.0, left) + 0.2)

    def start_playbook(self, name: str, *args: str, extra_env: dict[str, str] | None = None,
                       **extra_vars: Any) -> tuple[subprocess.Popen[str], Path]:
        """Start ansible-playbook in the background; returns the process and its HOME."""
        home = self.tmp / f"home{len(list(self.tmp.glob('home*')))}"
        home.mkdir()
        path = Path(name) if Path(name).is_absolute() else ROOT / "playbooks" / name
        command = [str(BIN / "ansible-playbook"), "-i", str(self.inventory()), str(path), *args]
        if extra_vars:
            command += ["-e", json.dumps(extra_vars)]
        env = self.env(home)
        env.update(extra_env or {})
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   cwd=self.tmp)
        return process, home

    @staticmethod
    def finish(process: subprocess.Popen[str], home: Path) -> Run:
        """Wait for a started run (killed after 300 s) and collect what it printed."""
        try:
            stdout, stderr = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        return Run(process.returncode, stdout, stderr, home)

    def playbook(self, name: str, *args: str, extra_env: dict[str, str] | None = None, **extra_vars: Any) -> Run:
        return self.finish(*self.start_playbook(name, *args, extra_env=extra_env, **extra_vars))

    def race(self, host: str, gate: Path, extra_env: dict[str, str] | None = None) -> list[Run]:
        """Two rotate.yml runs of ``host`` that both read the record, wait before their first write, and are let go
        together (the _checkpoint.py pause, in the directory ``gate``)."""
        gate.mkdir()
        env = dict(extra_env or {}, APIKEYS_TEST_PAUSE_AT=f"before_intent:{gate}")
        started = [self.start_playbook("rotate.yml", extra_env=env, secret=host) for _twice in range(2)]
        deadline = time.monotonic() + 60
        while len(list(gate.glob("before_intent.reached.*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(list(gate.glob("before_intent.reached.*"))) == 2, "both runs read the record and wait"
        (gate / "before_intent.go").touch()
        return [self.finish(process, home) for process, home in started]


@pytest.fixture(scope="session")
def consumers() -> Iterator[Any]:
    """The applications that use the keys: report which key each holds, count requests per key id."""
    fleet = start_consumers()
    yield fleet
    fleet.stop()


class Webhook:
    """A receiver for alert webhooks: keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        import http.server  # pylint: disable=import-outside-toplevel

        bodies: list[dict[str, Any]] = []
        self.bodies = bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                bodies.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 # pylint: disable=redefined-builtin
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    receiver = Webhook()
    yield receiver
    receiver.stop()


@pytest.fixture
def world(bench: Bench, tmp_path: Path) -> World:
    return World(bench, tmp_path)


def faults(url: str, **fault: Any) -> None:
    requests.post(url + "/__emulator/faults", json=fault, timeout=5).raise_for_status()


def clear_faults(url: str) -> None:
    requests.delete(url + "/__emulator/faults", timeout=5).raise_for_status()


__all__ = ["Key", "PROVIDERS", "Run", "Stored", "Webhook", "World", "aws_client", "clear_faults", "faults", "iso", "parse_iso"]


@pytest.fixture(scope="session")
def prometheus(consumers: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real Prometheus (Debian's package, installed by `make tools`) scraping the consumers every second."""
    from tests.bench.prometheus import start_prometheus  # pylint: disable=import-outside-toplevel

    server = start_prometheus(tmp_path_factory.mktemp("prometheus"), [consumers.target], scrape_interval="1s")
    yield server
    server.stop()
