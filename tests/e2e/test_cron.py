"""The cron path for real: the role apikeys.rotation.cron_schedule installs entries that Debian's cron daemon runs.

The daemon is Debian's ``cron`` package (``make tools`` installs it; its installer starts no service). The test
starts ``cron -f`` itself when no cron daemon runs, and stops it at the end; a daemon that was already running is
used and left alone. Entries go to a file of their own in /etc/cron.d, removed at the end (root needed).
"""
from __future__ import annotations

import fcntl
import os
import re
import shlex
import shutil
import stat
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest

from .conftest import Run, World
from .test_canary import bench_secrets

#: how long cron's run of an entry may take after its minute has come
RUN_DEADLINE = 75
#: a cron file written this long before the minute is read by cron in time (it re-reads at each minute)
MARGIN = 15
LINE = re.compile(r"^(?P<at>\S+Z) (?P<entry>\S+): (?P<what>started|finished|skipped)(?:: rc=(?P<rc>\d+))?")


@pytest.fixture(scope="module")
def cron_daemon() -> Iterator[None]:
    assert shutil.which("cron"), "Debian's cron daemon is missing: `make tools` installs it"
    if os.geteuid() != 0:
        pytest.skip("cron runs /etc/cron.d entries as root only: this test must run as root")
    already = subprocess.run(["pgrep", "-x", "cron"], capture_output=True, check=False).returncode == 0
    daemon = None
    if not already:
        daemon = subprocess.Popen(["cron", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        assert daemon.poll() is None, "cron -f exited at once"
    yield
    if daemon is not None:
        daemon.terminate()
        daemon.wait(timeout=10)


class CronHost:
    """The host the role installs on (this machine), with every path under the test's own directory."""

    def __init__(self, world: World, cron_file: Path) -> None:
        self.world = world
        self.base = world.tmp / "cron"
        self.cron_file = cron_file
        self.runner = self.base / "libexec" / "run"
        self.env_file = self.base / "etc" / "env"
        self.logs = self.base / "logs"
        self.lock = self.base / "lock"

    def write_env(self, extra: dict[str, str]) -> None:
        """The root-only credentials file, as an operator writes it: the bench's URLs and tokens."""
        self.env_file.parent.mkdir(parents=True, exist_ok=True)
        values = dict(self.world.bench.env(), ANSIBLE_LOCAL_TEMP=str(self.base / "ansible-tmp"),
                      ANSIBLE_HOME=str(self.base / "ansible-home"), **extra)
        self.env_file.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items()))
        self.env_file.chmod(0o600)

    def install(self, *args: str, **extra: Any) -> Run:
        variables = dict(cron_schedule_file=str(self.cron_file), cron_schedule_runner=str(self.runner),
                         cron_schedule_env_file=str(self.env_file), cron_schedule_log_dir=str(self.logs),
                         cron_schedule_lock_file=str(self.lock), cron_schedule_logrotate=False,
                         cron_schedule_keys="scheduled")
        variables.update(extra)
        return self.world.playbook("install_cron.yml", *args, **variables)

    def log(self, entry: str) -> str:
        path = self.logs / f"{entry}.log"
        return path.read_text() if path.exists() else ""

    def events(self, entry: str) -> list[dict[str, str]]:
        return [m.groupdict() for m in map(LINE.match, self.log(entry).splitlines()) if m]


def changed(run: Run) -> int:
    line = next(line for line in run.stdout.splitlines() if line.startswith("localhost ") and "changed=" in line)
    return int(line.split("changed=")[1].split()[0])


def at(text: str) -> datetime:
    return datetime.strptime(text[:26], "%Y-%m-%dT%H:%M:%S.%f")


def schedules_at(target: datetime) -> tuple[str, str]:
    """Two different schedules that both fire at ``target``'s minute (every day; this weekday)."""
    return (f"{target.minute} {target.hour} * * *", f"{target.minute} {target.hour} * * {target.isoweekday() % 7}")


def test_entries_fire_at_their_minute_rotate_exactly_their_keys_and_never_overlap(world: World, cron_daemon: None) -> None:
    first = world.key("http")
    second = world.key("sendgrid")
    bystander = world.key("sendgrid")
    world.groups["scheduled"] = [first.host, second.host, bystander.host]
    host = CronHost(world, Path("/etc/cron.d") / f"apikeys-test-{world.prefix}")
    host.write_env({})
    try:
        # Aim at the next minute far enough ahead for the install to end before it (this machine may be busy:
        # the margin grows with the last install's time, and a late install aims again).
        took = 0.0
        for _attempt in range(4):
            now = datetime.now()  # cron reads the host's local time
            target = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
            if (target - now).total_seconds() < max(MARGIN, 2 * took):
                target += timedelta(minutes=1)
            daily, weekly = schedules_at(target)
            world.hosts[first.host]["apikeys_schedule"] = daily
            world.hosts[second.host]["apikeys_schedule"] = weekly  # the same minute: two entries at once
            world.hosts[bystander.host]["apikeys_schedule"] = f"{(target.minute + 30) % 60} {(target.hour + 12) % 24} * * *"
            revoke = f"{(target.minute + 30) % 60} * * * *"
            began = time.monotonic()
            run = host.install(cron_schedule_revoke=revoke)
            took = time.monotonic() - began
            assert run.rc == 0, run.output[-3000:]
            if datetime.now() < target - timedelta(seconds=3):
                break
        else:
            raise AssertionError("the install never ended before the minute it aimed at")
        crontab = host.cron_file.read_text()
        assert f"{daily} root {host.runner} rotate-{daily.replace(' ', '_').replace('*', 'x')} rotate {first.host}\n" in crontab
        assert f" rotate {second.host}\n" in crontab and f"{revoke} root {host.runner} revoke-after-grace" in crontab
        assert stat.S_IMODE(host.env_file.stat().st_mode) == 0o600

        entries = [f"rotate-{s.replace(' ', '_').replace('*', 'x')}" for s in (daily, weekly)]
        deadline = target + timedelta(seconds=RUN_DEADLINE)
        while datetime.now() < deadline and not all(
                any(e["what"] == "finished" for e in host.events(entry)) for entry in entries):
            time.sleep(1)
        logs = {entry: host.log(entry) for entry in entries}
        for entry in entries:
            events = host.events(entry)
            assert [e["what"] for e in events] == ["started", "finished"], f"{entry} did not run in time:\n{logs[entry]}"
            assert events[1]["rc"] == "0", logs[entry][-3000:]
            assert at(events[0]["at"]) >= target - timedelta(seconds=1), "cron fired it, at its minute"
    finally:
        host.cron_file.unlink(missing_ok=True)

    spans = sorted((at(host.events(e)[0]["at"]), at(host.events(e)[1]["at"])) for e in entries)
    assert spans[0][1] <= spans[1][0], f"two entries of the same minute overlapped: {spans}"
    for key, entry in ((first, entries[0]), (second, entries[1])):
        data = world.record(key).data
        assert data["previous_key_id"] == key.key_id and data["key_id"] != key.key_id, f"{key.host} not rotated"
        assert world.works(key, data["key"], data["key_id"])
        assert f"{key.host}: rotated" in logs[entry]
    assert first.host not in logs[entries[1]] and second.host not in logs[entries[0]], "each entry: exactly its keys"
    assert world.record(bystander).version == 1, "a key with another schedule is not touched"

    secrets = bench_secrets(world)
    for key in (first, second, bystander):
        secrets[f"{key.host} old"] = key.secret
        secrets[f"{key.host} new"] = world.record(key).data["key"]
    scanned = [host.logs / f"{e}.log" for e in entries] + [host.runner, world.tmp / "inventory.yml"]
    for name, secret in secrets.items():
        assert secret not in crontab, f"{name} in the cron file"
        for path in scanned:
            assert secret not in path.read_text(), f"{name} written to {path}"


def test_a_held_lock_makes_a_revocation_run_skip_and_a_rotation_wait(world: World) -> None:
    key = world.key("http", apikeys_schedule="0 4 * * *")
    world.groups["scheduled"] = [key.host]
    host = CronHost(world, world.tmp / "cron" / "apikeys-test")
    host.write_env({})
    assert host.install(cron_schedule_lock_wait=2).rc == 0
    env = {"PATH": "/usr/bin:/bin", "HOME": str(world.tmp)}

    host.lock.touch()
    with host.lock.open() as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # flock(1) takes the same flock(2) lock
        started = time.monotonic()
        skipped = subprocess.run([str(host.runner), "revoke-after-grace", "revoke_after_grace", "scheduled"],
                                 env=env, check=False, timeout=30)
        quick = time.monotonic() - started
        waited = subprocess.run([str(host.runner), "rotate-0_4_x_x_x", "rotate", key.host], env=env, check=False,
                                timeout=30)
        waited_for = time.monotonic() - started - quick
    assert skipped.returncode == 75 and quick < 2
    assert [e["what"] for e in host.events("revoke-after-grace")] == ["skipped"]
    assert waited.returncode == 75 and 1.5 < waited_for < 10, "a rotation waits for the lock, then gives up"
    assert [e["what"] for e in host.events("rotate-0_4_x_x_x")] == ["skipped"]
    assert world.record(key).version == 1

    done = subprocess.run([str(host.runner), "rotate-0_4_x_x_x", "rotate", key.host], env=env, check=False, timeout=120)
    assert done.returncode == 0, host.log("rotate-0_4_x_x_x")[-3000:]
    assert world.record(key).data["previous_key_id"] == key.key_id


def test_the_cron_file_follows_the_inventory_idempotently(world: World) -> None:
    a = world.key("http", record=False, apikeys_schedule="0 3 * * 0")
    b = world.key("http", record=False, apikeys_schedule="0  3 * * 0")  # the same schedule, spaced otherwise
    c = world.key("http", record=False, apikeys_schedule="0 4 * * *")
    d = world.key("http", record=False)  # no schedule
    world.groups["scheduled"] = [a.host, b.host, c.host, d.host]
    host = CronHost(world, world.tmp / "cron" / "apikeys-test")

    first = host.install()
    assert first.rc == 0, first.output[-3000:]
    crontab = host.cron_file.read_text()
    assert f"0 3 * * 0 root {host.runner} rotate-0_3_x_x_0 rotate {a.host},{b.host}\n" in crontab
    assert f"0 4 * * * root {host.runner} rotate-0_4_x_x_x rotate {c.host}\n" in crontab
    assert f"*/5 * * * * root {host.runner} revoke-after-grace revoke_after_grace scheduled\n" in crontab
    assert len([line for line in crontab.splitlines() if line and not line.startswith(("#", "SHELL", "PATH"))]) == 3
    assert f"no apikeys_schedule, not scheduled: {d.host}" in first.stdout
    assert "At 03:00, only on Sunday" in crontab and stat.S_IMODE(host.env_file.stat().st_mode) == 0o600

    again = host.install()
    assert again.rc == 0 and changed(again) == 0, again.output[-3000:]

    world.hosts[c.host]["apikeys_schedule"] = "30 5 * * *"
    del world.hosts[b.host]
    world.groups["scheduled"].remove(b.host)
    moved = host.install()
    assert moved.rc == 0 and changed(moved) == 1
    crontab = host.cron_file.read_text()
    assert f"rotate-0_3_x_x_0 rotate {a.host}\n" in crontab and b.host not in crontab
    assert "rotate-0_4_x_x_x" not in crontab and f"30 5 * * * root {host.runner} rotate-30_5_x_x_x rotate {c.host}\n" in crontab

    world.hosts[c.host]["apikeys_schedule"] = "0 25 * * *"
    before = host.cron_file.read_text()
    bad = host.install()
    assert bad.rc != 0
    assert f"key '{c.host}': apikeys_schedule (hour field): is not a valid hour" in bad.output
    assert "0 25" not in bad.output.replace(f"{c.host}", "")
    assert host.cron_file.read_text() == before, "a bad schedule changes nothing"

    world.hosts[c.host]["apikeys_schedule"] = "30 5 * * *"
    gone = host.install(cron_schedule_state="absent")
    assert gone.rc == 0 and not host.cron_file.exists() and not host.runner.exists()
    assert host.env_file.exists(), "the credentials file is the operator's: it stays"


def test_the_plan_shows_the_schedule_and_a_bad_one_fails_before_any_change(world: World) -> None:
    fresh = world.key("sendgrid", age=timedelta(days=3), apikeys_schedule="0 4 * * *")
    bad = world.key("sendgrid", apikeys_schedule="0 4 * * 8")
    world.groups["pair"] = [fresh.host, bad.host]

    run = world.playbook("rotate.yml", secret="pair")

    assert run.rc != 0
    line = next(line for line in run.stdout.splitlines() if f'"{fresh.host}: not due: age 3d' in line)
    assert "; next scheduled run 20" in line and line.endswith('Z (At 04:00)",')
    assert f"{bad.host}: FAILED: key '{bad.host}': apikeys_schedule (day-of-week field): is not a valid day-of-week" in run.stdout
    assert "4 * * 8" not in run.output
    assert world.record(bad).version == 1 and world.live_key_ids(bad) == {bad.key_id}
