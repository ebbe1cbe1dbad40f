"""Stripe Managed API Keys emulator (wire format of api.stripe.com ``/v2/iam/api_keys`` and ``/v1``).

Auth: ``Authorization: Bearer <key>`` or HTTP Basic ``<key>:`` (as Stripe takes both). An absent or
unknown key gets 401 ``invalid_request_error`` "Invalid API Key provided"; an expired key, once its
expiry has taken effect, 401 ``authentication_error``. Errors read
``{"error": {"type", "code", "message"}}``.

Provider API (``/v2/iam/api_keys`` only for the management key, a Stripe App's secret key holding
``api_key_write``: Stripe lets no key it minted create keys; 403 ``permission_error`` otherwise; and
only under a preview ``Stripe-Version``, ``*.preview``: 404 "Unrecognized request URL" otherwise):

* ``POST /v2/iam/api_keys`` ``{"type": "secret_key"|"publishable_key", "name", "note",
  "permissions", "connect_permissions", "public_key": {"id", "pem_key": {"algorithm": "RSA",
  "data": <PEM>}}}``. A live secret key needs the public key (RSA >= 2048 bits); its secret comes back
  ONCE as ``secret_key.encrypted_secret`` ``{"format": "jwe_compact", "ciphertext": <compact JWE>,
  "recipient_key_id"}``, encrypted for real (joserfc) to that key, ``alg`` RSA-OAEP-256 (settable)
  and ``enc`` A256GCM. In sandbox mode (``livemode: false``) the secret comes back as plain
  ``secret_key.token``. Without ``permissions`` (or with ``[]``) the key gets every permission: the
  pessimistic reading of an undocumented default (the collection never relies on it).
* ``GET /v2/iam/api_keys`` (``limit`` <= 100 else 400, ``include_expired``, ``page``) ->
  ``{"data", "next_page_url", "previous_page_url"}``; ``GET /v2/iam/api_keys/{id}``. In sandbox
  mode every item carries its plain ``secret_key.token`` (as reported from Stripe's sandbox); in
  live mode only ``secret_token_redacted``.
* ``POST /v2/iam/api_keys/{id}`` updates ``name``, ``note``, ``permissions``,
  ``connect_permissions``; ``permissions: []`` is accepted and silently changes nothing (reported
  behaviour); any other field is 400 "Unknown field".
* ``POST /v2/iam/api_keys/{id}/expire`` (``expire_in_minutes``, default now): status ``expired`` at
  once, but the key keeps authenticating for ``expire_delay`` seconds (Stripe: "within minutes").
* ``POST /v2/iam/api_keys/{id}/rotate``: Stripe's dangerous default, kept: a new key, and the old
  one expired AT ONCE unless ``expire_current_key_in_minutes``.
* ``Idempotency-Key`` on a POST: the same key with the same method, path and body replays the first
  answer (secret included, as Stripe replays); with other parameters 400 ``idempotency_error``.
* ``Stripe-Context: acct_...`` acts on a connected account (one of ``accounts``; 403 otherwise):
  keys live per account.
* ``GET /v1/customers`` (the key test): 200 for a key holding ``customer_read`` or
  ``customer_write``, 403 ``permission_error`` for a live key without, 401 for a dead one.

Keys read ``rk_live_...`` (``rk_test_...`` in sandbox mode) and are kept as SHA-256 digests, except
the sandbox's plain tokens. Every authenticated call sets ``last_used``. The test-only control API
under ``/__emulator/`` is in ``_control.py``; ``config`` takes ``expire_delay``, ``livemode``,
``jwe_alg``, ``jwe_enc``, ``jwe_corrupt`` (the answer's JWE does not decrypt), ``drop_permissions``
(the answer lists fewer permissions than asked).

Run: ``python -m tests.bench.emulators.stripe --port N --admin-key-file F``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwe
from joserfc.jwk import RSAKey

from ._base import BadJson, ControlError, Emulator, Request, Response, Router, iso_now
from ._cli import read_or_create_secret, run_cli

PLATFORM = "acct_1BenchPlatform"
CONNECTED = ("acct_1BenchConnected",)
MANAGER_PERMISSIONS = ("api_key_read", "api_key_write")
#: the permissions this emulator knows; a key created without permissions gets all of them
ALL_PERMISSIONS: tuple[str, ...] = (
    "api_key_read", "api_key_write", "balance_read", "charge_read", "charge_write", "customer_read",
    "customer_write", "payment_intent_read", "payment_intent_write", "refund_write",
)
KEY_FIELDS = {"type", "name", "note", "permissions", "connect_permissions", "public_key", "expires_at"}
UPDATE_FIELDS = {"name", "note", "permissions", "connect_permissions"}
SETTINGS = ("expire_delay", "livemode", "jwe_alg", "jwe_enc", "jwe_corrupt", "drop_permissions")


def new_admin_key() -> str:
    return "sk_test_" + secrets.token_urlsafe(40).replace("-", "a").replace("_", "b")


def _token(livemode: bool) -> str:
    return ("rk_live_" if livemode else "rk_test_") + secrets.token_urlsafe(75).replace("-", "c").replace("_", "d")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Key:
    key_id: str
    account: str
    name: str | None
    note: str | None
    permissions: list[str]
    connect_permissions: list[str]
    digest: str = field(repr=False)
    livemode: bool = True
    manager: bool = False
    token: str | None = field(default=None, repr=False)  # sandbox keys only: Stripe shows them again
    redacted: str = ""
    created: str = field(default_factory=iso_now)
    last_used: str | None = None
    expires_at: str | None = None
    dies_at: float | None = None  # monotonic time from which the key stops authenticating

    @property
    def status(self) -> str:
        return "expired" if self.expires_at is not None else "active"

    def dead(self) -> bool:
        return self.dies_at is not None and time.monotonic() >= self.dies_at

    def body(self, secret_part: dict[str, Any] | None = None) -> dict[str, Any]:
        part: dict[str, Any] = {"secret_token_redacted": self.redacted}
        if self.token is not None:
            part["token"] = self.token
        part.update(secret_part or {})
        return {"id": self.key_id, "object": "v2.iam.api_key", "type": "secret_key", "name": self.name,
                "note": self.note, "permissions": list(self.permissions),
                "connect_permissions": list(self.connect_permissions), "created": self.created,
                "expires_at": self.expires_at, "last_used": self.last_used, "livemode": self.livemode,
                "status": self.status, "ip_allowlist": [], "managed_by": None, "secret_key": part}


class StripeEmulator(Emulator):
    name = "stripe"

    def __init__(self, admin_key: str | None = None, expire_delay: float = 2.0, livemode: bool = True) -> None:
        super().__init__()
        self.admin_key = admin_key or new_admin_key()
        self.default_delay = expire_delay
        self.default_livemode = livemode
        self.accounts = (PLATFORM, *CONNECTED)
        self._keys: dict[str, Key] = {}
        self._by_digest: dict[str, str] = {}
        self._idempotency: dict[tuple[str, str], tuple[str, Response]] = {}
        self._router = Router()
        self._router.add("POST", "/v2/iam/api_keys", self._create)
        self._router.add("GET", "/v2/iam/api_keys", self._list)
        self._router.add("GET", "/v2/iam/api_keys/(?P<key_id>[^/]+)", self._retrieve)
        self._router.add("POST", "/v2/iam/api_keys/(?P<key_id>[^/]+)", self._update)
        self._router.add("POST", "/v2/iam/api_keys/(?P<key_id>[^/]+)/expire", self._expire)
        self._router.add("POST", "/v2/iam/api_keys/(?P<key_id>[^/]+)/rotate", self._rotate)
        self._router.add("GET", "/v1/customers", self._customers)
        self.reset()

    # --- state -----------------------------------------------------------
    def reset(self) -> None:
        self.expire_delay = self.default_delay
        self.livemode = self.default_livemode
        self.jwe_alg, self.jwe_enc, self.jwe_corrupt, self.drop_permissions = "RSA-OAEP-256", "A256GCM", False, False
        self._keys.clear()
        self._by_digest.clear()
        self._idempotency.clear()
        self._add(Key("mk_bench_admin", PLATFORM, "bench management app", None, list(MANAGER_PERMISSIONS), [],
                      _digest(self.admin_key), livemode=False, manager=True, redacted=self._redact(self.admin_key)))

    def _add(self, key: Key) -> None:
        self._keys[key.key_id] = key
        self._by_digest[key.digest] = key.key_id

    @staticmethod
    def _redact(token: str) -> str:
        return token[:8] + "..." + token[-4:]

    def _mint(self, account: str, name: str | None, note: str | None, permissions: list[str],
              connect: list[str]) -> tuple[Key, str]:
        token = _token(self.livemode)
        key = Key("mk_" + secrets.token_hex(12), account, name, note, permissions, connect, _digest(token),
                  livemode=self.livemode, token=None if self.livemode else token, redacted=self._redact(token))
        self._add(key)
        return key, token

    def _caller(self, req: Request) -> Key | Response:
        scheme, _sep, value = (req.header("Authorization") or "").partition(" ")
        token = value.strip()
        if scheme.lower() == "basic":
            try:
                token = base64.b64decode(token).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                token = ""
        elif scheme.lower() != "bearer":
            token = ""
        key = self._keys.get(self._by_digest.get(_digest(token), "")) if token else None
        if key is None:
            shown = f": {self._redact(token)}" if len(token) > 12 else ""
            return self.error(401, f"Invalid API Key provided{shown}", "invalid_request_error", "api_key_invalid")
        if key.dead():
            return self.error(401, "Expired API Key provided", "authentication_error", "api_key_expired")
        key.last_used = iso_now()
        return key

    # --- provider API ----------------------------------------------------
    def error(self, status: int, message: str, kind: str | None = None, code: str | None = None) -> Response:
        kinds = {401: "invalid_request_error", 403: "permission_error", 429: "rate_limit_error"}
        kind = kind or ("api_error" if status >= 500 else kinds.get(status, "invalid_request_error"))
        body: dict[str, Any] = {"type": kind, "message": message}
        if code:
            body["code"] = code
        return Response(status, {"error": body})

    def handle(self, req: Request) -> Response:
        if not req.path.startswith(("/v1/", "/v2/")):
            return self.error(404, f"Unrecognized request URL ({req.method}: {req.path})")
        caller = self._caller(req)
        if isinstance(caller, Response):
            return caller
        req.params["caller"] = caller.key_id
        if req.path.startswith("/v2/iam/"):
            refusal = self._management_refusal(req, caller)
            if refusal is not None:
                return refusal
            replay = self._replayed(req)
            if replay is not None:
                return replay
            resp = self._router.dispatch(req, self.error)
            self._remember(req, resp)
            return resp
        return self._router.dispatch(req, self.error)

    def _management_refusal(self, req: Request, caller: Key) -> Response | None:
        version = req.header("Stripe-Version") or ""
        if not version.endswith(".preview"):
            return self.error(404, f"Unrecognized request URL ({req.method}: {req.path}). This API is only "
                              "available under a preview Stripe-Version", code="resource_missing")
        if not caller.manager or "api_key_write" not in caller.permissions:
            return self.error(403, "The provided key does not have the required permissions (api_key_write)")
        context = req.header("Stripe-Context")
        if context is not None and context not in self.accounts:
            return self.error(403, f"The provided key does not have access to account '{context[:40]}'")
        req.params["account"] = context or PLATFORM
        return None

    def _idem_key(self, req: Request) -> tuple[str, str] | None:
        value = req.header("Idempotency-Key")
        return (req.params["account"], value) if req.method == "POST" and value else None

    def _fingerprint(self, req: Request) -> str:
        return hashlib.sha256(f"{req.method} {req.path} ".encode() + req.body).hexdigest()

    def _replayed(self, req: Request) -> Response | None:
        slot = self._idem_key(req)
        if slot is None or slot not in self._idempotency:
            return None
        fingerprint, resp = self._idempotency[slot]
        if fingerprint != self._fingerprint(req):
            return self.error(400, "Keys for idempotent requests can only be used with the same parameters they "
                              "were first used with", "idempotency_error", "idempotency_key_in_use")
        return Response(resp.status, resp.body, dict(resp.headers, **{"Idempotent-Replayed": "true"}))

    def _remember(self, req: Request, resp: Response) -> None:
        slot = self._idem_key(req)
        if slot is not None:  # Stripe saves the first result, whatever it was, 500s included
            self._idempotency[slot] = (self._fingerprint(req), resp)

    def _body(self, req: Request) -> dict[str, Any] | Response:
        try:
            body = req.json()
        except BadJson:
            return self.error(400, "Invalid JSON body")
        body = {} if body is None else body
        return body if isinstance(body, dict) else self.error(400, "The request body must be a JSON object")

    def _permission_list(self, body: dict[str, Any], name: str) -> list[str] | Response:
        value = body.get(name, [])
        if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
            return self.error(400, f"{name}: must be a list of strings", code="parameter_invalid")
        unknown = [p for p in value if p not in ALL_PERMISSIONS] if name == "permissions" else []
        if unknown:
            return self.error(400, f"{name}: unknown permission {unknown[0][:40]!r}", code="parameter_invalid")
        return list(dict.fromkeys(value))

    def _create(self, req: Request) -> Response:
        body = self._body(req)
        if isinstance(body, Response):
            return body
        unknown = set(body) - KEY_FIELDS
        if unknown:
            return self.error(400, f"{sorted(unknown)[0][:40]}: Unknown field.", code="parameter_unknown")
        if body.get("type") not in ("secret_key", "publishable_key"):
            return self.error(400, "type: must be one of secret_key, publishable_key", code="parameter_missing")
        if body["type"] == "publishable_key":
            return self.error(400, "This emulator only makes secret keys", code="parameter_invalid")
        permissions = self._permission_list(body, "permissions")
        connect = self._permission_list(body, "connect_permissions")
        if isinstance(permissions, Response):
            return permissions
        if isinstance(connect, Response):
            return connect
        public = self._public_key(body.get("public_key"))
        if isinstance(public, Response):
            return public
        key, token = self._mint(req.params["account"], body.get("name"), body.get("note"),
                                permissions or list(ALL_PERMISSIONS), connect)  # none asked: full access
        return Response(200, self._shown_once(key, token, public, body.get("public_key")))

    def _public_key(self, value: Any) -> RSAKey | None | Response:
        if value is None:
            if self.livemode:
                return self.error(400, "public_key: A public key is required when creating secret keys in live mode",
                                  code="parameter_missing")
            return None
        pem = value.get("pem_key") if isinstance(value, dict) else None
        if not isinstance(pem, dict) or pem.get("algorithm") != "RSA" or not isinstance(pem.get("data"), str):
            return self.error(400, "public_key.pem_key: needs algorithm RSA and PEM data", code="parameter_invalid")
        try:
            key = RSAKey.import_key(pem["data"])
        except (ValueError, TypeError):
            return self.error(400, "public_key.pem_key.data: not a PEM-encoded RSA public key",
                              code="parameter_invalid")
        if key.is_private:
            return self.error(400, "public_key.pem_key.data: send the public key only", code="parameter_invalid")
        if key.raw_value.key_size < 2048:
            return self.error(400, "public_key.pem_key.data: the RSA key must be at least 2048 bits",
                              code="parameter_invalid")
        return key

    def _shown_once(self, key: Key, token: str, public: RSAKey | None, sent: Any) -> dict[str, Any]:
        """The create answer: the only one that carries a live key's secret (encrypted to the caller)."""
        body = key.body()
        if self.drop_permissions and key.permissions:
            body["permissions"] = key.permissions[:-1]
        if public is None:
            body["secret_key"]["token"] = token
            return body
        recipient = RSAKey.import_key(RSAKey.generate_key(2048).as_pem(private=False)) if self.jwe_corrupt else public
        registry = jwe.JWERegistry(algorithms=[self.jwe_alg, self.jwe_enc])
        ciphertext = jwe.encrypt_compact({"alg": self.jwe_alg, "enc": self.jwe_enc}, token.encode(), recipient,
                                         registry=registry)
        body["secret_key"]["encrypted_secret"] = {"format": "jwe_compact", "ciphertext": ciphertext,
                                                  "recipient_key_id": sent.get("id") if isinstance(sent, dict) else None}
        return body

    def _visible(self, account: str, include_expired: bool = True) -> list[Key]:
        return [k for k in self._keys.values()
                if k.account == account and not k.manager and (include_expired or k.status == "active")]

    def _list(self, req: Request) -> Response:
        try:
            limit = int(req.query.get("limit", ["20"])[0])
            start = int(req.query.get("page", ["0"])[0])
        except ValueError:
            return self.error(400, "limit and page must be integers", code="parameter_invalid")
        if limit > 100 or limit < 1:
            return self.error(400, "limit: The maximum page limit is 100", code="parameter_invalid")
        expired = req.query.get("include_expired", ["false"])[0] == "true"
        keys = self._visible(req.params["account"], expired)
        page = keys[start:start + limit]
        more = start + limit < len(keys)
        nxt = f"/v2/iam/api_keys?limit={limit}&page={start + limit}" + ("&include_expired=true" if expired else "")
        prev = f"/v2/iam/api_keys?limit={limit}&page={max(0, start - limit)}" if start else None
        return Response(200, {"data": [k.body() for k in page], "next_page_url": nxt if more else None,
                              "previous_page_url": prev})

    def _found(self, req: Request) -> Key | Response:
        key = self._keys.get(req.params["key_id"])
        if key is None or key.manager or key.account != req.params["account"]:
            return self.error(404, f"No such api_key: '{req.params['key_id'][:40]}'", code="resource_missing")
        return key

    def _retrieve(self, req: Request) -> Response:
        key = self._found(req)
        return key if isinstance(key, Response) else Response(200, key.body())

    def _update(self, req: Request) -> Response:
        key, body = self._found(req), self._body(req)
        if isinstance(key, Response):
            return key
        if isinstance(body, Response):
            return body
        unknown = set(body) - UPDATE_FIELDS
        if unknown:
            return self.error(400, f"{sorted(unknown)[0][:40]}: Unknown field, did you mean name, note?",
                              code="parameter_unknown")
        for name in ("permissions", "connect_permissions"):
            if name in body:
                value = self._permission_list(body, name)
                if isinstance(value, Response):
                    return value
                if value:  # [] is accepted and silently ignored, as reported from Stripe
                    setattr(key, name, value)
        key.name = body.get("name", key.name)
        key.note = body.get("note", key.note)
        return Response(200, key.body())

    def _retire(self, key: Key, minutes: int) -> None:
        if key.expires_at is None:
            key.expires_at = iso_now()
            key.dies_at = time.monotonic() + minutes * 60 + self.expire_delay

    def _minutes(self, body: dict[str, Any], name: str) -> int | Response:
        value = body.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return self.error(400, f"{name}: must be a non-negative integer", code="parameter_invalid")
        return value

    def _expire(self, req: Request) -> Response:
        key, body = self._found(req), self._body(req)
        if isinstance(key, Response):
            return key
        if isinstance(body, Response):
            return body
        minutes = self._minutes(body, "expire_in_minutes")
        if isinstance(minutes, Response):
            return minutes
        self._retire(key, minutes)
        return Response(200, key.body())

    def _rotate(self, req: Request) -> Response:
        key, body = self._found(req), self._body(req)
        if isinstance(key, Response):
            return key
        if isinstance(body, Response):
            return body
        minutes = self._minutes(body, "expire_current_key_in_minutes")
        if isinstance(minutes, Response):
            return minutes
        public = self._public_key(body.get("public_key"))
        if isinstance(public, Response):
            return public
        new, token = self._mint(key.account, key.name, key.note, list(key.permissions), list(key.connect_permissions))
        key.expires_at = iso_now()
        key.dies_at = time.monotonic() + minutes * 60  # Stripe's default: the old key dies AT ONCE
        return Response(200, self._shown_once(new, token, public, body.get("public_key")))

    def _customers(self, req: Request) -> Response:
        caller = self._keys[req.params["caller"]]
        if not caller.manager and not {"customer_read", "customer_write"} & set(caller.permissions):
            return self.error(403, "The provided key does not have the required permissions for this endpoint "
                              "(customer_read)", code="secret_key_required")
        return Response(200, {"object": "list", "data": [], "has_more": False, "url": "/v1/customers"})

    # --- control API -----------------------------------------------------
    def list_keys(self) -> list[dict[str, Any]]:
        return [{"id": k.key_id, "account": k.account, "name": k.name, "permissions": list(k.permissions),
                 "status": k.status, "created": k.created, "last_used": k.last_used, "expires_at": k.expires_at,
                 "authenticates": not k.dead(), "revoked": k.status == "expired", "manager": k.manager}
                for k in self._keys.values()]

    def seed(self, body: Any) -> dict[str, Any]:
        """``{"name", "permissions", "account"}``: a key as made in the Dashboard; answers its ``token``."""
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            raise ControlError("seed needs a name")
        permissions = body.get("permissions", ["customer_read"])
        if not isinstance(permissions, list) or not set(permissions) <= set(ALL_PERMISSIONS):
            raise ControlError(f"permissions must be a list of {', '.join(ALL_PERMISSIONS)}")
        account = body.get("account", PLATFORM)
        if account not in self.accounts:
            raise ControlError(f"account must be one of {', '.join(self.accounts)}")
        key, token = self._mint(account, body["name"], None, list(permissions), [])
        return {"id": key.key_id, "token": token, "name": key.name, "account": account}

    def configure(self, body: Any) -> dict[str, Any]:
        """Any of :data:`SETTINGS`; answers them all. ``reset`` restores them."""
        if not isinstance(body, dict) or not body or not set(body) <= set(SETTINGS):
            raise ControlError(f"config takes {', '.join(SETTINGS)}")
        delay = body.get("expire_delay", self.expire_delay)
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 3600:
            raise ControlError("expire_delay must be seconds between 0 and 3600")
        flags = {name: body.get(name, getattr(self, name)) for name in ("livemode", "jwe_corrupt", "drop_permissions")}
        if not all(isinstance(v, bool) for v in flags.values()):
            raise ControlError("livemode, jwe_corrupt and drop_permissions are booleans")
        alg, enc = body.get("jwe_alg", self.jwe_alg), body.get("jwe_enc", self.jwe_enc)
        if alg not in ("RSA-OAEP", "RSA-OAEP-256", "RSA1_5") or enc not in ("A256GCM", "A128GCM", "A128CBC-HS256"):
            raise ControlError("jwe_alg: RSA-OAEP, RSA-OAEP-256 or RSA1_5; jwe_enc: A256GCM, A128GCM or A128CBC-HS256")
        self.expire_delay, self.jwe_alg, self.jwe_enc = float(delay), alg, enc
        for name, value in flags.items():
            setattr(self, name, value)
        return {name: getattr(self, name) for name in SETTINGS}


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--admin-key-file", required=True, help="management key (read or created)")
    parser.add_argument("--expire-delay", type=float, default=2.0, help="seconds an expired key keeps working")
    parser.add_argument("--sandbox", action="store_true", help="test mode: secrets come back as plain tokens")


def _build(args: argparse.Namespace) -> StripeEmulator:
    admin_key = read_or_create_secret(args.admin_key_file, new_admin_key)
    return StripeEmulator(admin_key=admin_key, expire_delay=args.expire_delay, livemode=not args.sandbox)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(argv, __doc__ or "", _add_arguments, _build)


if __name__ == "__main__":
    sys.exit(main())
