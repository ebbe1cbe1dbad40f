"""Fault injection for the end-to-end fault tests: at a named step, break one part for real, and prove it.

The steps are the code's own (``_checkpoint.ROTATION_STEPS`` and ``REVOCATION_STEPS``). A run is started
with ``APIKEYS_TEST_TRACE`` (every step reached leaves a file) and ``APIKEYS_TEST_PAUSE_AT=<step>:<dir>``;
when it reaches the step it waits, the fault is injected (an emulator told to fail or to lose an
answer, OpenBao sealed or cut off or losing the answer to a write, the token's policy narrowed, the
record changed under the run), and the run goes on into it. ``killed`` uses ``APIKEYS_TEST_CRASH_AT``
(the controller and its worker die at the step); ``orphaned_worker`` uses ``APIKEYS_TEST_ORPHAN_AT``
(the playbook dies, its worker lives on and finishes its task, unseen).

Each cell then proves that its fault was met (an emulator's fired count, the proxy's lost answers or
forwarded requests, the kill), or, where nothing after the step can meet it, that it was in place
and stayed unmet; and its first-run outcome is compared with ``EXPECTED``, written from the
protocol's rules, not recorded from a run.
"""
from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import requests

from .conftest import ROOT, Key, Run, World


def _checkpoints() -> Any:
    """The collection's ``_checkpoint`` module (standard library only), loaded from its file."""
    path = ROOT / "plugins" / "module_utils" / "_checkpoint.py"
    spec = importlib.util.spec_from_file_location("apikeys_checkpoint", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_CHECKPOINT = _checkpoints()
ROTATION_STEPS: tuple[str, ...] = _CHECKPOINT.ROTATION_STEPS
REVOCATION_STEPS: tuple[str, ...] = _CHECKPOINT.REVOCATION_STEPS
STEPS: tuple[str, ...] = _CHECKPOINT.STEPS

FAULTS = ("provider_5xx", "provider_timeout", "provider_429", "provider_lost_answer", "key_cap",
          "vault_down", "vault_sealed", "vault_403", "cas_conflict", "store_lost_answer",
          "killed", "orphaned_worker")

#: provider_timeout: how long the provider takes (past the collection's 1 s timeout) before it carries a call out
SLOW = 2.5

READ_ONLY_POLICY = """
path "secret/data/apikeys/*" { capabilities = ["read"] }
path "secret/metadata/apikeys/*" { capabilities = ["read"] }
path "sys/capabilities-self" { capabilities = ["update"] }
"""

#: the provider call that a step leads to: the create, the verification (an idempotent GET), the
#: revocation; provider_timeout and provider_lost_answer aim at it (after the other steps no provider call
#: follows). A timeout there is an answer that comes too late: the emulator carries the request out after it.
STEP_CALL = {
    "before_intent": "POST /v3/api_keys",
    "before_create": "POST /v3/api_keys",
    "before_pending_write": "GET /v3/scopes",
    "before_verify": "GET /v3/scopes",
    "before_revoke": "DELETE /v3/api_keys/",
}


@dataclass(frozen=True)
class Expected:
    """A cell's expected first run: ``outcome`` is ``completed``, ``failed: <error kind>`` or ``killed``."""

    outcome: str
    #: whether the run meets the fault after the step; False: nothing after it can, the fault stays unmet
    met: bool = True
    #: orphaned_worker: the phase in which the surviving worker leaves the record once its task is done
    left: Optional[str] = None


def _row(provider: str, cap: str, store: str, conflict: str, *, provider_lost: str = "completed",
         store_lost: str = "completed", orphan_left: str) -> dict[str, Expected]:
    """One step's row. ``provider``: what a provider that answers 5xx/times out/429 does to the run from
    here (``-`` when no provider call follows); ``cap``: the key cap (``-`` when no key is created from
    here); ``store``: ``fails`` when a store call follows (the run fails with the store's error kind),
    ``-`` when none does; ``conflict``: the same for a record changed under the run."""

    def maybe(outcome: str) -> Expected:
        return Expected("completed", met=False) if outcome == "-" else Expected(outcome)

    store_kinds = {"vault_down": "store_unavailable", "vault_sealed": "store_sealed", "vault_403": "store_forbidden"}
    row = {fault: maybe(provider) for fault in ("provider_5xx", "provider_timeout", "provider_429")}
    row["provider_lost_answer"] = maybe(provider_lost)
    row["key_cap"] = maybe(cap)
    for fault, kind in store_kinds.items():
        row[fault] = maybe("failed: " + kind if store == "fails" else "-")
    row["cas_conflict"] = maybe(conflict)
    row["store_lost_answer"] = maybe(store_lost)
    row["killed"] = Expected("killed")
    row["orphaned_worker"] = Expected("killed", left=orphan_left)
    return row


# What the protocol does after each step (plugins/module_utils/_rotation.py, _revocation.py, _session.py):
# * a provider that fails (5xx, timeout, 429, after max_attempts) fails the run with kind `provider`:
#   at the create (the key is looked up by its recorded name; the intent is cleared when the provider
#   answers again, else left for the next run; a create that timed out may still land after the
#   look-up, so its intent must stay for the next run), or at the verification (the key stays pending).
# * a lost create answer: the key is found by its name, revoked, the intent cleared; the run fails
#   (`provider`): the new key's secret was shown once, in the lost answer. A lost answer to the
#   verification (a GET) or to the revocation (a DELETE; 404 = already gone) is retried: the run completes.
# * the key cap refuses the create (`key_cap`); after the create nothing meets it.
# * a store that is down, sealed or forbids writing fails the next store call (`store_unavailable`,
#   `store_sealed`, `store_forbidden`); a new key that the failed pending write did not record is revoked.
# * a record changed under the run is met at the next read-back or check-and-set write (`conflict`).
# * a store write whose answer was lost is read back: it holds what the run wrote, so the run
#   goes on and completes.
# * killed: the controller and its worker die at the step. orphaned_worker: the playbook dies (so
#   the first run's outcome is `killed`); the worker finishes its task: the create task ends with the
#   new key pending (verified), the promote task with the grace, a revocation with the old key gone.
EXPECTED_ROWS: dict[str, dict[str, Expected]] = {
    # before the intent write (the current key's scopes already read): intent, create, pending, verify
    "before_intent": _row("failed: provider", "failed: key_cap", "fails", "failed: conflict",
                          provider_lost="failed: provider", orphan_left="pending"),
    # the intent is recorded: read back, create, pending write, verify
    "before_create": _row("failed: provider", "failed: key_cap", "fails", "failed: conflict",
                          provider_lost="failed: provider", orphan_left="pending"),
    # the key exists, unrecorded: pending write, verify, verified write
    "before_pending_write": _row("failed: provider", "-", "fails", "failed: conflict", orphan_left="pending"),
    # the key is pending in the record: read back, verify, verified write
    "before_verify": _row("failed: provider", "-", "fails", "failed: conflict", orphan_left="pending"),
    # the promote task, verified: only the promote write follows, no provider call
    "before_promote": _row("-", "-", "fails", "failed: conflict", provider_lost="-", orphan_left="grace"),
    # done: nothing follows
    "after_promote": _row("-", "-", "-", "-", provider_lost="-", store_lost="-", orphan_left="grace"),
    # revocation after grace: the provider's DELETE, then the write that forgets the old key
    "before_revoke": _row("failed: provider", "-", "fails", "failed: conflict", orphan_left="idle"),
    # the old key is revoked at the provider: the write that forgets it
    "before_revoke_write": _row("-", "-", "fails", "failed: conflict", provider_lost="-", orphan_left="idle"),
}
EXPECTED: dict[tuple[str, str], Expected] = {
    (step, fault): expected for step, row in EXPECTED_ROWS.items() for fault, expected in row.items()}
assert set(EXPECTED_ROWS) == set(STEPS), "a row for every step of the code, and no other"
assert all(set(row) == set(FAULTS) for row in EXPECTED_ROWS.values()), "a cell for every fault"


def phase(data: dict[str, Any]) -> str:
    """The record's phase, read from its fields (independently of the collection's code)."""
    if data.get("pending_key_id"):
        return "pending"
    if data.get("rotation_id"):
        return "intent"
    if data.get("revoking_key_id"):
        return "revoking"
    if data.get("previous_key_id"):
        return "grace"
    return "idle"


@dataclass
class Evidence:
    """What could be seen of the parts before the fault was injected."""

    emulator_fired: int = 0
    emulator_calls: dict[str, int] = field(default_factory=dict)
    proxy_lost: int = 0
    proxy_requests: int = 0
    record_version: int = 0


@dataclass
class Faulty:
    """A run into a fault, and what shows where it went."""

    step: str
    run: Run
    steps: set[str]
    before: Evidence
    #: orphaned_worker: the worker was alive after its playbook had died, and then finished
    worker_outlived: bool = False


class Faults:
    """Injects one fault, tells whether it was met, and takes it away again."""

    def __init__(self, world: World, key: Key, proxy: Any, policy: str) -> None:
        self.world = world
        self.key = key
        self.proxy = proxy
        self.policy = policy
        self.sendgrid = world.bench.sendgrid.url
        self.limit: Optional[int] = None
        self.slow = False

    def evidence(self, record: bool = True) -> Evidence:
        """Counts before (or after) the fault; ``record``: also the record's version (not while sealed)."""
        fired = requests.get(self.sendgrid + "/__emulator/faults/fired", timeout=5).json()["total"]
        calls = requests.get(self.sendgrid + "/__emulator/calls", timeout=5).json()
        return Evidence(fired, calls, self.proxy.lost_answers, len(self.proxy.requests),
                        self.world.record(self.key).version if record else 0)

    def inject(self, fault: str, step: str) -> None:
        action: dict[str, Callable[[], None]] = {
            "provider_5xx": lambda: self._emulator(status=503),
            "provider_timeout": lambda: self._emulator(match=STEP_CALL.get(step, "* /v3"), delay=SLOW),
            "provider_429": lambda: self._emulator(status=429, retry_after=0),
            "provider_lost_answer": lambda: self._emulator(match=STEP_CALL.get(step, "* /v3"), count=1,
                                                           lose_answer=True),
            "key_cap": self._cap,
            "vault_down": self.proxy.down,
            "vault_sealed": self.world.bench.openbao.seal,
            "vault_403": lambda: self.world.vault.sys.create_or_update_policy(self.policy, READ_ONLY_POLICY),
            "cas_conflict": self._bump,
            "store_lost_answer": lambda: self.proxy.lose_answers(1, ("POST", "PUT"), prefix="/v1/secret/data/"),
        }
        action[fault]()

    def met(self, fault: str, faulty: Faulty) -> bool:
        """Did the run meet the fault after it was injected?"""
        before, now = faulty.before, self.evidence(record=False)
        if fault.startswith("provider_"):
            return now.emulator_fired > before.emulator_fired
        if fault == "key_cap":
            return now.emulator_calls.get("POST /v3/api_keys", 0) > before.emulator_calls.get("POST /v3/api_keys", 0)
        if fault == "vault_down":  # refused connections never reach the proxy: the run's error tells
            return '"error": "store_unavailable"' in faulty.run.stdout
        if fault in ("vault_sealed", "vault_403", "cas_conflict"):
            return now.proxy_requests > before.proxy_requests
        if fault == "store_lost_answer":
            return now.proxy_lost > before.proxy_lost
        if fault == "killed":
            later = STEPS[STEPS.index(faulty.step) + 1:]
            return faulty.run.rc == -9 and not faulty.steps & set(later)
        return faulty.worker_outlived

    def in_place(self, fault: str, faulty: Faulty) -> bool:
        """Is the (unmet) fault still in place after the run: was it really injected?"""
        if fault.startswith("provider_"):
            return bool(requests.get(self.sendgrid + "/__emulator/faults", timeout=5).json())
        if fault == "key_cap":  # the bench's emulators run in this process
            return self.limit is not None and self.world.bench.sendgrid.app.key_limit == self.limit
        if fault == "vault_down":
            return not self.proxy.listening
        if fault == "vault_sealed":
            return bool(requests.get(self.world.bench.openbao.url + "/v1/sys/seal-status", timeout=5).json()["sealed"])
        if fault == "vault_403":
            return self.world.vault.sys.read_policy(name=self.policy)["data"]["rules"].strip() == \
                READ_ONLY_POLICY.strip()
        if fault == "cas_conflict":
            return self.world.record(self.key).version == faulty.before.record_version + 1
        if fault == "store_lost_answer":
            return self.proxy.armed == 1
        return True

    def clear(self, rotator_policy: str) -> None:
        """Take the fault away; a slow provider first finishes what it was asked, so nothing lands unseen later."""
        requests.delete(self.sendgrid + "/__emulator/faults", timeout=5)
        if self.slow:
            time.sleep(SLOW + 0.5)
        requests.post(self.sendgrid + "/__emulator/config", json={"key_limit": 100000}, timeout=5)
        self.proxy.keep_answers()
        self.proxy.up()
        if requests.get(self.world.bench.openbao.url + "/v1/sys/seal-status", timeout=5).json().get("sealed"):
            self.world.bench.openbao.unseal()
        self.world.vault.sys.create_or_update_policy(name=self.policy, policy=rotator_policy)

    def _emulator(self, **fault: Any) -> None:
        spec = dict({"match": "* /v3", "count": 1000}, **fault)
        self.slow = bool(spec.get("delay"))
        requests.post(self.sendgrid + "/__emulator/faults", json=spec, timeout=5).raise_for_status()

    def _cap(self) -> None:
        alive = sum(1 for k in requests.get(self.sendgrid + "/__emulator/keys", timeout=5).json() if not k["revoked"])
        self.limit = alive
        requests.post(self.sendgrid + "/__emulator/config", json={"key_limit": alive}, timeout=5).raise_for_status()

    def _bump(self) -> None:
        """Another writer: the record changes under the run (same content, new version)."""
        self.world.write_record(self.key, self.world.record(self.key).data)


def alive(pid: int) -> bool:
    """Is the process running (a zombie, dead but not yet reaped by its new parent, is not)?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_until_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def run_with_fault(world: World, playbook: str, step: str, fault: str, faults: Optional[Faults],
                   env: dict[str, str], **extra_vars: Any) -> Run:
    """Run ``playbook``; at ``step`` inject ``fault`` (or die there); the run only (no ``faults`` for ``killed``)."""
    return run_into_fault(world, playbook, step, fault, faults, env, **extra_vars).run


def run_into_fault(world: World, playbook: str, step: str, fault: str, faults: Optional[Faults],
                   env: dict[str, str], **extra_vars: Any) -> Faulty:
    """Run ``playbook``; at ``step`` inject ``fault`` (or die there, for ``killed`` and ``orphaned_worker``)."""
    gate = world.tmp / f"gate-{step}-{fault}"
    trace = world.tmp / f"trace-{step}-{fault}"
    gate.mkdir()
    trace.mkdir()
    run_env = dict(env, APIKEYS_TEST_TRACE=str(trace))
    if fault == "killed":
        run_env["APIKEYS_TEST_CRASH_AT"] = step
    else:
        run_env["APIKEYS_TEST_PAUSE_AT"] = f"{step}:{gate}"
    if fault == "orphaned_worker":  # the playbook dies at the step; its worker then pauses there
        run_env["APIKEYS_TEST_ORPHAN_AT"] = step
    before = faults.evidence() if faults is not None else Evidence()
    # -vvv: Ansible prints tracebacks from that verbosity on; the secret scan reads them too.
    process, home = world.start_playbook(playbook, "-vvv", extra_env=run_env, **extra_vars)
    deadline = time.monotonic() + 120
    while fault != "killed" and not list(gate.glob(f"{step}.reached.*")) and process.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    outlived = False
    reached = list(gate.glob(f"{step}.reached.*"))
    if reached and fault == "orphaned_worker":
        worker = int(reached[0].name.rsplit(".", 1)[1])
        process.wait(timeout=60)  # the playbook is dead ...
        outlived = alive(worker)  # ... and its worker, paused at the step, lives on
        (gate / f"{step}.go").touch()
        run = world.finish(process, home)
        outlived = wait_until_gone(worker, 120) and outlived  # it finishes its task, unseen
    else:
        if reached and faults is not None:
            before = faults.evidence()
            faults.inject(fault, step)
            (gate / f"{step}.go").touch()
        run = world.finish(process, home)
    steps = {p.name.rsplit(".", 1)[0] for p in trace.iterdir()}
    return Faulty(step, run, steps, before, outlived)


__all__ = ["EXPECTED", "FAULTS", "Expected", "Faults", "Faulty", "REVOCATION_STEPS", "ROTATION_STEPS", "STEPS",
           "phase", "run_into_fault", "run_with_fault"]
