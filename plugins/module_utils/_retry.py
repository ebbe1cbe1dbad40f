# Internal to this collection: not a public API; may change without notice.
"""Bounded retries with jittered exponential backoff.

Callers opt in per call and say which failures are retryable: a create is
never blindly retried (its answer may have been lost after the key was made).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, Optional, TypeVar

T = TypeVar("T")


class Retryable(Exception):
    """Raised by an attempt that may be repeated; ``retry_after`` in seconds if the server said so."""

    def __init__(self, cause: Exception, retry_after: Optional[float] = None) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_total: float = 30.0
    #: the longest a server's Retry-After is honoured; None: 4 x max_delay
    retry_after_cap: Optional[float] = None

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
    for number in range(1, policy.attempts + 1):
        try:
            return attempt()
        except Retryable as exc:
            if number == policy.attempts:
                raise exc.cause from None
            wait = policy.delay(number, exc.retry_after)
            if clock() + wait - started > policy.max_total:
                raise exc.cause from None
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
