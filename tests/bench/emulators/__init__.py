"""Provider emulators: real HTTP servers speaking the providers' wire formats.

Each runs in-process (:func:`serve_in_thread`) or as a subprocess
(``python -m tests.bench.emulators.<name> --port N ...``). The test-only control
API under ``/__emulator/`` is described in ``_control.py``.
"""
from __future__ import annotations

from ._server import EmulatorServer, RunningEmulator, serve_in_thread
from .gateway import GatewayEmulator
from .sendgrid import SendGridEmulator

__all__ = [
    "EmulatorServer",
    "GatewayEmulator",
    "RunningEmulator",
    "SendGridEmulator",
    "serve_in_thread",
]
