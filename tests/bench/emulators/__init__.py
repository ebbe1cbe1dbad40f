"""Provider emulators: real HTTP servers speaking the providers' wire formats.

* :mod:`.sendgrid` - SendGrid v3 API keys (:class:`SendGridEmulator`)
* :mod:`.gateway` - Kong Admin API, key-auth plugin (:class:`GatewayEmulator`)

Each runs in-process (:func:`serve_in_thread`) or as a subprocess
(``python -m tests.bench.emulators.<name> --port N ...``). The test-only control
API under ``/__emulator/`` is described in ``_control.py``. Submodules are not
imported here so that ``python -m`` runs them without a double import.
"""

from __future__ import annotations

from ._server import EmulatorServer, RunningEmulator, serve_in_thread

__all__ = ["EmulatorServer", "RunningEmulator", "serve_in_thread"]
