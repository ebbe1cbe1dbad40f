# Internal to this collection: not a public API; may change without notice.
"""A configurable HTTP provider for internal API gateways (Kong key-auth style by default).

Everything that differs between gateways is set in the inventory: the paths,
the management auth header, the JSON field names. Defaults follow Kong's
Admin API for the key-auth plugin: ``POST /consumers/{consumer}/key-auth``
returns ``{"id": ..., "key": ...}``; ``DELETE .../key-auth/{key_id}``; keys
are presented in an ``apikey`` header.
"""
from __future__ import annotations

import string
from datetime import datetime
from typing import Any, Optional

from .._errors import ConfigError, ProviderError
from .._http import HttpClient
from ._base import NewKey, Provider, Usage

_DEFAULTS: dict[str, Any] = {
    "list_field": "data", "id_field": "id", "secret_field": "key", "name_field": "tags",
    "create_body": {"tags": ["{name}"]}, "path_params": {},
    "test_header": "apikey", "test_scheme": "", "admin_header": "Authorization", "admin_scheme": "Bearer",
}


def _fields(value: Any) -> set[str]:
    """Placeholders used in a template string, or in every string of a list or dict. ValueError if malformed."""
    if isinstance(value, str):
        return {parsed[1] for parsed in string.Formatter().parse(value) if parsed[1] is not None}
    if isinstance(value, list):
        return set().union(*(_fields(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return _fields(list(value.values()))
    return set()


def _fill(value: Any, values: dict[str, str]) -> Any:
    """Substitute ``{placeholders}`` in strings, recursively through lists and dicts."""
    if isinstance(value, str):
        return value.format_map(values)
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    return value


class HttpGatewayProvider(Provider):
    name = "http"
    credential_env = "APIKEYS_HTTP_ADMIN_TOKEN"
    options_spec = {
        "admin_url": (True, str), "create_path": (True, str), "key_path": (True, str), "test_url": (True, str),
        "list_path": (False, str), "list_field": (False, str), "id_field": (False, str),
        "secret_field": (False, str), "name_field": (False, str), "create_body": (False, dict),
        "path_params": (False, dict), "test_header": (False, str), "test_scheme": (False, str),
        "admin_header": (False, str), "admin_scheme": (False, str), "credential_env": (False, str),
        "max_keys": (False, int),
    }

    @classmethod
    def validate_options(cls, key: str, options: dict[str, Any]) -> None:
        super().validate_options(key, options)
        params = set((options.get("path_params") or {}).keys())
        for option, extra in (("create_path", set()), ("list_path", set()), ("key_path", {"key_id"}),
                              ("create_body", {"name"})):
            template = options.get(option)
            if template is None:
                continue
            try:
                missing = _fields(template) - params - extra
            except ValueError:
                raise ConfigError(key, f"apikeys_provider_options.{option}",
                                  "malformed template: every { needs a matching }") from None
            if missing:
                raise ConfigError(key, f"apikeys_provider_options.{option}",
                                  f"placeholder {{{sorted(missing)[0]}}} is not in path_params")
        if "{key_id}" not in options["key_path"]:
            raise ConfigError(key, "apikeys_provider_options.key_path", "must contain {key_id}")

    def __init__(self, key: str, options: dict[str, Any], credential: Optional[str] = None) -> None:
        merged = dict(_DEFAULTS, **options)
        if merged.get("credential_env"):
            self.credential_env = merged["credential_env"]
        super().__init__(key, merged, credential)
        self.params = {k: str(v) for k, v in merged["path_params"].items()}
        self.max_keys = merged.get("max_keys")
        self._client: Optional[HttpClient] = None

    def _opt(self, name: str) -> Any:
        return self.options[name]

    @property
    def http(self) -> HttpClient:
        if self._client is None:
            value = f"{self._opt('admin_scheme')} {self.require_credential()}".strip()
            self._client = HttpClient(self.name, self._opt("admin_url"), {self._opt("admin_header"): value},
                                      timeout=self.timeout, retry=self.retry)
        return self._client

    def _path(self, option: str, **extra: str) -> str:
        return _fill(self._opt(option), dict(self.params, **extra))

    def create(self, name: str, like_key_id: Optional[str]) -> NewKey:
        body = _fill(self._opt("create_body"), dict(self.params, name=name))
        answer = self.http.request_json("POST", self._path("create_path"), label=self._opt("create_path"),
                                        json=body, idempotent=False, expect=(200, 201))
        try:
            return NewKey(key_id=str(answer[self._opt("id_field")]), secret=str(answer[self._opt("secret_field")]),
                          name=name)
        except (KeyError, TypeError):
            raise ProviderError(f"http: the create answer has no '{self._opt('id_field')}' or "
                                f"'{self._opt('secret_field')}' field; check id_field and secret_field") from None

    def revoke(self, key_id: str) -> bool:
        response = self.http.request("DELETE", self._path("key_path", key_id=key_id), label=self._opt("key_path"),
                                     expect=(200, 202, 204), tolerate=(404, 410))
        return response.status_code not in (404, 410)

    def accepts(self, secret: str, key_id: str) -> bool:
        value = f"{self._opt('test_scheme')} {secret}".strip()
        response = self.http.request("GET", self._opt("test_url"), label="test_url",
                                     headers={self._opt("test_header"): value}, expect=(200, 204),
                                     tolerate=(401, 403))
        return response.status_code in (200, 204)

    def _keys(self) -> list[dict[str, Any]]:
        option = "list_path" if self.options.get("list_path") else "create_path"
        answer = self.http.request_json("GET", self._path(option), label=self._opt(option))
        items = answer.get(self._opt("list_field"), []) if isinstance(answer, dict) else answer
        return [item for item in items if isinstance(item, dict)]

    def find_by_name(self, name: str, created_after: datetime, known_ids: set[str]) -> list[str]:
        found = []
        for item in self._keys():
            tag = item.get(self._opt("name_field"))
            if (tag == name or isinstance(tag, list) and name in tag) and str(item.get(self._opt("id_field"))) \
                    not in known_ids:
                found.append(str(item[self._opt("id_field")]))
        return found

    def usage(self) -> Usage:
        return Usage(count=len(self._keys()), limit=self.max_keys)
