# Internal to this collection: not a public API; may change without notice.
"""Bounded retries with jittered exponential backoff.

Callers opt in per call and say which failures are retryable: a create is
never blindly retried (its answer may have been lost after the key was made).

A policy may carry a rate budget (``_budget.Budget``): every attempt, the first included, waits for its
turn, and a server's ``Retry-After`` (or a throttling answer) pauses every user of that budget, in every
thread and process, not only the caller. Time spent waiting for a turn is not counted in ``max_total``.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")


class Retryable(Exception):
    """Raised by an attempt that may be repeated; ``retry_after`` in seconds if the server said so;
    ``throttled`` when the server said "too many requests" (429, AWS Throttling)."""

    def __init__(self, cause: Exception, retry_after: Optional[float] = None, throttled: bool = False) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.retry_after = retry_after
        self.throttled = throttled


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_total: float = 30.0
    #: the longest a server's Retry-After is honoured; None: 4 x max_delay
    retry_after_cap: Optional[float] = None
    #: the rate budget every attempt draws from (``_budget.Budget``); None: none
    budget: Any = None

    def delay(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            cap = self.retry_after_cap if self.retry_after_cap is not None else self.max_delay * 4
            return min(max(retry_after, 0.0), cap)
        backoff = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return backoff / 2 + random.uniform(0, backoff / 2)


def call_with_retry(attempt: Callable[[], T], policy: RetryPolicy,
                    sleep: Callable[[float], None] = time.sleep,
                    clock: Callable[[], float] = time.monotonic) -> T:
    """Run ``attempt`` until it returns, raises a non-Retryable error, or the policy is spent.

    When the policy is spent the cause of the last Retryable is raised.
    """
    started = clock()
    budget = policy.budget
    for number in range(1, policy.attempts + 1):
        ticket = budget.acquire() if budget is not None else None
        try:
            if ticket is not None:
                started += ticket.waited  # a wait for the budget is not a failure: not counted in max_total
            return attempt()
        except Retryable as exc:
            wait = policy.delay(number, exc.retry_after)
            if budget is not None and (exc.retry_after is not None or exc.throttled):
                budget.pause(wait)  # every user of the budget waits, not only this caller
            if number == policy.attempts:
                raise exc.cause from None
            if clock() + wait - started > policy.max_total:
                raise exc.cause from None
            sleep(wait)
        finally:
            if ticket is not None:
                ticket.release()
    raise AssertionError("unreachable")  # pragma: no cover
