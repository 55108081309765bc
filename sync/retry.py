"""When to try a failed event again: exponential backoff with jitter, as a value.

The decision is pure: given the attempts made, the error and the time, it
returns when to retry, or ``None`` to dead-letter. Randomness is a function
passed in (``jitter``), so tests choose it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sync.model import ErrorClass, ErrorInfo

Jitter = Callable[[float], float]
"""Maps a delay in seconds to the delay actually used."""


def full_jitter(delay_s: float) -> float:
    """A uniformly random delay between half and all of ``delay_s`` ("equal jitter")."""
    return delay_s / 2 + random.uniform(0, delay_s / 2)  # noqa: S311 - not for secrets


def no_jitter(delay_s: float) -> float:
    """The delay unchanged (for tests and reproducible runs)."""
    return delay_s


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: ``base * 2**(attempts-1)``, capped, jittered.

    A retryable error that names its own wait (``Retry-After``, a rate-limit
    window) waits at least that long. Permanent errors and the last allowed
    attempt dead-letter the event.
    """

    max_attempts: int = 8
    base_s: float = 5.0
    max_delay_s: float = 3600.0
    jitter: Jitter = full_jitter

    def delay(self, attempts: int) -> float:
        """Backoff before the next try after ``attempts`` attempts, before jitter."""
        exponent = max(attempts - 1, 0)
        return float(min(self.max_delay_s, self.base_s * (2**exponent)))

    def decide(
        self,
        attempts: int,
        error: ErrorInfo,
        now: datetime,
        retry_after_s: float | None = None,
    ) -> datetime | None:
        """When to retry, or ``None`` to dead-letter the event."""
        if error.error_class is not ErrorClass.RETRYABLE or attempts >= self.max_attempts:
            return None
        wait = self.jitter(self.delay(attempts))
        if retry_after_s is not None:
            wait = max(wait, retry_after_s)
        return now + timedelta(seconds=wait)
