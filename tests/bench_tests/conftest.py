"""Fixtures for the bench's own tests. Puts the repo root on sys.path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.bench.emulators import RunningEmulator, serve_in_thread  # noqa: E402
from tests.bench.emulators.gateway import GatewayEmulator  # noqa: E402
from tests.bench.emulators.sendgrid import SendGridEmulator  # noqa: E402


@pytest.fixture
def sendgrid() -> Iterator[RunningEmulator[SendGridEmulator]]:
    with serve_in_thread(SendGridEmulator(key_limit=5)) as running:
        yield running


@pytest.fixture
def gateway() -> Iterator[RunningEmulator[GatewayEmulator]]:
    with serve_in_thread(GatewayEmulator()) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
