"""Test bench: real servers on 127.0.0.1, started and stopped by code.

Public API (see each module for details):

* :func:`tests.bench.openbao.start_openbao` -> :class:`OpenBao`
* :func:`tests.bench.moto.start_moto` -> :class:`Moto`
* :mod:`tests.bench.emulators.sendgrid` / :mod:`tests.bench.emulators.gateway`
* :func:`tests.bench.bench.start_all` -> :class:`Bench`

Nothing here is part of the collection; it is test scaffolding only.
"""

from __future__ import annotations
