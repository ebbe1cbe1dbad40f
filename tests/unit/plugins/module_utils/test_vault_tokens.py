"""The run's token broker, as a real process: serves its run only, keeps tokens in memory, revokes them at the end."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils.stores import _vault_tokens
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_tokens import RunTokens

pytestmark = pytest.mark.skipif(not hasattr(socket, "SO_PEERCRED"), reason="the broker needs SO_PEERCRED (Linux)")
TOKEN = "s.brokertesttokenvalue0123456789"


class Revocations(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        type(self).seen.append((self.path, self.headers.get("X-Vault-Token", "")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 # pylint: disable=redefined-builtin
        pass


@pytest.fixture
def vault() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Revocations)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Revocations.seen = []
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def start_broker(directory: Path, owner: int) -> tuple[subprocess.Popen[bytes], RunTokens]:
    directory.mkdir(mode=0o700)
    tokens = RunTokens(str(directory))
    process = subprocess.Popen([sys.executable, _vault_tokens.__file__, "serve", str(directory), str(owner)])
    deadline = time.monotonic() + 10
    while not os.path.exists(tokens.socket_path) and time.monotonic() < deadline:
        time.sleep(0.02)
    return process, tokens


def answer(tokens: RunTokens, request: dict[str, Any]) -> dict[str, Any]:
    """What the broker says; a refused caller gets its connection closed unanswered (or reset)."""
    try:
        return tokens.ask(request)
    except OSError:
        return {}


def test_the_broker_serves_only_its_run_and_exits_with_it(tmp_path, vault):
    # the test process stands for ansible-playbook: the broker serves it and its descendants
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    process, tokens = start_broker(tmp_path / "run", owner.pid)
    try:
        deadline = time.monotonic() + 5
        while process.poll() is None and not os.path.exists(tokens.socket_path) and time.monotonic() < deadline:
            time.sleep(0.02)
        # not a descendant of the run's process: the broker answers nothing
        assert not tokens.alive()
        assert answer(tokens, {"op": "get", "key": "k"}) == {}
    finally:
        owner.kill()
        owner.wait()
    process.wait(timeout=5)
    assert process.returncode == 0, "the broker exits when its run's process is gone"
    assert not (tmp_path / "run").exists(), "and removes its folder"


def test_put_get_drop_and_revocation_at_the_end(tmp_path, vault):
    process, tokens = start_broker(tmp_path / "run", os.getpid())
    try:
        assert tokens.alive()
        assert oct(os.stat(tmp_path / "run").st_mode & 0o777) == "0o700"
        tokens.put("k", {"token": TOKEN, "ttl": 60, "created": True, "revoke": {"url": vault}})
        tokens.put("user", {"token": "s.suppliedbytheuser00000000", "created": False})
        assert tokens.get("k")["token"] == TOKEN
        tokens.drop("k", "s.someothertoken")  # only the token the caller saw refused is dropped
        assert tokens.get("k")["token"] == TOKEN
        tokens.drop("k", TOKEN)
        assert tokens.get("k") is None
        for name in os.listdir(tmp_path / "run"):
            if name != "broker.sock":
                assert TOKEN not in (tmp_path / "run" / name).read_text(), "no token on disk"
    finally:
        process.terminate()
        process.wait(timeout=5)
    assert Revocations.seen == [], "SIGTERM kills it before the end-of-run path: nothing revoked, nothing left behind"


def test_a_run_that_ends_revokes_what_the_collection_created(tmp_path, vault):
    script = (f"import sys, time; sys.path.insert(0, {str(Path(_vault_tokens.__file__).parent)!r}); import _vault_tokens as t\n"
              f"tokens = t.RunTokens({str(tmp_path / 'run')!r})\n"
              "import subprocess, os\n"
              f"os.mkdir({str(tmp_path / 'run')!r}, 0o700)\n"
              "p = subprocess.Popen([sys.executable, t.__file__, 'serve', tokens.directory, str(os.getpid())],\n"
              "                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
              "while not tokens.alive(): time.sleep(0.02)\n"
              f"tokens.put('k', {{'token': {TOKEN!r}, 'created': True, 'revoke': {{'url': {vault!r}}}}})\n"
              "tokens.put('u', {'token': 's.suppliedbytheuser00000000', 'created': False})\n"
              "print(p.pid)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True)
    broker = int(done.stdout.strip())
    deadline = time.monotonic() + 5
    while _vault_tokens.start_time(broker) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert Revocations.seen == [("/v1/auth/token/revoke-self", TOKEN)], "only the token a login created"
    assert json.dumps(Revocations.seen).count("supplied") == 0
