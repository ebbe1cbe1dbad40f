"""A tiny Vault Agent: renders a record's key to a file; consumers read the file.

:class:`KeyFileAgent` re-reads the record every ``render_interval`` seconds and, when the key
changed, writes ``{"key_id", "key"}`` to a 0600 temporary file and renames it over the
rendered one (an atomic replace, as Vault Agent's template does). :class:`FileSource` is the
application side: it re-reads the file when its inode or mtime changes (checked on every use)
or when its copy is ``ttl`` seconds old.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .store import Held, RecordReader


class KeyFileAgent:
    """Renders the key of ``vault_path`` to ``path`` every ``interval`` seconds, from a daemon thread."""

    def __init__(self, reader: RecordReader, vault_path: str, path: Path, interval: float) -> None:
        self._reader = reader
        self._vault_path = vault_path
        self.path = path
        self._interval = interval
        self._stop = threading.Event()
        self._rendered: str | None = None
        self.renders = 0
        self.errors = 0
        self.render()  # the file exists before any consumer starts
        self._thread = threading.Thread(target=self._loop, name=f"agent-{path.name}", daemon=True)
        self._thread.start()

    def render(self) -> bool:
        """Render once; True when the file changed."""
        held = self._reader.read(self._vault_path)
        if held.key_id == self._rendered:
            return False
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"key_id": held.key_id, "key": held.key}, handle)
        os.replace(tmp, self.path)
        self._rendered = held.key_id
        self.renders += 1
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.render()
            except Exception:  # noqa: BLE001 - keep the last rendered file, as Vault Agent does
                self.errors += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for leftover in (self.path, self.path.with_name(self.path.name + ".tmp")):
            leftover.unlink(missing_ok=True)


def parse_json(text: str) -> Held:
    """The stand-in agent's file: ``{"key_id", "key"}``."""
    data = json.loads(text)
    return Held(str(data["key_id"]), str(data["key"]))


class FileSource:
    """The application side of an agent: the key from the rendered file, re-read on change or every ``ttl``.

    ``parse`` reads the file's text: :func:`parse_json` for :class:`KeyFileAgent`'s files,
    :func:`~.bao_agent.parse_rendered` for the real OpenBao Agent's.
    """

    def __init__(self, path: Path, ttl: float, age: float = 0.0, parse: Callable[[str], Held] = parse_json) -> None:
        self._path = path
        self._ttl = ttl
        self._parse = parse
        self._stamp = (0, 0)
        self._held = self._load()
        self._read_at = time.monotonic() - age
        self.errors = 0

    def _load(self) -> Held:
        stat = os.stat(self._path)
        held = self._parse(self._path.read_text(encoding="utf-8"))
        self._stamp = (stat.st_ino, stat.st_mtime_ns)
        return held

    def get(self) -> Held:
        now = time.monotonic()
        try:
            stat = os.stat(self._path)
            if (stat.st_ino, stat.st_mtime_ns) != self._stamp or now - self._read_at >= self._ttl:
                self._held = self._load()
                self._read_at = now
        except (OSError, ValueError, KeyError):
            self.errors += 1  # a half-seen rename or a vanished file: keep the key we have
        return self._held


__all__ = ["FileSource", "KeyFileAgent", "parse_json"]
