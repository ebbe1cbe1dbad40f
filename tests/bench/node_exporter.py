"""A real node_exporter (Debian's ``prometheus-node-exporter``) serving a textfile directory.

The collection writes its key metrics as a node_exporter textfile (``*.prom``);
this is how users expose them. ``start_node_exporter(workdir, textfile_dir)``
runs ``prometheus-node-exporter`` with only the textfile collector
(``--collector.disable-defaults --collector.textfile``) on a free port of
127.0.0.1, its log in ``workdir/node_exporter.log`` (0600), and returns once
``/metrics`` answers 200. Every ``*.prom`` file in ``textfile_dir`` is read
afresh on each scrape; a file with a syntax error makes
``node_textfile_scrape_error`` 1 and its metrics vanish. Install the binary
with ``tests/bench/install_prometheus.sh``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import requests

from ._ports import free_port
from ._proc import ServerProcess, spawn, wait_until
from ._service import Stoppable

READY_TIMEOUT = 30.0
INSTALL_HINT = "run tests/bench/install_prometheus.sh (installs Debian's prometheus-node-exporter package)"


def find_node_exporter() -> str:
    """The node_exporter binary (Debian names it prometheus-node-exporter)."""
    for name in ("prometheus-node-exporter", "node_exporter"):
        found = shutil.which(name)
        if found is not None:
            return found
    if os.access("/usr/bin/prometheus-node-exporter", os.X_OK):
        return "/usr/bin/prometheus-node-exporter"
    raise FileNotFoundError(f"prometheus-node-exporter not found on PATH or in /usr/bin: {INSTALL_HINT}")


@dataclass
class NodeExporter(Stoppable):
    """A running node_exporter. Use as a context manager or call stop()."""

    url: str
    port: int
    textfile_dir: Path
    process: ServerProcess
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    @property
    def target(self) -> str:
        """``host:port``, as a Prometheus scrape target."""
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path | None:
        return self.process.log

    def metrics(self) -> str:
        """``GET /metrics`` as text."""
        resp = self.session.get(f"{self.url}/metrics", timeout=5)
        resp.raise_for_status()
        return resp.text

    def stop(self) -> None:
        """Stop the server; safe to call more than once."""
        self.process.stop()
        self.session.close()


def _ready(session: requests.Session, url: str) -> bool:
    try:
        return session.get(f"{url}/metrics", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def start_node_exporter(workdir: Path, textfile_dir: Path, timeout: float = READY_TIMEOUT) -> NodeExporter:
    """Start node_exporter with only the textfile collector, reading ``textfile_dir``."""
    binary = find_node_exporter()
    workdir.mkdir(parents=True, exist_ok=True)
    textfile_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    listen = f"--web.listen-address=127.0.0.1:{port}"
    argv = [
        binary,
        "--collector.disable-defaults",
        "--collector.textfile",
        f"--collector.textfile.directory={textfile_dir}",
        listen,
    ]
    process = spawn(argv, log=workdir / "node_exporter.log", marker=listen, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    session = requests.Session()
    session.trust_env = False
    try:
        wait_until(lambda: _ready(session, url), timeout, f"node_exporter ({process.log})", process.alive)
    except BaseException:
        process.stop()
        session.close()
        raise
    return NodeExporter(url=url, port=port, textfile_dir=textfile_dir, process=process, session=session)


__all__ = ["INSTALL_HINT", "NodeExporter", "find_node_exporter", "start_node_exporter"]
