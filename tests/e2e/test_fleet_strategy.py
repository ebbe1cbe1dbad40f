"""The strategy apikeys.rotation.fleet (plugins/strategy/fleet.py, docs/fleet.md) against the linear strategy.

rotate.yml and revoke_after_grace.yml run with it: each key's report (api_key_result) is made in the controller.
What AWX records must not change: the same two sets of keys (due, not due, refused by the provider, with and
without a notification target) are rotated once with the strategy and once with ``-e fleet_strategy=linear``,
both through ansible-runner (as AWX runs a job) with --diff, and each key's events, recap and notifications must
be the same. Real OpenBao and the gateway emulator; the webhook receiver is a real HTTP server.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
import requests

from .conftest import BIN, COLLECTIONS, ROOT, Key, Webhook, World

REPORT = "Report the key's rotation"
REVOKE_REPORT = "Report the key's revocation"
PER_HOST = ("runner_on_start", "runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable")
# a short grace and no usage evidence to wait for, so that revoke_after_grace.yml revokes right after
FAST = {"apikeys_grace_period": "2s", "apikeys_clock_skew": "0s", "apikeys_usage_evidence": {"source": "none"}}
CONTROLLER_LINE = "apikeys.rotation.fleet: task '{role} : {task}': results made in the controller"


def fleet(world: World, webhook: Webhook, tag: str) -> dict[str, Key]:
    """Keys of one run, by role: three due, one not due, one refused by the provider; two with a target."""
    targets = [{"format": "json", "url": webhook.url, "name": tag, "events": ["rotated", "rotation_failed"]}]
    keys = {"due": world.key("http", **FAST), "due_notified": world.key("http", apikeys_notify=targets, **FAST),
            "due_2": world.key("http", **FAST), "not_due": world.key("http", age=timedelta(days=1), **FAST),
            "refused": world.key("http", apikeys_notify=targets, **FAST)}
    consumer = f"{world.prefix}{tag}refused"
    requests.post(world.bench.gateway.url + "/__emulator/seed", json={"consumer": consumer, "tags": ["other"]},
                  timeout=5).raise_for_status()
    refused = keys["refused"]
    world.hosts[refused.host]["apikeys_provider_options"] = dict(refused.options, path_params={"consumer": consumer})
    world.groups[tag] = [k.host for k in keys.values()]
    return keys


def run(world: World, playbook: str, limit: str, *cmdline: str, **extra: Any) -> Any:
    """ansible-playbook through ansible-runner, as AWX launches a job; returns the runner result with its events."""
    home = Path(tempfile.mkdtemp(prefix="job-", dir=world.tmp))
    env = world.env(home)
    env.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), PATH=f"{BIN}:{os.environ.get('PATH', '')}")
    result = ansible_runner.run(
        private_data_dir=str(home), project_dir=str(ROOT), playbook=str(ROOT / "playbooks" / playbook),
        inventory=str(world.inventory()), extravars=dict(extra, secret=limit), envvars=env,
        cmdline=" ".join(cmdline) or None, quiet=True, timeout=240)
    result.stdout_text = result.stdout.read()
    return result


def per_host(result: Any, hosts: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Each host's per-host events in order: (event, task, changed, failed, has a diff)."""
    found: dict[str, list[tuple[Any, ...]]] = {h: [] for h in hosts}
    for event in result.events:
        data = event.get("event_data") or {}
        if event.get("event") in PER_HOST and data.get("host") in found:
            res = data.get("res") or {}
            found[data["host"]].append((event["event"], data.get("task"), bool(res.get("changed")),
                                        bool(res.get("failed")), bool(res.get("diff"))))
    return found


def recap(result: Any) -> dict[str, dict[str, int]]:
    stats = [e for e in result.events if e.get("event") == "playbook_on_stats"][-1]["event_data"]
    return {host: {what: int(stats.get(what, {}).get(host, 0)) for what in ("ok", "changed", "failures", "rescued", "skipped")}
            for host in stats.get("ok", {}) | stats.get("failures", {}) | stats.get("rescued", {})}


def by_role(events: dict[str, list[Any]], keys: dict[str, Key]) -> dict[str, Any]:
    return {role: events[key.host] for role, key in keys.items()}


def test_each_key_has_the_same_events_recap_rescue_and_notifications_as_with_the_linear_strategy(
        world: World, webhook: Webhook) -> None:
    gateway = world.bench.gateway.url
    ours, linear = fleet(world, webhook, "viafleet"), fleet(world, webhook, "vialinear")
    match = f"POST /consumers/{world.prefix}"
    requests.post(gateway + "/__emulator/faults", json={"match": match + "viafleetrefused", "status": 403, "count": 100},
                  timeout=5).raise_for_status()
    requests.post(gateway + "/__emulator/faults", json={"match": match + "vialinearrefused", "status": 403, "count": 100},
                  timeout=5).raise_for_status()
    try:
        with_fleet = run(world, "rotate.yml", "viafleet", "--diff", "-vvv")
        with_linear = run(world, "rotate.yml", "vialinear", "--diff", fleet_strategy="linear")
    finally:
        requests.delete(gateway + "/__emulator/faults", timeout=5)
    fired = requests.get(gateway + "/__emulator/faults/fired", timeout=5).json()["by_match"]
    assert fired.get(match + "viafleetrefused") and fired.get(match + "vialinearrefused"), "the provider refused no key"

    # the strategy did make the reports (-vvv says so), and only with it
    assert CONTROLLER_LINE.format(role='apikeys.rotation.rotate', task=REPORT) in with_fleet.stdout_text, with_fleet.stdout_text[-3000:]
    assert "apikeys.rotation.fleet" not in with_linear.stdout_text
    assert with_fleet.rc == with_linear.rc != 0  # the refused key fails its host, in both

    events = by_role(per_host(with_fleet, [k.host for k in ours.values()]), ours)
    expected = by_role(per_host(with_linear, [k.host for k in linear.values()]), linear)
    assert events == expected, json.dumps({"fleet": events, "linear": expected}, indent=1)
    # and what they are: one start and one result per key for the report, as AWX counts per-host summaries
    for role, seen in events.items():
        report = [e for e in seen if e[1] == REPORT]
        assert [e[0] for e in report] == ["runner_on_start", "runner_on_failed" if role == "refused" else "runner_on_ok"], role
        assert report[1][2] == role.startswith("due"), f"{role}: changed"
        assert report[1][4] == role.startswith("due"), f"{role}: --diff of the rotated key's records, on its own result"
    assert [e for e in events["refused"] if e[1] == "Fail the keys that could not be rotated"][-1][0] == "runner_on_failed", events["refused"]
    assert any(e[1] == "Notify the key's targets of the failure (apikeys_alert_on_failure; docs/notifications.md)"
               and e[0] == "runner_on_ok" for e in events["refused"]), "the failed key went through the rescue"

    ours_recap = {role: recap(with_fleet)[key.host] for role, key in ours.items()}
    linear_recap = {role: recap(with_linear)[key.host] for role, key in linear.items()}
    assert ours_recap == linear_recap
    assert ours_recap["refused"]["failures"] == 1 and ours_recap["refused"]["rescued"] == 1
    assert ours_recap["due"]["changed"] == 1 and ours_recap["not_due"]["changed"] == 0

    # notify: the 'rotated' handler ran for the rotated key with a target; the rescue announced the failure
    sent = Counter((body.get("event"), body.get("key")) for body in webhook.bodies)
    for tag, keys in (("viafleet", ours), ("vialinear", linear)):
        assert sent[("rotated", keys["due_notified"].host)] == 1, (tag, sent)
        assert sent[("rotation_failed", keys["refused"].host)] == 1, (tag, sent)
        assert not [k for (event, k) in sent if k in (keys["due"].host, keys["due_2"].host, keys["not_due"].host)]
    for key in (ours["due"], ours["due_notified"]):
        assert world.record(key).data["previous_key_id"] == key.key_id, "rotated with the strategy"

    # revoke-after-grace reports through the strategy too, one result per key
    world.wait_past(max(world.record(k).data.get("previous_key_revocation_at", "1970-01-01T00:00:00Z")
                        for k in ours.values()))
    revoked = run(world, "revoke_after_grace.yml", "viafleet", "-vvv")
    assert CONTROLLER_LINE.format(role='apikeys.rotation.revoke_after_grace', task=REVOKE_REPORT) in revoked.stdout_text, revoked.stdout_text[-3000:]
    seen = by_role(per_host(revoked, [k.host for k in ours.values()]), ours)
    for role, host_events in seen.items():
        report = [e[0] for e in host_events if e[1] == REVOKE_REPORT]
        assert report == ["runner_on_start", "runner_on_ok"], (role, host_events)
    assert not world.works(ours["due"], ours["due"].secret, ours["due"].key_id), "the old key was revoked"


def test_no_secret_in_the_controller_made_results_at_vvvv(world: World) -> None:
    """The reports made in the controller print and register what the worker-made ones did: never a secret."""
    keys = [world.key("http") for _number in range(3)]
    done = world.playbook("rotate.yml", "-vvvv", "--diff", secret="all")
    assert done.rc == 0, done.output[-3000:]
    assert CONTROLLER_LINE.format(role='apikeys.rotation.rotate', task=REPORT) in done.stdout
    secrets = [k.secret for k in keys] + [world.record(k).data["key"] for k in keys]
    for secret in secrets:
        assert secret not in done.output


PLAY = ROOT / "tests" / "e2e" / "fleet_strategy" / "play.yml"
KEYS = [f"k{number:02d}" for number in range(8)]
# what only one of the two prints: the strategy's -vvv lines and ansible-core's warning about non-builtin strategies
ONLY_ONE = re.compile(r"apikeys\.rotation\.fleet|DEPRECATION WARNING|Deprecation warnings can be disabled|"
                      r"strategy plugins not included|carry any backwards compatibility|planned\. This feature")


def play(tmp_path: Path, strategy: str, *args: str) -> tuple[int, dict[str, list[str]], str]:
    """The play's exit code, what it printed per task (each task's lines sorted: hosts finish in any order) but the
    strategy's own lines, and those."""
    home = tmp_path / strategy
    home.mkdir(exist_ok=True)
    inventory = home / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {k: None for k in KEYS}, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(HOME=str(home), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCAL_TEMP=str(home / "tmp"), ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_SHOW_CUSTOM_STATS="1")
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(PLAY), "-e", f"fleet_strategy={strategy}",
                           "-e", f"outcomes_dir={home}", *args], env=env, capture_output=True, text=True, timeout=300,
                          check=False, cwd=home)
    blocks: dict[str, list[str]] = {}
    current = ""  # before the play: ansible-playbook's version and configuration, not compared
    output = re.sub(r"outcomes-\w+", "outcomes-<random>", (done.stdout + done.stderr).replace(str(home), "<home>"))
    for line in output.splitlines():
        if line.startswith(("PLAY [", "TASK [", "RUNNING HANDLER [", "PLAY RECAP")):
            current = line
        elif current and line.strip() and not ONLY_ONE.search(line):
            blocks.setdefault(current, []).append(line)
    said = "\n".join(line for line in output.splitlines() if "apikeys.rotation.fleet" in line)
    return done.returncode, {task: sorted(lines) for task, lines in blocks.items()}, said


@pytest.mark.parametrize("args", [
    ("--diff",),
    ("--check", "--diff"),
    # an extra variable overrides the registered result the report refers to: the strategy must see it too
    ("-e", '{"batch": {"run_dir": "/nonexistent"}}'),
    ("--start-at-task", "Report, arguments shared by every key, notify from all variables"),
], ids=["diff", "check", "extra-var-overrides", "start-at-task"])
def test_the_strategy_prints_what_the_linear_strategy_prints(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Without servers: the same play with both strategies (tests/e2e/fleet_strategy/play.yml), compared task by task
    at -vvv, where the strategy also says which reports it made in the controller."""
    rc_linear, linear, _said = play(tmp_path, "linear", "-vvv", *args)
    rc_fleet, ours, said = play(tmp_path, "apikeys.rotation.fleet", "-vvv", *args)
    assert rc_fleet == rc_linear
    assert ours.keys() == linear.keys()
    for task in linear:
        assert ours[task] == linear[task], task
    if args[0] != "-e":
        assert "task 'Report, arguments shared by every key, notify from all variables': results made in the controller" in said
        assert "task 'Report, arguments per key, notify from the key's registered values, hidden': results made in the controller" in said
        assert "task 'Report, notify as a plain string': results made in the controller" in said
        assert "task 'Report with a condition (the linear strategy's)': linear, because it has 'when'" in said
    else:  # the extra variable shadows the registered result: every report runs the linear way
        assert "linear on k00 (and any other host where the same holds), because a template of the task refers to" in said
    # run_once tasks (each said once): a pure action's run here, a false when skipped here, a true one in its worker
    for task in ("Run options checked once", "Summary once, from every key's registered report", "Outcomes once, for the workflow",
                 "Fails once"):
        assert said.count(f"task '{task}': run in the controller") == 1, (task, said)
    assert said.count("task 'A run_once task whose when is false is skipped': skipped in the controller") == 1, said
    assert "A run_once task whose when is true" not in said, said
