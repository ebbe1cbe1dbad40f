"""SendGrid v3 API-keys emulator (wire format of api.sendgrid.com/v3).

Provider API (every ``/v3`` call needs ``Authorization: Bearer <key>``; an
absent, unknown or revoked key gets 401
``{"errors":[{"field":null,"message":"authorization required"}]}``):

* ``POST /v3/api_keys`` (scope ``api_keys.create``) body
  ``{"name": str, "scopes": [str, ...]}``. Without ``scopes`` the key gets Full
  Access, every scope this emulator knows (:data:`ALL_SCOPES`), as SendGrid
  documents ("omitting the scopes field from your request will create a key with
  Full Access permissions by default"); the caller's own scopes do not matter.
  201 ``{"api_key": "SG.<id>.<secret>", "api_key_id", "name", "scopes"}``; the
  secret is shown only here. 400 without ``name``; 403 when asking for scopes
  the caller lacks or when the account holds ``key_limit`` keys (default 100).
* ``GET /v3/api_keys`` (``api_keys.read``) ->
  ``{"result": [{"name", "api_key_id"}]}`` (never secrets).
* ``GET /v3/api_keys/{id}`` (``api_keys.read``) ->
  ``{"result": [{"api_key_id", "name", "scopes"}]}`` (the documented shape) or
  404. Test-only: ``POST /__emulator/config {"get_key_shape": "flat"}`` answers
  the flat ``{"api_key_id", "name", "scopes"}`` of older docs and clients,
  ``"unknown"`` a shape SendGrid never documented, ``"documented"`` goes back;
  ``POST /__emulator/reset`` goes back too.
* ``DELETE /v3/api_keys/{id}`` (``api_keys.delete``) -> 204 or 404; the key is
  rejected (401) from then on.
* ``GET /v3/scopes`` -> ``{"scopes": [...]}`` for any valid key: the key test.
* ``GET /v3/user/profile`` -> 200, for any valid key (what consumers call).

As on SendGrid, a key reads ``SG.<api_key_id>.<secret>`` (22 + 43 characters).
Every authenticated call sets the key's ``last_used_at`` (UTC ISO 8601).
Only SHA-256 digests of secrets are kept. The test-only control API under
``/__emulator/`` is described in ``_control.py``; it is not SendGrid's.

Run: ``python -m tests.bench.emulators.sendgrid --port N --admin-key-file F``
(F is read, or created 0600 with a new admin key when absent or empty).
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ._base import BadJson, ControlError, Emulator, Request, Response, Router, iso_now
from ._cli import read_or_create_secret, run_cli

ALL_SCOPES: tuple[str, ...] = (
    "api_keys.create",
    "api_keys.delete",
    "api_keys.read",
    "api_keys.update",
    "mail.send",
    "scopes.read",
    "user.profile.read",
)
DEFAULT_KEY_LIMIT = 100
#: how ``GET /v3/api_keys/{id}`` answers (test-only setting ``get_key_shape``)
GET_KEY_SHAPES: tuple[str, ...] = ("documented", "flat", "unknown")


def new_api_key() -> tuple[str, str]:
    """A fresh ``(api_key_id, api_key)`` pair in SendGrid's format."""
    key_id = secrets.token_urlsafe(16)  # 22 characters
    return key_id, f"SG.{key_id}.{secrets.token_urlsafe(32)}"  # 43 characters


def _digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass
class ApiKey:
    key_id: str
    name: str
    scopes: list[str]
    digest: str = field(repr=False)
    created_at: str = field(default_factory=iso_now)
    last_used_at: str | None = None
    revoked: bool = False

    def summary(self) -> dict[str, Any]:
        return {"api_key_id": self.key_id, "name": self.name, "scopes": list(self.scopes)}


class SendGridEmulator(Emulator):
    name = "sendgrid"

    def __init__(self, admin_key: str | None = None, key_limit: int = DEFAULT_KEY_LIMIT) -> None:
        super().__init__()
        if admin_key is None:
            admin_key = new_api_key()[1]
        self.admin_key = admin_key
        self.key_limit = key_limit
        self.get_key_shape = "documented"
        self._keys: dict[str, ApiKey] = {}
        self._by_digest: dict[str, str] = {}
        self._router = Router()
        self._router.add("POST", "/v3/api_keys", self._create)
        self._router.add("GET", "/v3/api_keys", self._list)
        self._router.add("GET", "/v3/api_keys/(?P<key_id>[^/]+)", self._get)
        self._router.add("DELETE", "/v3/api_keys/(?P<key_id>[^/]+)", self._delete)
        self._router.add("GET", "/v3/scopes", self._scopes)
        self._router.add("GET", "/v3/user/profile", self._profile)
        self.reset()

    # --- state -----------------------------------------------------------
    def reset(self) -> None:
        self.get_key_shape = "documented"
        self._keys.clear()
        self._by_digest.clear()
        parts = self.admin_key.split(".")
        key_id = parts[1] if len(parts) == 3 else secrets.token_urlsafe(16)
        self._add(ApiKey(key_id, "bench-admin", list(ALL_SCOPES), _digest(self.admin_key)))

    def _add(self, key: ApiKey) -> None:
        self._keys[key.key_id] = key
        self._by_digest[key.digest] = key.key_id

    def _new_key(self, name: str, scopes: list[str]) -> dict[str, Any]:
        key_id, api_key = new_api_key()
        self._add(ApiKey(key_id, name, scopes, _digest(api_key)))
        return {"api_key": api_key, "api_key_id": key_id, "name": name, "scopes": scopes}

    def _active(self) -> list[ApiKey]:
        return [key for key in self._keys.values() if not key.revoked]

    def _caller(self, req: Request) -> ApiKey | None:
        scheme, _sep, token = (req.header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        digest = _digest(token.strip())
        key_id = self._by_digest.get(digest)
        key = self._keys.get(key_id) if key_id else None
        if key is None or key.revoked:
            return None
        key.last_used_at = iso_now()
        return key

    # --- provider API ----------------------------------------------------
    def error(self, status: int, message: str, field_name: str | None = None) -> Response:
        return Response(status, {"errors": [{"field": field_name, "message": message}]})

    def handle(self, req: Request) -> Response:
        if not req.path.startswith("/v3/"):
            return self.error(404, "not found")
        caller = self._caller(req)
        if caller is None:
            return self.error(401, "authorization required")
        req.params["caller"] = caller.key_id
        return self._router.dispatch(req, self.error)

    def _require(self, req: Request, scope: str) -> ApiKey | Response:
        caller = self._keys[req.params["caller"]]
        return caller if scope in caller.scopes else self.error(403, "access forbidden")

    def _create(self, req: Request) -> Response:
        caller = self._require(req, "api_keys.create")
        if isinstance(caller, Response):
            return caller
        try:
            body = req.json()
        except BadJson:
            return self.error(400, "invalid JSON")
        if not isinstance(body, dict):
            return self.error(400, "request body must be a JSON object")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            return self.error(400, "missing required argument", "name")
        if "scopes" not in body:  # documented: no scopes means Full Access, whoever asks
            scopes = list(ALL_SCOPES)
        else:
            scopes = body["scopes"]
            if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
                return self.error(400, "scopes must be a list of strings", "scopes")
            if not set(scopes) <= set(caller.scopes):
                return self.error(403, "access forbidden")
        if len(self._active()) >= self.key_limit:
            return self.error(403, f"Cannot create more than {self.key_limit} API keys")
        return Response(201, self._new_key(name, list(dict.fromkeys(scopes))))

    def _list(self, req: Request) -> Response:
        caller = self._require(req, "api_keys.read")
        if isinstance(caller, Response):
            return caller
        result = [{"name": k.name, "api_key_id": k.key_id} for k in self._active()]
        return Response(200, {"result": result})

    def _found(self, key_id: str) -> ApiKey | None:
        key = self._keys.get(key_id)
        return None if key is None or key.revoked else key

    def _get(self, req: Request) -> Response:
        caller = self._require(req, "api_keys.read")
        if isinstance(caller, Response):
            return caller
        key = self._found(req.params["key_id"])
        if key is None:
            return self.error(404, "unable to find API Key")
        if self.get_key_shape == "flat":
            return Response(200, key.summary())
        if self.get_key_shape == "unknown":
            return Response(
                200,
                {"data": {"id": key.key_id, "label": key.name, "permissions": list(key.scopes)}},
            )
        return Response(200, {"result": [key.summary()]})

    def _delete(self, req: Request) -> Response:
        caller = self._require(req, "api_keys.delete")
        if isinstance(caller, Response):
            return caller
        key = self._found(req.params["key_id"])
        if key is None:
            return self.error(404, "unable to find API Key")
        key.revoked = True
        self._by_digest.pop(key.digest, None)
        return Response(204)

    def _scopes(self, req: Request) -> Response:
        return Response(200, {"scopes": list(self._keys[req.params["caller"]].scopes)})

    def _profile(self, req: Request) -> Response:
        return Response(200, {"first_name": "Bench", "last_name": "User", "company": "apikeys"})

    # --- control API -----------------------------------------------------
    def list_keys(self) -> list[dict[str, Any]]:
        return [
            {
                "id": k.key_id,
                "name": k.name,
                "scopes": list(k.scopes),
                "created_at": k.created_at,
                "last_used_at": k.last_used_at,
                "revoked": k.revoked,
            }
            for k in self._keys.values()
        ]

    def seed(self, body: Any) -> dict[str, Any]:
        """``{"name": str, "scopes": [...]}`` (default: all scopes); ignores the limit."""
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            raise ControlError("seed needs a name")
        scopes = body.get("scopes", list(ALL_SCOPES))
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ControlError("scopes must be a list of strings")
        return self._new_key(name, scopes)

    def configure(self, body: Any) -> dict[str, Any]:
        """``{"key_limit": int, "get_key_shape": "documented" | "flat" | "unknown"}``, either or both.

        Answers every setting. ``reset`` restores ``get_key_shape``, not ``key_limit``.
        """
        known = {"key_limit", "get_key_shape"}
        if not isinstance(body, dict) or not body or not set(body) <= known:
            raise ControlError(f"config takes {', '.join(sorted(known))}")
        limit = body.get("key_limit", self.key_limit)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ControlError("key_limit must be a positive integer")
        shape = body.get("get_key_shape", self.get_key_shape)
        if shape not in GET_KEY_SHAPES:
            raise ControlError(f"get_key_shape must be one of {', '.join(GET_KEY_SHAPES)}")
        self.key_limit, self.get_key_shape = limit, shape
        return {"key_limit": self.key_limit, "get_key_shape": self.get_key_shape}


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--admin-key-file", required=True, help="admin key (read or created)")
    parser.add_argument("--key-limit", type=int, default=DEFAULT_KEY_LIMIT)


def _build(args: argparse.Namespace) -> SendGridEmulator:
    admin_key = read_or_create_secret(args.admin_key_file, lambda: new_api_key()[1])
    return SendGridEmulator(admin_key=admin_key, key_limit=args.key_limit)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(argv, __doc__ or "", _add_arguments, _build)


if __name__ == "__main__":
    sys.exit(main())
