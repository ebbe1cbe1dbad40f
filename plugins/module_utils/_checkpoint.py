# Internal to this collection: not a public API; may change without notice.
"""Named step boundaries of the protocol, where the fault tests stop or kill a run.

``STEPS`` is the list of boundaries, in protocol order; the fault matrix takes its rows from it,
and ``checkpoint`` refuses a name that is not in it, so the two cannot drift apart.

Test-only: nothing happens unless one of these environment variables is set, which no
production run does.

* ``APIKEYS_TEST_TRACE=<directory>``: every boundary reached creates ``<directory>/<step>.<pid>``
  (before any other action below), so a test can assert that its fault was injected where intended.
* ``APIKEYS_TEST_CRASH_AT=<step>``: at that step, kill the ``ansible-playbook`` process and this
  worker at once (SIGKILL, no clean-up; in a batch shard, its worker too), as a crashed controller would.
* ``APIKEYS_TEST_ORPHAN_AT=<step>``: at that step, kill the ``ansible-playbook`` process only; this
  worker (ansible-core's workers call ``setsid``) lives on and finishes its task, unseen by anyone.
* ``APIKEYS_TEST_PAUSE_AT=<step>:<directory>``: at that step, create ``<directory>/<step>.reached.<pid>``
  and wait (up to 120 s) for ``<directory>/<step>.go``, so a test can inject a fault exactly there, or
  let two runs go at the same instant.
"""
from __future__ import annotations

import os
import signal
import time

#: rotation: after the record was read and checked, before each write or provider call
ROTATION_STEPS = ("before_intent", "before_create", "before_pending_write", "before_verify", "before_promote",
                  "after_promote")
#: revocation after grace
REVOCATION_STEPS = ("before_revoke", "before_revoke_write")
STEPS = ROTATION_STEPS + REVOCATION_STEPS


def checkpoint(step: str) -> None:
    if step not in STEPS:
        raise ValueError(f"unknown checkpoint {step!r}")
    trace = os.environ.get("APIKEYS_TEST_TRACE")
    if trace:
        with open(os.path.join(trace, f"{step}.{os.getpid()}"), "w", encoding="utf-8"):
            pass
    crash, orphan = os.environ.get("APIKEYS_TEST_CRASH_AT") == step, os.environ.get("APIKEYS_TEST_ORPHAN_AT") == step
    if crash or orphan:
        # imported only here: the tests load this module from its file, for STEPS, with no package around it
        from .stores import _vault_tokens  # pylint: disable=import-outside-toplevel
        os.kill(_vault_tokens.controller(), signal.SIGKILL)
        shard = _vault_tokens.shard()
        if crash and shard is not None:  # a batch shard: its worker dies too, as a crash kills every process of the run
            os.kill(shard[0], signal.SIGKILL)
        if crash:
            os._exit(137)
    pause = os.environ.get("APIKEYS_TEST_PAUSE_AT", "")
    name, _sep, directory = pause.partition(":")
    if name != step or not directory:
        return
    with open(os.path.join(directory, f"{step}.reached.{os.getpid()}"), "w", encoding="utf-8"):
        pass
    go = os.path.join(directory, f"{step}.go")
    deadline = time.monotonic() + 120
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.02)
