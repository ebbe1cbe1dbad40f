"""The summary lines (key_summary, which the roles' summary task shows) come from the same classification as the set_stats
outcomes (key_outcomes), read each key's variables once, and say exactly what the former per-role Jinja templates
said: each case below is rendered by the former template (kept here as the reference) and by the filter."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils._outcomes import outcomes, summary

SKIPPED = {"skipped": True, "changed": False, "skip_reason": "Conditional result was False"}

# The roles' summary.j2 before they called key_summary (commit 9ca8bce), verbatim, in former_summary/.
FORMER = {role: (Path(__file__).parent / "former_summary" / f"{role}.j2").read_text()
          for role in ("rotate", "revoke_after_grace", "rollback")}


def skipped(result: dict[str, Any]) -> bool:
    """Ansible's ``skipped`` test."""
    return bool(result.get("skipped", False))


def former(role: str, hostvars: dict[str, Any], check_mode: bool) -> list[str]:
    """What the role's summary task showed with the former template: ``lookup('template') | trim | split('\\n')``."""
    env = jinja2.Environment(trim_blocks=True)  # the template lookup's default
    env.tests["skipped"] = skipped
    template = env.from_string(FORMER[role])
    rendered = template.render(ansible_play_hosts_all=list(hostvars), hostvars=hostvars, ansible_check_mode=check_mode)
    return rendered.strip().split("\n")


def now(role: str, hostvars: dict[str, Any], check_mode: bool) -> list[str]:
    """What the role's summary task shows now: ``msg: "{{ ansible_play_hosts_all | apikeys.rotation.key_summary(...) }}"``."""
    return summary(list(hostvars), hostvars, role, check_mode)


def packed(**steps: Any) -> dict[str, Any]:
    """A rotate__key / revoke_after_grace__key result as api_key_result registers it: a step that did not run is skipped."""
    return {"changed": True, "msg": "done", **steps}


UNDELIVERED = {"changed": False, "notify_summary": " (notification to ops-slack NOT delivered: HTTP 500)"}
PLAN_DUE = {"plan": {"due": True, "action": "rotate", "reason": "age 91d >= rotation_frequency 90d"},
            "record": {"key_id": "old"}}
PROMOTED = {"changed": True, "outcome": "promoted", "msg": "key new is current; old key old kept for 7d",
            "record": {"key_id": "new", "previous_key_id": "old"}}
REVOKED = {"changed": True, "revoked_key_id": "old", "revoked_at": "2026-11-26T20:00:01Z", "revoked_at_epoch": 1764187201.46,
           "record": {"key_id": "new"}}

ROTATE = {
    "failed": {"rotate__key": packed(plan=PLAN_DUE, created={"rotation_id": "r1"}, promoted=SKIPPED, revoked=SKIPPED),
               "rotate__error": "key 'failed': the provider answered 503 twice", "rotate__notified": UNDELIVERED},
    "emergency": {"rotate__key": packed(plan=SKIPPED, created={"rotation_id": "r2", "msg": "created new"},
                                        promoted=PROMOTED, revoked=REVOKED, emergency_started=1764187201.0),
                  "rotate__announced": {"changed": False, "notify_summary": ""}},
    "never_ran": {},
    "not_due": {"rotate__key": packed(plan={"plan": {"due": False, "action": "none", "reason": "age 1d < 90d"}},
                                      created=SKIPPED, promoted=SKIPPED, watched=SKIPPED, revoked=SKIPPED)},
    "waiting": {"rotate__key": packed(plan={"plan": {"due": False, "action": "wait", "reason": "a run holds the lease"}},
                                      created=SKIPPED, promoted=SKIPPED, revoked=SKIPPED)},
    "by_other": {"rotate__key": packed(plan=PLAN_DUE, created={"rotation_id": "r3", "outcome": "created"},
                                       promoted=dict(PROMOTED, outcome="promoted_by_other", msg="another run promoted it"),
                                       revoked=SKIPPED)},
    "resumed": {"rotate__key": packed(plan=dict(PLAN_DUE, plan=dict(PLAN_DUE["plan"], action="resume")),
                                      created={"rotation_id": "r0", "outcome": "resumed"}, promoted=PROMOTED, revoked=SKIPPED)},
    "watched": {"rotate__key": packed(plan=PLAN_DUE, created={"rotation_id": "r4", "outcome": "created"}, promoted=PROMOTED,
                                      watched={"changed": False, "msg": "no error rise in 60s"}, revoked=SKIPPED),
                "rotate__announced": SKIPPED, "rotate__notified": SKIPPED},
    "rotated": {"rotate__key": packed(plan=PLAN_DUE, created={"rotation_id": "r5"}, promoted=PROMOTED, watched=SKIPPED,
                                      revoked=SKIPPED)},
}
ROTATE_CHECK = {
    "would_replace": {"rotate__key": packed(plan=SKIPPED, created={"changed": True, "msg": "would create a key"},
                                            promoted=SKIPPED, revoked=SKIPPED)},
    "would_rotate": {"rotate__key": packed(plan=PLAN_DUE, created=SKIPPED, promoted=SKIPPED, revoked=SKIPPED)},
    "not_due": ROTATE["not_due"],
}
GRACE_DUE = {"revocation": {"due": True, "reason": "grace over"}}
GRACE = {
    "failed": {"revoke_after_grace__error": "key 'failed': store sealed", "revoke_after_grace__notified": UNDELIVERED},
    "alert": {"revoke_after_grace__key": packed(info=GRACE_DUE, usage={"verdict": "alert", "reason": "old key used"},
                                                revoked=SKIPPED, postponed=SKIPPED),
              "revoke_after_grace__alert": "old key old was still used at 20:00", "revoke_after_grace__alerted": UNDELIVERED},
    "never_ran": {},
    "info_skipped": {"revoke_after_grace__key": packed(info=SKIPPED, usage=SKIPPED, revoked=SKIPPED, postponed=SKIPPED)},
    "not_due": {"revoke_after_grace__key": packed(info={"revocation": {"due": False, "reason": "no previous key awaits revocation"}},
                                                  usage=SKIPPED, revoked=SKIPPED, postponed=SKIPPED)},
    "revoked": {"revoke_after_grace__key": packed(info=GRACE_DUE, usage={"verdict": "revoke", "reason": "new key seen"},
                                                  revoked={"changed": True, "msg": "previous key old revoked",
                                                           "revoked_key_id": "old"}, postponed=SKIPPED)},
    "postponed": {"revoke_after_grace__key": packed(info=GRACE_DUE, usage={"verdict": "postpone", "reason": "old key used 1h ago"},
                                                    revoked=SKIPPED, postponed={"changed": True, "msg": "postponed to 21:00"})},
    "kept": {"revoke_after_grace__key": packed(info=GRACE_DUE, usage={"verdict": "keep", "reason": "no evidence yet"},
                                               revoked=SKIPPED, postponed=SKIPPED)},
    "usage_skipped": {"revoke_after_grace__key": packed(info=GRACE_DUE, usage=SKIPPED, revoked=SKIPPED, postponed=SKIPPED)},
}
ROLLBACK = {
    "failed": {"rollback__error": "key 'failed': no previous key", "rollback__notified": UNDELIVERED},
    "never_ran": {},
    "timed": {"rollback__started": "1764187200.25",
              "rollback__result": {"changed": True, "msg": "rolled back to old; new revoked", "revoked_at": "2026-11-26T20:00:01Z",
                                   "revoked_at_epoch": 1764187201.0, "restored_key_id": "old", "revoked_key_id": "new"}},
    "untimed": {"rollback__result": {"changed": False, "msg": "nothing to roll back"}, "rollback__notified": SKIPPED},
}


@pytest.mark.parametrize("role, hostvars, check_mode", [
    ("rotate", ROTATE, False), ("rotate", ROTATE_CHECK, True),
    ("revoke_after_grace", GRACE, False), ("revoke_after_grace", GRACE, True),
    ("rollback", ROLLBACK, False), ("rollback", ROLLBACK, True),
], ids=["rotate", "rotate-check", "revoke_after_grace", "revoke_after_grace-check", "rollback", "rollback-check"])
def test_each_line_says_what_the_former_template_said(role: str, hostvars: dict[str, Any], check_mode: bool) -> None:
    assert now(role, hostvars, check_mode) == former(role, hostvars, check_mode)
    assert len(now(role, hostvars, check_mode)) == len(hostvars)


def test_the_lines_that_the_e2e_tests_and_operators_read() -> None:
    lines = dict(line.split(": ", 1) for line in summary(list(ROTATE), ROTATE, "rotate"))
    assert lines["failed"] == ("FAILED: key 'failed': the provider answered 503 twice"
                               " (notification to ops-slack NOT delivered: HTTP 500)")
    assert lines["emergency"].startswith("EMERGENCY: compromised key old revoked at 2026-11-26T20:00:01Z, 0.5s after the "
                                         "emergency began; key new is current.")
    assert lines["rotated"] == "rotated (age 91d >= rotation_frequency 90d): key new is current; old key old kept for 7d"
    assert lines["watched"].endswith("kept for 7d; no error rise in 60s")
    assert lines["resumed"].startswith("rotated: finished rotation r0 of a dead run: ")
    assert summary(["timed"], ROLLBACK, "rollback") == [
        "timed: rolled back to old; new revoked at 2026-11-26T20:00:01Z, 0.8s after the rollback began"]


def test_the_summary_and_the_outcomes_are_one_classification() -> None:
    keys = outcomes(list(ROTATE), ROTATE, "rotate")["keys"]
    lines = dict(line.split(": ", 1) for line in summary(list(ROTATE), ROTATE, "rotate"))
    word = {"failed": "FAILED", "emergency_revoked": "EMERGENCY", "not_processed": "not processed", "not_due": "not due",
            "waiting": "not rotated", "promoted_by_other": "already promoted", "resumed": "rotated: finished", "rotated": "rotated ("}
    for key, entry in keys.items():
        assert lines[key].startswith(word[entry["outcome"]]), (key, entry, lines[key])


class CountingHostVars:
    """Like Ansible's HostVars: raw_get(host) computes a host's variables (costly); [] would template them too."""

    def __init__(self, data: dict[str, dict[str, Any]]) -> None:
        self.data = data
        self.reads: list[str] = []

    def raw_get(self, host: str) -> dict[str, Any]:
        self.reads.append(host)
        return self.data[host]

    def __getitem__(self, host: str) -> dict[str, Any]:
        raise AssertionError("templated every variable of the host")


def test_each_keys_variables_are_read_once_and_untemplated() -> None:
    hostvars = CountingHostVars({f"k{n:05d}": ROTATE["rotated"] for n in range(2000)})
    lines = summary(list(hostvars.data), hostvars, "rotate")
    assert len(lines) == 2000 and hostvars.reads == list(hostvars.data)
    hostvars.reads.clear()
    assert outcomes(list(hostvars.data), hostvars, "rotate")["counts"] == {"rotated": 2000}
    assert hostvars.reads == list(hostvars.data)


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        summary(["a"], {"a": {}}, "rotat")


class Cache:
    def __init__(self, data: dict[str, dict[str, Any]]) -> None:
        self._nonpersistent_fact_cache = data


class AnsibleLikeHostVars(CountingHostVars):
    """raw_get merges the inventory and extra vars over the registered results, as VariableManager.get_vars does."""

    def __init__(self, registered: dict[str, dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
        super().__init__(registered)
        self._variable_manager = Cache(registered)
        self.extra = extra or {}

    def raw_get(self, host: str) -> dict[str, Any]:
        self.reads.append(host)
        return {"ansible_connection": "local", **self.data[host], **self.extra}


def test_registered_results_are_read_from_ansibles_cache_once_checked_against_the_full_variables() -> None:
    registered = {f"k{n:05d}": ROTATE["rotated"] for n in range(1000)} | {"z_failed": ROTATE["failed"]}
    hostvars = AnsibleLikeHostVars(registered)
    report = outcomes(list(registered), hostvars, "rotate")
    assert report["counts"] == {"failed": 1, "rotated": 1000} and report["failed"] == ["z_failed"]
    assert hostvars.reads == ["k00000"], "only the first key's full variables, to check the cache against"
    assert summary(["z_failed"], hostvars, "rotate")[0].startswith("z_failed: FAILED: key 'failed'")


def test_when_the_cache_disagrees_with_the_full_variables_every_key_is_read_the_full_way() -> None:
    registered = {f"k{n}": ROTATE["rotated"] for n in range(5)}
    hostvars = AnsibleLikeHostVars(registered, extra={"rotate__error": "set with -e"})
    report = outcomes(list(registered), hostvars, "rotate")
    assert report["counts"] == {"failed": 5}, "an extra var wins over what the role registered, as in hostvars"
    assert hostvars.reads == ["k0"] + list(registered)
