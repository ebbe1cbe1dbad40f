# Internal to this collection: not a public API; may change without notice.
"""``apikeys_rollback_on_failure``: after promotion, watch the new key; if it fails, roll back at once.

The check is the provider's own test call with the new key (the one that verified it before promotion),
made every ``rollback_poll`` for ``rollback_watch``. A key the provider rejects (HTTP 401/403 or the
provider's equivalent) after it was verified and promoted is a broken rotation: the previous key, still
valid in its grace period, is put back and the new key revoked (step 7, ``_rollback.rollback``), with the
reason recorded in the record (``rollback_reason``, ``incidents``). A check that gets no clear answer (a
5xx, a timeout) proves nothing either way: it is counted and reported, never a cause for rollback.
The watch stops early if the record's current key is no longer the one promoted (another run or a person
changed it): it never rolls back what it did not promote.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from ._errors import ProviderError
from ._results import result
from ._rollback import rollback
from ._rotation import Rotation
from ._timeutil import format_duration


def watch(rotation: Rotation, key_id: str, seconds: int, poll: int, *, sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    name, provider_name = rotation.cfg.name, rotation.cfg.provider
    entry = rotation.require()
    if rotation.check_mode:
        return result(False, f"would watch key {key_id} for {format_duration(seconds)}", entry.data, None,
                      entry.version, rolled_back=False, checks=0)
    provider = rotation.need_provider()
    started = clock()
    checks = unclear = 0
    while True:
        entry = rotation.require()
        data = entry.data
        if str(data.get("key_id")) != key_id:
            return result(False, f"key {key_id} is no longer current (key {data.get('key_id')} is): not watched any "
                          "further, nothing rolled back", data, None, entry.version, rolled_back=False, checks=checks)
        checks += 1
        try:
            accepted = provider.accepts(str(data["key"]), key_id)
        except ProviderError:
            accepted, unclear = None, unclear + 1
        if accepted is False:
            reason = (f"rollback_on_failure: {provider_name} rejected the new key {key_id} "
                      f"{clock() - started:.0f}s after its promotion (check {checks})")
            out = rollback(rotation, reason)
            out["msg"] = f"key '{name}': {reason}; {out['msg']}"
            return dict(out, rolled_back=True, reason=reason, checks=checks)
        if clock() - started + poll > seconds:
            break
        sleep(poll)
    doubt = f"; {unclear} check(s) got no clear answer" if unclear else ""
    return result(False, f"new key {key_id} still accepted by {provider_name} after {checks} check(s) over "
                  f"{format_duration(seconds)}{doubt}", data, None, entry.version, rolled_back=False, checks=checks,
                  unclear=unclear)
