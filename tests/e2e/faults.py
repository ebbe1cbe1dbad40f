"""Fault injection for the end-to-end fault tests: at a named step, break one part for real.

A run is started with ``APIKEYS_TEST_PAUSE_AT=<step>:<dir>``; when it reaches the step it waits,
the fault is injected (an emulator told to fail, OpenBao sealed or cut off, the token's policy
narrowed, the record changed under the run), and the run goes on into it. ``killed`` instead
uses ``APIKEYS_TEST_CRASH_AT``: the controller dies at the step with no clean-up.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import requests

from .conftest import Key, Run, World

ROTATION_STEPS = ("before_create", "before_pending_write", "before_verify", "before_promote", "after_promote")
REVOCATION_STEPS = ("before_revoke", "before_revoke_write")
FAULTS = ("provider_5xx", "provider_timeout", "provider_429", "key_cap", "vault_down", "vault_sealed",
          "vault_403", "cas_conflict", "killed")

READ_ONLY_POLICY = """
path "secret/data/apikeys/*" { capabilities = ["read"] }
path "secret/metadata/apikeys/*" { capabilities = ["read"] }
path "sys/capabilities-self" { capabilities = ["update"] }
"""


class Faults:
    """Injects one fault and takes it away again."""

    def __init__(self, world: World, key: Key, proxy: Any, policy: str) -> None:
        self.world = world
        self.key = key
        self.proxy = proxy
        self.policy = policy
        self.sendgrid = world.bench.sendgrid.url

    def inject(self, fault: str) -> None:
        action: dict[str, Callable[[], None]] = {
            "provider_5xx": lambda: self._emulator(status=503),
            "provider_timeout": lambda: self._emulator(delay=2.5),
            "provider_429": lambda: self._emulator(status=429, retry_after=0),
            "key_cap": self._cap,
            "vault_down": self.proxy.down,
            "vault_sealed": self.world.bench.openbao.seal,
            "vault_403": lambda: self.world.vault.sys.create_or_update_policy(name=self.policy, policy=READ_ONLY_POLICY),
            "cas_conflict": self._bump,
            "killed": lambda: None,
        }
        action[fault]()

    def clear(self, rotator_policy: str) -> None:
        requests.delete(self.sendgrid + "/__emulator/faults", timeout=5)
        requests.post(self.sendgrid + "/__emulator/config", json={"key_limit": 100000}, timeout=5)
        self.proxy.up()
        if requests.get(self.world.bench.openbao.url + "/v1/sys/seal-status", timeout=5).json().get("sealed"):
            self.world.bench.openbao.unseal()
        self.world.vault.sys.create_or_update_policy(name=self.policy, policy=rotator_policy)

    def _emulator(self, **fault: Any) -> None:
        requests.post(self.sendgrid + "/__emulator/faults", json=dict(match="* /v3", count=1000, **fault),
                      timeout=5).raise_for_status()

    def _cap(self) -> None:
        alive = sum(1 for k in requests.get(self.sendgrid + "/__emulator/keys", timeout=5).json() if not k["revoked"])
        requests.post(self.sendgrid + "/__emulator/config", json={"key_limit": alive}, timeout=5).raise_for_status()

    def _bump(self) -> None:
        """Another writer: the record changes under the run (same content, new version)."""
        self.world.write_record(self.key, self.world.record(self.key).data)


def run_with_fault(world: World, playbook: str, step: str, fault: str, faults: Faults, env: dict[str, str],
                   **extra_vars: Any) -> Run:
    """Run ``playbook``; at ``step`` inject ``fault`` (or die there, for ``killed``)."""
    gate = world.tmp / f"gate-{step}-{fault}"
    gate.mkdir()
    run_env = dict(env)
    if fault == "killed":
        run_env["APIKEYS_TEST_CRASH_AT"] = step
    else:
        run_env["APIKEYS_TEST_PAUSE_AT"] = f"{step}:{gate}"
    # -vvv: Ansible prints tracebacks from that verbosity on; the secret scan reads them too.
    process, home = world.start_playbook(playbook, "-vvv", extra_env=run_env, **extra_vars)
    deadline = time.monotonic() + 120
    while fault != "killed" and not list(gate.glob(f"{step}.reached.*")) and process.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    if list(gate.glob(f"{step}.reached.*")):
        faults.inject(fault)
        (gate / f"{step}.go").touch()
    return world.finish(process, home)


__all__ = ["FAULTS", "Faults", "REVOCATION_STEPS", "ROTATION_STEPS", "run_with_fault", "Path"]
