"""What every step of every key used to rebuild (plugins/plugin_utils/_action.py, module_utils/_scrub.py): built once,
keeping nothing of one step for the next."""
from __future__ import annotations

from ansible_collections.apikeys.rotation.plugins.action.api_key_create import ActionModule as Create
from ansible_collections.apikeys.rotation.plugins.action.api_key_info import ActionModule as Info
from ansible_collections.apikeys.rotation.plugins.module_utils import _scrub
from ansible_collections.apikeys.rotation.plugins.module_utils._scrub import Scrubber


def test_one_validator_per_action_class_and_it_keeps_nothing_of_a_validation() -> None:
    assert Info.validator() is Info.validator() and Create.validator() is not Info.validator()
    first = Info.validator().validate({"name": "k1", "provider": "http", "vault_path": "secret/k1", "vault_token": "t0ken-one"})
    second = Info.validator().validate({"name": "k2", "provider": "http", "vault_path": "secret/k2"})
    assert not first.error_messages and not second.error_messages
    assert second.validated_parameters["name"] == "k2" and second.validated_parameters.get("vault_token") is None
    assert "t0ken-one" in first._no_log_values and "t0ken-one" not in second._no_log_values
    bad = Info.validator().validate({"name": "k3", "provider": "http", "vault_path": "secret/k3", "no_such_option": 1})
    assert bad.error_messages, "an unknown argument is still refused"


def test_a_secrets_forms_are_computed_once_and_every_scrubber_still_hides_them() -> None:
    _scrub.forms.cache_clear()
    secret = "sk_live_0123456789abcdef"
    texts = []
    for _step in range(3):
        scrubber = Scrubber()
        scrubber.remember(secret)
        texts.append(scrubber.scrub(f"Authorization: Bearer {secret} / {secret.encode().hex()}"))
    assert _scrub.forms.cache_info().misses == 1 and _scrub.forms.cache_info().hits == 2
    assert all(secret not in text and "<hidden>" in text for text in texts)
    assert isinstance(_scrub.forms(secret), frozenset), "shared between scrubbers: nobody may change it"
    assert Scrubber().scrub(f"x {secret}") == f"x {secret}", "a new scrubber knows only its own secrets"


def test_an_outcome_file_holds_the_same_json_as_before(tmp_path) -> None:
    import json
    from datetime import datetime, timezone

    from ansible_collections.apikeys.rotation.plugins.plugin_utils import _batch as batch

    outcome = {"key": "k", "changed": True, "plan": {"due": True, "at": datetime(2026, 1, 2, tzinfo=timezone.utc)},
               "steps": ["a", 1, None], "msg": "caf\u00e9 \"quoted\""}
    run_dir = batch.new_run_dir(str(tmp_path / "runs"))
    batch.write_outcome(run_dir, "k", outcome)
    with open(batch.outcome_path(run_dir, "k"), encoding="utf-8") as handle:
        text = handle.read()
    assert text == json.dumps(outcome, default=str)
    assert batch.take_outcome(run_dir, "k") == json.loads(text) and json.loads(text)["plan"]["at"] == "2026-01-02 00:00:00+00:00"
