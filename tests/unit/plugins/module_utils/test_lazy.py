"""_lazy: optional libraries found without importing them, imported on first use.

The modules that use boto3, prometheus_client and the cron libraries are imported by every run; each is
imported here in a fresh interpreter, which must not import its library until it is used. With the
library missing (``sys.modules[name] = None``: found nowhere, importing it fails), each says which
library it needs and how to install it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils import _lazy

COLLECTIONS = Path(__file__).resolve().parents[4] / ".build" / "collections"
MU = "ansible_collections.apikeys.rotation.plugins.module_utils"


def run_fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter with the collection importable; it prints one JSON object."""
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS), AWS_ACCESS_KEY_ID="AKIATESTTESTTEST",
               AWS_SECRET_ACCESS_KEY="lazy-test-not-a-secret", AWS_EC2_METADATA_DISABLED="true")
    env.pop("AWS_PROFILE", None)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the helper itself ------------------------------------------------------------------------------

def test_available_finds_without_importing():
    assert _lazy.available("json") is True
    assert _lazy.available("apikeys_no_such_library_here") is False


def test_load_imports_once_and_returns_the_module():
    import json as expected
    assert _lazy.load("json") is expected
    assert _lazy.load("json.decoder") is sys.modules["json.decoder"]
    with pytest.raises(ImportError):
        _lazy.load("apikeys_no_such_library_here")


def test_placeholders_are_distinct_and_match_nothing_raised():
    first, second = _lazy.placeholder("ClientError"), _lazy.placeholder("BotoCoreError")
    assert first is not second and issubclass(first, _lazy.NotLoaded) and issubclass(second, _lazy.NotLoaded)
    with pytest.raises(KeyError):
        try:
            raise KeyError("x")
        except (first, second):
            pytest.fail("a placeholder matched a real exception")


def test_bind_replaces_only_placeholders_once():
    class Names:
        JSONDecodeError = _lazy.placeholder("JSONDecodeError")
        other = "kept"

    _lazy.bind(Names, "json")
    assert Names.JSONDecodeError is json.JSONDecodeError and Names.other == "kept"
    Names.JSONDecodeError = ValueError  # bound: a second call changes nothing
    _lazy.bind(Names, "json")
    assert Names.JSONDecodeError is ValueError


# -- each user of the helper, in a fresh interpreter ------------------------------------------------

FRESH = {
    "metrics": ("_metrics", ["prometheus_client"], """
        from datetime import datetime, timezone
        module.key_registry({}, datetime.now(timezone.utc))
    """),
    "schedule parse": ("_schedule", ["cron_converter"], """
        module.parse_schedule("k", "0 3 * * 0")
    """),
    "schedule describe": ("_schedule", ["cron_descriptor"], """
        assert module.describe("0 3 * * 0") != "0 3 * * 0"
    """),
    "secretsmanager store": ("stores._aws_secretsmanager", ["boto3", "botocore"], """
        store = module.SecretsManagerStore.from_options("k", {"store_options": {"region": "us-east-1"}})
        assert store.client is not None
    """),
    "aws_iam provider": ("providers._aws_iam", ["boto3", "botocore"], """
        assert module.AwsIamProvider("k", {"user_name": "u"}).iam is not None
    """),
    "aws clients": ("_aws_clients", ["boto3", "botocore"], """
        module.shared_client("iam", profile=None, region="us-east-1", endpoint_url=None, timeout=5)
    """),
}


@pytest.mark.parametrize("case", sorted(FRESH))
def test_importing_does_not_import_the_library_using_does(case):
    name, libraries, use = FRESH[case]
    found = run_fresh(f"""
        import importlib, json, sys
        module = importlib.import_module("{MU}.{name}")
        before = [n for n in {libraries!r} if n in sys.modules]
        {textwrap.indent(textwrap.dedent(use), " " * 8).strip()}
        after = [n for n in {libraries!r} if n in sys.modules]
        print(json.dumps({{"before": before, "after": after}}))
    """)
    assert found == {"before": [], "after": libraries}


def test_the_store_registry_and_the_provider_factory_import_no_library():
    found = run_fresh(f"""
        import json, sys
        import {MU}._factory, {MU}.stores._registry, {MU}._config, {MU}._metrics
        print(json.dumps([n for n in ("boto3", "botocore", "prometheus_client", "cron_converter", "cron_descriptor")
                          if n in sys.modules]))
    """)
    assert found == []


# -- with the library missing: the error names it and how to install it -----------------------------

MISSING = {
    "metrics": (["prometheus_client"], """
        from ansible_collections.apikeys.rotation.plugins.module_utils import _metrics as module
        assert module.HAS_PROMETHEUS_CLIENT is False
        message = module.MISSING_LIBRARY
    """, ("prometheus-client", "pip install prometheus-client")),
    "schedule": (["cron_converter", "cron_descriptor"], """
        from ansible_collections.apikeys.rotation.plugins.module_utils import _schedule as module
        assert module.describe("0 3 * * 0") == "0 3 * * 0"  # no description library: the expression itself
        try:
            module.parse_schedule("k", "0 3 * * 0")
        except module.ConfigError as exc:
            message = str(exc)
    """, ("apikeys_schedule", "cron-converter", "pip install cron-converter")),
    "secretsmanager store": (["boto3", "botocore"], """
        from ansible_collections.apikeys.rotation.plugins.module_utils.stores import _aws_secretsmanager as module
        try:
            module.SecretsManagerStore.from_options("k", {})
        except module.ConfigError as exc:
            message = str(exc)
    """, ("apikeys_store", "boto3", "pip install boto3")),
    "aws_iam provider": (["boto3", "botocore"], """
        from ansible_collections.apikeys.rotation.plugins.module_utils.providers import _aws_iam as module
        provider = module.AwsIamProvider("k", {"user_name": "u"})
        messages = []
        for call in (lambda: provider.create("n", None), lambda: provider.accepts("s", "AKIA"), lambda: provider.usage()):
            try:
                call()
            except module.ConfigError as exc:
                messages.append(str(exc))
        assert len(set(messages)) == 1, messages
        message = messages[0]
    """, ("apikeys_provider", "boto3", "pip install boto3")),
}


@pytest.mark.parametrize("case", sorted(MISSING))
def test_a_missing_library_is_named_with_how_to_install_it(case):
    libraries, use, expected = MISSING[case]
    found = run_fresh(f"""
        import json, sys
        for name in {libraries!r}:
            sys.modules[name] = None
        message = None
        {textwrap.indent(textwrap.dedent(use), " " * 8).strip()}
        print(json.dumps(message))
    """)
    assert found is not None
    for part in expected:
        assert part in found
