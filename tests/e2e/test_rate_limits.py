"""Rate budgets end to end: two concurrent ansible-playbook runs (each with its forked workers) share one
provider budget; a 429 with Retry-After pauses every worker of both runs; every key is rotated.

The provider's request times are taken where the provider sees them: the SendGrid keys of this test reach
the emulator through a TCP proxy that stamps every request it forwards (the emulator's own call counter
has no times). The fault is the emulator's own (``POST /__emulator/faults``), and the test asserts it fired.
"""
from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.bench.tcpproxy import TcpProxy

from .conftest import World, clear_faults, faults

RATE = 4.0  # requests per second at the provider, for this test's keys
BURST = 1
RETRY_AFTER = 2
KEYS_PER_RUN = 5


class StampingProxy(TcpProxy):
    """A TcpProxy that notes when each request is forwarded, and how many connections it accepted."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.stamps: list[tuple[float, str, str]] = []
        self.connections = 0
        self._stamp_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def _take(self, method: str, path: str) -> bool:
        with self._stamp_lock:
            self.stamps.append((time.time(), method, path))
        return super()._take(method, path)

    def _forward_requests(self, link) -> None:  # type: ignore[no-untyped-def]
        with self._stamp_lock:
            self.connections += 1
        super()._forward_requests(link)


def most_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.fixture
def proxy(bench):  # type: ignore[no-untyped-def]
    running = StampingProxy("127.0.0.1", bench.sendgrid.port)
    yield running
    running.stop()


def test_two_runs_share_the_provider_budget_and_a_retry_after_pauses_them_all(world: World, proxy, tmp_path) -> None:
    budget = {"provider": {"rate": RATE, "burst": BURST}}
    keys = []
    for group in ("first", "second"):
        for _number in range(KEYS_PER_RUN):
            key = world.key("sendgrid", apikeys_rate_limit=budget)
            key.options["api_url"] = proxy.url  # this test's keys reach SendGrid through the stamping proxy
            world.hosts[key.host]["apikeys_provider_options"] = dict(key.options)
            world.groups.setdefault(f"{world.prefix}_{group}", []).append(key.host)
            keys.append(key)
    fired_before = requests.get(world.bench.sendgrid.url + "/__emulator/faults/fired", timeout=5).json()
    faults(world.bench.sendgrid.url, match="POST /v3/api_keys", status=429, retry_after=RETRY_AFTER, count=1)
    shared = {"APIKEYS_BUDGET_DIR": str(tmp_path / "budgets")}  # one user's state dir, as two runs of one user share it
    try:
        started = [world.start_playbook("rotate.yml", "-f", "5", extra_env=shared, secret=f"{world.prefix}_{group}")
                   for group in ("first", "second")]
        runs = [world.finish(*pair) for pair in started]
    finally:
        clear_faults(world.bench.sendgrid.url)
    fired = requests.get(world.bench.sendgrid.url + "/__emulator/faults/fired", timeout=5).json()

    for run in runs:
        assert run.rc == 0, run.output[-3000:]
    for key in keys:  # every key rotated, the new key works, the old one is kept for the grace period
        record = world.record(key).data
        assert record["key_id"] != key.key_id and record["previous_key_id"] == key.key_id
        assert world.works(key, record["key"], record["key_id"])
    assert fired["by_match"].get("POST /v3/api_keys", 0) - fired_before["by_match"].get("POST /v3/api_keys", 0) == 1

    times = [stamp for stamp, _method, _path in proxy.stamps]
    assert len(times) >= 4 * len(keys)  # read back, create, scopes test, list... per key: the count is real
    # never above the budget, whichever run or worker sent the request
    assert most_in_window(times, 1.0) <= RATE * 1.0 + BURST, sorted(times)
    assert most_in_window(times, 3.0) <= RATE * 3.0 + BURST
    # the 429: the first create. After it, no request from any worker of either run until Retry-After is over
    # (a request already on its way when the 429 was answered may still arrive within a fraction of a second)
    throttled = next(stamp for stamp, method, path in proxy.stamps if (method, path) == ("POST", "/v3/api_keys"))
    during = [stamp - throttled for stamp in times if throttled + 0.5 < stamp < throttled + RETRY_AFTER - 0.05]
    assert not during, f"requests {during} s after the 429, inside its Retry-After of {RETRY_AFTER} s"
    print(f"\n{len(times)} provider requests for {len(keys)} keys over {max(times) - min(times):.1f} s "
          f"(budget {RATE:g}/s, burst {BURST}), most in 1 s: {most_in_window(times, 1.0)}, "
          f"connections opened: {proxy.connections}")
