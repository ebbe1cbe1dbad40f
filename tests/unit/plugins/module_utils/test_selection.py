"""-e secret=<pattern>: a typo fails and names the closest names; an emergency over many keys needs confirm."""
from __future__ import annotations

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils._selection import SelectionError, select_keys

GROUPS = {
    "all": ["stripe", "sendgrid", "internal_gateway"],
    "ungrouped": [],
    "production": ["stripe", "sendgrid", "internal_gateway"],
    "sendgrid_keys": ["sendgrid"],
    "stripe_keys": ["stripe"],
}


def test_an_existing_key_or_group_is_returned_unchanged() -> None:
    assert select_keys("sendgrid", ["sendgrid"], GROUPS) == "sendgrid"
    assert select_keys("production:!stripe", ["sendgrid", "internal_gateway"], GROUPS) == "production:!stripe"
    assert select_keys("send*", ["sendgrid"], GROUPS) == "send*"
    assert select_keys("~^s", ["sendgrid", "stripe"], GROUPS) == "~^s"


@pytest.mark.parametrize("pattern, bad, suggestion", [
    ("sendgird", "sendgird", "'sendgrid'"),
    ("sendgrid,stripe_kyes", "stripe_kyes", "'stripe_keys'"),
    ("production:&stirpe", "stirpe", "'stripe'"),
])
def test_a_typo_names_the_term_and_the_closest_names(pattern: str, bad: str, suggestion: str) -> None:
    with pytest.raises(SelectionError) as caught:
        select_keys(pattern, ["sendgrid"], GROUPS)
    assert f"'{bad}' is no key or group" in str(caught.value)
    assert suggestion in str(caught.value)
    assert "nothing was run" in str(caught.value)


def test_a_wildcard_that_matches_nothing_fails() -> None:
    with pytest.raises(SelectionError, match="'twilio\\*' is no key or group"):
        select_keys("twilio*", [], GROUPS)


def test_a_pattern_whose_terms_exist_but_select_nothing_fails() -> None:
    with pytest.raises(SelectionError, match="selects no key"):
        select_keys("sendgrid_keys:&stripe_keys", [], GROUPS)


def test_no_pattern_is_refused() -> None:
    with pytest.raises(SelectionError, match="say which keys"):
        select_keys("", [], GROUPS)


def test_an_emergency_over_several_keys_needs_the_pattern_typed_again() -> None:
    hosts = GROUPS["production"]
    with pytest.raises(SelectionError) as caught:
        select_keys("production", hosts, GROUPS, ["emergency"])
    assert "emergency over 3 keys" in str(caught.value) and "-e confirm=production" in str(caught.value)
    with pytest.raises(SelectionError):
        select_keys("production", hosts, GROUPS, ["emergency"], confirm="all")
    assert select_keys("production", hosts, GROUPS, ["emergency"], confirm="production") == "production"


def test_an_emergency_over_one_key_or_a_scheduled_run_needs_no_confirmation() -> None:
    assert select_keys("sendgrid", ["sendgrid"], GROUPS, ["emergency"]) == "sendgrid"
    assert select_keys("production", GROUPS["production"], GROUPS, ["all"]) == "production"


class Unlisted(list):
    """A group's members that must not be listed (with 10,000 keys, listing every group costs a second or so)."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        raise AssertionError("listed every member of a group")


def test_a_pattern_of_groups_or_selected_keys_does_not_list_every_group() -> None:
    groups = {"all": Unlisted(["a", "b"]), "ungrouped": Unlisted([]), "team": Unlisted(["a"])}
    assert select_keys("all", ["a", "b"], groups) == "all"
    assert select_keys("team,b", ["a", "b"], groups) == "team,b"
    assert select_keys("a*", ["a"], groups) == "a*"
