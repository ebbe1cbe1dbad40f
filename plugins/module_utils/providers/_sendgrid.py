# Internal to this collection: not a public API; may change without notice.
"""SendGrid API keys: ``/v3/api_keys`` (https://www.twilio.com/docs/sendgrid/api-reference/api-keys).

Bearer auth with a management key holding ``api_keys.*`` scopes; the secret is
returned once, by the create call; 100 keys per account (403 beyond); an
unknown id answers 404. SendGrid's API has no last-used data.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from .._errors import KeyCapReached, ProviderError
from .._http import HttpClient
from ._base import NewKey, Provider, Usage

DEFAULT_URL = "https://api.sendgrid.com"


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

    @property
    def http(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient(self.name, self.base_url,
                                      {"Authorization": f"Bearer {self.require_credential()}"},
                                      timeout=self.timeout, retry=self.retry)
        return self._client

    def _scopes_of(self, key_id: Optional[str]) -> Optional[list[str]]:
        if self.options.get("scopes"):
            return list(self.options["scopes"])
        if not key_id:
            return None
        answer = self.http.request_json("GET", f"/v3/api_keys/{key_id}", label="/v3/api_keys/{id}")
        result = answer.get("result") or [{}]
        return result[0].get("scopes") if isinstance(result, list) else answer.get("scopes")

    def create(self, name: str, like_key_id: Optional[str]) -> NewKey:
        body: dict[str, Any] = {"name": name}
        scopes = self._scopes_of(like_key_id)
        if scopes:
            body["scopes"] = scopes
        response = self.http.request("POST", "/v3/api_keys", json=body, idempotent=False,
                                     expect=(201, 200), tolerate=(403,))
        if response.status_code == 403:
            error = HttpClient.error("sendgrid: POST /v3/api_keys", response)
            if "more than" in str(error).lower():
                raise KeyCapReached(f"sendgrid: the account already holds its maximum of {self.max_keys} "
                                    "API keys; no key was created", 403)
            raise error
        answer = HttpClient.body(response, "sendgrid: POST /v3/api_keys")
        try:
            return NewKey(key_id=str(answer["api_key_id"]), secret=str(answer["api_key"]), name=name)
        except (KeyError, TypeError):
            raise ProviderError("sendgrid: the create answer has no api_key_id or api_key field") from None

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
