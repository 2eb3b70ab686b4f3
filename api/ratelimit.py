"""Per-key write rate limits: a token bucket per key, in the memory of one process."""

from __future__ import annotations

import threading
import time

from locator.errors import RateLimitedError


class RateLimiter:
    """Allow ``per_minute`` writes a minute per key, with bursts up to the same number."""

    def __init__(self, per_minute: float) -> None:
        self.rate_per_s = per_minute / 60.0
        self.capacity = max(per_minute, 1.0)
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: int, prefix: str, *, now: float | None = None) -> None:
        """Spend one write of ``key_id``; :class:`RateLimitedError` when none is left."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate_per_s)
            if tokens < 1.0:
                wait_s = (1.0 - tokens) / self.rate_per_s
                self._buckets[key_id] = (tokens, now)
                raise RateLimitedError(
                    f"key {prefix} made more than {self.capacity:.0f} writes a minute; "
                    f"try again in {wait_s:.0f} s",
                    retry_after_s=wait_s,
                )
            self._buckets[key_id] = (tokens - 1.0, now)
