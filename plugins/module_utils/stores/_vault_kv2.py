# Internal to this collection: not a public API; may change without notice.
"""HashiCorp Vault / OpenBao KV version 2, through hvac."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Optional, TypeVar

from .._errors import CasConflict, ConfigError, StoreError, StoreForbidden, StoreSealed, StoreUnavailable
from .._retry import RetryPolicy, Retryable, call_with_retry
from ._base import Entry, Store

try:
    import hvac
    import hvac.exceptions as hvac_errors
    import requests
    HAS_HVAC = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_HVAC = False

T = TypeVar("T")


class VaultKV2Store(Store):
    kind = "vault_kv2"

    def __init__(self, url: str, *, token: Optional[str] = None, auth_method: str = "token",
                 role_id: Optional[str] = None, secret_id: Optional[str] = None,
                 approle_mount: str = "approle", namespace: Optional[str] = None,
                 verify: Any = True, timeout: float = 10.0,
                 retry: RetryPolicy = RetryPolicy(attempts=4, base_delay=0.2, max_total=10.0)) -> None:
        self.url = url
        self.retry = retry
        self._auth = (auth_method, token, role_id, secret_id, approle_mount)
        self._mounts: dict[str, str] = {}
        self.client = hvac.Client(url=url, token=token if auth_method == "token" else None,
                                  namespace=namespace, verify=verify, timeout=timeout)
        if auth_method == "approle":
            self._login()

    # -- plumbing ---------------------------------------------------------

    def _login(self) -> None:
        _method, _token, role_id, secret_id, mount = self._auth
        self._once("log in with AppRole", lambda: self.client.auth.approle.login(
            role_id=role_id, secret_id=secret_id, mount_point=mount, use_token=True))

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """One Vault call. With AppRole, a 403 (the token expired during a long run) logs in again, once."""
        try:
            return self._once(what, fn)
        except StoreForbidden:
            if self._auth[0] != "approle":
                raise
            self._login()
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
                raise StoreError(f"vault: {what} refused: {_first_line(exc)}") from None
            except (hvac_errors.InternalServerError, hvac_errors.BadGateway, hvac_errors.RateLimitExceeded) as exc:
                raise Retryable(StoreUnavailable(f"vault: {what} failed: {type(exc).__name__}")) from exc
            except requests.exceptions.RequestException as exc:
                sent = _maybe_sent(exc)
                outcome = f": no answer ({type(exc).__name__}): {what} may or may not have been done" if sent \
                    else f" unreachable ({type(exc).__name__}): {what} not done"
                raise Retryable(StoreUnavailable(f"vault at {self.url}{outcome}", maybe_applied=sent)) from exc

        return call_with_retry(attempt, self.retry)

    def _split(self, path: str) -> tuple[str, str]:
        """Split ``secret/apikeys/stripe`` into mount ``secret`` and ``apikeys/stripe``, asking Vault."""
        path = path.strip("/")
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
        return mount, path[len(mount) + 1:]

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

    def write(self, path: str, data: dict[str, Any], cas: int) -> int:
        mount, sub = self._split(path)

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
        """Vault's clock: ``server_time_utc`` of ``sys/health`` (unauthenticated; seconds)."""
        answer = self._call("read the server time", lambda: self.client.adapter.get(
            "/v1/sys/health", params={"standbyok": "true", "perfstandbyok": "true"}))
        seconds = answer.get("server_time_utc") if isinstance(answer, dict) else None
        if not isinstance(seconds, (int, float)):
            return None
        return datetime.fromtimestamp(seconds, tz=timezone.utc)

    def set_metadata(self, path: str, metadata: dict[str, str]) -> None:
        mount, sub = self._split(path)
        clean = {k: str(v)[:512] for k, v in metadata.items() if v not in (None, "")}
        self._call(f"update the metadata of {path}", lambda: self.client.secrets.kv.v2.update_metadata(
            path=sub, custom_metadata=clean, mount_point=mount))


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
    """Build the store from the module's ``vault_*`` options (see the ``store`` doc fragment)."""
    url = options.get("vault_url")
    if not url:
        raise ConfigError(key, "vault_url", "no Vault address: set vault_url or VAULT_ADDR")
    if url.startswith("http://") and not options.get("vault_allow_http"):
        raise ConfigError(key, "vault_url", "plain http:// is refused; set vault_allow_http: true "
                                            "only for a local test server")
    method = options.get("vault_auth_method") or "token"
    if method == "token" and not options.get("vault_token"):
        raise ConfigError(key, "vault_token", "no Vault token: set vault_token or VAULT_TOKEN")
    if method == "approle" and not (options.get("vault_role_id") and options.get("vault_secret_id")):
        raise ConfigError(key, "vault_role_id", "AppRole needs vault_role_id and vault_secret_id")
    verify: Any = options.get("vault_validate_certs", True)
    if verify and options.get("vault_ca_cert"):
        verify = options["vault_ca_cert"]
    return VaultKV2Store(url, token=options.get("vault_token"), auth_method=method,
                         role_id=options.get("vault_role_id"), secret_id=options.get("vault_secret_id"),
                         approle_mount=options.get("vault_approle_mount") or "approle",
                         namespace=options.get("vault_namespace"), verify=verify,
                         timeout=float(options.get("vault_timeout") or 10))
