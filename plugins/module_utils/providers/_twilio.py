# Internal to this collection: not a public API; may change without notice.
"""Twilio API keys on the Key resource v1 (https://www.twilio.com/docs/iam/api-keys/key-resource-v1).

Twilio documents v1 (``https://iam.twilio.com/v1/Keys``) as the latest Key resource: it does all
that the 2010 one (``/2010-04-01/Accounts/{AccountSid}/Keys.json``) does, and also makes Restricted
keys. A key is an SID (``SK...``, not secret) and a secret shown once, in the create answer;
consumers authenticate with HTTP Basic ``SID:secret``, so the record keeps the SID as ``key_id``
next to ``key``. Only the Account SID + Auth Token or a Main key may manage keys; standard and
restricted keys are answered 401 there. Every POST is a form (``application/x-www-form-urlencoded``).

Key types fail closed. A create without ``KeyType`` makes a Standard key, with access to every
resource but Accounts and Keys: so unless ``apikeys_provider_options.key_type`` says otherwise, the
new key copies the current key's type and policy (``GET /v1/Keys/{sid}``: a ``policy`` means
restricted), and a create answer whose policy differs from the one asked for is deleted at once.
Main keys cannot be made by API (Twilio Console only).

The new key is tried on ``test_path`` (default the account's Balance): not on the account read
``/2010-04-01/Accounts/{AccountSid}.json``, which Twilio answers 401 for standard and restricted
keys, alive or not. 401 = rejected; 200 = accepted; 403 = accepted (Twilio authenticated a
restricted key that lacks the permission).
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import datetime
from typing import Any, Optional

from .._errors import ConfigError, ProviderError
from .._http import HttpClient
from ._base import NewKey, Provider, Usage

IAM_URL = "https://iam.twilio.com"
API_URL = "https://api.twilio.com"
DEFAULT_TEST_PATH = "/2010-04-01/Accounts/{AccountSid}/Balance.json"
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
CREDENTIAL_SID = re.compile(r"^(AC|SK)[0-9a-fA-F]{32}$")
KEY_TYPES = ("standard", "restricted")
MAX_FRIENDLY_NAME = 64
MAX_PERMISSIONS = 100
PAGE_SIZE = 1000
OPTION = "apikeys_provider_options."
_NOTHING_CREATED = "no key was created"
#: a create answer without a ``policy`` field
_ABSENT = object()


def _allow(policy: Any) -> Optional[list[str]]:
    """The ``allow`` list of a Twilio policy, or None unless ``{"allow": [non-empty strings]}``."""
    if not isinstance(policy, dict) or set(policy) != {"allow"}:
        return None
    allow = policy["allow"]
    if not isinstance(allow, list) or not allow or not all(isinstance(p, str) and p.strip() for p in allow):
        return None
    return list(dict.fromkeys(allow))


def friendly_name(name: str) -> str:
    """``name`` as a FriendlyName (at most 64 characters): a longer one is cut and ends in a digest of the whole."""
    if len(name) <= MAX_FRIENDLY_NAME:
        return name
    return name[:MAX_FRIENDLY_NAME - 9] + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class _FormClient(HttpClient):
    """HttpClient (retries, shared connections, error texts without credentials) whose POST bodies are forms:
    the ``json=`` body given to ``request`` is sent as form fields, as Twilio expects."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        send = self.session.request

        def form_request(method: str, url: str, *rest: Any, **options: Any) -> Any:
            body = options.pop("json", None)
            if body is not None:
                options["data"] = body
            return send(method, url, *rest, **options)

        self.session.request = form_request  # type: ignore[method-assign]


class TwilioProvider(Provider):
    name = "twilio"
    credential_env = "TWILIO_AUTH_TOKEN"
    options_spec = {
        "account_sid": (True, str), "key_type": (False, str), "policy": (False, dict),
        "api_url": (False, str), "account_api_url": (False, str), "test_path": (False, str),
        "credential_sid": (False, str), "credential_env": (False, str), "max_keys": (False, int),
    }

    @classmethod
    def validate_options(cls, key: str, options: dict[str, Any]) -> None:
        super().validate_options(key, options)
        if not ACCOUNT_SID.match(options["account_sid"]):
            raise ConfigError(key, OPTION + "account_sid", "must be a Twilio Account SID: AC and 32 hex digits")
        if options.get("credential_sid") is not None and not CREDENTIAL_SID.match(options["credential_sid"]):
            raise ConfigError(key, OPTION + "credential_sid", "must be the Account SID (AC...) or the SID of a "
                                                              "Main API key (SK...)")
        key_type = options.get("key_type")
        if key_type == "main":
            raise ConfigError(key, OPTION + "key_type", "Twilio makes Main keys only in its Console, never by API; "
                                                        "use standard or restricted")
        if key_type is not None and key_type not in KEY_TYPES:
            raise ConfigError(key, OPTION + "key_type", f"one of {', '.join(KEY_TYPES)}")
        policy = options.get("policy")
        if policy is not None:
            allow = _allow(policy)
            if allow is None:
                raise ConfigError(key, OPTION + "policy", 'must be {"allow": [permission, ...]}, e.g. '
                                                          '{"allow": ["/twilio/messaging/messages/read"]}')
            if len(allow) > MAX_PERMISSIONS:
                raise ConfigError(key, OPTION + "policy", f"Twilio allows at most {MAX_PERMISSIONS} permissions "
                                                          "per restricted key")
            if key_type == "standard":
                raise ConfigError(key, OPTION + "policy", "only restricted keys take a policy; set key_type: "
                                                          "restricted or remove the policy")
        test_path = options.get("test_path")
        if test_path is not None and (not test_path.startswith("/") or "{" in test_path.replace("{AccountSid}", "")):
            raise ConfigError(key, OPTION + "test_path", "must be a path starting with / (the only placeholder "
                                                         "is {AccountSid})")

    def __init__(self, key: str, options: dict[str, Any], credential: Optional[str] = None) -> None:
        if options.get("credential_env"):
            self.credential_env = options["credential_env"]
        super().__init__(key, options, credential)
        self.account_sid = str(options["account_sid"])
        self.user = str(options.get("credential_sid") or self.account_sid)
        self.iam_url = (options.get("api_url") or IAM_URL).rstrip("/")
        self.api_url = (options.get("account_api_url") or API_URL).rstrip("/")
        self.test_path = (options.get("test_path") or DEFAULT_TEST_PATH).replace("{AccountSid}", self.account_sid)
        self.max_keys = options.get("max_keys")
        self._client: Optional[_FormClient] = None
        self._prepared: Optional[tuple[Optional[str], Optional[list[str]]]] = None

    def credentials(self) -> list[str]:
        held = super().credentials()
        if self.credential:  # the whole Basic value too, not only the secret inside it
            held.append(basic(self.user, self.credential).split(" ", 1)[1])
        return held

    @property
    def http(self) -> _FormClient:
        if self._client is None:
            headers = {"Authorization": basic(self.user, self.require_credential()), "Accept": "application/json"}
            self._client = _FormClient(self.name, self.iam_url, headers, timeout=self.timeout, retry=self.retry)
        return self._client

    # -- which type and policy the new key gets -----------------------------------------------

    def intended_policy(self, like_key_id: Optional[str]) -> Optional[list[str]]:
        """The new key's ``allow`` list (None: a standard key); raises before any create when not known for sure."""
        key_type = self.options.get("key_type")
        if key_type == "standard":
            return None
        if key_type == "restricted" and self.options.get("policy") is not None:
            return _allow(self.options["policy"])
        if not like_key_id:
            raise ConfigError(self.key, OPTION + "key_type", "is not set and there is no current key to copy the "
                              f"type and policy from; {_NOTHING_CREATED}: set key_type (and policy)")
        current = self._current_policy(str(like_key_id))
        if key_type == "restricted" and current is None:
            raise ConfigError(self.key, OPTION + "policy", f"is not set and the current key {like_key_id} has no "
                              f"policy to copy (it is not a restricted key); {_NOTHING_CREATED}")
        return current

    def _current_policy(self, key_id: str) -> Optional[list[str]]:
        what = f"key '{self.key}': twilio: GET /v1/Keys/{{sid}} for the current key {key_id}"
        response = self.http.request("GET", f"/v1/Keys/{key_id}", label="/v1/Keys/{sid}", expect=(200,),
                                     tolerate=(404,))
        if response.status_code == 404:
            raise ProviderError(f"key '{self.key}': twilio: the current key {key_id} is not found at Twilio, so its "
                                f"type and policy cannot be copied; {_NOTHING_CREATED}: set "
                                f"{OPTION}key_type (and policy)", 404)
        answer = HttpClient.body(response, "twilio: GET /v1/Keys/{sid}")
        if not isinstance(answer, dict) or "policy" not in answer:
            raise ProviderError(f"{what} answered without the key's policy; {_NOTHING_CREATED}: set "
                                f"{OPTION}key_type (and policy)")
        if answer["policy"] is None:
            return None
        allow = _allow(answer["policy"])
        if allow is None:
            raise ProviderError(f"{what} answered a policy this collection does not know (expected "
                                f'{{"allow": [...]}}); {_NOTHING_CREATED}: set {OPTION}key_type and policy')
        return allow

    # -- the provider interface -------------------------------------------------------------

    def prepare(self, like_key_id: Optional[str]) -> None:
        """The new key's type and policy, read before the rotation writes its intent: a doubt stops it there."""
        self._prepared = (like_key_id, self.intended_policy(like_key_id))

    def create(self, name: str, like_key_id: Optional[str]) -> NewKey:
        if self._prepared is not None and self._prepared[0] == like_key_id:
            allow = self._prepared[1]
        else:
            allow = self.intended_policy(like_key_id)
        form = {"AccountSid": self.account_sid, "FriendlyName": friendly_name(name)}
        if allow is not None:
            form.update(KeyType="restricted", Policy=json.dumps({"allow": allow}))
        response = self.http.request("POST", "/v1/Keys", json=form, idempotent=False, expect=(201, 200))
        answer = HttpClient.body(response, "twilio: POST /v1/Keys")
        sid = answer.get("sid") if isinstance(answer, dict) else None
        secret = answer.get("secret") if isinstance(answer, dict) else None
        if not isinstance(sid, str) or not sid:
            # no SID: nothing to delete by id; the rotation looks the key up by its name and deletes it
            raise ProviderError(f"key '{self.key}': twilio: the create answer has no sid; the key may exist: it is "
                                "looked up by its name and deleted")
        if not isinstance(secret, str) or not secret:
            self._delete_made(sid, "Twilio's create answer holds no secret for it (shown only once, so the key can "
                                   "never be used)", response.status_code)
        new = NewKey(key_id=sid, secret=str(secret), name=name)
        self._check_granted(new, answer.get("policy", _ABSENT), allow, response.status_code)
        return new

    def _check_granted(self, new: NewKey, granted: Any, asked: Optional[list[str]], status: int) -> None:
        """Delete ``new`` and raise unless the create answer gives it exactly the ``asked`` policy."""
        if asked is None and granted is None:
            return
        if asked is not None and _allow(granted) is not None and set(_allow(granted) or []) == set(asked):
            return
        if granted is _ABSENT:
            problem = "Twilio's create answer does not say which policy the new key has"
        elif asked is None:
            problem = "Twilio gave the new key a policy where a standard key was asked for"
        else:
            problem = "Twilio gave the new key another policy than asked"
        self._delete_made(new.key_id, problem, status, new.secret)

    def _delete_made(self, sid: str, problem: str, status: int, secret: str = "") -> None:
        """Delete key ``sid`` just made and raise: the current key stays in use."""
        try:
            self.revoke(sid)
        except Exception as exc:  # pylint: disable=broad-except # whatever went wrong, the key may be alive
            cause = str(exc).replace(secret, "<hidden>") if secret else str(exc)
            raise ProviderError(f"key '{self.key}': twilio made key {sid} but {problem}, and deleting it failed "
                                f"({cause}): the key is looked up by its name and deleted by the next run, or "
                                f"delete {sid} by hand in the Twilio Console") from None
        # a status below 500: the rotation knows no key is left and clears its intent
        raise ProviderError(f"key '{self.key}': twilio made key {sid} but {problem}; the new key was deleted at once "
                            "and the current key stays in use", status)

    def revoke(self, key_id: str) -> bool:
        response = self.http.request("DELETE", f"/v1/Keys/{key_id}", label="/v1/Keys/{sid}", expect=(204, 200),
                                     tolerate=(404,))
        return response.status_code != 404

    def accepts(self, secret: str, key_id: str) -> bool:
        response = self.http.request("GET", self.api_url + self.test_path, label="test_path",
                                     headers={"Authorization": basic(key_id, secret)}, expect=(200, 403),
                                     tolerate=(401,))
        return response.status_code in (200, 403)

    def _keys(self) -> list[dict[str, Any]]:
        """Every key of the account, page after page (only pages of the API's own address are followed)."""
        found: list[dict[str, Any]] = []
        path: Optional[str] = f"/v1/Keys?AccountSid={self.account_sid}&PageSize={PAGE_SIZE}"
        for _page in range(1000):
            if path is None:
                return found
            answer = self.http.request_json("GET", path, label="/v1/Keys")
            if not isinstance(answer, dict) or not isinstance(answer.get("keys"), list):
                raise ProviderError("twilio: GET /v1/Keys answered without a keys list")
            found += [k for k in answer["keys"] if isinstance(k, dict)]
            following = (answer.get("meta") or {}).get("next_page_url")
            if following and not str(following).startswith(self.iam_url + "/"):
                raise ProviderError("twilio: GET /v1/Keys pointed to a next page at another address; not followed "
                                    "(it would receive the management credential)")
            path = str(following) if following else None
        raise ProviderError("twilio: GET /v1/Keys: more than 1000 pages")

    def find_by_name(self, name: str, created_after: datetime, known_ids: set[str]) -> list[str]:
        wanted = friendly_name(name)
        return [str(k["sid"]) for k in self._keys()
                if k.get("friendly_name") == wanted and k.get("sid") and str(k["sid"]) not in known_ids]

    def usage(self) -> Usage:
        return Usage(count=len(self._keys()), limit=self.max_keys)
