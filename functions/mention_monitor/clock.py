"""Time as a parameter: the run's deadline, sleeping and 'now' (fakes replace it in tests)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """Wall time for timestamps, monotonic time for budgets, and ``sleep``."""

    def now(self) -> float:
        return time.time()

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class Budget:
    """How much of the run's time budget is left."""

    def __init__(self, seconds: float, clock: Clock) -> None:
        self._clock = clock
        self._deadline = clock.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._deadline - self._clock.monotonic())
