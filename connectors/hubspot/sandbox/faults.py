"""Injected faults: errors, held connections (timeouts) and latency, reproducible from a seed."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from connectors.hubspot.sandbox.errors import validation_error


@dataclass(frozen=True)
class FaultSettings:
    """What to inject into API calls (never into `/_sandbox`)."""

    error_rate: float = 0.0
    error_status: int = 500
    timeout_rate: float = 0.0
    latency_ms: int = 0
    seed: int = 0
    # Deterministic: every call whose path or query contains this text answers
    # `error_status` (one address's lookups, say), on top of the random rates.
    error_when: str = ""

    def to_json(self) -> dict[str, Any]:
        """The settings as `POST /_sandbox/faults` takes and returns them."""
        return asdict(self)


@dataclass(frozen=True)
class FaultDecision:
    """What happens to one call: added latency, and an error status or a held connection."""

    latency_ms: int
    error_status: int | None = None
    hold: bool = False


class FaultInjector:
    """Draws a decision per API call from a seeded generator, so a run repeats exactly.

    Each call consumes exactly two draws (timeout, then error) whatever the rates, so the
    sequence of decisions depends only on the seed and the order of calls.
    """

    def __init__(self, settings: FaultSettings) -> None:
        self._initial = settings
        self._lock = threading.Lock()
        self._settings = settings
        self._rng = random.Random(settings.seed)  # noqa: S311 (simulation, not security)
        self.injected = 0

    @property
    def settings(self) -> FaultSettings:
        """The current settings."""
        with self._lock:
            return self._settings

    def reset(self) -> None:
        """Back to the settings the sandbox started with."""
        self.configure_from(self._initial)
        with self._lock:
            self.injected = 0

    def configure_from(self, settings: FaultSettings) -> None:
        """Replace the settings and restart the generator from their seed."""
        with self._lock:
            self._settings = settings
            self._rng = random.Random(settings.seed)  # noqa: S311

    def configure(self, body: Mapping[str, Any]) -> FaultSettings:
        """Apply a partial `POST /_sandbox/faults` body (400 on bad values)."""
        current = self.settings
        changes: dict[str, Any] = {}
        for name, kind in (
            ("error_rate", float),
            ("timeout_rate", float),
            ("error_status", int),
            ("latency_ms", int),
            ("seed", int),
            ("error_when", str),
        ):
            if name in body:
                try:
                    changes[name] = kind(body[name])
                except (TypeError, ValueError):
                    raise validation_error(f"{name} must be a number") from None
        unknown = set(body) - {
            "error_rate",
            "timeout_rate",
            "error_status",
            "latency_ms",
            "seed",
            "error_when",
        }
        if unknown:
            raise validation_error(f"unknown fault settings: {', '.join(sorted(unknown))}")
        new = replace(current, **changes)
        if not (0 <= new.error_rate <= 1 and 0 <= new.timeout_rate <= 1):
            raise validation_error("rates must be between 0 and 1")
        if not 400 <= new.error_status <= 599 or new.latency_ms < 0:
            raise validation_error("error_status must be 4xx or 5xx and latency_ms >= 0")
        self.configure_from(new)
        return new

    def decide(self, target: str = "") -> FaultDecision:
        """The decision for the next API call (``target``: its path and query)."""
        with self._lock:
            s = self._settings
            hold = self._rng.random() < s.timeout_rate
            error = self._rng.random() < s.error_rate
            if s.error_when and s.error_when in target:
                hold, error = False, True
            if hold or error:
                self.injected += 1
            return FaultDecision(
                latency_ms=s.latency_ms,
                error_status=s.error_status if error and not hold else None,
                hold=hold,
            )
