"""A key's variables in the batch (_batch.plain, _batch.Rendered): plain data, read once, never templated again."""
from __future__ import annotations

import copy

from ansible._internal._datatag._tags import Origin
from ansible.module_utils._internal._datatag import AnsibleTagHelper

from ansible_collections.apikeys.rotation.plugins.plugin_utils import _batch as batch


def tagged(value):
    return AnsibleTagHelper.tag(value, [Origin(path="/inventory/group_vars/all.yml", line_num=3, col_num=5)])


def test_plain_keeps_every_value_and_drops_the_tags() -> None:
    rendered = tagged({tagged("admin_url"): tagged("http://127.0.0.1:8001"), "port": tagged(8200), "ratio": tagged(0.5),
                       "on": True, "none": None, "list": tagged([tagged("a"), tagged(2)]), "pair": ("x", 1)})
    # exact types on purpose: a tagged value is an instance of int / str too
    assert rendered["port"].__class__ is not int and rendered["list"][0].__class__ is not str, "the test needs tagged values"
    value = batch.plain(rendered)
    assert value == {"admin_url": "http://127.0.0.1:8001", "port": 8200, "ratio": 0.5, "on": True, "none": None,
                     "list": ["a", 2], "pair": ["x", 1]}
    seen = [value, *value.values(), *value["list"], *value]
    assert all(type(item) in (dict, list, str, int, float, bool, type(None)) for item in seen), [type(i) for i in seen]
    assert copy.deepcopy(value) == value


class Templar:
    available_variables = {"x": 1}

    def template(self, variable, **kwargs):
        raise AssertionError("a step's variables are rendered already")


def test_steps_do_not_template_rendered_variables_again() -> None:
    rendered = batch.Rendered(Templar())
    value = {"url": "{{ not_a_template_any_more }}"}
    assert rendered.template(value) is value
    assert rendered.available_variables == {"x": 1}, "everything else is the task's templar"
