# Internal to this collection: not a public API; may change without notice.
"""Per-key outcomes of a run, for machines: AWX workflow nodes (``set_stats``), notifications, reports.

Each role registers its tasks' results under its own prefix (``rotate__``, ``revoke_after_grace__``,
``rollback__``); this reads them back from ``hostvars`` and says, per key, what happened in one word
plus the ids an automation needs, and the key's line of the run's summary (the summary task of the rotate,
revoke_after_grace and rollback roles), both from one classification. No secret is ever in a registered result, so none is here.

Cost: one read of each key's registered results per call (see :func:`reader`), and only the names the role
registers are looked at, so a 10,000-key run's summary and outcomes are linear in the keys and cheap.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Iterable, Iterator, Optional

Vars = dict[str, Any]

#: the fleet engine's per-key result (api_key_result, registered as ``<role>__key``): each step's result under the
#: name the role's task registered it with before (docs/fleet.md)
PACKED: dict[str, tuple[str, dict[str, str]]] = {
    "rotate": ("rotate__key", {"plan": "rotate__plan", "created": "rotate__created", "promoted": "rotate__promoted",
                               "watched": "rotate__watched", "revoked": "rotate__revoked"}),
    "revoke_after_grace": ("revoke_after_grace__key", {
        "info": "revoke_after_grace__info", "usage": "revoke_after_grace__usage",
        "revoked": "revoke_after_grace__revoked", "postponed": "revoke_after_grace__postponed"}),
}


def unpacked(v: Vars, role: str) -> Vars:
    """``v`` with the steps of the role's ``<role>__key`` result under their former names."""
    name, steps = PACKED.get(role, ("", {}))
    packed = v.get(name) if name else None
    if not isinstance(packed, dict):
        return v
    return dict(v, **{old: packed[new] for new, old in steps.items() if new in packed})


def _done(v: Vars, name: str) -> Optional[Vars]:
    """The registered result ``name`` if its task ran (not skipped), else None."""
    result = v.get(name)
    if isinstance(result, dict) and not result.get("skipped"):
        return result
    return None


def _field(v: Vars, name: str, key: str, default: Any = "") -> Any:
    """``v[name][key]`` when ``v[name]`` is a dict holding ``key``, else ``default`` (Jinja's ``| default``)."""
    value = v.get(name)
    return value.get(key, default) if isinstance(value, dict) else default


def _float(value: Any) -> float:
    """Ansible's ``| float``: the number, or 0.0 when it is none."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _seconds_after(epoch: Any, started: Any) -> str:
    return f"{_float(epoch) - _float(started):.1f}"


# Each role's classifier returns (entry, line): ``entry`` is the key's outcome for machines (set_stats), ``line`` what
# the summary says of the key, decided by the same branch (one classification for both).
Classified = tuple[Vars, str]


def _rotate(v: Vars, check_mode: bool) -> Classified:
    if "rotate__error" in v:
        return {"outcome": "failed", "error": v["rotate__error"]}, f"FAILED: {v['rotate__error']}"
    revoked = _done(v, "rotate__revoked")
    if revoked:
        record = revoked.get("record") or {}
        return ({"outcome": "emergency_revoked", "revoked_key_id": revoked.get("revoked_key_id"),
                 "key_id": record.get("key_id")},
                f"EMERGENCY: compromised key {revoked.get('revoked_key_id')} revoked at {revoked.get('revoked_at')}, "
                f"{_seconds_after(revoked.get('revoked_at_epoch'), _field(v, 'rotate__key', 'emergency_started', 0))}s "
                f"after the emergency began; key {record.get('key_id')} is current. Consumers still holding the "
                "compromised key fail until they re-read the store.")
    created = _done(v, "rotate__created")
    plan = (v.get("rotate__plan") or {}).get("plan")
    if created and plan is None:
        return ({"outcome": "would_replace" if check_mode else "emergency_unfinished"},
                f"would replace the compromised key now: {created.get('msg', '')}")
    if plan is None:
        return {"outcome": "not_processed"}, "not processed"
    reason = plan.get("reason")
    if not plan.get("due"):
        waiting = plan.get("action") == "wait"
        return ({"outcome": "waiting" if waiting else "not_due", "reason": reason},
                f"{'not rotated' if waiting else 'not due'}: {reason}")
    if check_mode:
        return {"outcome": "would_rotate", "reason": reason}, f"would rotate: {reason}"
    promoted = _done(v, "rotate__promoted") or {}
    record = promoted.get("record") or {}
    entry = {"outcome": "rotated", "key_id": record.get("key_id"), "previous_key_id": record.get("previous_key_id"),
             "rotation_id": (created or {}).get("rotation_id")}
    if str(promoted.get("outcome")) == "promoted_by_other":
        return dict(entry, outcome="promoted_by_other"), f"already promoted by another run: {promoted.get('msg', '')}"
    if (created or {}).get("outcome") == "resumed":
        return (dict(entry, outcome="resumed"),
                f"rotated: finished rotation {created.get('rotation_id')} of a dead run: {promoted.get('msg', '')}")
    watched = _done(v, "rotate__watched")
    return entry, f"rotated ({reason}): {promoted.get('msg', '')}" + (f"; {watched.get('msg')}" if watched else "")


def _revoke_after_grace(v: Vars, check_mode: bool) -> Classified:
    if "revoke_after_grace__error" in v:
        return ({"outcome": "failed", "error": v["revoke_after_grace__error"]},
                f"FAILED: {v['revoke_after_grace__error']}")
    if "revoke_after_grace__alert" in v:
        return ({"outcome": "alert", "reason": v["revoke_after_grace__alert"]},
                f"ALERT: {v['revoke_after_grace__alert']}")
    info = v.get("revoke_after_grace__info")
    if not isinstance(info, dict) or "revocation" not in info:
        return {"outcome": "not_processed"}, "not processed"
    if not info["revocation"].get("due"):
        reason = info["revocation"].get("reason")
        return {"outcome": "not_due", "reason": reason}, f"not due: {reason}"
    usage = _done(v, "revoke_after_grace__usage") or {}
    revoked = _done(v, "revoke_after_grace__revoked")
    if revoked:
        return ({"outcome": "would_revoke" if check_mode else "revoked", "revoked_key_id": revoked.get("revoked_key_id")},
                f"{'would revoke' if check_mode else 'revoked'}: {revoked.get('msg', '')} ({usage.get('reason', '')})")
    postponed = _done(v, "revoke_after_grace__postponed")
    if postponed:
        return {"outcome": "postponed", "reason": usage.get("reason")}, f"postponed: {postponed.get('msg', '')}"
    return ({"outcome": str(usage.get("verdict") or "unchanged"), "reason": usage.get("reason")},
            f"{usage.get('verdict', 'unchanged')}: {usage.get('reason', '')}")


def _rollback(v: Vars, check_mode: bool) -> Classified:
    if "rollback__error" in v:
        return {"outcome": "failed", "error": v["rollback__error"]}, f"NOT ROLLED BACK: {v['rollback__error']}"
    result = _done(v, "rollback__result")
    if not result:
        return {"outcome": "not_processed"}, "not processed"
    if "revoked_at_epoch" in result:
        line = (f"{result.get('msg', '')} at {result.get('revoked_at')}, "
                f"{_seconds_after(result['revoked_at_epoch'], v.get('rollback__started'))}s after the rollback began")
    else:
        line = str(result.get("msg", ""))
    if check_mode:
        return {"outcome": "would_roll_back"}, line
    return ({"outcome": "rolled_back" if result.get("changed") else "unchanged",
             "restored_key_id": result.get("restored_key_id"), "revoked_key_id": result.get("revoked_key_id")}, line)


ROLES: dict[str, Callable[[Vars, bool], Classified]] = {
    "rotate": _rotate,
    "revoke_after_grace": _revoke_after_grace,
    "rollback": _rollback,
}

#: what each role registers that the classification and the summary read: only these are looked up per key
READ: dict[str, tuple[str, ...]] = {
    "rotate": ("rotate__error", "rotate__key", "rotate__plan", "rotate__created", "rotate__promoted",
               "rotate__watched", "rotate__revoked"),
    "revoke_after_grace": ("revoke_after_grace__error", "revoke_after_grace__alert", "revoke_after_grace__key",
                           "revoke_after_grace__info", "revoke_after_grace__usage", "revoke_after_grace__revoked",
                           "revoke_after_grace__postponed"),
    "rollback": ("rollback__error", "rollback__result", "rollback__started"),
}

#: the notification results a summary line ends with (their ``notify_summary``: an undelivered notice)
NOTICES: dict[str, tuple[str, ...]] = {
    "rotate": ("rotate__announced", "rotate__notified"),
    "revoke_after_grace": ("revoke_after_grace__notified", "revoke_after_grace__alerted"),
    "rollback": ("rollback__notified",),
}


def _known(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (known: {', '.join(sorted(ROLES))})")


def _full_read(hostvars: Any) -> Callable[[str], Any]:
    """One host's variables: ``HostVars.raw_get`` when there is one (the values as they are: what the roles registered
    holds no template, so templating every value again would only cost time), else ``hostvars[host]``."""
    return getattr(hostvars, "raw_get", None) or hostvars.__getitem__


def _registered(hostvars: Any) -> Optional[Mapping[str, Any]]:
    """What register and set_fact stored per host (ansible-core's VariableManager keeps it in
    ``_nonpersistent_fact_cache``), when this Ansible has it, else None."""
    cache = getattr(getattr(hostvars, "_variable_manager", None), "_nonpersistent_fact_cache", None)
    return cache if isinstance(cache, Mapping) else None


def reader(hosts: list[str], hostvars: Any, names: tuple[str, ...]) -> Callable[[str], Vars]:
    """``host -> {name: value}`` for those of ``names`` the host has.

    Every one of ``names`` is set by the roles' ``register`` and ``set_fact``. ``HostVars.raw_get`` computes all
    of a host's variables (inventory, group_vars files, vars plugins, facts: about a millisecond per host, 10 s
    over 10,000 keys), so when Ansible's per-host cache of registered results and set_facts is there, this reads
    it directly. It is used only if it gives for the first host exactly what ``raw_get`` gives (an extra var
    that overrides one of the names, or another Ansible that keeps registered results elsewhere, means the slow,
    documented way for every host)."""
    full = _full_read(hostvars)

    def slow(host: str) -> Vars:
        own = full(host)
        return {name: own[name] for name in names if name in own}

    cache = _registered(hostvars)
    if cache is None or not hosts:
        return slow

    def fast(host: str) -> Vars:
        own = cache.get(host) or {}
        return {name: own[name] for name in names if name in own}

    return fast if fast(hosts[0]) == slow(hosts[0]) else slow


def classified(hosts: Iterable[str], hostvars: Any, role: str, check_mode: bool = False) -> Iterator[tuple[str, Vars, str, Vars]]:
    """For each key of ``hosts``: (key, outcome entry, summary line text, what was read), one variable read per key."""
    _known(role)
    hosts = list(hosts)
    read = reader(hosts, hostvars, READ[role] + NOTICES[role])
    for host in hosts:
        found = read(host)  # only what the roles registered: not every variable
        entry, line = ROLES[role](unpacked(found, role), bool(check_mode))
        yield host, {k: val for k, val in entry.items() if val is not None}, line, found


def _report(hosts: Iterable[str], hostvars: Any, role: str, check_mode: bool, lines: bool) -> dict[str, Any]:
    keys: dict[str, Vars] = {}
    counts: dict[str, int] = {}
    summary: list[str] = []
    for host, entry, line, found in classified(hosts, hostvars, role, check_mode):
        keys[host] = entry
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
        if lines:
            notices = "".join(str(_field(found, name, "notify_summary")) for name in NOTICES[role])
            summary.append(f"{host}: {line}".strip() + notices)
    failed = sorted(k for k, e in keys.items() if e["outcome"] in ("failed", "alert"))
    report = {"keys": keys, "counts": dict(sorted(counts.items())), "failed": failed}
    return dict(report, summary=summary) if lines else report


def outcomes(hosts: Iterable[str], hostvars: Any, role: str, check_mode: bool = False) -> dict[str, Any]:
    """``{"keys": {key: {"outcome": ..., ...}}, "counts": {outcome: n}, "failed": [keys]}`` for ``role``'s run."""
    return _report(hosts, hostvars, role, check_mode, lines=False)


def summary(hosts: Iterable[str], hostvars: Any, role: str, check_mode: bool = False) -> list[str]:
    """The run's summary, one line per key: ``<key>: <what happened>`` and any undelivered notice (the same
    classification as :func:`outcomes`)."""
    return _report(hosts, hostvars, role, check_mode, lines=True)["summary"]
