"""key_config: every error names the key and the inventory field, never the offending value."""
from __future__ import annotations

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils._config import KeyConfig, key_config
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ConfigError

KEY = "billing-mailer"
CANARY = "CANARY-s3cr3t-Zq9"

HTTP_OPTIONS = {"admin_url": "https://kong.internal:8001", "create_path": "/consumers/{consumer}/key-auth",
                "key_path": "/consumers/{consumer}/key-auth/{key_id}", "test_url": "https://api.internal/ping",
                "path_params": {"consumer": "billing"}}


def args(**over):
    base = {"name": KEY, "provider": "sendgrid", "vault_path": "secret/apikeys/" + KEY,
            "provider_options": {}, "rotation_frequency": "90d", "grace_period": "7d"}
    base.update(over)
    return base


def config_error(arguments, need_schedule=False) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        key_config(arguments, need_schedule=need_schedule)
    return info.value


def assert_names(error: ConfigError, field: str, *, not_in: str = CANARY) -> None:
    message = str(error)
    assert error.key == KEY and error.field == field
    assert f"key '{KEY}'" in message
    assert field in message
    assert not_in not in message
    assert error.kind == "config"


def test_valid_config():
    cfg = key_config(args(vault_path="/secret/apikeys/billing/"), need_schedule=True)
    assert cfg == KeyConfig(name=KEY, provider="sendgrid", vault_path="secret/apikeys/billing",
                            provider_options={}, rotation_frequency=90 * 86400, grace_period=7 * 86400)


def test_valid_http_config():
    cfg = key_config(args(provider="http", provider_options=HTTP_OPTIONS))
    assert cfg.provider == "http" and cfg.provider_options == HTTP_OPTIONS


def test_schedule_optional_unless_needed():
    cfg = key_config(args(rotation_frequency=None, grace_period=""))
    assert cfg.rotation_frequency is None and cfg.grace_period is None


@pytest.mark.parametrize("provider", [CANARY, "Sendgrid", "amazon-iam"])
def test_unknown_provider(provider):
    error = config_error(args(provider=provider))
    assert_names(error, "apikeys_provider", not_in=provider)
    assert "unknown provider" in str(error)
    for known in ("aws_iam", "http", "sendgrid"):
        assert known in str(error)


@pytest.mark.parametrize("provider", [None, "", 5])
def test_missing_provider(provider):
    error = config_error(args(provider=provider))
    assert_names(error, "apikeys_provider")
    assert "missing" in str(error)


def test_stripe_is_a_provider_now():
    assert key_config(args(provider="stripe", provider_options={"permissions": ["customer_read"]})).provider == "stripe"


def test_a_provider_that_cannot_be_automated_is_refused_with_the_explanation(monkeypatch):
    from ansible_collections.apikeys.rotation.plugins.module_utils import _factory

    monkeypatch.setitem(_factory.UNSUPPORTED, "example", "rotate it by hand in its console")
    error = config_error(args(provider="example"))
    assert_names(error, "apikeys_provider")
    assert "cannot be rotated automatically: rotate it by hand in its console" in str(error)


@pytest.mark.parametrize("path", [None, "", "/", "///", 42])
def test_vault_path_missing(path):
    error = config_error(args(vault_path=path))
    assert_names(error, "apikeys_vault_path")
    assert "missing" in str(error)


@pytest.mark.parametrize("path", [CANARY, "/" + CANARY + "/", "secret/../" + CANARY, CANARY + "/../x"])
def test_vault_path_without_mount_or_with_dotdot(path):
    error = config_error(args(vault_path=path))
    assert_names(error, "apikeys_vault_path")
    assert "<mount>/<path>" in str(error)


@pytest.mark.parametrize("field, arg", [("apikeys_rotation_frequency", "rotation_frequency"),
                                        ("apikeys_grace_period", "grace_period")])
@pytest.mark.parametrize("value, canary", [
    ("5x", CANARY + "5x"),       # unknown unit
    ("0d", "00000000d"),         # zero
    ("10", "1234567890"),        # no unit
])
def test_bad_durations(field, arg, value, canary):
    for bad in (value, canary):
        error = config_error(args(**{arg: bad}))
        assert_names(error, field, not_in=canary)


@pytest.mark.parametrize("field, arg", [("apikeys_rotation_frequency", "rotation_frequency"),
                                        ("apikeys_grace_period", "grace_period")])
def test_schedule_missing_when_needed(field, arg):
    error = config_error(args(**{arg: None}), need_schedule=True)
    assert_names(error, field)
    assert "missing" in str(error)


@pytest.mark.parametrize("frequency, grace", [("30d", "31d"), ("1h", "61m"), ("1d", "2w")])
def test_grace_longer_than_frequency(frequency, grace):
    error = config_error(args(rotation_frequency=frequency, grace_period=grace))
    assert_names(error, "apikeys_grace_period")
    assert "apikeys_rotation_frequency" in str(error)


def test_grace_equal_to_frequency_allowed():
    cfg = key_config(args(rotation_frequency="7d", grace_period="1w"))
    assert cfg.grace_period == cfg.rotation_frequency


def test_provider_options_not_a_mapping():
    error = config_error(args(provider_options=[CANARY]))
    assert_names(error, "apikeys_provider_options")


@pytest.mark.parametrize("provider, options, field", [
    ("sendgrid", {"unknown_opt": CANARY}, "apikeys_provider_options.unknown_opt"),
    ("aws_iam", {"user_name": "svc", "secret_key": CANARY}, "apikeys_provider_options.secret_key"),
    ("http", dict(HTTP_OPTIONS, admin_token=CANARY), "apikeys_provider_options.admin_token"),
])
def test_unknown_provider_option(provider, options, field):
    error = config_error(args(provider=provider, provider_options=options))
    assert_names(error, field)
    assert "unknown option" in str(error)


@pytest.mark.parametrize("provider, options, field, kind", [
    ("sendgrid", {"max_keys": CANARY}, "apikeys_provider_options.max_keys", "int"),
    ("sendgrid", {"max_keys": True}, "apikeys_provider_options.max_keys", "int"),
    ("sendgrid", {"scopes": CANARY}, "apikeys_provider_options.scopes", "list"),
    ("sendgrid", {"api_url": [CANARY]}, "apikeys_provider_options.api_url", "str"),
    ("aws_iam", {"user_name": {"n": CANARY}}, "apikeys_provider_options.user_name", "str"),
    ("http", dict(HTTP_OPTIONS, create_body=CANARY), "apikeys_provider_options.create_body", "dict"),
])
def test_provider_option_wrong_type(provider, options, field, kind):
    error = config_error(args(provider=provider, provider_options=options))
    assert_names(error, field)
    assert f"must be of type {kind}" in str(error)


@pytest.mark.parametrize("provider, options, field", [
    ("aws_iam", {}, "apikeys_provider_options.user_name"),
    ("http", {k: v for k, v in HTTP_OPTIONS.items() if k != "test_url"}, "apikeys_provider_options.test_url"),
])
def test_required_provider_option(provider, options, field):
    error = config_error(args(provider=provider, provider_options=options))
    assert_names(error, field)
    assert "required" in str(error)


def test_http_key_path_without_key_id():
    options = dict(HTTP_OPTIONS, key_path="/consumers/{consumer}/key-auth/" + CANARY)
    error = config_error(args(provider="http", provider_options=options))
    assert_names(error, "apikeys_provider_options.key_path")
    assert "{key_id}" in str(error)


def test_http_placeholder_not_in_path_params():
    options = dict(HTTP_OPTIONS, create_path="/consumers/{owner}/key-auth")
    error = config_error(args(provider="http", provider_options=options))
    assert_names(error, "apikeys_provider_options.create_path")
    assert "{owner}" in str(error)


@pytest.mark.parametrize("option, template", [("key_path", "/consumers/{consumer}/key-auth/{key_id"),
                                              ("create_path", "/consumers/{consumer}}/key-auth")])
def test_http_malformed_template_is_a_config_error(option, template):
    options = dict(HTTP_OPTIONS, **{option: template})
    error = config_error(args(provider="http", provider_options=options))
    assert_names(error, "apikeys_provider_options." + option)


def test_http_create_body_unknown_placeholder_is_a_config_error():
    options = dict(HTTP_OPTIONS, create_body={"tags": ["{name}"], "consumer": "{consumer_id}"})
    error = config_error(args(provider="http", provider_options=options))
    assert_names(error, "apikeys_provider_options.create_body")


@pytest.mark.parametrize("grace, ttl, margin, refused", [
    ("6m", "5m", None, False),          # exactly TTL + the default 1m margin
    ("5m59s", "5m", None, True),
    ("5m", "5m", "0s", False),
    ("1h", "5m", "10m", False),
    ("10m", "5m", "10m", True),
    ("30s", None, None, False),         # no declared TTL: no check
])
def test_grace_must_cover_the_consumers_cache(grace, ttl, margin, refused):
    over = {"grace_period": grace, "consumer_cache_ttl": ttl}
    if margin is not None:
        over["consumer_cache_margin"] = margin
    if not refused:
        assert key_config(args(**over)).grace_period
        return
    error = config_error(args(**over))
    assert_names(error, "apikeys_grace_period")
    assert "is shorter than apikeys_consumer_cache_ttl 5m + margin" in error.problem


def test_cache_ttl_must_be_a_duration():
    assert_names(config_error(args(consumer_cache_ttl=CANARY)), "apikeys_consumer_cache_ttl")
