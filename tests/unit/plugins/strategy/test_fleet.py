"""The decisions of the strategy apikeys.rotation.fleet (plugins/strategy/fleet.py): which api_key_result tasks it
reports in the controller, which variables they need, and when a host's variables are exactly what Ansible's
full get_vars would give. tests/e2e/test_fleet_strategy.py runs it against the linear strategy."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ansible.playbook.handler import Handler
from ansible.playbook.task import Task
from ansible.template import Templar, trust_as_template as trusted

from ansible_collections.apikeys.rotation.plugins.action import api_key_result
from ansible_collections.apikeys.rotation.plugins.plugin_utils import _batch as batch
from ansible_collections.apikeys.rotation.plugins.strategy import fleet

RESULT = fleet.RESULT_ACTION


ALIASES = {"async": "async_val", "with_items": "loop_with"}


def task(**keywords: Any) -> Task:
    """A task as the play has it (keywords set, not loaded from YAML: no plugin loader needed)."""
    made = Task()
    made.action = RESULT
    made.args = {"run_dir": trusted("{{ rotate__batch.run_dir }}")}  # a playbook's strings are trusted templates
    for keyword, value in keywords.items():
        setattr(made, ALIASES.get(keyword, keyword), trusted(value) if isinstance(value, str) else value)
    return made


def host(name: str) -> Any:
    return SimpleNamespace(name=name)


def test_a_plain_report_task_is_reported_in_the_controller() -> None:
    assert fleet.why_linear(task(register="rotate__key", notify=["x"], no_log=True, ignore_errors=True), RESULT) is None


def test_any_other_action_runs_the_linear_way() -> None:
    assert fleet.why_linear(task(), "ansible.builtin.debug") == f"its action is not {RESULT}"
    assert fleet.why_linear(task(), None) is not None


@pytest.mark.parametrize("keywords", [
    {"when": ["x"]}, {"changed_when": ["false"]}, {"failed_when": ["y"]}, {"loop": [1, 2]}, {"with_items": "items"},
    {"until": ["z"]}, {"retries": 3}, {"delegate_to": "other"}, {"async": 10}, {"timeout": 5}, {"debugger": "on_failed"},
], ids=lambda k: next(iter(k)))
def test_keywords_that_need_all_variables_or_a_worker_send_the_task_the_linear_way(keywords: dict[str, Any]) -> None:
    assert fleet.why_linear(task(**keywords), RESULT) is not None


def test_a_handler_and_the_task_debugger_run_the_linear_way() -> None:
    handler = Handler()
    handler.action = RESULT
    assert fleet.why_linear(handler, RESULT) == "it is a handler"
    assert fleet.why_linear(task(), RESULT, debugger_active=True) == "the task debugger is enabled"


def test_template_names_are_every_variable_a_template_refers_to() -> None:
    templar = Templar(loader=None)._engine
    assert fleet.template_names(templar, trusted("{{ rotate__batch.run_dir }}")) == {"rotate__batch"}
    nested = {"a": [trusted("{{ x | default(y) }}"), "plain"], trusted("{{ k }}"): 1}
    assert fleet.template_names(templar, nested) == {"x", "y", "k"}
    assert fleet.template_names(templar, trusted("no template")) == frozenset()
    # a global: never a light variable, so such a task runs the linear way
    assert fleet.template_names(templar, trusted("{{ lookup('vars', 'v') }}")) == {"lookup"}
    assert fleet.template_names(templar, None) == frozenset()
    # a string that is not trusted (a registered result, data from a module) is never templated by Ansible
    assert fleet.template_names(templar, "{{ rotate__batch.run_dir }}") == frozenset()


def test_task_template_names_cover_arguments_and_keywords_but_not_notify() -> None:
    templar = Templar(loader=None)._engine
    found = fleet.task_template_names(templar, task(name="{{ label }}", notify="{{ handlers }}", no_log="{{ quiet }}"))
    assert found == {"rotate__batch", "label", "quiet"}


def test_light_vars_are_the_hosts_registered_values_only_when_nothing_overrides_them() -> None:
    result = {"run_dir": "/tmp/x"}
    facts = {"rotate__batch": result}
    found = fleet.light_vars(host("k1.example"), frozenset({"rotate__batch", "inventory_hostname_short"}), facts, frozenset())
    assert found == {"inventory_hostname": "k1.example", "rotate__batch": result, "inventory_hostname_short": "k1"}
    assert found["rotate__batch"] is result
    # a variable the host has not registered (a group var, a role default): all variables are needed
    assert fleet.light_vars(host("k1"), frozenset({"rotate__notify"}), facts, frozenset()) is None
    # an extra var, role or include parameter or magic variable of the same name wins over the registered value
    assert fleet.light_vars(host("k1"), frozenset({"rotate__batch"}), facts, frozenset({"rotate__batch"})) is None


def test_hosts_share_the_validated_task_only_when_they_see_the_very_same_values() -> None:
    result = {"run_dir": "/tmp/x"}
    names = frozenset({"rotate__batch"})
    assert fleet.shares_inputs(names, {"rotate__batch": result}, {"rotate__batch": result})
    assert not fleet.shares_inputs(names, {"rotate__batch": result}, {"rotate__batch": dict(result)})
    assert not fleet.shares_inputs(frozenset({"inventory_hostname"}), {"inventory_hostname": "a"}, {"inventory_hostname": "a"})


class OnlyHostname(dict):
    """Task variables that fail the test if the action reads anything but what the strategy gives it."""

    def __getitem__(self, name: str) -> Any:
        assert name == "inventory_hostname", f"api_key_result read task variable {name!r}"
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:
        assert name == "inventory_hostname", f"api_key_result read task variable {name!r}"
        return super().get(name, default)


def test_api_key_result_needs_no_task_variable_but_inventory_hostname(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The strategy gives the action only inventory_hostname and what its arguments refer to (fleet.light_vars)."""
    batch.write_outcome(str(tmp_path), "k1", {"key": "k1", "changed": True, "failed": False, "msg": "rotated",
                                              "diff": [{"before": "a", "after": "b"}]})
    report = task()
    report.args = {"run_dir": str(tmp_path)}
    report.diff = True
    action = api_key_result.ActionModule(report, SimpleNamespace(_shell=SimpleNamespace(tmpdir=None)), None, None, None)
    monkeypatch.setattr(action, "_early_needs_tmp_path", lambda: False)
    result = action.run(task_vars=OnlyHostname(inventory_hostname="k1"))
    assert result["changed"] and result["msg"] == "rotated" and result["diff"] == [{"before": "a", "after": "b"}]


# -- run_once tasks run (or skipped) in the controller ------------------------------------------------------------

DEBUG = "ansible.builtin.debug"


@pytest.mark.parametrize("action", sorted(fleet.IN_PROCESS_ACTIONS))
def test_a_task_of_a_pure_action_is_run_in_the_controller_with_or_without_when(action: str) -> None:
    assert fleet.in_process_mode(task(), action, frozenset()) == fleet.RUN_HERE
    assert fleet.in_process_mode(task(when=["x"]), action, frozenset({"x"})) == fleet.RUN_HERE


def test_any_other_action_only_has_a_false_when_skipped_in_the_controller() -> None:
    assert fleet.in_process_mode(task(when=["x"]), "apikeys.rotation.api_key_metrics", frozenset({"x"})) == fleet.SKIP_HERE
    assert fleet.in_process_mode(task(), "apikeys.rotation.api_key_metrics", frozenset()) is None
    assert fleet.in_process_mode(task(when=["x"]), None, frozenset({"x"})) == fleet.SKIP_HERE
    # a local override of debug is not ansible.builtin.debug
    assert fleet.in_process_mode(task(), "ansible.legacy.debug", frozenset()) is None


def test_a_when_that_calls_a_lookup_or_does_not_parse_is_never_evaluated_ahead() -> None:
    for names in (frozenset({"lookup", "x"}), frozenset({"query"}), frozenset({"q"})):
        assert fleet.in_process_mode(task(when=["x"]), "apikeys.rotation.api_key_metrics", names) is None
    assert fleet.in_process_mode(task(when=["x"]), "apikeys.rotation.api_key_metrics", None) is None


@pytest.mark.parametrize("keywords", [
    {"changed_when": ["false"]}, {"failed_when": ["y"]}, {"loop": [1, 2]}, {"with_items": "items"}, {"until": ["z"]},
    {"retries": 3}, {"delegate_to": "other"}, {"async": 10}, {"timeout": 5}, {"debugger": "on_failed"},
], ids=lambda k: next(iter(k)))
def test_keywords_that_need_a_worker_keep_run_once_tasks_the_linear_way(keywords: dict[str, Any]) -> None:
    assert fleet.in_process_mode(task(**keywords), DEBUG, frozenset()) is None
    assert fleet.in_process_mode(task(when=["x"], **keywords), "apikeys.rotation.api_key_metrics", frozenset({"x"})) is None


def test_handlers_and_the_task_debugger_keep_run_once_tasks_the_linear_way() -> None:
    handler = Handler()
    handler.action = DEBUG
    assert fleet.in_process_mode(handler, DEBUG, frozenset()) is None
    assert fleet.in_process_mode(task(), DEBUG, frozenset(), debugger_active=True) is None


def test_conditional_names_read_expressions_and_templates() -> None:
    templar = Templar(loader=None)._engine
    assert fleet.conditional_names(templar, [trusted("apikeys_metrics_dir | default('') | length > 0")]) == {"apikeys_metrics_dir"}
    assert fleet.conditional_names(templar, [trusted("{{ a }}"), trusted("b is defined"), True]) == {"a", "b"}
    assert fleet.conditional_names(templar, [trusted("lookup('env', 'X') == ''")]) == {"lookup"}
    assert fleet.conditional_names(templar, []) == frozenset()
    assert fleet.conditional_names(templar, [trusted("a ==")]) is None


def meta(action: str, **keywords: Any) -> Task:
    made = task(**keywords)
    made.action = "ansible.builtin.meta"
    made.args = {"_raw_params": action}
    return made


def test_only_meta_tasks_that_read_no_variable_get_none() -> None:
    assert fleet.varless_meta(meta("role_complete"))
    assert fleet.varless_meta(meta("role_complete", when=[True]))  # as Ansible adds it: its when is never evaluated
    assert fleet.varless_meta(meta("flush_handlers")) and fleet.varless_meta(meta("noop"))
    # a when is evaluated with the host's variables; reset_connection and the others read them
    assert not fleet.varless_meta(meta("flush_handlers", when=["inventory_hostname == 'k1'"]))
    for action in ("reset_connection", "end_host", "end_play", "end_batch", "end_role", "clear_facts",
                   "clear_host_errors", "refresh_inventory"):
        assert not fleet.varless_meta(meta(action)), action
    assert not fleet.varless_meta(task())
