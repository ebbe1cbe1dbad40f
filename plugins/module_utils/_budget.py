# Internal to this collection: not a public API; may change without notice.
"""Request budgets per provider endpoint and per store address, shared by a whole controller.

A budget is a rate (requests per second), a burst (how many may go at once after a quiet spell),
optionally a concurrency cap (requests in flight at once), and a *pause*: when a server answers
``Retry-After`` (or throttles), every user of the budget waits until then, not only the caller.

Its state lives in a small file per budget, ``$XDG_STATE_HOME/apikeys.rotation/budgets/<name>.budget``
(else ``~/.local/state/...``; ``APIKEYS_BUDGET_DIR`` overrides), read and written under ``fcntl.flock``,
and opened anew for each request: the threads of a batch, Ansible's forked workers and a second
``ansible-playbook`` on the same controller all draw from the same budget. The rate is kept as GCRA
(the "theoretical arrival time" form of a token bucket): one number, so one small read and write per
request. The file holds no secret: three numbers.

Without a usable state directory the budget is shared by this process's threads only (said once,
in the ``warnings`` of ``state_warning()``).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import math
import os
import stat
import struct
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator, Optional

from ._errors import ConfigError

VARIABLE = "apikeys_rate_limit"
#: the longest a server's Retry-After pauses a budget (a far-future value in the file cannot block for ever)
MAX_PAUSE = 300.0
_STATE = struct.Struct("<ddd")  # theoretical arrival time, paused until, pause epoch (wall-clock seconds)
_POLL = 0.002  # seconds between two looks for a free concurrency slot


@dataclass(frozen=True)
class Limit:
    """``rate`` requests per second (None: no rate limit), ``burst`` at once, ``concurrency`` in flight (None: any)."""

    rate: Optional[float]
    burst: int = 1
    concurrency: Optional[int] = None
    #: where the figure comes from (docs/rate-limits.md)
    source: str = "apikeys_rate_limit"


UNLIMITED = Limit(None, 1, None, "unlimited")
#: defaults per provider / store kind, from each provider's published limits (sources in docs/rate-limits.md)
DEFAULTS: dict[str, Limit] = {
    "sendgrid": Limit(10.0, 10, None, "SendGrid: 600 requests/minute/user on rate-limited endpoints"),
    "stripe": Limit(25.0, 25, None, "Stripe: 25 requests/s per endpoint by default (sandbox: 25/s global)"),
    "twilio": Limit(50.0, 50, 10, "Twilio: limits concurrent requests per account (error 20429)"),
    "aws_iam": Limit(10.0, 10, None, "AWS IAM: account-wide limit, figure not published"),
    "http": Limit(50.0, 50, None, "internal gateway: none published, a configurable default"),
    "vault_kv2": Limit(1000.0, 100, None, "Vault/OpenBao: no default rate limit quota"),
    "aws_secretsmanager": Limit(50.0, 50, None, "AWS Secrets Manager: 50/s combined write operations"),
}
#: a provider or store not in DEFAULTS
FALLBACK = Limit(10.0, 10, None, "no published figure known to this collection")
_FIELDS = {"rate", "burst", "concurrency"}


# -- configuration -----------------------------------------------------------------------------------------


def _positive(key: str, variable: str, value: Any, kind: type, high: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise ConfigError(key, variable, f"must be {'a number' if kind is float else 'a whole number'}")
    if not 0 < value <= high:
        raise ConfigError(key, variable, f"must be more than 0 and at most {high:g}")
    return kind(value)


def parse_limit(key: str, variable: str, value: Any, default: Limit) -> Limit:
    """One entry of ``apikeys_rate_limit``: a number (the rate), ``unlimited``, or ``{rate, burst, concurrency}``."""
    if value is None:
        return default
    if value == "unlimited":
        return UNLIMITED
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = {"rate": value}
    if not isinstance(value, dict):
        raise ConfigError(key, variable, "must be a number of requests per second, 'unlimited', or a mapping "
                                         "with rate, burst and/or concurrency")
    unknown = sorted(str(name) for name in set(value) - _FIELDS)
    if unknown:
        raise ConfigError(key, f"{variable}.{unknown[0]}", f"unknown field (known: {', '.join(sorted(_FIELDS))})")
    if not value:
        raise ConfigError(key, variable, "is empty: give rate, burst and/or concurrency, or leave it unset")
    rate = default.rate
    if "rate" in value:
        rate = None if value["rate"] == "unlimited" else _positive(key, f"{variable}.rate", value["rate"], float, 1e6)
    burst = _positive(key, f"{variable}.burst", value["burst"], int, 1e6) if "burst" in value \
        else max(1, int(rate or 1)) if "rate" in value else default.burst
    concurrency = _positive(key, f"{variable}.concurrency", value["concurrency"], int, 1e4) \
        if value.get("concurrency") is not None else None if "concurrency" in value else default.concurrency
    return Limit(rate, burst, concurrency, VARIABLE)


def parse_rate_limit(key: str, value: Any, provider: str, store: str) -> tuple[Limit, Limit]:
    """``apikeys_rate_limit`` checked: the limits of the key's provider endpoint and of its store address."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(key, VARIABLE, "must be a mapping with 'provider' and/or 'store'")
    unknown = sorted(str(name) for name in set(value) - {"provider", "store"})
    if unknown:
        raise ConfigError(key, f"{VARIABLE}.{unknown[0]}", "unknown field (known: provider, store)")
    return (parse_limit(key, f"{VARIABLE}.provider", value.get("provider"), DEFAULTS.get(provider, FALLBACK)),
            parse_limit(key, f"{VARIABLE}.store", value.get("store"), DEFAULTS.get(store, FALLBACK)))


# -- where the state lives ------------------------------------------------------------------------------------


def _private_dir(path: str) -> str:
    """``path`` (and its parents) created 0700; refused when it is a symlink, not ours, or open to others."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{path} is not a private directory of this user")
    return path


def state_dir(env: Optional[dict[str, str]] = None) -> Optional[str]:
    """The directory of the budgets' files, created private; None when none can be had (then: per process)."""
    env = os.environ if env is None else env
    if env.get("APIKEYS_BUDGET_DIR"):
        candidates = [env["APIKEYS_BUDGET_DIR"]]
    else:
        state = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
        candidates = [os.path.join(state, "apikeys.rotation", "budgets"),
                      os.path.join(tempfile.gettempdir(), f"apikeys-rotation-{os.getuid()}", "budgets")]
    for candidate in candidates:
        try:
            return _private_dir(candidate)
        except OSError:
            continue
    return None


# -- the budget ----------------------------------------------------------------------------------------------


class Ticket:
    """One request's turn: how long it waited for it; ``release()`` frees its concurrency slot."""

    __slots__ = ("waited", "_fd")

    def __init__(self, waited: float, fd: Optional[int] = None) -> None:
        self.waited = waited
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the file releases its flock: the slot is free


class Budget:
    """A named budget. Objects of one name, in any thread or process of this user, share one state."""

    def __init__(self, name: str, limit: Limit, directory: Optional[str] = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.limit = limit
        self.path = os.path.join(directory, name + ".budget") if directory else None
        self.clock = clock
        self.sleep = sleep
        self._memory = (0.0, 0.0, 0.0)  # the state when there is no file
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Budget({self.name!r}, {self.limit})"

    # -- the state, under both locks --

    @contextlib.contextmanager
    def _state(self) -> Iterator[list[float]]:
        """The state as a mutable list, written back if changed; under the thread lock and the file's flock."""
        with self._lock:
            fd = None
            if self.path is not None:
                try:
                    fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
                except OSError:
                    fd = None
            try:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    raw = os.pread(fd, _STATE.size, 0)
                    before = _STATE.unpack(raw) if len(raw) == _STATE.size else (0.0, 0.0, 0.0)
                else:
                    before = self._memory
                state = list(_sane(before, self.clock()))
                yield state
                if tuple(state) != before:
                    if fd is not None:
                        os.pwrite(fd, _STATE.pack(*state), 0)
                    else:
                        self._memory = tuple(state)
            finally:
                if fd is not None:
                    os.close(fd)

    def _reserve(self) -> tuple[float, float]:
        """Take the next send time for one request: (that time, the pause epoch it was taken in)."""
        with self._state() as state:
            tat, paused, epoch = state
            now = self.clock()
            start = max(now, paused)
            if self.limit.rate is None:
                return start, epoch
            interval = 1.0 / self.limit.rate
            slot = max(start, tat - (self.limit.burst - 1) * interval)
            state[0] = max(slot, tat) + interval
            return slot, epoch

    def _paused_since(self, epoch: float) -> bool:
        """Was a new pause that has not ended set after ``epoch``?"""
        with self._state() as state:
            return state[2] != epoch and state[1] > self.clock()

    # -- the interface --

    def acquire(self) -> Ticket:
        """Wait for this request's turn (rate, burst, pause, then a concurrency slot); return the ticket."""
        started = self.clock()
        while True:
            slot, epoch = self._reserve()
            delay = slot - self.clock()
            if delay <= 0:
                break
            self.sleep(delay)
            if not self._paused_since(epoch):  # a Retry-After that came while we slept: take a new turn
                break
        fd = self._slot() if self.limit.concurrency else None
        return Ticket(max(0.0, self.clock() - started), fd)

    def pause(self, seconds: float) -> None:
        """Nobody starts a request on this budget for ``seconds`` (capped at MAX_PAUSE) from now."""
        if seconds <= 0:
            return
        with self._state() as state:
            until = self.clock() + min(float(seconds), MAX_PAUSE)
            if until > state[1]:
                state[1] = until
                state[2] += 1

    def paused_for(self) -> float:
        """Seconds left of the current pause (0 when none)."""
        with self._state() as state:
            return max(0.0, state[1] - self.clock())

    def _slot(self) -> Optional[int]:
        """Hold one of ``concurrency`` slot files (flock, not blocking); wait until one is free."""
        count = int(self.limit.concurrency or 0)
        if self.path is None:
            return None  # no file: the process's threads are limited by the batch's own pool
        first = os.getpid() % count
        while True:
            for index in range(count):
                path = f"{self.path}.slot{(first + index) % count}"
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
                except OSError:
                    return None
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except OSError as exc:
                    os.close(fd)
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        return None
            self.sleep(_POLL)


def _sane(state: tuple[float, float, float], now: float) -> tuple[float, float, float]:
    """State read from a file, clamped: a clock set back, or a far-future value, never blocks for long."""
    tat, paused, epoch = state
    if math.isnan(tat) or tat > now + 86400:  # NaN, or a day ahead (a clock set back): start again
        tat = 0.0
    if math.isnan(paused):
        paused = 0.0
    paused = min(paused, now + MAX_PAUSE)
    return tat, paused, 0.0 if math.isnan(epoch) else epoch


# -- one Budget object per name in a process -----------------------------------------------------------------

_BUDGETS: dict[str, Budget] = {}
_BUDGETS_LOCK = threading.Lock()
_DIR: list[Optional[str]] = []  # the state directory, found once per process


def budget_name(kind: str, name: str, endpoint: str) -> str:
    """A file name for the budget of ``name`` (a provider or store kind) at ``endpoint``: readable, no address."""
    digest = hashlib.sha256(f"{kind}|{name}|{endpoint}".encode()).hexdigest()[:16]
    return f"{kind}-{''.join(c for c in name if c.isalnum() or c in '_-')[:32]}-{digest}"


def get_budget(kind: str, name: str, endpoint: str, limit: Limit) -> Budget:
    """This process's Budget for (kind, name, endpoint); its limit is the one of the latest caller."""
    file_name = budget_name(kind, name, endpoint)
    with _BUDGETS_LOCK:
        if not _DIR:
            _DIR.append(state_dir())
        budget = _BUDGETS.get(file_name)
        if budget is None:
            budget = _BUDGETS[file_name] = Budget(file_name, limit, _DIR[0])
        elif budget.limit != limit:
            budget.limit = limit
        return budget


def shared_between_processes() -> bool:
    """Whether this process's budgets are shared with other processes (a private state directory could be made)."""
    with _BUDGETS_LOCK:
        if not _DIR:
            _DIR.append(state_dir())
        return _DIR[0] is not None


def state_warning() -> Optional[str]:
    """A warning when budgets are per process only (no private state directory could be made)."""
    if _DIR and _DIR[0] is None:
        return ("rate budgets are shared by this process's threads only: no private directory for their state "
                "(set APIKEYS_BUDGET_DIR or XDG_STATE_HOME to a writable place)")
    return None


def _after_fork() -> None:
    """A forked child starts with fresh locks (a lock held by another thread at the fork would never be freed)."""
    global _BUDGETS_LOCK  # pylint: disable=global-statement
    _BUDGETS_LOCK = threading.Lock()
    for budget in _BUDGETS.values():
        budget._lock = threading.Lock()  # pylint: disable=protected-access


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


# -- attaching budgets to a key's provider and store ----------------------------------------------------------


def provider_endpoint(provider: Any) -> str:
    """Where the provider's management API is: its configured URL, else its default one, else its name."""
    options = getattr(provider, "options", None) or {}
    for option in ("api_url", "admin_url", "base_url", "endpoint_url"):
        if isinstance(options.get(option), str) and options[option]:
            return _origin(options[option]) + ("|" + str(options.get("profile") or "") if option == "endpoint_url"
                                               else "")
    for attribute in ("base_url", "api_url"):
        if isinstance(getattr(provider, attribute, None), str):
            return _origin(getattr(provider, attribute))
    return f"default|{options.get('profile') or ''}"


def store_endpoint(store: Any) -> str:
    """The store's address (and namespace / region), the unit of its budget."""
    for attribute in ("budget_endpoint", "endpoint", "url"):
        value = getattr(store, attribute, None)
        if isinstance(value, str) and value:
            return value.rstrip("/") + "|" + str(getattr(store, "namespace", "") or "")
    options = getattr(store, "options", None)
    if isinstance(options, dict):  # AWS: quotas are per account and region
        return "|".join(str(options.get(name) or "") for name in ("endpoint_url", "region", "profile"))
    return "default"


def _origin(url: str) -> str:
    scheme, _sep, rest = url.partition("://")
    return f"{scheme.lower()}://{rest.split('/', 1)[0].lower()}" if rest else url


def attach_budgets(key: str, provider: Any, store: Any, rate_limit: Any) -> tuple[Budget, Budget]:
    """Check ``apikeys_rate_limit`` (ConfigError before any request) and give the provider's and the store's
    retry policies their budgets. No I/O; safe to call again."""
    provider_name, store_kind = str(getattr(provider, "name", "provider")), str(getattr(store, "kind", "store"))
    provider_limit, store_limit = parse_rate_limit(key, rate_limit, provider_name, store_kind)
    budgets = (get_budget("provider", provider_name, provider_endpoint(provider), provider_limit),
               get_budget("store", store_kind, store_endpoint(store), store_limit))
    for holder, budget in zip((provider, store), budgets):
        if getattr(holder, "retry", None) is not None:
            holder.retry = replace(holder.retry, budget=budget)
    return budgets
