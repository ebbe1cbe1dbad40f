"""Action plugins that may change a key write an audit line (module_utils/_audit.py): in these tests, to a
temporary state directory, never to the real ~/.local/state."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def audit_state_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("APIKEYS_RUN_ID", raising=False)
    return tmp_path / "state" / "apikeys.rotation" / "audit.log"
