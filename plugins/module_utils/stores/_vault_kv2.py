# Internal to this collection: not a public API; may change without notice.
"""HashiCorp Vault / OpenBao KV version 2, through hvac."""
from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from typing import Any, Callable, Optional, TypeVar

from .._errors import CasConflict, ConfigError, StoreError, StoreForbidden, StoreSealed, StoreUnavailable
from .. import _run_facts
from .._http import share_connections
from .._retry import RetryPolicy, Retryable, call_with_retry
from ._base import Entry, Store, is_absent
from ._vault_auth import Login, client_cert, resolve_login, verify_setting
from ._vault_tokens import RunTokens

try:
    import hvac
    import hvac.exceptions as hvac_errors
    import requests
    HAS_HVAC = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_HVAC = False

T = TypeVar("T")
#: how long a measured clock offset of the store is used before sys/health is asked again (seconds)
CLOCK_FACT_AGE = 300.0


class VaultKV2Store(Store):
    kind = "vault_kv2"

    def __init__(self, url: str, *, token: Optional[str] = None, login: Optional[Login] = None,
                 namespace: Optional[str] = None, verify: Any = True, cert: Optional[tuple[str, str]] = None,
                 timeout: float = 10.0, token_cache: bool = True,
                 retry: RetryPolicy = RetryPolicy(attempts=4, base_delay=0.2, max_total=10.0)) -> None:
        self.url = url
        self.retry = retry
        self.login = login or Login("token", token=token or "", secrets=(token,) if token else (), source="vault_token")
        self._mounts: dict[str, str] = {}
        self.client = hvac.Client(url=url, token=self.login.token or None, namespace=namespace, verify=verify,
                                  cert=cert, timeout=timeout)
        share_connections(self.client.adapter.session)  # keep-alive connections shared by the keys of a batch
        #: the scope of this store's run facts (mounts, clock offset): one per address and namespace
        self.facts_scope = f"vault|{url.rstrip('/')}|{namespace or ''}"
        self._revoke_at = {"url": url, "namespace": namespace, "verify": verify, "cert": list(cert) if cert else None}
        self._cache = RunTokens.connect() if token_cache and not self.login.supplied else None
        #: how many times this store logged in (a run's total is what the token cache keeps at one)
        self.logins = 0

    # -- plumbing ---------------------------------------------------------

    def secrets(self) -> list[str]:
        """Every credential this store holds now: the token (it changes on a new login) and the login's secrets."""
        held = [s for s in self.login.secrets if s]
        if self.client.token:
            held.append(str(self.client.token))
        return held

    def _authenticate(self, stale: Optional[str] = None) -> None:
        """Set the client's token: the run's cached one if still good, else renewed, else a new login.

        ``stale`` is a token Vault just refused (403): it is dropped from the run's cache first.
        """
        if self.login.supplied:
            return
        if self._cache is not None:
            try:
                self.client.token = self._from_cache(stale)
                return
            except OSError:  # the run's broker is gone (killed): this task logs in by itself
                self._cache = None
        self.client.token = self._new_login()["token"]

    def _from_cache(self, stale: Optional[str]) -> str:
        key = self.login.cache_key
        if stale:
            self._cache.drop(key, stale)
        entry = self._cache.get(key)
        if not _fresh(entry):
            with self._cache.login_lock():  # the run's other tasks wait here for this one's token
                entry = self._cache.get(key)
                if not _fresh(entry):
                    entry = self._renewed(entry) or self._new_login()
                    self._cache.put(key, entry)
        return str(entry["token"])

    def _new_login(self) -> dict[str, Any]:
        try:
            auth = self._once(f"log in ({self.login.describe()})", lambda: self.login.perform(self.client))
        except StoreForbidden:
            raise StoreForbidden(f"vault: {self.login.describe()} refused (403 permission denied): check the "
                                 "credentials, the role and what it is bound to") from None
        self.logins += 1
        return _entry(auth, created=True, revoke=self._revoke_at)

    def _renewed(self, entry: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
        """The cached token renewed (renew-self), if it is renewable and Vault extends it enough."""
        if not entry or not entry.get("renewable") or entry.get("expires_at", 0) <= time.time():
            return None
        self.client.token = entry["token"]
        try:
            answer = self.client.auth.token.renew_self(increment=entry.get("ttl"))
        except Exception:  # expired, revoked, or at its max TTL: log in again
            return None
        auth = answer.get("auth") if isinstance(answer, dict) else None
        renewed = _entry(auth or {}, created=bool(entry.get("created")), revoke=entry.get("revoke"))
        renewed["token"] = entry["token"]
        return renewed if _fresh(renewed) else None

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """One Vault call, logged in first. A 403 after a login (the token expired mid-run) logs in again, once."""
        if not self.login.supplied and not self.client.token:
            self._authenticate()
        try:
            return self._once(what, fn)
        except StoreForbidden:
            if self.login.supplied:
                raise
            self._authenticate(stale=self.client.token)
            return self._once(what, fn)

    def _once(self, what: str, fn: Callable[[], T]) -> T:
        """Run one Vault call: 412 (standby not caught up) and 5xx other than sealed are retried."""

        def attempt() -> T:
            try:
                return fn()
            except hvac_errors.PreconditionFailed as exc:
                raise Retryable(StoreUnavailable(f"vault: {what}: 412, the standby is behind; retried")) from exc
            except hvac_errors.VaultDown as exc:
                raise StoreSealed(f"vault at {self.url} is sealed (503): {what} not done") from exc
            except hvac_errors.Forbidden as exc:
                raise StoreForbidden(f"vault: permission denied (403) to {what}; check the token's policy") from exc
            except hvac_errors.InvalidRequest as exc:
                if "check-and-set" in str(exc):
                    raise
                _run_facts.forget(self.facts_scope)  # e.g. "no handler for route": the mounts may have changed
                raise StoreError(f"vault: {what} refused: {_first_line(exc)}") from None
            except (hvac_errors.InternalServerError, hvac_errors.BadGateway, hvac_errors.RateLimitExceeded) as exc:
                raise Retryable(StoreUnavailable(f"vault: {what} failed: {type(exc).__name__}"),
                                throttled=isinstance(exc, hvac_errors.RateLimitExceeded)) from exc  # 429: all pause
            except requests.exceptions.RequestException as exc:
                sent = _maybe_sent(exc)
                outcome = f": no answer ({type(exc).__name__}): {what} may or may not have been done" if sent \
                    else f" unreachable ({type(exc).__name__}): {what} not done"
                raise Retryable(StoreUnavailable(f"vault at {self.url}{outcome}", maybe_applied=sent)) from exc

        return call_with_retry(attempt, self.retry)

    def _split(self, path: str) -> tuple[str, str]:
        """Split ``secret/apikeys/stripe`` into mount ``secret`` and ``apikeys/stripe``, asking Vault."""
        with _run_facts.asking(self.facts_scope, "kv2_mounts"):  # a batch's threads: one asks, the others read it
            return self._split_path(path)

    def _split_path(self, path: str) -> tuple[str, str]:
        path = path.strip("/")
        if not self._mounts:  # KV v2 mounts this run has already checked (_run_facts)
            known = _run_facts.get(self.facts_scope, "kv2_mounts")
            self._mounts.update({str(m): "2" for m in known} if isinstance(known, list) else {})
        for mount in self._mounts:
            if path.startswith(mount + "/"):
                return mount, path[len(mount) + 1:]
        answer = self._call(f"find the mount of {path}",
                            lambda: self.client.adapter.get(f"/v1/sys/internal/ui/mounts/{path}"))
        info = answer.get("data", {}) if isinstance(answer, dict) else {}
        mount = str(info.get("path", "")).strip("/")
        if not mount or not path.startswith(mount + "/"):
            raise StoreError(f"vault: no secrets engine is mounted above {path}")
        engine = info.get("type")
        version = str((info.get("options") or {}).get("version", "1"))
        if engine not in ("kv", "generic"):
            raise StoreError(f"vault: {mount}/ is a '{engine}' engine, not KV version 2")
        if version != "2":
            raise StoreError(f"vault: {mount}/ is KV version 1, which silently ignores check-and-set; "
                             "keys can only be rotated safely on a KV version 2 mount")
        self._mounts[mount] = version
        known = _run_facts.get(self.facts_scope, "kv2_mounts")
        _run_facts.put(self.facts_scope, "kv2_mounts", sorted(set(known if isinstance(known, list) else []) | {mount}))
        return mount, path[len(mount) + 1:]

    # -- configuration (stores/_registry.py) ----------------------------

    @classmethod
    def validate_path(cls, key: str, path: Any) -> str:
        if not isinstance(path, str) or not path.strip("/"):
            raise ConfigError(key, "apikeys_vault_path", "missing: where the key's record lives, e.g. secret/apikeys/"
                              + key)
        if "/" not in path.strip("/") or ".." in path.split("/"):
            raise ConfigError(key, "apikeys_vault_path", "must be <mount>/<path>, e.g. secret/apikeys/" + key)
        return path.strip("/")

    @classmethod
    def validate_options(cls, key: str, args: dict[str, Any]) -> None:
        if args.get("store_options"):
            raise ConfigError(key, "apikeys_store_options", "the vault_kv2 store takes no store options: it is "
                              "configured by the apikeys_vault_* variables")

    @classmethod
    def from_options(cls, key: str, args: dict[str, Any]) -> "VaultKV2Store":
        return vault_store_from_options(key, args)

    @classmethod
    def reuse_slot(cls, args: dict[str, Any]) -> Optional[str]:
        """A digest of the ``vault_*`` options but the record's path; None when the login reads a file (a token
        file, a JWT file: Vault Agent or Kubernetes may rewrite it during the run, so each step reads it anew)."""
        method = str(args.get("vault_auth_method") or "token")
        if method == "token" and not args.get("vault_token"):
            return None
        if method in ("jwt", "kubernetes") and not args.get("vault_jwt"):
            return None
        options = sorted((name, repr(value)) for name, value in args.items() if name.startswith("vault_") and name != "vault_path")
        return hashlib.sha256(repr(options).encode("utf-8")).hexdigest()

    # -- the interface ----------------------------------------------------

    def preflight(self, path: str) -> None:
        """The mount is KV v2, and the token may read and write the record and its metadata."""
        mount, sub = self._split(path)
        need = {f"{mount}/data/{sub}": ({"read"}, {"create", "update"}), f"{mount}/metadata/{sub}": (set(), {"update"})}
        answer = self._call(f"check the token's capabilities on {path}", lambda: self.client.adapter.post(
            "/v1/sys/capabilities-self", json={"paths": list(need)}))
        body = answer.get("data", answer) if isinstance(answer, dict) else {}
        for api_path, (all_of, one_of) in need.items():
            caps = set(body.get(api_path) or [])
            if "root" in caps:
                continue
            if not all_of <= caps or not (one_of & caps or "sudo" in caps):
                wanted = sorted(all_of | one_of)
                raise StoreForbidden(f"vault: the token may not change {api_path} (it has {sorted(caps) or 'no'} "
                                     f"capabilities; a rotation needs {wanted}); nothing was changed")

    def read(self, path: str) -> Optional[Entry]:
        mount, sub = self._split(path)

        def fetch() -> Optional[dict]:
            try:
                return self.client.secrets.kv.v2.read_secret_version(
                    path=sub, mount_point=mount, raise_on_deleted_version=True)
            except hvac_errors.InvalidPath:
                return None

        answer = self._call(f"read {path}", fetch)
        if answer is None:
            return None
        body = answer.get("data") or {}
        meta = body.get("metadata") or {}
        return Entry(data=dict(body.get("data") or {}), version=int(meta.get("version", 0)),
                     metadata=dict(meta.get("custom_metadata") or {}))

    def write(self, path: str, data: dict[str, Any], cas: Any) -> int:
        mount, sub = self._split(path)
        cas = 0 if is_absent(cas) else int(cas)  # KV v2: cas=0 is "must not exist"

        def put() -> dict:
            try:
                return self.client.secrets.kv.v2.create_or_update_secret(
                    path=sub, secret=data, cas=cas, mount_point=mount)
            except hvac_errors.InvalidRequest as exc:
                if "check-and-set" in str(exc):
                    raise CasConflict(f"{path} changed since it was read (version {cas}): "
                                      "another run is working on this key") from None
                raise StoreError(f"vault: write to {path} refused: {_first_line(exc)}") from None

        answer = self._call(f"write {path}", put)
        return int((answer.get("data") or {}).get("version", cas + 1))

    def now(self) -> Optional[datetime]:
        """Vault's clock: ``server_time_utc`` of ``sys/health`` (unauthenticated; seconds), asked once per run
        and store (then this clock plus the offset measured, for CLOCK_FACT_AGE seconds)."""
        with _run_facts.asking(self.facts_scope, "clock_offset"):  # a batch's threads: one asks, the others read it
            return self._measured_now()

    def _measured_now(self) -> Optional[datetime]:
        offset = _run_facts.get(self.facts_scope, "clock_offset", max_age=CLOCK_FACT_AGE)
        if isinstance(offset, (int, float)):
            return datetime.fromtimestamp(time.time() + offset, tz=timezone.utc)
        asked = time.time()
        answer = self._call("read the server time", lambda: self.client.adapter.get(
            "/v1/sys/health", params={"standbyok": "true", "perfstandbyok": "true"}))
        answered = time.time()
        seconds = answer.get("server_time_utc") if isinstance(answer, dict) else None
        if not isinstance(seconds, (int, float)):
            return None
        _run_facts.put(self.facts_scope, "clock_offset", clock_offset(seconds, asked, answered))
        return datetime.fromtimestamp(seconds, tz=timezone.utc)

    def set_metadata(self, path: str, metadata: dict[str, str]) -> None:
        mount, sub = self._split(path)
        clean = {k: str(v)[:512] for k, v in metadata.items() if v not in (None, "")}
        self._call(f"update the metadata of {path}", lambda: self.client.secrets.kv.v2.update_metadata(
            path=sub, custom_metadata=clean, mount_point=mount))


def clock_offset(server_seconds: float, asked: float, answered: float) -> float:
    """The smallest offset (store minus controller, seconds) that the exchange allows.

    The store read its clock somewhere between ``asked`` and ``answered`` (controller time) and cut it to whole
    seconds, so the true offset lies in [server - answered, server + 1 - asked]. When 0 is in that range the clocks
    agree as far as one exchange can tell: a slow answer (a loaded machine) is not a wrong clock.
    """
    low, high = server_seconds - answered, server_seconds + 1 - asked
    return min(max(0.0, low), high) if low <= high else (low + high) / 2


def _maybe_sent(exc: Exception) -> bool:
    """Could the request have reached Vault? Not when the connection was never made."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", exc.args[0])
        if type(reason).__name__ == "NewConnectionError" or isinstance(reason, ConnectionRefusedError):
            return False
    return True


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def vault_store_from_options(key: str, options: dict[str, Any]) -> VaultKV2Store:
    """Build the store from the module's ``vault_*`` options (see the ``store`` doc fragment).

    Every option is checked here, before any request: the address, the auth method and its credentials.
    """
    url = options.get("vault_url")
    if not url:
        raise ConfigError(key, "apikeys_vault_url", "no Vault address: set apikeys_vault_url or VAULT_ADDR "
                                                    "(BAO_ADDR, ANSIBLE_HASHI_VAULT_ADDR)")
    if url.startswith("http://") and not options.get("vault_allow_http"):
        raise ConfigError(key, "vault_url", "plain http:// is refused; set vault_allow_http: true "
                                            "only for a local test server")
    login = resolve_login(key, options)
    return VaultKV2Store(url, login=login, namespace=options.get("vault_namespace") or None,
                         verify=verify_setting(options), cert=client_cert(options),
                         timeout=float(options.get("vault_timeout") or 10),
                         token_cache=options.get("vault_token_cache") is not False)


def _entry(auth: dict[str, Any], *, created: bool, revoke: Any) -> dict[str, Any]:
    """A token as the run's cache keeps it: when it expires (None: never), whether it may be renewed."""
    ttl = int(auth.get("lease_duration") or 0)
    return {"token": auth.get("client_token"), "ttl": ttl, "expires_at": time.time() + ttl if ttl else None,
            "renewable": bool(auth.get("renewable")), "created": created, "revoke": revoke}


def _fresh(entry: Optional[dict[str, Any]]) -> bool:
    """Good for a while yet: more than a fifth of its TTL (at most a minute, at least a second) left."""
    if not entry or not entry.get("token"):
        return False
    if entry.get("expires_at") is None:
        return True
    margin = max(1.0, min(60.0, 0.2 * float(entry.get("ttl") or 0)))
    return float(entry["expires_at"]) - time.time() > margin
