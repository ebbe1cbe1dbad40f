"""The store seam: apikeys_store picks a store class from the registry; each store checks its own options early."""
from __future__ import annotations

import threading

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils._config import key_config
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ConfigError
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._aws_secretsmanager import SecretsManagerStore
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._base import ABSENT, Store, is_absent, \
    same_version
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._registry import STORES, keep_stores, make_store, \
    store_class
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_kv2 import VaultKV2Store

KEY = "billing-mailer"
CANARY = "CANARY-s3cr3t-Zq9"


def args(**over):
    base = {"name": KEY, "provider": "sendgrid", "vault_path": "secret/apikeys/" + KEY, "provider_options": {}}
    base.update(over)
    return base


def config_error(arguments) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        key_config(arguments)
    return info.value


def test_the_default_store_is_vault_kv2_and_unchanged_inventories_keep_working():
    assert key_config(args()).store == "vault_kv2"
    assert key_config(args(store=None)).store == "vault_kv2"
    assert store_class(KEY, None) is VaultKV2Store


def test_an_unknown_store_names_the_key_the_variable_and_the_known_stores():
    error = config_error(args(store="consul"))
    assert error.key == KEY and error.field == "apikeys_store"
    assert "aws_secretsmanager" in str(error) and "vault_kv2" in str(error) and "consul" not in str(error)


def test_every_registered_store_is_a_store_named_as_registered():
    for name, cls in STORES.items():
        assert issubclass(cls, Store) and cls.kind == name


def test_secretsmanager_takes_a_secret_name_without_a_mount():
    cfg = key_config(args(store="aws_secretsmanager", vault_path="apikeys/billing-mailer",
                          store_options={"region": "eu-west-1"}))
    assert cfg.store == "aws_secretsmanager" and cfg.vault_path == "apikeys/billing-mailer"
    assert cfg.store_options == {"region": "eu-west-1"}
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:apikeys/billing-AbCdEf"
    assert key_config(args(store="aws_secretsmanager", vault_path=arn)).vault_path == arn


def test_vault_keeps_its_path_rule():
    assert config_error(args(vault_path="nomount")).field == "apikeys_vault_path"


@pytest.mark.parametrize("path", ["", "has space", "x" * 513, "a*b"])
def test_a_bad_secret_name_is_refused(path):
    error = config_error(args(store="aws_secretsmanager", vault_path=path))
    assert error.field == "apikeys_vault_path" and f"key '{KEY}'" in str(error)


@pytest.mark.parametrize("options, field", [
    ({"regoin": "eu-west-1"}, "apikeys_store_options"),
    ({"timeout": "ten"}, "apikeys_store_options.timeout"),
    ({"timeout": 0}, "apikeys_store_options.timeout"),
    ({"region": 5}, "apikeys_store_options.region"),
    ({"aws_secret_access_key": CANARY}, "apikeys_store_options"),
    ({"endpoint_url": "moto:5000"}, "apikeys_store_options.endpoint_url"),
    ("region=eu", "apikeys_store_options"),
])
def test_secretsmanager_options_are_checked_by_the_store_and_never_echoed(options, field):
    error = config_error(args(store="aws_secretsmanager", vault_path="apikeys/x", store_options=options))
    assert error.field == field and CANARY not in str(error) and f"key '{KEY}'" in str(error)


def test_an_unknown_option_lists_the_known_ones():
    error = config_error(args(store="aws_secretsmanager", vault_path="apikeys/x", store_options={"regoin": "x"}))
    assert "regoin" in str(error) and "region" in str(error) and "endpoint_url" in str(error)


def test_make_store_builds_without_any_request():
    store = make_store(KEY, "aws_secretsmanager", {"store_options": {"region": "eu-west-1"}})
    assert isinstance(store, SecretsManagerStore) and store._client is None  # pylint: disable=protected-access
    vault = make_store(KEY, "vault_kv2", {"vault_url": "https://vault.example:8200", "vault_token": "t"})
    assert isinstance(vault, VaultKV2Store)


def test_make_store_checks_before_building():
    with pytest.raises(ConfigError) as info:
        make_store(KEY, "aws_secretsmanager", {"store_options": {"bogus": 1}})
    assert info.value.field == "apikeys_store_options"
    with pytest.raises(ConfigError) as info:
        make_store(KEY, "vault_kv2", {"vault_url": None})
    assert info.value.field == "apikeys_vault_url"


def test_versions_are_opaque_and_absent_is_one_value():
    assert is_absent(ABSENT) and is_absent(0) and not is_absent("v1") and not is_absent(3)
    assert same_version(None, 0) and same_version("a", "a") and not same_version("a", "b")
    assert not same_version(None, "a") and not same_version(0, 1)


def test_vault_takes_no_store_options():
    error = config_error(args(store_options={"region": "eu-west-1"}))
    assert error.field == "apikeys_store_options" and "apikeys_vault_" in str(error)


def in_a_thread(job):
    """``job()``'s answer, run in a fresh thread (keep_stores marks the thread that calls it)."""
    out = {}
    worker = threading.Thread(target=lambda: out.update(answer=job()))
    worker.start()
    worker.join()
    return out["answer"]


VAULT = {"vault_url": "https://vault.example:8200", "vault_token": "t-" + CANARY}


def test_a_thread_that_keeps_stores_serves_the_same_vault_options_from_one_store():
    def job():
        keep_stores()
        first = make_store(KEY, "vault_kv2", dict(VAULT, name=KEY, vault_path="secret/apikeys/a"))
        same = make_store("other-key", "vault_kv2", dict(VAULT, name="other-key", vault_path="secret/apikeys/b"))
        other_token = make_store(KEY, "vault_kv2", dict(VAULT, vault_token="another"))
        other_url = make_store(KEY, "vault_kv2", dict(VAULT, vault_url="https://vault2.example:8200"))
        return first, same, other_token, other_url

    first, same, other_token, other_url = in_a_thread(job)
    assert same is first  # the record's path and the key's name are not store options
    assert other_token is not first and other_url is not first
    assert other_token.client.token == "another" and other_url.url == "https://vault2.example:8200"


def test_without_keep_stores_every_step_builds_its_own_store():
    def job():
        return make_store(KEY, "vault_kv2", dict(VAULT)), make_store(KEY, "vault_kv2", dict(VAULT))

    first, second = in_a_thread(job)
    assert first is not second


def test_kept_stores_belong_to_their_thread_and_are_bounded():
    def job():
        keep_stores(limit=2)
        stores = [make_store(KEY, "vault_kv2", dict(VAULT, vault_token=f"t{i}")) for i in range(3)]
        again = [make_store(KEY, "vault_kv2", dict(VAULT, vault_token=f"t{i}")) for i in (2, 0)]
        return stores, again

    stores, again = in_a_thread(job)
    assert again[0] is stores[2] and again[1] is not stores[0]  # the oldest was let go
    assert in_a_thread(lambda: (keep_stores(), make_store(KEY, "vault_kv2", dict(VAULT)))[1]) is not \
        in_a_thread(lambda: (keep_stores(), make_store(KEY, "vault_kv2", dict(VAULT)))[1])


@pytest.mark.parametrize("options", [
    {"vault_url": "https://vault.example:8200", "vault_token_file": "/run/vault/token"},  # Vault Agent may rewrite it
    {"vault_url": "https://vault.example:8200"},  # ~/.vault-token
    {"vault_url": "https://vault.example:8200", "vault_auth_method": "kubernetes", "vault_role": "r"},  # SA token file
    {"vault_url": "https://vault.example:8200", "vault_auth_method": "jwt", "vault_role": "r", "vault_jwt_file": "/j"},
])
def test_a_login_that_reads_a_file_is_never_reused(options):
    assert VaultKV2Store.reuse_slot(options) is None


def test_the_reuse_slot_never_holds_a_credential():
    slot = VaultKV2Store.reuse_slot(dict(VAULT, vault_auth_method="approle", vault_role_id="r", vault_secret_id=CANARY))
    assert slot and CANARY not in slot and "t-" not in slot


def test_other_stores_are_built_per_step_even_when_kept():
    def job():
        keep_stores()
        return [make_store(KEY, "aws_secretsmanager", {"store_options": {"region": "eu-west-1"}}) for _attempt in range(2)]

    first, second = in_a_thread(job)
    assert first is not second
