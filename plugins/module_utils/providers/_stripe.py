# Internal to this collection: not a public API; may change without notice.
"""Stripe secret keys through the Managed API Keys API (``/v2/iam/api_keys``), a private preview.

What the collection relies on (docs/stripe.md says where each fact comes from and what
could not be confirmed from public sources):

* ``POST /v2/iam/api_keys`` ``{"type": "secret_key", "name", "note", "permissions",
  "public_key": {"id", "pem_key": {"algorithm": "RSA", "data": <PEM>}}}`` creates a key; a live-mode
  secret comes back once, as ``secret_key.encrypted_secret`` ``{"format": "jwe_compact",
  "ciphertext": <compact JWE>}`` encrypted to that public key; a sandbox (test-mode) key comes back
  as plain ``secret_key.token``. The key pair is made per rotation, in memory (``_stripe_jwe``).
* Served only under a preview ``Stripe-Version`` (option ``api_version``); ``Stripe-Context`` names a
  connected account (option ``account``); every POST carries an ``Idempotency-Key`` derived from what
  it does (the key's name, the expired key's id), so a retry after a lost answer is replayed by Stripe,
  not repeated: creates are retried like reads.
* ``POST /v2/iam/api_keys/{id}/expire`` retires a key; it stops authenticating within minutes, not at
  once, so ``confirm_revoked`` polls the key itself until Stripe rejects it.
* ``GET /v1/customers?limit=1`` with the key tests it: 401 dead, 403 alive but not permitted, 200 alive.
* ``GET /v2/iam/api_keys`` (``data``, ``next_page_url``; 100 per page) and ``GET .../{id}`` (with
  ``permissions``, ``status``, ``last_used``). In sandboxes the list carries every key's plain token:
  list answers are read for ids, names and permissions and dropped at once.

Permissions fail closed, as for SendGrid: the new key asks for exactly
``apikeys_provider_options.permissions`` or the current key's permissions read from Stripe, never
none; a created key whose answer shows other permissions, or whose secret does not decrypt, is
expired at once. Stripe's own ``rotate`` endpoint (which kills the old key at once) is never used.
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from .._errors import ConfigError, ProviderError
from .._http import HttpClient, _without_sent_headers
from ._base import NewKey, Provider, Usage
from ._stripe_jwe import ALGORITHMS, JweError, KeyPair

DEFAULT_URL = "https://api.stripe.com"
#: the preview API version the Managed API Keys API was reported working under (docs/stripe.md)
DEFAULT_API_VERSION = "2026-08-26.preview"
DEFAULT_TEST_PATH = "/v1/customers?limit=1"
PERMISSIONS_OPTION = "apikeys_provider_options.permissions"
_NOTHING_CREATED = f"no key was created: set {PERMISSIONS_OPTION} to the permissions the new key needs"
_ACCOUNT = re.compile(r"^acct_[A-Za-z0-9]+$")
_PERMISSION = re.compile(r"^[a-z0-9_.]+$")
#: Stripe's list page size limit
_PAGE = 100


def _names(value: Any) -> Optional[list[str]]:
    """``value`` as distinct permission names in order, or None unless a non-empty list of names."""
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(p, str) and _PERMISSION.match(p) for p in value):
        return None
    return list(dict.fromkeys(value))


def _shown(names: Any) -> str:
    shown = sorted(str(n)[:60] for n in names)
    return ", ".join(shown[:15]) + (f" and {len(shown) - 15} more" if len(shown) > 15 else "") or "(none)"


def _stripe_detail(response: Any) -> str:
    """Stripe's own error text (``{"error": {"type", "code", "message"}}``), credentials hidden."""
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    parts = [str(error[f])[:80] for f in ("type", "code") if isinstance(error.get(f), str)]
    message = str(error.get("message") or "")[:300]
    text = (f"{message} ({', '.join(parts)})" if parts else message) if message else ", ".join(parts)
    return _without_sent_headers(text, response)


class StripeProvider(Provider):
    name = "stripe"
    activation_timeout = 30.0
    activation_interval = 1.0
    credential_env = "STRIPE_MANAGEMENT_KEY"
    options_spec = {
        "api_url": (False, str), "api_version": (False, str), "account": (False, str),
        "permissions": (False, list), "connect_permissions": (False, list), "test_path": (False, str),
        "expire_timeout": (False, int), "expire_interval": (False, int), "rsa_key_size": (False, int),
        "jwe_algorithms": (False, list), "max_keys": (False, int),
    }

    def __init__(self, key: str, options: dict[str, Any], credential: Optional[str] = None) -> None:
        super().__init__(key, options, credential)
        self.base_url = options.get("api_url") or DEFAULT_URL
        self.api_version = options.get("api_version") or DEFAULT_API_VERSION
        self.account = options.get("account")
        self.test_path = options.get("test_path") or DEFAULT_TEST_PATH
        self.expire_timeout = float(options.get("expire_timeout") if options.get("expire_timeout") is not None else 600)
        self.expire_interval = float(options.get("expire_interval") or 5)
        self.rsa_key_size = int(options.get("rsa_key_size") or 2048)
        self.algorithms = list(options.get("jwe_algorithms") or ALGORITHMS)
        self.max_keys = options.get("max_keys")
        self._client: Optional[HttpClient] = None
        self._prepared: Optional[tuple[Optional[str], list[str], list[str]]] = None
        #: for tests: the pause between two polls
        self.sleep: Callable[[float], None] = time.sleep

    @classmethod
    def validate_options(cls, key: str, options: dict[str, Any]) -> None:
        super().validate_options(key, options)
        for option in ("permissions", "connect_permissions"):
            if options.get(option) is not None and _names(options[option]) is None:
                raise ConfigError(key, f"apikeys_provider_options.{option}",
                                  "must be a non-empty list of Stripe permission names, e.g. [customer_read]; "
                                  "leave it unset to copy the current key's")
        account = options.get("account")
        if account is not None and not _ACCOUNT.match(account):
            raise ConfigError(key, "apikeys_provider_options.account", "must be a Stripe account id (acct_...)")
        version = options.get("api_version")
        if version is not None and not re.match(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$", version):
            raise ConfigError(key, "apikeys_provider_options.api_version",
                              f"must look like {DEFAULT_API_VERSION} (a Stripe API version)")
        algorithms = options.get("jwe_algorithms")
        if algorithms is not None and (not algorithms or not set(algorithms) <= set(ALGORITHMS)):
            raise ConfigError(key, "apikeys_provider_options.jwe_algorithms",
                              f"must be a non-empty list of {', '.join(ALGORITHMS)}")
        size = options.get("rsa_key_size")
        if size is not None and size not in (2048, 3072, 4096):
            raise ConfigError(key, "apikeys_provider_options.rsa_key_size", "must be 2048, 3072 or 4096")
        for option in ("expire_timeout", "expire_interval", "max_keys"):
            if options.get(option) is not None and options[option] < (0 if option == "expire_timeout" else 1):
                raise ConfigError(key, f"apikeys_provider_options.{option}", "must be a positive number")
        path = options.get("test_path")
        if path is not None and not path.startswith("/"):
            raise ConfigError(key, "apikeys_provider_options.test_path", "must be a path such as /v1/customers?limit=1")

    @property
    def http(self) -> HttpClient:
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.require_credential()}", "Stripe-Version": self.api_version}
            if self.account:
                headers["Stripe-Context"] = self.account
            self._client = HttpClient(self.name, self.base_url, headers, timeout=self.timeout, retry=self.retry)
        return self._client

    # -- calls ---------------------------------------------------------------------------------

    def _call(self, method: str, path: str, label: str, *, json: Any = None, idempotency: Optional[str] = None,
              expect: tuple[int, ...] = (200,), tolerate: tuple[int, ...] = ()) -> Any:
        """One Stripe call; Stripe's own error text in the message. Retried on 429/5xx/no answer:
        reads always, POSTs because each carries an Idempotency-Key (Stripe replays, never repeats)."""
        headers = {"Idempotency-Key": idempotency} if idempotency else None
        refused = tuple(s for s in (400, 401, 402, 403, 404, 409) if s not in expect + tolerate)
        response = self.http.request(method, path, label=label, json=json, headers=headers, idempotent=True,
                                     expect=expect, tolerate=tolerate + refused)
        if response.status_code in refused:
            detail = _stripe_detail(response)
            raise ProviderError(f"stripe: {method} {label} answered HTTP {response.status_code}"
                                + (f": {detail}" if detail else ""), response.status_code)
        return response

    def _json(self, response: Any, what: str) -> dict[str, Any]:
        body = HttpClient.body(response, f"stripe: {what}")
        if not isinstance(body, dict):
            raise ProviderError(f"stripe: {what} answered with a JSON {type(body).__name__}, not an object")
        return body

    def _key(self, key_id: str) -> Optional[dict[str, Any]]:
        """``GET /v2/iam/api_keys/{id}``: the key object, or None when Stripe does not know it."""
        response = self._call("GET", f"/v2/iam/api_keys/{key_id}", "/v2/iam/api_keys/{id}", tolerate=(404,))
        if response.status_code == 404:
            return None
        return self._json(response, "GET /v2/iam/api_keys/{id}")

    def _keys(self, include_expired: bool = False) -> list[dict[str, Any]]:
        """Every key of the account (all pages), reduced to id, name, status: never the sandbox's tokens."""
        path: Optional[str] = f"/v2/iam/api_keys?limit={_PAGE}" + ("&include_expired=true" if include_expired else "")
        found: list[dict[str, Any]] = []
        for _page in range(1000):
            if not path:
                break
            body = self._json(self._call("GET", path, "/v2/iam/api_keys"), "GET /v2/iam/api_keys")
            items = body.get("data")
            if not isinstance(items, list):
                raise ProviderError("stripe: GET /v2/iam/api_keys answered without a 'data' list")
            found += [{"id": str(i.get("id")), "name": i.get("name"), "status": i.get("status")}
                      for i in items if isinstance(i, dict) and i.get("id")]
            path = self._next_page(body.get("next_page_url"))
        return found

    def _next_page(self, following: Any) -> Optional[str]:
        """The next page's path; never another host's address (the management key would go with it)."""
        if following is None or following == "":
            return None
        if isinstance(following, str):
            relative = following[len(self.base_url.rstrip("/")):] if following.startswith(self.base_url) else following
            if relative.startswith("/v2/iam/api_keys?"):
                return relative
        raise ProviderError("stripe: GET /v2/iam/api_keys answered a next_page_url that is not a page of "
                            "/v2/iam/api_keys at the API's address; not followed")

    # -- which permissions the new key gets -----------------------------------------------------

    def intended_permissions(self, like_key_id: Optional[str]) -> tuple[list[str], list[str]]:
        """Exactly the (permissions, connect_permissions) of the new key; raises before any create when unsure."""
        asked = _names(self.options.get("permissions")) if self.options.get("permissions") is not None else None
        connect = _names(self.options.get("connect_permissions")) or []
        if asked is not None:
            return asked, connect
        if not like_key_id:
            raise ConfigError(self.key, PERMISSIONS_OPTION,
                              "is not set and there is no current key to copy the permissions from; " + _NOTHING_CREATED)
        current = self._key(like_key_id)
        if current is None:
            raise ProviderError(f"key '{self.key}': stripe: the current key {like_key_id} is not found at Stripe, so "
                                f"its permissions cannot be copied; {_NOTHING_CREATED}", 404)
        permissions = _names(current.get("permissions"))
        if permissions is None:
            raise ProviderError(f"key '{self.key}': stripe: the current key {like_key_id} has no list of permissions "
                                f"at Stripe (a key with full access cannot be copied); {_NOTHING_CREATED}")
        if self.options.get("connect_permissions") is None:
            connect = _names(current.get("connect_permissions")) or []
        return permissions, connect

    def prepare(self, like_key_id: Optional[str]) -> None:
        self._prepared = (like_key_id, *self.intended_permissions(like_key_id))

    # -- the provider interface ---------------------------------------------------------------

    def create(self, name: str, like_key_id: Optional[str]) -> NewKey:
        if self._prepared is not None and self._prepared[0] == like_key_id:
            permissions, connect = self._prepared[1], self._prepared[2]
        else:
            permissions, connect = self.intended_permissions(like_key_id)
        pair = KeyPair(self.rsa_key_size)  # this rotation's; dropped when create returns
        body: dict[str, Any] = {"type": "secret_key", "name": name, "note": "managed by apikeys.rotation",
                                "permissions": permissions,
                                "public_key": {"id": name, "pem_key": {"algorithm": "RSA", "data": pair.public_pem()}}}
        if connect:
            body["connect_permissions"] = connect
        response = self._call("POST", "/v2/iam/api_keys", "/v2/iam/api_keys", json=body,
                              idempotency=f"apikeys-create-{name}", expect=(200, 201))
        answer = self._json(response, "POST /v2/iam/api_keys")
        key_id = answer.get("id")
        if not isinstance(key_id, str) or not key_id:
            raise ProviderError("stripe: the create answer has no key id; a key named "
                                f"{name} may exist and is looked up by name")
        try:
            secret = self._secret(answer, pair)
        except ProviderError as exc:
            raise self._expire_unusable(key_id, str(exc), response.status_code) from None
        new = NewKey(key_id=key_id, secret=secret, name=name)
        self._check_granted(new, answer, permissions, response.status_code)
        return new

    def _secret(self, answer: dict[str, Any], pair: KeyPair) -> str:
        """The new key's secret: decrypted from the JWE, or a sandbox's plain token."""
        part = answer.get("secret_key")
        if not isinstance(part, dict):
            raise ProviderError("the create answer has no secret_key object")
        sealed = part.get("encrypted_secret")
        if isinstance(sealed, dict):
            if sealed.get("format", "jwe_compact") != "jwe_compact":
                raise JweError(f"the secret comes in format {str(sealed.get('format'))[:30]!r}, not jwe_compact")
            ciphertext = sealed.get("ciphertext")
            if not isinstance(ciphertext, str):
                raise JweError("the encrypted secret has no ciphertext")
            plain = pair.decrypt(ciphertext.strip(), self.algorithms)
        elif isinstance(part.get("token"), str):  # sandbox and test-mode keys: plain, as Stripe documents
            plain = part["token"]
        else:
            raise ProviderError("the create answer has neither secret_key.encrypted_secret nor secret_key.token")
        if not plain.strip() or any(c.isspace() for c in plain.strip()):
            raise JweError("the decrypted secret is not a single API key token")
        return plain.strip()

    def _expire_unusable(self, key_id: str, problem: str, status: int) -> ProviderError:
        """The key exists at Stripe but is unusable: expire it at once, and say what happened.

        Expired: the error carries the create's HTTP ``status`` (a clear answer: the rotation clears its
        intent). Not expired: no status (outcome unclear: the intent stays and the key is looked up by name).
        """
        try:
            self.revoke(key_id)
        except Exception as exc:  # pylint: disable=broad-except # whatever went wrong, the key may be alive
            return ProviderError(f"key '{self.key}': stripe created key {key_id} but {problem}, and expiring it failed "
                                 f"({type(exc).__name__}): the run looks it up by its name and expires it; if that "
                                 f"fails too, expire key {key_id} by hand in the Stripe Dashboard")
        return ProviderError(f"key '{self.key}': stripe created key {key_id} but {problem}; key {key_id} was expired "
                             "at once and the current key stays in use", status)

    def _check_granted(self, new: NewKey, answer: dict[str, Any], asked: list[str], status: int) -> None:
        granted = answer.get("permissions")
        if isinstance(granted, list) and set(map(str, granted)) == set(asked):
            return
        if isinstance(granted, list):
            missing, extra = set(asked) - set(map(str, granted)), set(map(str, granted)) - set(asked)
            parts = ([f"asked for but not granted: {_shown(missing)}"] if missing else []) + \
                    ([f"granted but not asked for: {_shown(extra)}"] if extra else [])
            problem = f"gave it other permissions than asked ({'; '.join(parts)})"
        else:
            problem = "its answer does not say which permissions the key has"
        raise self._expire_unusable(new.key_id, problem, status)

    def revoke(self, key_id: str) -> bool:
        """Expire the key now. False when Stripe does not know it or it was already expired (success)."""
        response = self._call("POST", f"/v2/iam/api_keys/{key_id}/expire", "/v2/iam/api_keys/{id}/expire", json={},
                              idempotency=f"apikeys-expire-{key_id}", expect=(200,), tolerate=(404,))
        return response.status_code != 404

    def confirm_revoked(self, key_id: str, secret: str) -> None:
        """Stripe's expiry takes effect within minutes: poll the key until Stripe rejects it (or raise)."""
        deadline = time.monotonic() + self.expire_timeout
        while self.accepts(secret, key_id):
            if time.monotonic() >= deadline:
                raise ProviderError(f"key '{self.key}': stripe accepted the expiry of key {key_id}, but the key still "
                                    f"works {self.expire_timeout:.0f}s later; the record keeps it and the next run "
                                    "expires and checks it again")
            self.sleep(self.expire_interval)

    def accepts(self, secret: str, key_id: str) -> bool:
        headers = {"Authorization": f"Bearer {secret}", "Stripe-Version": None, "Stripe-Context": None}
        response = self.http.request("GET", self.test_path, label=self.test_path.split("?")[0], headers=headers,
                                     expect=(200,), tolerate=(401, 403))
        return response.status_code in (200, 403)  # 403: alive, not permitted to list customers

    def find_by_name(self, name: str, created_after: datetime, known_ids: set[str]) -> list[str]:
        return [k["id"] for k in self._keys() if k["name"] == name and k["id"] not in known_ids
                and k["status"] != "expired"]

    def usage(self) -> Usage:
        return Usage(count=len([k for k in self._keys() if k["status"] != "expired"]),
                     limit=int(self.max_keys) if self.max_keys else None)

    def last_used(self, key_id: str) -> Optional[datetime]:
        found = self._key(key_id)
        if found is None:
            raise ProviderError(f"key '{self.key}': stripe: key {key_id} is not found at Stripe", 404)
        value = found.get("last_used")
        if not isinstance(value, str) or not value:
            return None
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
        except ValueError:
            raise ProviderError(f"stripe: key {key_id} has a last_used that is not a timestamp") from None
