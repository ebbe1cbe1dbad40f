"""Vault login options: which method, which credential from where, and errors that name the variable, not the value."""
from __future__ import annotations

import time
from typing import Any

import hvac
import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.apikeys.rotation.plugins.module_utils import _argspec
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ConfigError, StoreForbidden
from ansible_collections.apikeys.rotation.plugins.module_utils.stores import _vault_kv2
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_auth import Login, resolve_login, \
    token_file_path, verify_setting
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_kv2 import VaultKV2Store, \
    vault_store_from_options

KEY = "sendgrid"
CANARY = "canary-S3CRET-value-1234"
ENV_PREFIXES = ("ANSIBLE_HASHI_VAULT_", "VAULT_", "BAO_", "AWS_", "APIKEYS_VAULT")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    import os
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.vault-token of the developer's


def options(**given: Any) -> dict[str, Any]:
    """The options as the action plugin sees them: through the real argument spec (defaults, env fallbacks)."""
    result = ArgumentSpecValidator(_argspec.STORE).validate(dict({"vault_url": "https://vault.example.test"}, **given))
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def refused(**given: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        vault_store_from_options(KEY, options(**given))
    message = str(caught.value)
    assert f"key '{KEY}'" in message and "nothing was changed" in message
    assert CANARY not in message
    return caught.value


# -- the token method ------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["ANSIBLE_HASHI_VAULT_TOKEN", "VAULT_TOKEN", "BAO_TOKEN"])
def test_a_token_from_each_environment_variable(monkeypatch, env):
    monkeypatch.setenv(env, CANARY)
    login = resolve_login(KEY, options())
    assert login.supplied and login.token == CANARY and login.secrets == (CANARY,)


def test_the_more_specific_variable_wins(monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", "from-vault-token")
    monkeypatch.setenv("ANSIBLE_HASHI_VAULT_TOKEN", "from-ansible")
    assert resolve_login(KEY, options()).token == "from-ansible"


def test_the_token_file_bao_login_leaves(tmp_path):
    (tmp_path / ".vault-token").write_text(CANARY + "\n")
    login = resolve_login(KEY, options())
    assert login.token == CANARY and login.source == str(tmp_path / ".vault-token")
    assert CANARY not in repr(login)


def test_token_path_and_file_variables_of_community_hashi_vault(tmp_path):
    env = {"HOME": "/nowhere", "ANSIBLE_HASHI_VAULT_TOKEN_PATH": str(tmp_path), "ANSIBLE_HASHI_VAULT_TOKEN_FILE": "t"}
    assert token_file_path({}, env) == str(tmp_path / "t")
    assert token_file_path({"vault_token_file": "/etc/x"}, env) == "/etc/x"


def test_no_token_anywhere_names_the_variables():
    error = refused()
    assert error.field == "apikeys_vault_token"
    for name in ("VAULT_TOKEN", "BAO_TOKEN", ".vault-token"):
        assert name in str(error)


def test_an_empty_token_file_is_an_error(tmp_path):
    (tmp_path / ".vault-token").write_text("\n")
    assert "empty" in str(refused())


# -- the login methods -----------------------------------------------------------------------------------


def test_an_unknown_method_is_refused_naming_the_variable():
    error = refused(vault_auth_method="kerberos")
    assert error.field == "apikeys_vault_auth_method" and "'kerberos'" in str(error)
    assert "ANSIBLE_HASHI_VAULT_AUTH_METHOD" in str(error)


def test_the_method_from_the_environment(monkeypatch):
    monkeypatch.setenv("ANSIBLE_HASHI_VAULT_AUTH_METHOD", "approle")
    monkeypatch.setenv("VAULT_ROLE_ID", "role")
    monkeypatch.setenv("VAULT_SECRET_ID", CANARY)
    login = resolve_login(KEY, options())
    assert (login.method, login.mount, login.secrets) == ("approle", "approle", (CANARY,))


@pytest.mark.parametrize("method, given, variable", [
    ("approle", {"vault_secret_id": CANARY}, "apikeys_vault_role_id"),
    ("approle", {"vault_role_id": "r"}, "apikeys_vault_secret_id"),
    ("userpass", {"vault_password": CANARY}, "apikeys_vault_username"),
    ("userpass", {"vault_username": "u"}, "apikeys_vault_password"),
    ("ldap", {"vault_username": "u"}, "apikeys_vault_password"),
    ("jwt", {"vault_jwt": CANARY}, "apikeys_vault_role"),
    ("jwt", {"vault_role": "r"}, "apikeys_vault_jwt"),
    ("kubernetes", {"vault_jwt": CANARY}, "apikeys_vault_role"),
    ("aws_iam", {}, "apikeys_vault_role"),
    ("cert", {}, "apikeys_vault_client_cert"),
    ("cert", {"vault_client_cert": "/no/such/cert.pem", "vault_client_key": "/no/such/key.pem"},
     "apikeys_vault_client_cert"),
])
def test_a_missing_credential_names_the_key_and_the_variable(method, given, variable):
    assert refused(vault_auth_method=method, **given).field == variable


def test_kubernetes_reads_the_pods_service_account_token_by_default():
    error = refused(vault_auth_method="kubernetes", vault_role="r")
    assert error.field == "apikeys_vault_jwt_file" and "/var/run/secrets/kubernetes.io/serviceaccount/token" in str(error)


def test_jwt_from_a_file_and_role_from_vault_auth_role(monkeypatch, tmp_path):
    (tmp_path / "jwt").write_text(CANARY)
    monkeypatch.setenv("VAULT_JWT_FILE", str(tmp_path / "jwt"))
    monkeypatch.setenv("VAULT_AUTH_ROLE", "rotator")
    login = resolve_login(KEY, options(vault_auth_method="jwt"))
    assert (login.role, login.mount, login.secrets) == ("rotator", "jwt", (CANARY,))


def test_aws_iam_without_credentials_says_where_to_put_them(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    error = refused(vault_auth_method="aws_iam", vault_role="r")
    assert "AWS_ACCESS_KEY_ID" in str(error)


def test_aws_iam_hides_the_secret_key(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY)
    login = resolve_login(KEY, options(vault_auth_method="aws_iam", vault_role="r"))
    assert (login.mount, login.secrets) == ("aws", (CANARY,))


def test_mounts_default_per_method_and_can_be_moved():
    assert resolve_login(KEY, options(vault_auth_method="userpass", vault_username="u", vault_password="p")).mount \
        == "userpass"
    moved = options(vault_auth_method="approle", vault_role_id="r", vault_secret_id="s", vault_approle_mount="ar")
    assert resolve_login(KEY, moved).mount == "ar"
    assert resolve_login(KEY, dict(moved, vault_auth_mount="/other/")).mount == "other"


def test_the_cache_key_tells_credentials_and_servers_apart_and_holds_no_secret():
    base = options(vault_auth_method="userpass", vault_username="u", vault_password=CANARY)
    one = resolve_login(KEY, base).cache_key
    assert one == resolve_login("another-key", base).cache_key, "one login for every key with these settings"
    assert one != resolve_login(KEY, dict(base, vault_password="other")).cache_key
    assert one != resolve_login(KEY, dict(base, vault_url="https://elsewhere")).cache_key
    assert one != resolve_login(KEY, dict(base, vault_namespace="team")).cache_key
    assert CANARY not in one


# -- connection settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("env, given, expected", [
    ({}, {}, True),
    ({"VAULT_SKIP_VERIFY": "true"}, {}, False),
    ({"BAO_SKIP_VERIFY": "1"}, {}, False),
    ({"VAULT_SKIP_VERIFY": "false"}, {}, True),
    ({"VAULT_SKIP_VERIFY": "true"}, {"vault_validate_certs": True}, True),
    ({}, {"vault_ca_cert": "/etc/ca.pem"}, "/etc/ca.pem"),
    ({}, {"vault_ca_cert": "/etc/ca.pem", "vault_validate_certs": False}, False),
])
def test_certificate_verification(env, given, expected):
    assert verify_setting(given, env) == expected


def test_address_and_ca_from_bao_variables(monkeypatch):
    monkeypatch.setenv("BAO_ADDR", "https://bao.example.test:8200")
    monkeypatch.setenv("BAO_CACERT", "/etc/bao-ca.pem")
    monkeypatch.setenv("BAO_TOKEN", "t")
    result = ArgumentSpecValidator(_argspec.STORE).validate({}).validated_parameters
    store = vault_store_from_options(KEY, result)
    assert store.url == "https://bao.example.test:8200" and store.client.adapter._kwargs["verify"] == "/etc/bao-ca.pem"


# -- the token's life in the store: cached, renewed, replaced ----------------------------------------------


class FakeCache:
    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}
        self.dropped: list[str] = []

    def get(self, key: str) -> Any:
        return self.entries.get(key)

    def put(self, key: str, entry: dict[str, Any]) -> None:
        self.entries[key] = entry

    def drop(self, key: str, token: str) -> None:
        self.dropped.append(token)
        if self.entries.get(key, {}).get("token") == token:
            del self.entries[key]

    def login_lock(self) -> Any:
        import contextlib
        return contextlib.nullcontext()


def store_with(cache: FakeCache, answers: list[dict[str, Any]]) -> VaultKV2Store:
    def login(_client: Any) -> dict[str, Any]:
        return {"auth": answers.pop(0)}

    store = VaultKV2Store("https://vault.example.test", login=Login("approle", "approle", call=login, cache_key="k"),
                          token_cache=False)
    store._cache = cache
    return store


def entry(token: str, ttl: int, left: float, renewable: bool = True) -> dict[str, Any]:
    return {"token": token, "ttl": ttl, "expires_at": time.time() + left, "renewable": renewable, "created": True,
            "revoke": {"url": "https://vault.example.test"}}


def test_a_cached_token_is_used_without_a_login():
    cache = FakeCache()
    cache.put("k", entry("cached", 600, 500))
    store = store_with(cache, [])
    store._authenticate()
    assert store.client.token == "cached" and store.logins == 0


def test_a_token_near_its_expiry_is_renewed(monkeypatch):
    cache = FakeCache()
    cache.put("k", entry("cached", 600, 30))
    store = store_with(cache, [])
    monkeypatch.setattr(store.client.auth.token, "renew_self", lambda increment=None: {
        "auth": {"client_token": "cached", "lease_duration": 600, "renewable": True}})
    store._authenticate()
    assert store.client.token == "cached" and store.logins == 0 and cache.entries["k"]["expires_at"] > time.time() + 500


def test_a_token_that_cannot_be_renewed_is_replaced_by_a_new_login(monkeypatch):
    cache = FakeCache()
    cache.put("k", entry("old", 600, 30))
    store = store_with(cache, [{"client_token": "new", "lease_duration": 600, "renewable": True}])

    def at_max_ttl(increment: Any = None) -> Any:
        raise hvac.exceptions.Forbidden("permission denied")

    monkeypatch.setattr(store.client.auth.token, "renew_self", at_max_ttl)
    store._authenticate()
    assert store.client.token == "new" and store.logins == 1 and cache.entries["k"]["token"] == "new"
    assert "new" in store.secrets()


def test_a_403_drops_the_runs_token_and_logs_in_again_once():
    cache = FakeCache()
    cache.put("k", entry("expired", 600, 500))
    store = store_with(cache, [{"client_token": "fresh", "lease_duration": 600}])
    calls = []

    def read() -> str:
        calls.append(store.client.token)
        if store.client.token == "expired":
            raise hvac.exceptions.Forbidden("permission denied")
        return "ok"

    assert store._call("read", read) == "ok"
    assert calls == ["expired", "fresh"] and cache.dropped == ["expired"] and store.logins == 1


def test_a_supplied_token_is_never_replaced():
    store = VaultKV2Store("https://vault.example.test", token=CANARY)

    def denied() -> None:
        raise hvac.exceptions.Forbidden("permission denied")

    with pytest.raises(StoreForbidden):
        store._call("read", denied)
    assert store.client.token == CANARY and store.secrets() == [CANARY, CANARY]


def test_without_a_worker_process_there_is_no_broker():
    store = vault_store_from_options(KEY, options(vault_auth_method="userpass", vault_username="u", vault_password="p"))
    assert store._cache is None, "unit tests and the main process never start a broker"
    assert _vault_kv2.RunTokens.connect() is None


def test_a_broker_that_is_gone_means_this_task_logs_in_by_itself():
    class Gone(FakeCache):
        def get(self, key: str) -> Any:
            raise ConnectionRefusedError(111, "Connection refused")

    store = store_with(Gone(), [{"client_token": "own", "lease_duration": 600}])
    store._authenticate()
    assert store.client.token == "own" and store.logins == 1 and store._cache is None
