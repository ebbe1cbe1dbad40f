"""Twilio API Keys emulator: the Key resource v1 (``iam.twilio.com/v1/Keys``) and a few REST API reads.

Wire format as Twilio documents it (https://www.twilio.com/docs/iam/api-keys/key-resource-v1,
twilio-oai ``twilio_iam_v1.json``): HTTP Basic auth on every call, POST bodies
``application/x-www-form-urlencoded`` with PascalCase parameters, JSON answers with
snake_case fields and RFC 2822 dates, errors as
``{"code": 20003, "message": ..., "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}``.

Who may call what (Twilio's key types, https://www.twilio.com/docs/iam/api-keys/keys-in-console):

* the Account SID + Auth Token, or a **main** key (``SK...`` + its secret): everything;
* a **standard** key: everything except the Accounts (``/Accounts``, ``/Accounts/{Sid}.json``) and
  Keys (``/v1/Keys``) resources, which answer it 401 code 20003 ("Authentication Error - invalid
  username", as Twilio support documents for non-main keys on the Accounts API): the same answer as a
  deleted key, so an account read cannot tell a live standard key from a dead one;
* a **restricted** key: only what its ``policy.allow`` lists (this emulator knows the permission
  ``/twilio/messaging/messages/read`` for the Messages list); anything else under the REST API
  answers 403 code 20403; Accounts and Keys answer 401 code 20003 as for standard keys.

Provider API:

* ``POST /v1/Keys`` form ``AccountSid`` (required), ``FriendlyName`` (at most 64 characters),
  ``KeyType`` (only ``restricted``; without it Twilio makes a **standard** key, full access but for
  Accounts and Keys: the dangerous default), ``Policy`` (a JSON object ``{"allow": [...]}``, required
  for restricted keys, at most 100 permissions). 201 ``{sid, friendly_name, date_created,
  date_updated, secret, policy}``: the secret is shown only here. Main keys cannot be made by API.
* ``GET /v1/Keys?AccountSid=AC...&PageSize=n&Page=p`` -> ``{"keys": [{sid, friendly_name,
  date_created, date_updated}], "meta": {page, page_size, first_page_url, previous_page_url, url,
  next_page_url, key: "keys"}}`` (PageSize default 50, at most 1000).
* ``GET /v1/Keys/{Sid}`` -> ``{sid, friendly_name, date_created, date_updated, policy}`` or 404 code 20404.
* ``DELETE /v1/Keys/{Sid}`` -> 204, or 404 code 20404 for an unknown or deleted key; a deleted key
  is refused (401 code 20003) from then on.
* ``GET /2010-04-01/Accounts/{AccountSid}.json`` -> the account, ``auth_token`` included (as Twilio's
  Account resource does).
* ``GET /2010-04-01/Accounts/{AccountSid}/Balance.json`` -> ``{account_sid, balance, currency}``.
* ``GET /2010-04-01/Accounts/{AccountSid}/Messages.json`` -> an empty message list.

Test-only settings (``POST /__emulator/config``): ``{"create_answer": "documented" | "no_secret" |
"null_secret" | "no_sid"}`` makes the create answer lack the secret (the key is made all the same),
carry ``"secret": null``, or lack both sid and secret; ``reset`` goes back to ``documented``.
Every authenticated call sets the key's ``last_used_at``. Only SHA-256 digests of secrets are kept.

Run: ``python -m tests.bench.emulators.twilio --port N --auth-token-file F --account-sid AC...``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import secrets
import string
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode

from ._base import ControlError, Emulator, Request, Response, Router, iso_now
from ._cli import read_or_create_secret, run_cli

KEY_TYPES: tuple[str, ...] = ("main", "standard", "restricted")
CREATE_ANSWERS: tuple[str, ...] = ("documented", "no_secret", "null_secret", "no_sid")
#: the permissions this emulator knows (one per emulated REST read)
PERMISSIONS: dict[str, str] = {"messages": "/twilio/messaging/messages/read"}
MAX_PERMISSIONS = 100
MAX_FRIENDLY_NAME = 64
MAX_PAGE_SIZE = 1000
DOCS = "https://www.twilio.com/docs/errors/"
#: Twilio error codes per HTTP status (the generic ones; 20003 is "authenticate")
CODES: dict[int, int] = {400: 20001, 401: 20003, 403: 20403, 404: 20404, 405: 20004, 429: 20429,
                         500: 20500, 502: 20500, 503: 20503, 504: 20504}
INVALID_USERNAME = "Authentication Error - invalid username"


def new_sid(prefix: str) -> str:
    """A Twilio SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def new_secret() -> str:
    """An API key secret as Twilio shows them: 32 letters and digits."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _position in range(32))


def new_auth_token() -> str:
    """An Auth Token as Twilio shows them: 32 hex digits."""
    return secrets.token_hex(16)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def rfc2822_now() -> str:
    return format_datetime(datetime.now(timezone.utc).replace(microsecond=0), usegmt=False)


@dataclass
class ApiKey:
    sid: str
    friendly_name: str
    key_type: str
    policy: dict[str, Any] | None
    digest: str = field(repr=False)
    date_created: str = field(default_factory=rfc2822_now)
    last_used_at: str | None = None
    deleted: bool = False

    def listed(self) -> dict[str, Any]:
        return {"sid": self.sid, "friendly_name": self.friendly_name, "date_created": self.date_created,
                "date_updated": self.date_created}

    def fetched(self) -> dict[str, Any]:
        return dict(self.listed(), policy=self.policy)


@dataclass
class Caller:
    """Who a request authenticated as: the account itself (Auth Token) or one of its keys."""

    key: ApiKey | None

    @property
    def manages(self) -> bool:
        return self.key is None or self.key.key_type == "main"

    def may(self, permission: str) -> bool:
        if self.key is None or self.key.key_type in ("main", "standard"):
            return True
        allow = (self.key.policy or {}).get("allow") or []
        return permission in allow


class TwilioEmulator(Emulator):
    name = "twilio"

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None) -> None:
        super().__init__()
        self.account_sid = account_sid or new_sid("AC")
        self.auth_token = auth_token or new_auth_token()
        self.create_answer = "documented"
        self._current = Caller(None)
        self._keys: dict[str, ApiKey] = {}
        self._router = Router()
        self._router.add("POST", "/v1/Keys", self._create)
        self._router.add("GET", "/v1/Keys", self._list)
        self._router.add("GET", "/v1/Keys/(?P<sid>[^/]+)", self._fetch)
        self._router.add("DELETE", "/v1/Keys/(?P<sid>[^/]+)", self._delete)
        accounts = "/2010-04-01/Accounts/(?P<account>[^/]+)"
        self._router.add("GET", accounts + r"\.json", self._account)
        self._router.add("GET", accounts + r"/Balance\.json", self._balance)
        self._router.add("GET", accounts + r"/Messages\.json", self._messages)
        self.reset()

    # --- state -----------------------------------------------------------
    def reset(self) -> None:
        self.create_answer = "documented"
        self._keys.clear()

    def _new_key(self, friendly_name: str, key_type: str, policy: dict[str, Any] | None) -> tuple[ApiKey, str]:
        secret = new_secret()
        key = ApiKey(new_sid("SK"), friendly_name, key_type, policy, _digest(secret))
        self._keys[key.sid] = key
        return key, secret

    def _live(self, sid: str) -> ApiKey | None:
        key = self._keys.get(sid)
        return None if key is None or key.deleted else key

    def _caller(self, req: Request) -> Caller | None:
        scheme, _sep, encoded = (req.header("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if not sep:
            return None
        if user == self.account_sid and hmac.compare_digest(password, self.auth_token):
            return Caller(None)
        key = self._live(user)
        if key is None or not hmac.compare_digest(_digest(password), key.digest):
            return None
        key.last_used_at = iso_now()
        return Caller(key)

    # --- provider API ----------------------------------------------------
    def error(self, status: int, message: str, code: int | None = None) -> Response:
        code = code or CODES.get(status, 20000 + status if 400 <= status < 600 else 20500)
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else {}
        return Response(status, {"code": code, "message": message, "more_info": f"{DOCS}{code}", "status": status},
                        headers)

    def handle(self, req: Request) -> Response:
        caller = self._caller(req)
        if caller is None:
            return self.error(401, "Authenticate")
        self._current = caller  # handle() runs under the lock: one request at a time
        return self._router.dispatch(req, self.error)

    def _who(self, req: Request) -> Caller:
        return self._current

    def _manager(self, req: Request) -> Response | None:
        """None when the caller may use the Accounts and Keys resources (Auth Token or a main key)."""
        return None if self._who(req).manages else self.error(401, INVALID_USERNAME, 20003)

    @staticmethod
    def _form(req: Request) -> dict[str, str]:
        parsed = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {name: values[-1] for name, values in parsed.items()}

    def _param(self, name: str, problem: str) -> Response:
        return self.error(400, f"Invalid parameter {name}: {problem}", 20001)

    def _create(self, req: Request) -> Response:
        refused = self._manager(req)
        if refused is not None:
            return refused
        if "json" in (req.header("Content-Type") or ""):
            return self._param("AccountSid", "Required parameter AccountSid missing (send a form, not JSON)")
        form = self._form(req)
        if not form.get("AccountSid"):
            return self._param("AccountSid", "Required parameter AccountSid missing")
        if form["AccountSid"] != self.account_sid:
            return self.error(401, INVALID_USERNAME, 20003)
        name = form.get("FriendlyName", "")
        if len(name) > MAX_FRIENDLY_NAME:
            return self._param("FriendlyName", f"must be at most {MAX_FRIENDLY_NAME} characters")
        key_type = form.get("KeyType")
        if key_type not in (None, "restricted"):
            return self._param("KeyType", "must be 'restricted' (omit it for a standard key)")
        policy = None
        if key_type == "restricted":
            policy_or_error = self._policy(form.get("Policy"))
            if isinstance(policy_or_error, Response):
                return policy_or_error
            policy = policy_or_error
        elif form.get("Policy"):
            return self._param("Policy", "only restricted keys take a Policy")
        key, secret = self._new_key(name, key_type or "standard", policy)
        answer: dict[str, Any] = dict(key.fetched(), secret=secret)
        if self.create_answer == "no_secret":
            del answer["secret"]
        elif self.create_answer == "null_secret":
            answer["secret"] = None
        elif self.create_answer == "no_sid":
            del answer["secret"], answer["sid"]
        return Response(201, answer)

    def _policy(self, raw: str | None) -> dict[str, Any] | Response:
        if not raw:
            return self._param("Policy", "a restricted key needs a Policy")
        try:
            policy = json.loads(raw)
        except ValueError:
            return self._param("Policy", "must be a JSON object")
        allow = policy.get("allow") if isinstance(policy, dict) else None
        if not isinstance(allow, list) or not allow or not all(isinstance(p, str) and p for p in allow):
            return self._param("Policy", "must be {\"allow\": [permission, ...]}")
        if len(allow) > MAX_PERMISSIONS:
            return self._param("Policy", f"at most {MAX_PERMISSIONS} permissions per key")
        return {"allow": list(dict.fromkeys(allow))}

    def _list(self, req: Request) -> Response:
        refused = self._manager(req)
        if refused is not None:
            return refused
        account = (req.query.get("AccountSid") or [""])[-1]
        if not account:
            return self._param("AccountSid", "Required parameter AccountSid missing")
        if account != self.account_sid:
            return self.error(401, INVALID_USERNAME, 20003)
        try:
            size = int((req.query.get("PageSize") or ["50"])[-1])
            page = int((req.query.get("Page") or ["0"])[-1])
        except ValueError:
            return self._param("PageSize", "must be an integer")
        if not 1 <= size <= MAX_PAGE_SIZE or page < 0:
            return self._param("PageSize", f"must be between 1 and {MAX_PAGE_SIZE}")
        live = [k for k in self._keys.values() if not k.deleted]
        chunk = live[page * size:(page + 1) * size]
        base = f"http://{req.header('Host') or '127.0.0.1'}/v1/Keys?"

        def url(number: int) -> str:
            return base + urlencode({"AccountSid": account, "PageSize": size, "Page": number})

        more = (page + 1) * size < len(live)
        meta = {"page": page, "page_size": size, "first_page_url": url(0),
                "previous_page_url": url(page - 1) if page else None, "url": url(page),
                "next_page_url": url(page + 1) if more else None, "key": "keys"}
        return Response(200, {"keys": [k.listed() for k in chunk], "meta": meta})

    def _not_found(self, sid: str) -> Response:
        return self.error(404, f"The requested resource /Keys/{sid} was not found", 20404)

    def _fetch(self, req: Request) -> Response:
        refused = self._manager(req)
        if refused is not None:
            return refused
        key = self._live(req.params["sid"])
        return Response(200, key.fetched()) if key else self._not_found(req.params["sid"])

    def _delete(self, req: Request) -> Response:
        refused = self._manager(req)
        if refused is not None:
            return refused
        key = self._live(req.params["sid"])
        if key is None:
            return self._not_found(req.params["sid"])
        key.deleted = True
        return Response(204)

    def _own_account(self, req: Request) -> Response | None:
        if req.params["account"] != self.account_sid:
            return self.error(401, "Authenticate")
        return None

    def _account(self, req: Request) -> Response:
        refused = self._own_account(req) or self._manager(req)
        if refused is not None:
            return refused
        return Response(200, {"sid": self.account_sid, "friendly_name": "bench account", "status": "active",
                              "type": "Full", "auth_token": self.auth_token, "owner_account_sid": self.account_sid,
                              "date_created": rfc2822_now(), "date_updated": rfc2822_now(),
                              "uri": f"/2010-04-01/Accounts/{self.account_sid}.json"})

    def _balance(self, req: Request) -> Response:
        refused = self._own_account(req)
        if refused is not None:
            return refused
        if not self._who(req).may("(no permission emulated for the balance)"):
            return self.error(403, "Forbidden")
        return Response(200, {"account_sid": self.account_sid, "balance": "10.00", "currency": "USD"})

    def _messages(self, req: Request) -> Response:
        refused = self._own_account(req)
        if refused is not None:
            return refused
        if not self._who(req).may(PERMISSIONS["messages"]):
            return self.error(403, "Forbidden")
        return Response(200, {"messages": [], "page": 0, "page_size": 50, "start": 0, "end": 0,
                              "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages.json",
                              "first_page_uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages.json",
                              "next_page_uri": None, "previous_page_uri": None})

    # --- control API -----------------------------------------------------
    def list_keys(self) -> list[dict[str, Any]]:
        return [{"id": k.sid, "name": k.friendly_name, "type": k.key_type, "policy": k.policy,
                 "created_at": k.date_created, "last_used_at": k.last_used_at, "revoked": k.deleted}
                for k in self._keys.values()]

    def seed(self, body: Any) -> dict[str, Any]:
        """``{"name": str, "type": "standard" | "restricted" | "main", "policy": {"allow": [...]}}``.

        Main keys exist only this way (Twilio makes them only in its Console)."""
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise ControlError("seed needs a name")
        key_type = body.get("type", "standard")
        if key_type not in KEY_TYPES:
            raise ControlError(f"type must be one of {', '.join(KEY_TYPES)}")
        policy = body.get("policy")
        if (key_type == "restricted") != (policy is not None):
            raise ControlError("a restricted key, and only it, takes a policy")
        if policy is not None:
            checked = self._policy(json.dumps(policy))
            if isinstance(checked, Response):
                raise ControlError(str(checked.body["message"]))
            policy = checked
        key, secret = self._new_key(body["name"], key_type, policy)
        return dict(key.fetched(), secret=secret, type=key_type)

    def configure(self, body: Any) -> dict[str, Any]:
        """``{"create_answer": "documented" | "no_secret" | "null_secret" | "no_sid"}``."""
        if not isinstance(body, dict) or set(body) != {"create_answer"}:
            raise ControlError("config takes create_answer")
        if body["create_answer"] not in CREATE_ANSWERS:
            raise ControlError(f"create_answer must be one of {', '.join(CREATE_ANSWERS)}")
        self.create_answer = body["create_answer"]
        return {"create_answer": self.create_answer, "account_sid": self.account_sid}


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--auth-token-file", required=True, help="the account's Auth Token (read or created)")
    parser.add_argument("--account-sid", required=True, help="the account's SID (not secret)")


def _build(args: argparse.Namespace) -> TwilioEmulator:
    token = read_or_create_secret(args.auth_token_file, new_auth_token)
    return TwilioEmulator(account_sid=args.account_sid, auth_token=token)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(argv, __doc__ or "", _add_arguments, _build)


if __name__ == "__main__":
    sys.exit(main())
