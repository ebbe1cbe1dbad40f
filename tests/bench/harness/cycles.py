"""Rotate -> grace -> revoke-after-grace cycles with the real playbooks, and the two negative controls.

A cycle over a set of keys (an inventory group):

1. ``ansible-playbook playbooks/rotate.yml -e secret=<group> -e rotate_force=true``; every key must
   have a new ``key_id``. When each new key became current (the KV v2 ``created_time`` of the first
   record version that holds it) is noted: staleness is measured from there.
2. wait until the latest ``previous_key_revocation_at`` plus ``apikeys_clock_skew`` has passed;
3. ``ansible-playbook playbooks/revoke_after_grace.yml -e secret=<group>``, again (at most
   ``REVOKE_ATTEMPTS`` runs) while a key was postponed; every old key must end up revoked.

The controls show that the measurement can fail:

* (a) revoke at once: rotate, and the moment the record shows the new key, delete the old key at the
  provider with the admin credential (a naive rotation; the collection refuses a zero grace);
* (b) grace shorter than the consumers' cache TTL, with no usage evidence (the clock alone).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import hvac

from ..bench import Bench
from .keys import SECRETS_MANAGER, BenchKey, revoke_at_provider
from .store import split_path

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
COLLECTIONS = ROOT / ".build" / "collections"
REVOKE_ATTEMPTS = 4
PLAYBOOK_TIMEOUT = 300


def parse_time(text: str) -> float:
    """UTC ISO 8601 (``Z``, up to nanoseconds) -> Unix time."""
    head, dot, frac = text.rstrip("Z").partition(".")
    moment = datetime.fromisoformat(head).replace(tzinfo=timezone.utc)
    return moment.timestamp() + (float("0." + frac) if dot and frac else 0.0)


def ensure_collection_link() -> None:
    """``.build/collections/ansible_collections/apikeys/rotation`` -> this checkout, as ``make link`` does."""
    link = COLLECTIONS / "ansible_collections" / "apikeys" / "rotation"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT)


@dataclass
class PlaybookRun:
    name: str
    rc: int
    seconds: float
    summary: list[str]  # the per-key summary lines (key ids only)


class Playbooks:
    """Runs the collection's playbooks with one inventory; each run gets its own ANSIBLE_HOME."""

    def __init__(self, bench: Bench, inventory: Path, workdir: Path, clock_skew: int = 0) -> None:
        self._inventory = inventory
        self.clock_skew = clock_skew  # the inventory's apikeys_clock_skew: a revocation is due that much after the grace
        self._workdir = workdir
        self._lock = threading.Lock()
        self._runs = 0
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "VAULT_", "AWS_"))}
        env.update(bench.env())
        env.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0",
                   PATH=f"{BIN}:{env.get('PATH', '')}")
        self._env = env

    def command(self, name: str, target: str, extra: dict[str, Any] | None = None) -> tuple[list[str], dict[str, str]]:
        with self._lock:
            self._runs += 1
            home = self._workdir / f"ansible-{self._runs}"
        home.mkdir(parents=True, exist_ok=True)
        env = dict(self._env, ANSIBLE_HOME=str(home), ANSIBLE_LOCAL_TEMP=str(home / "tmp"))
        command = [str(BIN / "ansible-playbook"), "-i", str(self._inventory), str(ROOT / "playbooks" / name),
                   "-e", json.dumps({"secret": target, **(extra or {})})]
        return command, env

    def run(self, name: str, target: str, extra: dict[str, Any] | None = None) -> PlaybookRun:
        command, env = self.command(name, target, extra)
        started = time.monotonic()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT,
                              cwd=self._workdir, check=False)
        return PlaybookRun(name, done.returncode, time.monotonic() - started, summary_lines(done.stdout))


def summary_lines(stdout: str) -> list[str]:
    """The ``"<host>: ..."`` lines of the summary task (they name key ids, never secrets)."""
    lines = [line.strip().rstrip(",").strip('"') for line in stdout.splitlines()]
    return [line for line in lines if ": " in line and line.split(": ", 1)[0].startswith("zd")]


SECRET_FIELDS = (("key", "key_id"), ("previous_key", "previous_key_id"), ("pending_key", "pending_key_id"),
                 ("revoking_key", "revoking_key_id"))


class SeenSecrets:
    """Every key value the driver read in a record, to scan output and logs with; it tells key ids, never values."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SeenSecrets({len(self._ids)} keys)"

    def __len__(self) -> int:
        return len(self._ids)

    def note(self, record: dict[str, Any]) -> None:
        with self._lock:
            for secret_field, id_field in SECRET_FIELDS:
                if record.get(secret_field):
                    self._ids[str(record[secret_field])] = str(record.get(id_field) or "?")

    def leaked(self, text: str) -> list[str]:
        """Ids of the keys whose value appears in ``text``."""
        with self._lock:
            return sorted({key_id for secret, key_id in self._ids.items() if secret in text})


class Records:
    """Reads records with the driver's own clients (hvac; boto3 for Secrets Manager), not the collection's code."""

    def __init__(self, vault: hvac.Client, secrets_manager: Any = None, seen: SeenSecrets | None = None) -> None:
        self._vault = vault
        self._sm = secrets_manager  # a boto3 "secretsmanager" client (admin), for keys kept there
        self._lock = threading.Lock()
        self.seen = SeenSecrets() if seen is None else seen

    def read(self, key: BenchKey, version: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        if key.store == SECRETS_MANAGER:
            data, meta = self._read_secret(key)
        else:
            mount, path = split_path(key.vault_path)
            with self._lock:
                answer = self._vault.secrets.kv.v2.read_secret_version(path=path, mount_point=mount, version=version,
                                                                       raise_on_deleted_version=True)
            data, meta = answer["data"]["data"], answer["data"]["metadata"]
        self.seen.note(data)
        return data, meta

    def _read_secret(self, key: BenchKey, version_id: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The ``AWSCURRENT`` (or ``version_id``) ``SecretString`` as the record, and the version's answer as metadata."""
        if self._sm is None:
            raise ValueError(f"{key.host}: no Secrets Manager client to read its record with")
        where = {"VersionId": version_id} if version_id else {"VersionStage": "AWSCURRENT"}
        with self._lock:
            answer = self._sm.get_secret_value(SecretId=key.vault_path, **where)
        return json.loads(answer["SecretString"]), {"version": answer["VersionId"], "created": answer["CreatedDate"].timestamp()}

    def _secret_became_current(self, key: BenchKey, key_id: str) -> float:
        """When the record that holds ``key_id`` says it was rotated (``rotated_at``, called right after the rotation).

        Not a version's ``CreatedDate``: moto 5 answers ``ListSecretVersionIds`` with one date for every version.
        ``rotated_at`` is the collection's time of the promotion in whole seconds (truncated), taken just before it
        writes the version ``AWSCURRENT`` moves to, so the staleness measured from it reads up to 1 s long, never short.
        """
        data = self._read_secret(key)[0]
        if data.get("key_id") == key_id and data.get("rotated_at"):
            return parse_time(str(data["rotated_at"]))
        return time.time()

    def became_current(self, key: BenchKey, key_id: str) -> float:
        """Unix time of the first record version whose ``key_id`` is ``key_id`` (looks back <= 10 versions)."""
        if key.store == SECRETS_MANAGER:
            return self._secret_became_current(key, key_id)
        data, meta = self.read(key)
        version, found = int(meta["version"]), parse_time(meta["created_time"])
        for older in range(version - 1, max(0, version - 10), -1):
            data, meta = self.read(key, older)
            if data.get("key_id") != key_id:
                break
            found = parse_time(meta["created_time"])
        return found


@dataclass
class Cycle:
    """One rotate -> grace -> revoke cycle over an inventory group."""

    group: str
    number: int
    started: float  # Unix time
    rotate_seconds: float = 0.0
    revoke_seconds: float = 0.0
    promoted: dict[str, float] = field(default_factory=dict)  # new key id -> Unix time it became current
    revoked: dict[str, float] = field(default_factory=dict)  # old key id -> Unix time its revocation was seen
    revoke_runs: int = 0
    ok: bool = False
    problem: str = ""


def _wait_until(moment: float, stop: threading.Event) -> None:
    """Sleep until Unix time ``moment`` (at most one hour)."""
    stop.wait(min(3600.0, max(0.0, moment - time.time())))


def run_cycle(playbooks: Playbooks, records: Records, keys: list[BenchKey], group: str, number: int,
              stop: threading.Event) -> Cycle:
    cycle = Cycle(group, number, time.time())
    before = {key.host: records.read(key)[0]["key_id"] for key in keys}
    rotate = playbooks.run("rotate.yml", group, {"rotate_force": True})
    cycle.rotate_seconds = rotate.seconds
    after = {key.host: records.read(key)[0] for key in keys}
    stuck = [key.host for key in keys if after[key.host]["key_id"] == before[key.host]]
    if rotate.rc != 0 or stuck:
        cycle.problem = f"rotate rc {rotate.rc}, not rotated: {stuck}: {rotate.summary}"
        return cycle
    for key in keys:
        cycle.promoted[after[key.host]["key_id"]] = records.became_current(key, after[key.host]["key_id"])
    pending = {key.host: before[key.host] for key in keys}
    for attempt in range(REVOKE_ATTEMPTS):
        due = max(parse_time(after[host]["previous_key_revocation_at"]) for host in pending)
        _wait_until(due + playbooks.clock_skew + 0.2, stop)
        if stop.is_set():
            cycle.problem = "stopped"
            return cycle
        revoke = playbooks.run("revoke_after_grace.yml", group)
        cycle.revoke_runs, cycle.revoke_seconds = attempt + 1, cycle.revoke_seconds + revoke.seconds
        seen = time.time()
        after = {key.host: records.read(key)[0] for key in keys}
        for host, old_id in list(pending.items()):
            if after[host].get("last_revoked_key_id") == old_id and "previous_key_id" not in after[host]:
                cycle.revoked[old_id] = seen
                del pending[host]
        if not pending:
            cycle.ok = revoke.rc == 0
            cycle.problem = "" if cycle.ok else f"revoke rc {revoke.rc}: {revoke.summary}"
            return cycle
        if revoke.rc != 0:
            break
    cycle.problem = f"old keys not revoked for {sorted(pending)}: {revoke.summary}"
    return cycle


def run_cycles(playbooks: Playbooks, records: Records, keys: list[BenchKey], group: str, more: Callable[[], bool],
               stop: threading.Event, delay: float = 0.0, done: list[Cycle] | None = None) -> list[Cycle]:
    """Cycles one after the other (after ``delay`` s) while ``more()`` says so; stops at the first failed cycle."""
    done = [] if done is None else done
    stop.wait(delay)
    for number in range(100000):
        if stop.is_set() or not more():
            break
        cycle = run_cycle(playbooks, records, keys, group, number, stop)
        done.append(cycle)
        if not cycle.ok:
            break
    return done


@dataclass
class Control:
    """A negative control: how soon after the new key became current the old key was revoked."""

    name: str
    rc: int = 0
    promoted: dict[str, float] = field(default_factory=dict)  # new key id -> Unix time
    revoked_after: dict[str, float] = field(default_factory=dict)  # old key id -> seconds after promotion
    problem: str = ""


def control_revoke_at_once(bench: Bench, playbooks: Playbooks, records: Records, keys: list[BenchKey], group: str) -> Control:
    """(a) rotate; the moment a record shows the new key, delete the old key at the provider."""
    control = Control("revoke at once")
    before = {key.host: records.read(key)[0]["key_id"] for key in keys}
    command, env = playbooks.command("rotate.yml", group, {"rotate_force": True})
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:
        waiting = {key.host: key for key in keys}
        limit = time.monotonic() + PLAYBOOK_TIMEOUT
        while waiting and time.monotonic() < limit:
            for host, key in list(waiting.items()):
                data = records.read(key)[0]
                if data["key_id"] != before[host]:
                    status = revoke_at_provider(bench, key, before[host])
                    promoted = records.became_current(key, data["key_id"])
                    control.promoted[data["key_id"]] = promoted
                    control.revoked_after[before[host]] = time.time() - promoted
                    if status not in (200, 204):
                        control.problem += f"{host}: provider answered {status} to the revocation; "
                    del waiting[host]
            if waiting and process.poll() is not None:
                break
            time.sleep(0.02)
        control.rc = process.wait(timeout=PLAYBOOK_TIMEOUT)
    if waiting:
        control.problem += f"not rotated: {sorted(waiting)}"
    return control


def control_short_grace(playbooks: Playbooks, records: Records, keys: list[BenchKey], group: str,
                        stop: threading.Event) -> Control:
    """(b) an ordinary cycle whose grace is shorter than the consumers' cache TTL (evidence: the clock)."""
    control = Control("grace < cache TTL")
    cycle = run_cycle(playbooks, records, keys, group, 0, stop)
    control.rc = 0 if cycle.ok else 1
    control.problem = cycle.problem
    control.promoted = dict(cycle.promoted)
    promoted_at = min(cycle.promoted.values(), default=cycle.started)
    control.revoked_after = {old: seen - promoted_at for old, seen in cycle.revoked.items()}
    return control


__all__ = ["Control", "Cycle", "PlaybookRun", "Playbooks", "Records", "SeenSecrets", "control_revoke_at_once", "control_short_grace",
           "ensure_collection_link", "parse_time", "run_cycle", "run_cycles"]
