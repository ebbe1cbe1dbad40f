"""The provider, store and evidence registries: names known without importing, each module imported on first use.

A one-key run (an http gateway key in OpenBao) imports the action plugin chain and builds one provider and one
store: the other providers, stores, evidence sources and the notification module stay unimported (each is compiled
from source by ansible-core's collection loader in every worker). Every registered name resolves to its class.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils import _factory
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ConfigError
from ansible_collections.apikeys.rotation.plugins.module_utils._lazy_classes import MODULE_UTILS, LazyClasses
from ansible_collections.apikeys.rotation.plugins.module_utils.evidence._base import Evidence
from ansible_collections.apikeys.rotation.plugins.module_utils.providers._base import Provider
from ansible_collections.apikeys.rotation.plugins.module_utils.stores import _registry
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._base import Store

COLLECTIONS = Path(__file__).resolve().parents[4] / ".build" / "collections"
KEY = "billing-mailer"
HTTP_OPTIONS = {"admin_url": "https://gateway.example:8001", "create_path": "/keys", "key_path": "/keys/{key_id}",
                "test_url": "https://api.example/ping"}

#: modules an http gateway key in OpenBao never needs
UNUSED = ["providers._stripe", "providers._stripe_jwe", "providers._twilio", "providers._sendgrid", "providers._aws_iam",
          "stores._aws_secretsmanager", "evidence._prometheus", "evidence._http_versions", "evidence._provider",
          "_notify"]


def run_fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter with the collection importable; it prints one JSON object last."""
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_one_key_http_vault_path_imports_no_other_provider_store_evidence_nor_notify():
    found = run_fresh(f"""
        import json, sys
        from ansible_collections.apikeys.rotation.plugins.plugin_utils import _action
        from {MODULE_UTILS}._config import key_config
        from {MODULE_UTILS}._factory import make_evidence, make_provider
        from {MODULE_UTILS}.stores._registry import make_store
        cfg = key_config({{"name": "k", "provider": "http", "vault_path": "secret/apikeys/k",
                          "provider_options": {HTTP_OPTIONS!r}}})
        provider = make_provider("k", "http", cfg.provider_options, "credential")
        store = make_store("k", "vault_kv2", {{"vault_url": "https://vault.example:8200", "vault_token": "t"}})
        make_evidence("k", {{"source": "none"}}, provider)
        loaded = sorted(n for n in sys.modules if n.startswith("{MODULE_UTILS}."))
        print(json.dumps({{"provider": type(provider).__name__, "store": type(store).__name__, "loaded": loaded}}))
    """)
    assert found["provider"] == "HttpGatewayProvider" and found["store"] == "VaultKV2Store"
    assert f"{MODULE_UTILS}.providers._http_gateway" in found["loaded"]  # the check sees what was imported
    assert [name for name in UNUSED if f"{MODULE_UTILS}.{name}" in found["loaded"]] == []


def test_unknown_names_list_the_known_ones_without_importing_them():
    found = run_fresh(f"""
        import json, sys
        from {MODULE_UTILS} import _factory
        from {MODULE_UTILS}.stores import _registry
        messages = []
        for call in (lambda: _factory.provider_class("k", "strip"), lambda: _registry.store_class("k", "consul")):
            try:
                call()
            except _factory.ConfigError as exc:
                messages.append(str(exc))
        names = sorted(_factory.PROVIDERS) + sorted(_registry.STORES) + sorted(_factory.EVIDENCE)
        loaded = sorted(n for n in sys.modules if n.startswith("{MODULE_UTILS}.providers._")
                        or n.startswith("{MODULE_UTILS}.stores._a") or n.startswith("{MODULE_UTILS}.evidence._"))
        print(json.dumps({{"messages": messages, "names": names, "loaded": loaded}}))
    """)
    assert "stripe" in found["messages"][0] and "twilio" in found["messages"][0]
    assert "aws_secretsmanager" in found["messages"][1] and "vault_kv2" in found["messages"][1]
    assert "none" in found["names"] and "aws_iam" in found["names"]
    assert found["loaded"] == [f"{MODULE_UTILS}.evidence._base", f"{MODULE_UTILS}.providers._base"]


@pytest.mark.parametrize("registry, base, attribute", [
    (_factory.PROVIDERS, Provider, "name"),
    (_registry.STORES, Store, "kind"),
    (_factory.EVIDENCE, Evidence, "name"),
])
def test_every_registered_name_resolves_to_its_class(registry, base, attribute):
    assert len(registry) >= 2
    for name in registry:
        cls = registry[name]
        assert issubclass(cls, base) and getattr(cls, attribute) == name, registry.where(name)
        assert registry[name] is cls  # kept: imported once
    assert dict(registry.items()) == {name: registry[name] for name in registry}


def test_a_table_typo_fails_on_use_and_an_unknown_name_is_a_key_error():
    table = LazyClasses(MODULE_UTILS + ".providers", {"typo": ("_http_gateway", "HttpGatewayProvidr"),
                                                      "gone": ("_no_such_module", "X")})
    assert "typo" in table and "other" not in table and sorted(table) == ["gone", "typo"]
    with pytest.raises(AttributeError):
        table["typo"]  # pylint: disable=pointless-statement
    with pytest.raises(ImportError):
        table["gone"]  # pylint: disable=pointless-statement
    with pytest.raises(KeyError):
        table["other"]  # pylint: disable=pointless-statement
    assert table.get("other") is None


def test_evidence_from_the_provider_is_built_with_the_provider():
    provider = _factory.make_provider(KEY, "http", HTTP_OPTIONS, "credential")
    evidence = _factory.make_evidence(KEY, {"source": "provider"}, provider)
    assert isinstance(evidence, _factory.EVIDENCE["provider"])
    with pytest.raises(ConfigError):
        _factory.make_evidence(KEY, {"source": "guess"}, provider)
