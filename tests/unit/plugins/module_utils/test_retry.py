"""call_with_retry with a fake clock: no real sleeping."""
from __future__ import annotations

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils._retry import RetryPolicy, Retryable, call_with_retry


class Boom(Exception):
    pass


class FakeTime:
    """``sleep`` advances ``clock``; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Attempt:
    """Raises ``errors`` in turn (Retryable or not), then returns ``value``."""

    def __init__(self, errors, value="ok") -> None:
        self.errors = list(errors)
        self.value = value
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.value


def run(attempt, policy, fake):
    return call_with_retry(attempt, policy, sleep=fake.sleep, clock=fake.clock)


def test_first_success_no_sleep():
    fake = FakeTime()
    attempt = Attempt([])
    assert run(attempt, RetryPolicy(), fake) == "ok"
    assert attempt.calls == 1
    assert fake.sleeps == []


def test_succeeds_after_retryable_failures():
    fake = FakeTime()
    attempt = Attempt([Retryable(Boom("a")), Retryable(Boom("b"))], value=42)
    assert run(attempt, RetryPolicy(attempts=4), fake) == 42
    assert attempt.calls == 3
    assert len(fake.sleeps) == 2


@pytest.mark.parametrize("attempts", [1, 2, 3, 5])
def test_stops_after_policy_attempts_and_raises_last_cause(attempts):
    fake = FakeTime()
    causes = [Boom(f"failure {n}") for n in range(10)]
    attempt = Attempt([Retryable(c) for c in causes])
    with pytest.raises(Boom) as info:
        run(attempt, RetryPolicy(attempts=attempts, max_total=1e9), fake)
    assert attempt.calls == attempts
    assert info.value is causes[attempts - 1]   # the cause, not the Retryable wrapper
    assert len(fake.sleeps) == attempts - 1     # no sleep after the last attempt


def test_backoff_is_bounded_and_grows():
    fake = FakeTime()
    policy = RetryPolicy(attempts=6, base_delay=1.0, max_delay=4.0, max_total=1e9)
    attempt = Attempt([Retryable(Boom()) for _count in range(5)])
    run(attempt, policy, fake)
    # attempt n waits within [b/2, b] where b = min(max_delay, base * 2**(n-1))
    for number, wait in enumerate(fake.sleeps, start=1):
        backoff = min(4.0, 1.0 * 2 ** (number - 1))
        assert backoff / 2 <= wait <= backoff


@pytest.mark.parametrize("retry_after, expected", [(3.0, 3.0), (0.0, 0.0), (-5.0, 0.0), (1000.0, 32.0)])
def test_honours_retry_after_capped_at_four_max_delay(retry_after, expected):
    fake = FakeTime()
    attempt = Attempt([Retryable(Boom(), retry_after=retry_after)])
    assert run(attempt, RetryPolicy(attempts=2, max_delay=8.0, max_total=1e9), fake) == "ok"
    assert fake.sleeps == [expected]


def test_respects_max_total_before_sleeping():
    fake = FakeTime()
    # 10s + 10s fit in 25s; a third wait of 10s would pass it: the cause is raised instead.
    attempt = Attempt([Retryable(Boom(str(n)), retry_after=10) for n in range(5)])
    with pytest.raises(Boom) as info:
        run(attempt, RetryPolicy(attempts=10, max_delay=8.0, max_total=25.0), fake)
    assert fake.sleeps == [10, 10]
    assert attempt.calls == 3
    assert str(info.value) == "2"


def test_max_total_counts_time_spent_in_attempts():
    fake = FakeTime()

    def slow_failure():
        fake.now += 20  # the call itself took 20s
        raise Retryable(Boom("slow"), retry_after=1)

    with pytest.raises(Boom):
        run(slow_failure, RetryPolicy(attempts=10, max_total=30.0), fake)
    assert fake.sleeps == [1]  # 20+1 <= 30 then 41+1 > 30


@pytest.mark.parametrize("error", [Boom("not retryable"), ValueError("x"), KeyError("k")])
def test_non_retryable_error_passes_through_at_once(error):
    fake = FakeTime()
    attempt = Attempt([error, error])
    with pytest.raises(type(error)) as info:
        run(attempt, RetryPolicy(attempts=5), fake)
    assert info.value is error
    assert attempt.calls == 1
    assert fake.sleeps == []


def test_non_retryable_after_retryable_stops_there():
    fake = FakeTime()
    final = Boom("final")
    attempt = Attempt([Retryable(Boom("first")), final, Retryable(Boom("never"))])
    with pytest.raises(Boom) as info:
        run(attempt, RetryPolicy(attempts=5), fake)
    assert info.value is final
    assert attempt.calls == 2
