# Internal to this collection: not a public API; may change without notice.
"""SendGrid API keys: ``/v3/api_keys`` (https://www.twilio.com/docs/sendgrid/api-reference/api-keys).

Bearer auth with a management key holding ``api_keys.*`` scopes; the secret is
returned once, by the create call; 100 keys per account (403 beyond); an
unknown id answers 404. SendGrid's API has no last-used data.

Scopes fail closed. SendGrid documents that a key created without ``scopes`` has
Full Access, so a create is never sent without them: the new key asks for exactly
``apikeys_provider_options.scopes`` when set, else exactly the current key's scopes
read from ``GET /v3/api_keys/{id}`` (the documented ``{"result": [{...}]}`` answer,
or the flat ``{"api_key_id", "name", "scopes"}`` one of older clients). Anything
else stops the run before the create. The scopes of the create answer are then
compared with the ones asked for; a key given other scopes is revoked at once.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from .._errors import ConfigError, KeyCapReached, ProviderError
from .._http import HttpClient
from ._base import NewKey, Provider, Usage

DEFAULT_URL = "https://api.sendgrid.com"
SCOPES_OPTION = "apikeys_provider_options.scopes"
#: what every refusal to create says, after its reason
_NOTHING_CREATED = ("no key was created (SendGrid gives a key created without scopes Full Access): set "
                    f"{SCOPES_OPTION} to the scopes the new key needs")


def _scope_list(value: Any) -> Optional[list[str]]:
    """``value`` as a list of distinct scope names in order, or None unless a non-empty list of non-empty strings."""
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(scope, str) and scope.strip() for scope in value):
        return None
    return list(dict.fromkeys(value))


def _names(scopes: Any, secret: str = "") -> str:
    """Scope names for a message (they are not secret), sorted and capped; never anything holding ``secret``."""
    shown = sorted(str(s)[:80] for s in scopes if not secret or secret not in str(s))
    text = ", ".join(shown[:20]) + (f" and {len(shown) - 20} more" if len(shown) > 20 else "")
    return text or "(none)"


class SendGridProvider(Provider):
    name = "sendgrid"
    activation_timeout = 30.0
    credential_env = "SENDGRID_ADMIN_KEY"
    options_spec = {"api_url": (False, str), "scopes": (False, list), "max_keys": (False, int)}

    def __init__(self, key: str, options: dict[str, Any], credential: Optional[str] = None) -> None:
        super().__init__(key, options, credential)
        self.base_url = options.get("api_url") or DEFAULT_URL
        self.max_keys = int(options.get("max_keys") or 100)
        self._client: Optional[HttpClient] = None
        self._prepared: Optional[tuple[Optional[str], list[str]]] = None

    @classmethod
    def validate_options(cls, key: str, options: dict[str, Any]) -> None:
        super().validate_options(key, options)
        if options.get("scopes") is not None and _scope_list(options["scopes"]) is None:
            raise ConfigError(key, SCOPES_OPTION, "must be a non-empty list of SendGrid scope names, "
                                                  "e.g. [mail.send]; leave it unset to copy the current key's scopes")

    @property
    def http(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient(self.name, self.base_url,
                                      {"Authorization": f"Bearer {self.require_credential()}"},
                                      timeout=self.timeout, retry=self.retry)
        return self._client

    # -- which scopes the new key gets -------------------------------------------------------

    def intended_scopes(self, like_key_id: Optional[str]) -> list[str]:
        """Exactly the scopes the new key must have; raises (before any create) when they are not known for sure."""
        if self.options.get("scopes") is not None:
            scopes = _scope_list(self.options["scopes"])
            if scopes is None:
                raise ConfigError(self.key, SCOPES_OPTION, "must be a non-empty list of SendGrid scope names, "
                                                           "e.g. [mail.send]; no key was created")
            return scopes
        if not like_key_id:
            raise ConfigError(self.key, SCOPES_OPTION,
                              "is not set and there is no current key to copy the scopes from; " + _NOTHING_CREATED)
        response = self.http.request("GET", f"/v3/api_keys/{like_key_id}", label="/v3/api_keys/{id}",
                                     expect=(200,), tolerate=(404,))
        if response.status_code == 404:
            raise ProviderError(f"key '{self.key}': sendgrid: the current key {like_key_id} is not found at "
                                "SendGrid, so its scopes cannot be copied; " + _NOTHING_CREATED, 404)
        return self._scopes_in(HttpClient.body(response, "sendgrid: GET /v3/api_keys/{id}"), str(like_key_id))

    def _scopes_in(self, answer: Any, key_id: str) -> list[str]:
        """The scopes of ``key_id`` in a ``GET /v3/api_keys/{id}`` answer, in either documented shape."""
        what = f"key '{self.key}': sendgrid: GET /v3/api_keys/{{id}} for the current key {key_id}"
        item = None
        if isinstance(answer, dict) and "result" in answer:  # documented: {"result": [{api_key_id, name, scopes}]}
            result = answer["result"]
            if isinstance(result, list):
                items = [i for i in result if isinstance(i, dict)]
                ours = [i for i in items if str(i.get("api_key_id")) == key_id]
                if len(ours) == 1:
                    item = ours[0]
                elif len(result) == 1 and items and "api_key_id" not in items[0]:
                    item = items[0]
        elif isinstance(answer, dict) and "scopes" in answer:  # flat: {api_key_id, name, scopes}
            if "api_key_id" not in answer or str(answer["api_key_id"]) == key_id:
                item = answer
        if item is None:
            raise ProviderError(f"{what} answered in a shape this collection does not know ({self._shape(answer)}); "
                                "expected {\"result\": [{\"api_key_id\", \"name\", \"scopes\"}]} or "
                                "{\"api_key_id\", \"name\", \"scopes\"} for that key; " + _NOTHING_CREATED)
        if "scopes" not in item:
            raise ProviderError(f"{what} answered without the key's scopes; " + _NOTHING_CREATED)
        scopes = _scope_list(item["scopes"])
        if scopes is None:
            raise ProviderError(f"{what} answered scopes that are not a non-empty list of scope names; "
                                + _NOTHING_CREATED)
        return scopes

    @staticmethod
    def _shape(answer: Any) -> str:
        """A shape for a message: the JSON type and, for an object, its top-level field names (no values)."""
        if isinstance(answer, dict):
            fields = sorted(str(k)[:40] for k in answer)
            return "an object with fields " + (", ".join(fields[:10]) or "(none)")
        if isinstance(answer, list):
            return "a list"
        return f"a JSON {type(answer).__name__}"

    # -- the provider interface -------------------------------------------------------------

    def prepare(self, like_key_id: Optional[str]) -> None:
        """The new key's scopes, read before the rotation writes its intent: a doubt stops it there."""
        self._prepared = (like_key_id, self.intended_scopes(like_key_id))

    def create(self, name: str, like_key_id: Optional[str]) -> NewKey:
        # raises before any create: never a key without scopes
        if self._prepared is not None and self._prepared[0] == like_key_id:
            scopes = self._prepared[1]
        else:
            scopes = self.intended_scopes(like_key_id)
        response = self.http.request("POST", "/v3/api_keys", json={"name": name, "scopes": scopes},
                                     idempotent=False, expect=(201, 200), tolerate=(403,))
        if response.status_code == 403:
            error = HttpClient.error("sendgrid: POST /v3/api_keys", response)
            if "more than" in str(error).lower():
                raise KeyCapReached(f"sendgrid: the account already holds its maximum of {self.max_keys} "
                                    "API keys; no key was created", 403)
            raise error
        answer = HttpClient.body(response, "sendgrid: POST /v3/api_keys")
        try:
            new = NewKey(key_id=str(answer["api_key_id"]), secret=str(answer["api_key"]), name=name)
        except (KeyError, TypeError):
            raise ProviderError("sendgrid: the create answer has no api_key_id or api_key field") from None
        self._check_granted(new, answer.get("scopes"), scopes)
        return new

    def _check_granted(self, new: NewKey, granted: Any, asked: list[str]) -> None:
        """Revoke ``new`` and raise unless the create answer gives it exactly the ``asked`` scopes."""
        hint = ""
        if isinstance(granted, list) and all(isinstance(s, str) for s in granted):
            if set(granted) == set(asked):
                return
            missing, extra = set(asked) - set(granted), set(granted) - set(asked)
            parts = ([f"asked for but not granted: {_names(missing, new.secret)}"] if missing else []) + \
                    ([f"granted but not asked for: {_names(extra, new.secret)}"] if extra else [])
            problem = f"SendGrid gave the new key {new.key_id} other scopes than asked ({'; '.join(parts)})"
            if extra:
                hint = f"; if SendGrid adds those scopes to every key, list them in {SCOPES_OPTION}"
        else:
            problem = f"SendGrid's create answer does not say which scopes the new key {new.key_id} has"
        try:
            self.revoke(new.key_id)
        except Exception as exc:  # pylint: disable=broad-except # whatever went wrong, the key may be alive
            cause = str(exc).replace(new.secret, "<hidden>")
            raise ProviderError(f"key '{self.key}': {problem}, and revoking it failed ({cause}): revoke key "
                                f"{new.key_id} by hand at SendGrid") from None
        raise ProviderError(f"key '{self.key}': {problem}; the new key was revoked at once and the current key "
                            f"stays in use{hint}")

    def revoke(self, key_id: str) -> bool:
        response = self.http.request("DELETE", f"/v3/api_keys/{key_id}", label="/v3/api_keys/{id}",
                                     expect=(204, 200), tolerate=(404,))
        return response.status_code != 404

    def accepts(self, secret: str, key_id: str) -> bool:
        response = self.http.request("GET", "/v3/scopes", headers={"Authorization": f"Bearer {secret}"},
                                     expect=(200,), tolerate=(401, 403))
        return response.status_code == 200

    def _keys(self) -> list[dict[str, Any]]:
        answer = self.http.request_json("GET", f"/v3/api_keys?limit={self.max_keys}", label="/v3/api_keys")
        return [k for k in answer.get("result", []) if isinstance(k, dict)]

    def find_by_name(self, name: str, created_after: datetime, known_ids: set[str]) -> list[str]:
        return [str(k["api_key_id"]) for k in self._keys()
                if k.get("name") == name and str(k.get("api_key_id")) not in known_ids]

    def usage(self) -> Usage:
        return Usage(count=len(self._keys()), limit=self.max_keys)
