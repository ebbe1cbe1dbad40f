# Internal to this collection: not a public API; may change without notice.
"""The run's Vault token cache: one login per run and credential set, kept in memory only.

Ansible runs each task of each host in a forked worker process, so a token kept in a Python variable
dies with the task. The first task that logs in starts a *broker*: this file run as a script, a small
process that holds the run's tokens in memory and hands them to the run's later tasks over a unix
socket. Nothing is written to disk but the socket and two empty lock files, in a private directory:

* ``$XDG_RUNTIME_DIR`` (or the temp dir) ``/apikeys-rotation-<uid>/run-<pid>-<start>/``, mode 0700,
  checked to be ours and not a symlink; ``<pid>-<start>`` names the ansible-playbook process (its pid and
  its start time, so a reused pid is another run).
* A caller is served only if the kernel says (SO_PEERCRED) it runs as our user and descends from that
  ansible-playbook process: another run, even of the same user, gets nothing.
* The broker exits, revoking every token it was given (the ones the collection's logins created; a token
  the user supplied is never cached, so never revoked), when the ansible-playbook process is gone or
  after IDLE_TIMEOUT seconds without a request. It never logs a token.

Without SO_PEERCRED (not Linux) or when the broker cannot start, each task logs in itself, as before.
Only the standard library is used: the broker is started with the controller's Python and this file's path.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import http.client
import json
import os
import select
import socket
import ssl
import stat
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
from typing import Any, Iterator, Optional

IDLE_TIMEOUT = 900.0
START_TIMEOUT = 5.0
MAX_REQUEST = 65536


# -- who is the run --------------------------------------------------------------------------------------


def _stat_fields(pid: int) -> Optional[list[str]]:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    return text[text.rfind(")") + 2:].split()


def parent_of(pid: int) -> Optional[int]:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def start_time(pid: int) -> Optional[str]:
    """When ``pid`` started (clock ticks since boot); None if it is gone or a zombie (exited, not yet reaped)."""
    fields = _stat_fields(pid)
    return fields[19] if fields and fields[0] != "Z" else None


#: in a batch shard, a process that a worker forked to run part of a batch: [(that worker, its ansible-playbook)]
_SHARD: list[tuple[int, int]] = []


def enter_shard(worker: int, controller: int) -> None:
    """This process is a batch shard forked by ``worker``, a worker of the ansible-playbook process ``controller``."""
    _SHARD[:] = [(worker, controller)]


def shard() -> Optional[tuple[int, int]]:
    """(worker, ansible-playbook) when this process is a batch shard; None in a worker."""
    return _SHARD[0] if _SHARD else None


def controller() -> int:
    """The ansible-playbook process of this worker (its parent), or of the worker that forked this batch shard."""
    return _SHARD[0][1] if _SHARD else os.getppid()


def run_owner() -> Optional[int]:
    """The ansible-playbook process when this is one of its forked workers (or a batch shard of one); None otherwise
    (no broker)."""
    import multiprocessing
    if multiprocessing.current_process().name == "MainProcess" or not hasattr(socket, "SO_PEERCRED"):
        return None
    return controller()


def descends_from(pid: int, owner: int, depth: int = 8) -> bool:
    for _level in range(depth):
        if pid == owner:
            return True
        parent = parent_of(pid)
        if not parent or parent == pid:
            return False
        pid = parent
    return False


# -- the private directory -------------------------------------------------------------------------------


def _private_dir(path: str) -> str:
    """Create ``path`` 0700 if missing; refuse one that is a symlink, not ours, or open to others."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{path} is not a private directory of this user")
    return path


def run_dir(owner: int) -> str:
    base = os.environ.get("XDG_RUNTIME_DIR") or ""
    if not base or not os.path.isdir(base):
        base = tempfile.gettempdir()
    root = _private_dir(os.path.join(base, f"apikeys-rotation-{os.getuid()}"))
    return _private_dir(os.path.join(root, f"run-{owner}-{start_time(owner)}"))


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# -- the client side (in each task) ----------------------------------------------------------------------


class RunTokens:
    """The broker of this run, as seen from one task. ``None`` from ``connect()`` when there is none."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.socket_path = os.path.join(directory, "broker.sock")

    @classmethod
    def connect(cls) -> Optional["RunTokens"]:
        owner = run_owner()
        if owner is None:
            return None
        try:
            tokens = cls(run_dir(owner))
            with locked(os.path.join(tokens.directory, "start.lock")):
                if not tokens.alive():
                    tokens.start(owner)
        except (OSError, RuntimeError):
            return None
        return tokens

    def alive(self) -> bool:
        try:
            return self.ask({"op": "ping"}).get("ok") is True
        except OSError:
            return False

    def start(self, owner: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "XDG_RUNTIME_DIR", "TMPDIR")}
        subprocess.Popen([sys.executable, os.path.abspath(__file__), "serve", self.directory, str(owner)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         close_fds=True, start_new_session=True, env=env, cwd="/")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.alive():
                return
            time.sleep(0.02)
        raise RuntimeError("the token broker did not start")

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(self.socket_path)
            conn.sendall(json.dumps(request).encode() + b"\n")
            conn.shutdown(socket.SHUT_WR)
            return json.loads(_read_all(conn) or b"{}")

    def login_lock(self) -> contextlib.AbstractContextManager[None]:
        """Held while a task logs in, so that concurrent tasks wait for its token instead of logging in too."""
        return locked(os.path.join(self.directory, "login.lock"))

    def get(self, key: str) -> Optional[dict[str, Any]]:
        return self.ask({"op": "get", "key": key}).get("entry")

    def put(self, key: str, entry: dict[str, Any]) -> None:
        self.ask({"op": "put", "key": key, "entry": entry})

    def drop(self, key: str, token: str) -> None:
        self.ask({"op": "drop", "key": key, "token": token})


def _read_all(conn: socket.socket) -> bytes:
    chunks = []
    size = 0
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_REQUEST:
            raise OSError(errno.EMSGSIZE, "request too large")
        chunks.append(chunk)


# -- the broker process ----------------------------------------------------------------------------------


def revoke(entry: dict[str, Any]) -> None:
    """``auth/token/revoke-self`` with the token; an expired token answers 403, which is fine."""
    where = entry.get("revoke") or {}
    headers = {"X-Vault-Token": entry["token"]}
    if where.get("namespace"):
        headers["X-Vault-Namespace"] = where["namespace"]
    context = None
    if str(where.get("url", "")).startswith("https://"):
        verify = where.get("verify", True)
        context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
        if verify is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if where.get("cert"):
            context.load_cert_chain(*where["cert"])
    parts = urllib.parse.urlsplit(str(where["url"]))
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=5, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    with contextlib.suppress(Exception):
        try:
            conn.request("POST", parts.path.rstrip("/") + "/v1/auth/token/revoke-self", body=b"", headers=headers)
            conn.getresponse().read()
        finally:
            conn.close()


class Broker:
    def __init__(self, directory: str, owner: int) -> None:
        self.directory = directory
        self.owner = owner
        self.owner_start = start_time(owner)
        self.entries: dict[str, dict[str, Any]] = {}
        self.created: dict[str, dict[str, Any]] = {}  # token -> entry: everything to revoke at the end
        self.last_request = time.monotonic()

    def owner_alive(self) -> bool:
        return start_time(self.owner) == self.owner_start

    def allowed(self, conn: socket.socket) -> bool:
        pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                             struct.calcsize("3i")))
        return uid == os.getuid() and descends_from(pid, self.owner)

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "ping":
            return {"ok": True}
        if op == "get":
            return {"entry": self.entries.get(str(request.get("key")))}
        if op == "put":
            entry = request.get("entry") or {}
            if not isinstance(entry, dict) or not entry.get("token"):
                return {"ok": False}
            self.entries[str(request.get("key"))] = entry
            if entry.get("created"):
                self.created[entry["token"]] = entry
            return {"ok": True}
        if op == "drop":
            key = str(request.get("key"))
            if (self.entries.get(key) or {}).get("token") == request.get("token"):
                del self.entries[key]
            return {"ok": True}
        return {"ok": False}

    def serve(self) -> None:
        path = os.path.join(self.directory, "broker.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        try:
            server.bind(path)
        finally:
            os.umask(old)
        server.listen(16)
        try:
            while self.owner_alive() and time.monotonic() - self.last_request < IDLE_TIMEOUT:
                ready = select.select([server], [], [], 0.5)[0]
                if ready:
                    self.one(server)
        finally:
            server.close()
            for entry in list(self.created.values()):
                revoke(entry)
            self.entries.clear()
            self.created.clear()
            for name in ("broker.sock", "start.lock", "login.lock"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.directory, name))
            with contextlib.suppress(OSError):
                os.rmdir(self.directory)

    def one(self, server: socket.socket) -> None:
        conn = server.accept()[0]
        with conn:
            conn.settimeout(5)
            try:
                if not self.allowed(conn):
                    return
                request = json.loads(_read_all(conn) or b"{}")
                self.last_request = time.monotonic()
                conn.sendall(json.dumps(self.answer(request)).encode())
            except (OSError, ValueError):
                return


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "serve":
        return 2
    Broker(argv[1], int(argv[2])).serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
