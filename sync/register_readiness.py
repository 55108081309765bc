"""Whether the register is set up, as ``/readyz`` asks it: cached, and joined to residency.

A load balancer may ask ``/readyz`` every few seconds. Asking the register
each time (three table probes, or one signed HTTP call) would put the
probes' load on the controller's register, so ``CachedReadiness`` asks at
most once per period: a ready register again after ``every``, one that is
not ready sooner (``every_when_not_ready``), so that a fix shows quickly.
``with_register`` adds the register's problems to the intake's readiness.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sync.model import RegisterReadiness
from sync.ports import Clock

ReadinessReader = Callable[[], RegisterReadiness]
"""() -> the register's readiness (``Register.readiness``, or a setting that is missing)."""

Ready = Callable[[], tuple[bool, str]]
"""The intake's readiness (``sync.intake.Readiness``): whether, and why not."""


class CachedReadiness:
    """A ``ReadinessReader`` that asks the register at most once per period (thread-safe)."""

    def __init__(
        self,
        read: ReadinessReader,
        clock: Clock,
        *,
        every: timedelta = timedelta(seconds=30),
        every_when_not_ready: timedelta = timedelta(seconds=5),
    ) -> None:
        self._read = read
        self._clock = clock
        self._every = every
        self._every_when_not_ready = every_when_not_ready
        self._lock = threading.Lock()
        self._last: tuple[datetime, RegisterReadiness] | None = None

    def __call__(self) -> RegisterReadiness:
        """The last answer while it is fresh, else the register's answer now."""
        with self._lock:
            now = self._clock.now()
            if self._last is not None:
                at, state = self._last
                period = self._every if state.ready else self._every_when_not_ready
                if now - at < period:
                    return state
            state = self._read()
            self._last = (now, state)
            return state


def with_register(ready: Ready, register: ReadinessReader) -> Ready:
    """``ready``, and not ready while the register is not set up (the reason names why).

    The reason starts ``register:`` and lists the register's problems, after
    ``ready``'s own reason when that is not ready either.
    """

    def both() -> tuple[bool, str]:
        ok, reason = ready()
        state = register()
        if state.ready:
            return ok, reason
        problem = "register: " + "; ".join(state.problems)
        return False, problem if ok else f"{reason}; {problem}"

    return both
