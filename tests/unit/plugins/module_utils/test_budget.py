"""Rate budgets (_budget.py): shared by threads and forked processes, paused by Retry-After, checked config."""
from __future__ import annotations

import multiprocessing
import os
import threading
import time
from types import SimpleNamespace

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils import _budget
from ansible_collections.apikeys.rotation.plugins.module_utils._budget import Budget, Limit, attach_budgets, \
    parse_rate_limit
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import ConfigError, ProviderError
from ansible_collections.apikeys.rotation.plugins.module_utils._retry import RetryPolicy, Retryable, call_with_retry


def most_in_window(times: list[float], window: float) -> int:
    """The most events in any half-open window of ``window`` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def reserved_until(directory, name: str) -> float:
    """The next free send time in a budget's state file."""
    with open(os.path.join(str(directory), name + ".budget"), "rb") as handle:
        return _budget._STATE.unpack(handle.read())[0]  # pylint: disable=protected-access


def test_burst_then_rate_in_one_thread(tmp_path) -> None:
    budget = Budget("b", Limit(20.0, 5), str(tmp_path))
    began = time.time()
    times = [began]
    for _number in range(15):
        budget.acquire()
        times.append(time.time())
    # 5 at once, then one per 50 ms: the 15th no sooner than 10 intervals after the start
    assert times[5] - began < 0.15  # without the burst, the 5th would come 0.2 s after the first
    assert times[-1] - began >= 10 / 20.0 - 0.01
    assert most_in_window(times[1:], 1.0) <= 5 + 20


def test_threads_share_one_budget(tmp_path) -> None:
    times: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        budget = Budget("shared", Limit(50.0, 1), str(tmp_path))  # an object per thread: the file is the budget
        for _number in range(10):
            budget.acquire()
            with lock:
                times.append(time.time())

    threads = [threading.Thread(target=worker) for _index in range(4)]
    began = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(times) == 40
    assert max(times) - began >= 39 / 50.0 - 0.02  # 40 requests at 50/s: at least 0.78 s, whatever the threads
    # the 40 turns were taken from one sequence: the next free turn is 40 intervals after the first
    # (the times above are noted after each turn, so a busy machine may bunch them: not compared in windows)
    assert reserved_until(tmp_path, "shared") - began >= 40 / 50.0 - 0.02


def _forked_worker(directory: str, out: str) -> None:
    budget = Budget("forks", Limit(40.0, 1), directory)
    with open(out, "a", encoding="ascii") as handle:
        for _number in range(8):
            budget.acquire()
            handle.write(f"{time.time()!r}\n")
            handle.flush()


def test_forked_processes_share_one_budget(tmp_path) -> None:
    out = str(tmp_path / "times")
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_forked_worker, args=(str(tmp_path), f"{out}.{n}")) for n in range(3)]
    began = time.time()
    for process in processes:
        process.start()
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    times = [float(line) for n in range(3) for line in open(f"{out}.{n}", encoding="ascii")]
    assert len(times) == 24
    assert max(times) - began >= 23 / 40.0 - 0.02  # 24 requests from 3 processes at 40/s
    assert reserved_until(tmp_path, "forks") - began >= 24 / 40.0 - 0.02


def test_a_forked_child_can_use_a_budget_whose_lock_a_thread_held_at_the_fork(tmp_path) -> None:
    budget = Budget("held", Limit(None), str(tmp_path))
    _budget._BUDGETS["held"] = budget  # pylint: disable=protected-access
    try:
        with budget._lock:  # pylint: disable=protected-access
            pid = os.fork()
            if pid == 0:  # the child: its copy of the lock is fresh (register_at_fork)
                try:
                    budget.acquire()
                finally:
                    os._exit(0)  # pylint: disable=protected-access
        _pid, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
    finally:
        _budget._BUDGETS.pop("held", None)  # pylint: disable=protected-access


def test_retry_after_pauses_every_user_not_only_the_caller(tmp_path) -> None:
    budget = Budget("pause", Limit(None), str(tmp_path))
    policy = RetryPolicy(attempts=2, budget=budget)
    calls: list[float] = []

    def throttled_once() -> str:
        calls.append(time.time())
        if len(calls) == 1:
            raise Retryable(ProviderError("429"), retry_after=0.6, throttled=True)
        return "ok"

    began = time.time()
    assert call_with_retry(throttled_once, policy) == "ok"
    other = Budget("pause", Limit(None), str(tmp_path))  # another thread's / process's view of it
    assert other.paused_for() == 0  # the pause is over once the caller retried
    assert calls[1] - began >= 0.6 - 0.01

    budget.pause(0.5)
    seen: list[float] = []
    thread = threading.Thread(target=lambda: (other.acquire(), seen.append(time.time())))
    paused_at = time.time()
    thread.start()
    thread.join()
    assert seen[0] - paused_at >= 0.5 - 0.05


def test_a_pause_that_comes_while_waiting_for_a_turn_is_honoured(tmp_path) -> None:
    budget = Budget("late-pause", Limit(2.0, 1), str(tmp_path))
    budget.acquire()  # the next turn is 0.5 s away
    seen: list[float] = []
    waiter = threading.Thread(target=lambda: (budget.acquire(), seen.append(time.time())))
    waiter.start()
    time.sleep(0.1)
    paused_at = time.time()
    Budget("late-pause", Limit(2.0, 1), str(tmp_path)).pause(1.0)  # a 429 elsewhere
    waiter.join()
    assert seen[0] - paused_at >= 1.0 - 0.05


def test_throttling_without_retry_after_pauses_for_the_backoff(tmp_path) -> None:
    budget = Budget("throttled", Limit(None), str(tmp_path))
    policy = RetryPolicy(attempts=1, base_delay=0.4, max_delay=0.4, budget=budget)

    def throttled() -> None:
        raise Retryable(ProviderError("Throttling"), throttled=True)

    with pytest.raises(ProviderError):
        call_with_retry(throttled, policy)
    assert 0.05 < budget.paused_for() <= 0.4  # jittered backoff, half to all of 0.4 s


def test_concurrency_caps_requests_in_flight(tmp_path) -> None:
    in_flight, most = [0], [0]
    lock = threading.Lock()

    def worker() -> None:
        ticket = Budget("slots", Limit(None, 1, 2), str(tmp_path)).acquire()
        try:
            with lock:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
            time.sleep(0.1)
            with lock:
                in_flight[0] -= 1
        finally:
            ticket.release()

    threads = [threading.Thread(target=worker) for _index in range(6)]
    began = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] <= 2
    assert time.time() - began >= 0.3 - 0.02  # six holds of 0.1 s through two slots


def test_a_wait_for_the_budget_is_not_counted_as_a_failure(tmp_path) -> None:
    budget = Budget("patient", Limit(5.0, 1), str(tmp_path))
    budget.acquire()
    budget.acquire()  # the next turn is 0.2 s after this one
    policy = RetryPolicy(attempts=2, max_total=0.05, budget=budget)
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise Retryable(ProviderError("502"), retry_after=0.01)
        return "ok"

    assert call_with_retry(flaky, policy) == "ok"  # the 0.2 s wait did not spend max_total


def test_a_corrupt_or_far_future_state_does_not_block(tmp_path) -> None:
    budget = Budget("corrupt", Limit(100.0, 1), str(tmp_path))
    with open(budget.path, "wb") as handle:
        handle.write(_budget._STATE.pack(float("nan"), time.time() + 1e9, 0.0))  # pylint: disable=protected-access
    assert budget.paused_for() <= _budget.MAX_PAUSE
    with open(budget.path, "wb") as handle:
        handle.write(b"xx")
    started = time.time()
    budget.acquire()
    assert time.time() - started < 0.5


def test_one_acquire_costs_well_under_a_millisecond(tmp_path) -> None:
    budget = Budget("cost", Limit(1e6, 1000000), str(tmp_path))
    count = 2000
    started = time.perf_counter()
    for _number in range(count):
        budget.acquire().release()
    per_acquire = (time.perf_counter() - started) / count
    print(f"\nBudget.acquire: {per_acquire * 1e6:.1f} us per acquire (file state, flock), {count} acquires")
    assert per_acquire < 0.001


@pytest.mark.parametrize("value, variable, words", [
    ("fast", "apikeys_rate_limit", "must be a mapping"),
    ({"providr": 5}, "apikeys_rate_limit.providr", "unknown field"),
    ({"provider": "fast"}, "apikeys_rate_limit.provider", "requests per second"),
    ({"provider": {"rate": 0}}, "apikeys_rate_limit.provider.rate", "more than 0"),
    ({"provider": {"rate": -1}}, "apikeys_rate_limit.provider.rate", "more than 0"),
    ({"provider": {"rate": "10"}}, "apikeys_rate_limit.provider.rate", "a number"),
    ({"provider": {"rate": True}}, "apikeys_rate_limit.provider.rate", "a number"),
    ({"store": {"burst": 2.5}}, "apikeys_rate_limit.store.burst", "a whole number"),
    ({"store": {"concurrency": 0}}, "apikeys_rate_limit.store.concurrency", "more than 0"),
    ({"store": {"rps": 3}}, "apikeys_rate_limit.store.rps", "unknown field"),
    ({"store": {}}, "apikeys_rate_limit.store", "is empty"),
])
def test_malformed_config_is_an_error_naming_the_key_and_variable(value, variable, words) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_rate_limit("sendgrid_main", value, "sendgrid", "vault_kv2")
    message = str(raised.value)
    assert "sendgrid_main" in message and variable in message and words in message


def test_config_forms_and_defaults() -> None:
    provider, store = parse_rate_limit("k", None, "sendgrid", "vault_kv2")
    assert (provider.rate, provider.burst) == (10.0, 10) and store.rate == 1000.0
    provider, store = parse_rate_limit("k", {"provider": 4, "store": "unlimited"}, "stripe", "vault_kv2")
    assert (provider.rate, provider.burst, store.rate) == (4.0, 4, None)
    provider, _store = parse_rate_limit("k", {"provider": {"concurrency": 3}}, "twilio", "vault_kv2")
    assert (provider.rate, provider.concurrency) == (50.0, 3)
    provider, _store = parse_rate_limit("k", {"provider": {"rate": 0.5}}, "unknown_provider", "x")
    assert (provider.rate, provider.burst) == (0.5, 1)
    assert parse_rate_limit("k", None, "not_in_the_table", "x")[0] == _budget.FALLBACK


def test_attach_budgets_gives_provider_and_store_their_endpoint_budgets(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("APIKEYS_BUDGET_DIR", str(tmp_path / "budgets"))
    monkeypatch.setattr(_budget, "_DIR", [])
    one = SimpleNamespace(name="sendgrid", options={"api_url": "https://api.sendgrid.com/"}, retry=RetryPolicy())
    two = SimpleNamespace(name="sendgrid", options={"api_url": "https://API.sendgrid.com/v3"}, retry=RetryPolicy())
    other = SimpleNamespace(name="sendgrid", options={"api_url": "http://127.0.0.1:9"}, retry=RetryPolicy())
    store = SimpleNamespace(kind="vault_kv2", url="https://vault:8200", namespace="", retry=RetryPolicy())
    first = attach_budgets("a", one, store, None)
    second = attach_budgets("b", two, store, {"provider": 8})
    assert one.retry.budget is two.retry.budget is first[0] is second[0]  # same endpoint: one budget
    assert one.retry.budget.limit.rate == 8.0  # the latest caller's limit
    assert store.retry.budget is first[1] and store.retry.budget.name.startswith("store-vault_kv2-")
    assert attach_budgets("c", other, store, None)[0] is not first[0]
    assert os.stat(tmp_path / "budgets").st_mode & 0o077 == 0
    before = two.retry
    with pytest.raises(ConfigError):
        attach_budgets("b", two, store, {"provider": {"rate": "lots"}})
    assert two.retry is before  # a bad value changes nothing


def test_a_vault_429_pauses_every_user_of_the_store_budget(tmp_path) -> None:
    import hvac.exceptions  # pylint: disable=import-outside-toplevel
    from ansible_collections.apikeys.rotation.plugins.module_utils._errors import StoreUnavailable
    from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_kv2 import VaultKV2Store

    store = VaultKV2Store("http://127.0.0.1:9", token="t", token_cache=False,
                          retry=RetryPolicy(attempts=1, base_delay=0.4, max_delay=0.4))
    attach_budgets("k", SimpleNamespace(name="sendgrid", options={}, retry=RetryPolicy()), store, {"store": "unlimited"})
    store.retry = RetryPolicy(attempts=1, base_delay=0.4, max_delay=0.4,
                              budget=Budget("vault-429", Limit(None), str(tmp_path)))

    def limited() -> None:
        raise hvac.exceptions.RateLimitExceeded("rate limit quota exceeded")

    with pytest.raises(StoreUnavailable):
        store._once("read", limited)  # pylint: disable=protected-access
    assert Budget("vault-429", Limit(None), str(tmp_path)).paused_for() > 0.05


def test_a_spent_window_announced_by_the_provider_pauses_the_budget(tmp_path, monkeypatch) -> None:
    import requests  # pylint: disable=import-outside-toplevel
    from ansible_collections.apikeys.rotation.plugins.module_utils._http import HttpClient

    budget = Budget("spent", Limit(None), str(tmp_path))
    answers = []
    for remaining in ("1", "0"):
        answer = requests.Response()
        answer.status_code, answer._content = 200, b"{}"  # pylint: disable=protected-access
        answer.headers.update({"X-RateLimit-Limit": "150", "X-RateLimit-Remaining": remaining,
                               "X-RateLimit-Reset": str(int(time.time()) + 2)})
        answers.append(answer)
    monkeypatch.setattr(requests.Session, "request", lambda *args, **kwargs: answers.pop(0))
    client = HttpClient("sendgrid", "https://api.example.test", {}, retry=RetryPolicy(budget=budget))
    client.request("GET", "/v3/api_keys")
    assert budget.paused_for() == 0  # one request left in the window: no pause
    client.request("GET", "/v3/api_keys")
    assert 0.5 < budget.paused_for() <= 2.0  # none left: everyone waits for the window's reset
