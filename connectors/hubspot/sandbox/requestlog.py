"""The bounded log of API calls the sandbox received, for `GET /_sandbox/requests`."""

from __future__ import annotations

import itertools
import threading
from collections import Counter, deque
from typing import Any


class RequestLog:
    """Keeps the last `size` calls in order, and counters over every call since the last reset.

    Memory stays constant however many requests are served: old entries fall off the end.
    """

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=max(1, size))
        self._seq = itertools.count(1)
        self.counters: Counter[str] = Counter()

    def record(self, entry: dict[str, Any]) -> None:
        """Append one call (a `seq` number is added) and count it."""
        with self._lock:
            entry["seq"] = next(self._seq)
            self._entries.append(entry)
            self.counters["requests"] += 1
            status = int(entry.get("status") or 0)
            if status == 429:
                self.counters["rate_limited"] += 1
            if entry.get("fault"):
                self.counters["faults"] += 1
            if status == 401:
                self.counters["unauthorized"] += 1

    def entries(self, since: int = 0) -> list[dict[str, Any]]:
        """The kept calls with `seq > since`, oldest first."""
        with self._lock:
            return [e for e in self._entries if e["seq"] > since]

    def snapshot_counters(self) -> dict[str, int]:
        """Counts of requests, rate-limited answers, faults and 401s."""
        with self._lock:
            base = dict.fromkeys(("requests", "rate_limited", "faults", "unauthorized"), 0)
            base.update(self.counters)
            return base

    def reset(self) -> None:
        """Forget every call and counter."""
        with self._lock:
            self._entries.clear()
            self.counters.clear()
