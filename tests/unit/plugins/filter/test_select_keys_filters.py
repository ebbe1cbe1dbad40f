"""The filters key_outcomes and key_summary as Ansible calls them: a bad argument is an AnsibleFilterError
with the classification's own message, a good one gives what _outcomes gives."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.apikeys.rotation.plugins.filter.select_keys import FilterModule
from ansible_collections.apikeys.rotation.plugins.module_utils._outcomes import outcomes, summary

FILTERS = FilterModule().filters()
ROTATED = {"apikeys_rotate_result": {"changed": True, "action": "rotated", "key_id": "k-2"}}


@pytest.mark.parametrize("name", ["key_outcomes", "key_summary"])
def test_an_unknown_role_is_a_filter_error_with_the_same_message(name):
    with pytest.raises(ValueError, match="unknown role") as direct:
        (outcomes if name == "key_outcomes" else summary)(["a"], {"a": {}}, "rotat")
    with pytest.raises(AnsibleFilterError) as raised:
        FILTERS[name](["a"], {"a": {}}, "rotat")
    assert raised.value.message == str(direct.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


@pytest.mark.parametrize("name, function", [("key_outcomes", outcomes), ("key_summary", summary)])
def test_a_good_call_gives_what_the_classification_gives(name, function):
    hostvars = {"a": dict(ROTATED)}
    assert FILTERS[name](["a"], hostvars, "rotate") == function(["a"], hostvars, "rotate")
    assert FILTERS[name](["a"], hostvars, "rotate", check_mode=True) == function(["a"], hostvars, "rotate", True)
    assert FILTERS[name].__name__ == f"_{name}"
