"""StripeProvider and its compact-JWE decryption, against the bench's Stripe emulator served on 127.0.0.1.

The JWEs are made by a third-party implementation (joserfc, in the emulator and here), so the
collection's decryption is checked against someone else's encryption, not against itself.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwe
from joserfc.jwk import RSAKey

REPO = Path(__file__).resolve().parents[4]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# pylint: disable=wrong-import-position
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import (  # noqa: E402
    ConfigError, ProviderError)
from ansible_collections.apikeys.rotation.plugins.module_utils._factory import make_provider  # noqa: E402
from ansible_collections.apikeys.rotation.plugins.module_utils.providers._stripe import (  # noqa: E402
    DEFAULT_API_VERSION, StripeProvider)
from ansible_collections.apikeys.rotation.plugins.module_utils.providers._stripe_jwe import (  # noqa: E402
    JweError, KeyPair, decrypt_compact)
from tests.bench.emulators import serve_in_thread  # noqa: E402
from tests.bench.emulators.stripe import StripeEmulator  # noqa: E402

KEY = "payments"
SECRET = "rk_live_canary-Zq9-secret-value"


# -- JWE ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def private_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sealed(private_key: Any, alg: str = "RSA-OAEP-256", enc: str = "A256GCM", plaintext: str = SECRET,
           header: dict[str, Any] | None = None) -> str:
    pem = private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    registry = jwe.JWERegistry(algorithms=[alg, enc])
    return jwe.encrypt_compact(dict({"alg": alg, "enc": enc}, **(header or {})), plaintext.encode(),
                               RSAKey.import_key(pem), registry=registry)


@pytest.mark.parametrize("alg", ["RSA-OAEP", "RSA-OAEP-256"])
def test_decrypts_what_joserfc_encrypted(private_key: Any, alg: str) -> None:
    assert decrypt_compact(sealed(private_key, alg), private_key) == SECRET


def test_a_key_pair_decrypts_what_was_encrypted_to_its_public_half() -> None:
    pair = KeyPair()
    token = jwe.encrypt_compact({"alg": "RSA-OAEP-256", "enc": "A256GCM"}, SECRET.encode(),
                                RSAKey.import_key(pair.public_pem()),
                                registry=jwe.JWERegistry(algorithms=["RSA-OAEP-256", "A256GCM"]))
    assert pair.decrypt(token) == SECRET
    assert "PRIVATE" not in repr(pair) and "PRIVATE" not in pair.public_pem()


@pytest.mark.parametrize("alg, enc, words", [
    ("RSA1_5", "A256GCM", "alg 'RSA1_5' is not one of RSA-OAEP, RSA-OAEP-256"),
    ("RSA-OAEP-256", "A128GCM", "enc 'A128GCM' is not A256GCM"),
    ("RSA-OAEP-256", "A128CBC-HS256", "enc 'A128CBC-HS256' is not A256GCM"),
])
def test_another_algorithm_is_refused_by_name(private_key: Any, alg: str, enc: str, words: str) -> None:
    with pytest.raises(JweError) as refused:
        decrypt_compact(sealed(private_key, alg, enc), private_key)
    assert words in str(refused.value)


def test_an_algorithm_left_out_by_the_option_is_refused(private_key: Any) -> None:
    with pytest.raises(JweError, match="alg 'RSA-OAEP' is not one of RSA-OAEP-256"):
        decrypt_compact(sealed(private_key, "RSA-OAEP"), private_key, ["RSA-OAEP-256"])


def test_compressed_jwe_is_refused(private_key: Any) -> None:
    forged = jwe.encrypt_compact({"alg": "RSA-OAEP-256", "enc": "A256GCM", "zip": "DEF"}, SECRET.encode(),
                                 RSAKey.import_key(private_key.public_key().public_bytes(
                                     serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)),
                                 registry=jwe.JWERegistry(algorithms=["RSA-OAEP-256", "A256GCM", "DEF"]))
    with pytest.raises(JweError, match="compressed"):
        decrypt_compact(forged, private_key)


def flip(segment: str) -> str:
    return ("A" if segment[0] != "A" else "B") + segment[1:]


@pytest.mark.parametrize("part, words", [
    (1, "content key does not decrypt"),
    (3, "fails its authentication tag"),
    (4, "fails its authentication tag"),
])
def test_a_tampered_jwe_does_not_decrypt_and_says_nothing_of_it(private_key: Any, part: int, words: str) -> None:
    parts = sealed(private_key).split(".")
    parts[part] = flip(parts[part])
    with pytest.raises(JweError) as refused:
        decrypt_compact(".".join(parts), private_key)
    assert words in str(refused.value)
    assert SECRET not in str(refused.value) and parts[part] not in str(refused.value)


def test_a_jwe_for_another_key_does_not_decrypt(private_key: Any) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(JweError, match="content key does not decrypt"):
        decrypt_compact(sealed(other), private_key)


@pytest.mark.parametrize("text, words", [
    ("not-a-jwe", "expected 5 dot-separated segments, found 1"),
    ("a.b.c", "found 3"),
    ("!!.b.c.d.e", "protected header is not"),
    ("WzFd.b.c.d.e", "not a JSON object"),
])
def test_malformed_jwe(private_key: Any, text: str, words: str) -> None:
    with pytest.raises(JweError, match=words):
        decrypt_compact(text, private_key)


# -- options ------------------------------------------------------------------------------------

@pytest.mark.parametrize("options, field", [
    ({"permissions": []}, "permissions"),
    ({"permissions": ["Customer Read"]}, "permissions"),
    ({"permissions": "customer_read"}, "permissions"),
    ({"connect_permissions": [7]}, "connect_permissions"),
    ({"account": "CANARY-9x"}, "account"),
    ({"api_version": "CANARY-9x"}, "api_version"),
    ({"jwe_algorithms": ["RSA1_5"]}, "jwe_algorithms"),
    ({"jwe_algorithms": []}, "jwe_algorithms"),
    ({"rsa_key_size": 1024}, "rsa_key_size"),
    ({"expire_interval": 0}, "expire_interval"),
    ({"test_path": "v1/customers"}, "test_path"),
    ({"colour": "CANARY-9x"}, "colour"),
])
def test_bad_options_name_the_field_and_not_the_value(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as refused:
        make_provider(KEY, "stripe", options, "sk_test_x")
    assert refused.value.field == f"apikeys_provider_options.{field}"
    assert "CANARY-9x" not in str(refused.value) and f"key '{KEY}'" in str(refused.value)


def test_good_options() -> None:
    provider = make_provider(KEY, "stripe", {"permissions": ["customer_read"], "account": "acct_1Abc",
                                             "api_version": "2026-10-14.preview", "jwe_algorithms": ["RSA-OAEP-256"],
                                             "rsa_key_size": 3072, "expire_timeout": 60}, "sk_test_x")
    assert isinstance(provider, StripeProvider)
    assert (provider.api_version, provider.account, provider.algorithms) == ("2026-10-14.preview", "acct_1Abc",
                                                                             ["RSA-OAEP-256"])
    assert make_provider(KEY, "stripe", {}, "sk_test_x").api_version == DEFAULT_API_VERSION


def test_the_management_key_comes_from_the_environment_and_is_a_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_MANAGEMENT_KEY", "sk_test_from_env")
    assert make_provider(KEY, "stripe", {}, None).credentials() == ["sk_test_from_env"]
    monkeypatch.delenv("STRIPE_MANAGEMENT_KEY")
    with pytest.raises(ConfigError, match="STRIPE_MANAGEMENT_KEY"):
        make_provider(KEY, "stripe", {}, None).require_credential()


# -- against the emulator -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def served() -> Iterator[Any]:
    running = serve_in_thread(StripeEmulator(expire_delay=0.5))
    yield running
    running.stop()


@pytest.fixture
def stripe(served: Any) -> StripeEmulator:
    served.app.reset()
    return served.app


def provider(served: Any, stripe: StripeEmulator, **options: Any) -> StripeProvider:
    made = make_provider(KEY, "stripe", dict({"api_url": served.url, "expire_interval": 1, "expire_timeout": 10},
                                             **options), stripe.admin_key)
    assert isinstance(made, StripeProvider)
    made.expire_interval = 0.1
    return made


def seeded(served: Any, permissions: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "dashboard key"}
    if permissions is not None:
        body["permissions"] = permissions
    return requests.post(served.url + "/__emulator/seed", json=body, timeout=5).json()


def keys(served: Any) -> dict[str, dict[str, Any]]:
    return {k["id"]: k for k in requests.get(served.url + "/__emulator/keys", timeout=5).json()}


def test_create_copies_the_current_keys_permissions_and_decrypts_the_secret(served: Any, stripe: StripeEmulator) -> None:
    old = seeded(served, ["customer_read", "charge_read"])
    made = provider(served, stripe)
    made.prepare(old["id"])

    new = made.create("apikeys-payments-r1", old["id"])

    assert new.secret.startswith("rk_live_") and new.secret != old["token"]
    assert keys(served)[new.key_id]["permissions"] == ["customer_read", "charge_read"]
    assert made.accepts(new.secret, new.key_id) and made.accepts(old["token"], old["id"])
    assert made.find_by_name("apikeys-payments-r1", datetime.now(timezone.utc), set()) == [new.key_id]
    assert made.find_by_name("apikeys-payments-r1", datetime.now(timezone.utc), {new.key_id}) == []
    assert made.usage().count == 2 and made.usage().limit is None
    assert made.last_used(new.key_id) is not None
    assert SECRET not in repr(new) and new.secret not in repr(new)


def test_a_sandbox_key_comes_back_as_a_plain_token(served: Any, stripe: StripeEmulator) -> None:
    stripe.configure({"livemode": False})
    new = provider(served, stripe, permissions=["customer_read"]).create("apikeys-payments-r2", None)
    assert new.secret.startswith("rk_test_")
    assert provider(served, stripe).accepts(new.secret, new.key_id)


def test_a_create_is_replayed_not_repeated_with_the_same_name(served: Any, stripe: StripeEmulator) -> None:
    made = provider(served, stripe, permissions=["customer_read"])
    first = made.create("apikeys-payments-r3", None)
    again = requests.post(served.url + "/v2/iam/api_keys", timeout=5, json={"type": "secret_key", "name": "x"},
                          headers={"Authorization": f"Bearer {stripe.admin_key}", "Stripe-Version": DEFAULT_API_VERSION,
                                   "Idempotency-Key": "apikeys-create-apikeys-payments-r3"})
    assert again.status_code == 400 and again.json()["error"]["type"] == "idempotency_error"
    assert [k for k in keys(served).values() if k["name"] == "apikeys-payments-r3"] == [keys(served)[first.key_id]]


@pytest.mark.parametrize("setting, words", [
    ({"jwe_corrupt": True}, "content key does not decrypt"),
    ({"jwe_alg": "RSA1_5"}, "alg 'RSA1_5' is not one of"),
    ({"jwe_enc": "A128GCM"}, "enc 'A128GCM' is not A256GCM"),
    ({"drop_permissions": True}, "asked for but not granted: charge_read"),
])
def test_an_unusable_new_key_is_expired_at_once(served: Any, stripe: StripeEmulator, setting: dict[str, Any],
                                                words: str) -> None:
    stripe.configure(setting)
    made = provider(served, stripe, permissions=["customer_read", "charge_read"])

    with pytest.raises(ProviderError) as failed:
        made.create("apikeys-payments-r4", None)

    message = str(failed.value)
    assert words in message and "was expired at once and the current key stays in use" in message
    assert failed.value.status == 200, "a clear answer: the rotation clears its intent"
    (created,) = [k for k in keys(served).values() if k["name"] == "apikeys-payments-r4"]
    assert created["status"] == "expired"
    assert made.find_by_name("apikeys-payments-r4", datetime.now(timezone.utc), set()) == []


def test_no_create_without_permissions(served: Any, stripe: StripeEmulator) -> None:
    before = len(keys(served))
    with pytest.raises(ConfigError, match="no current key to copy the permissions from"):
        provider(served, stripe).create("apikeys-payments-r5", None)
    with pytest.raises(ProviderError, match="is not found at Stripe"):
        provider(served, stripe).create("apikeys-payments-r5", "mk_unknown")
    assert len(keys(served)) == before


def test_revoke_expires_and_confirm_waits_until_the_key_is_rejected(served: Any, stripe: StripeEmulator) -> None:
    old = seeded(served)
    made = provider(served, stripe)

    assert made.revoke(old["id"]) is True
    assert made.accepts(old["token"], old["id"]), "Stripe's expiry takes a while to take effect"
    made.confirm_revoked(old["id"], old["token"])

    assert not made.accepts(old["token"], old["id"])
    assert made.revoke(old["id"]) is True, "expiring again is replayed (idempotent)"
    assert made.revoke("mk_unknown") is False


def test_confirm_gives_up_with_a_clear_error(served: Any, stripe: StripeEmulator) -> None:
    stripe.configure({"expire_delay": 30})
    old = seeded(served)
    made = provider(served, stripe, expire_timeout=0)
    made.revoke(old["id"])
    with pytest.raises(ProviderError, match="still works 0s later; the record keeps it"):
        made.confirm_revoked(old["id"], old["token"])


def test_a_key_without_the_test_permission_is_alive(served: Any, stripe: StripeEmulator) -> None:
    limited = seeded(served, ["charge_read"])
    assert provider(served, stripe).accepts(limited["token"], limited["id"])
    assert not provider(served, stripe).accepts("rk_live_nonsense", "mk_x")


def test_stripe_errors_are_shown_without_the_credential(served: Any, stripe: StripeEmulator) -> None:
    made = provider(served, stripe, api_version="2020-08-27")
    with pytest.raises(ProviderError) as failed:
        made.usage()
    assert "HTTP 404" in str(failed.value) and "preview Stripe-Version" in str(failed.value)
    wrong = make_provider(KEY, "stripe", {"api_url": served.url}, "sk_test_CANARYCANARYCANARY")
    with pytest.raises(ProviderError) as refused:
        wrong.usage()
    assert "HTTP 401" in str(refused.value) and "Invalid API Key" in str(refused.value)
    assert "CANARYCANARYCANARY" not in str(refused.value)


def test_a_connected_account_is_named_by_stripe_context(served: Any, stripe: StripeEmulator) -> None:
    made = provider(served, stripe, account="acct_1BenchConnected", permissions=["customer_read"])
    new = made.create("apikeys-payments-r6", None)
    assert keys(served)[new.key_id]["account"] == "acct_1BenchConnected"
    assert made.find_by_name("apikeys-payments-r6", datetime.now(timezone.utc), set()) == [new.key_id]
    assert provider(served, stripe).find_by_name("apikeys-payments-r6", datetime.now(timezone.utc), set()) == []
    with pytest.raises(ProviderError, match="HTTP 403"):
        provider(served, stripe, account="acct_1SomeoneElse").usage()


def test_the_list_is_read_across_pages(served: Any, stripe: StripeEmulator) -> None:
    for number in range(103):
        requests.post(served.url + "/__emulator/seed", json={"name": f"k{number}"}, timeout=5)
    assert provider(served, stripe).usage().count == 103


@pytest.mark.parametrize("following, ok", [
    (None, True), ("/v2/iam/api_keys?limit=100&page=100", True), ("{url}/v2/iam/api_keys?page=2", True),
    ("https://elsewhere.example/v2/iam/api_keys?page=2", False), ("/v1/customers?page=2", False), (7, False),
])
def test_a_next_page_elsewhere_is_not_followed(served: Any, stripe: StripeEmulator, following: Any, ok: bool) -> None:
    made = provider(served, stripe)
    following = following.format(url=served.url) if isinstance(following, str) else following
    if ok:
        assert made._next_page(following) in (None, "/v2/iam/api_keys?limit=100&page=100", "/v2/iam/api_keys?page=2")
    else:
        with pytest.raises(ProviderError, match="not followed"):
            made._next_page(following)
