"""X's rate limit as a budget the run's workers share: read from X's headers, spent before
each request, so a run defers what it cannot cover instead of running into 429s."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from mention_monitor.clock import Budget, Clock
from mention_monitor.state.base import RateState

log = logging.getLogger(__name__)

#: Recent search: 450 requests per 15 minutes per app (bearer token).
SEARCH_LIMIT = 450
WINDOW_SECONDS = 15 * 60
DEFERRED = "rate limit"
#: A reset further away than one window (and some clock skew) is not a rate-limit window.
MAX_RESET_SECONDS = WINDOW_SECONDS + 60


def _int(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, ValueError, TypeError):
        return None


@dataclass
class Ticket:
    """Requests reserved for one watch when it starts (one per query)."""

    left: int


class RateBudget:
    """What is left of one X rate-limit window (thread-safe).

    ``remaining`` is ``None`` until X has said (or a previous run saved) how many requests
    are left before ``reset``. Each request spends one before it is sent; every answer's
    ``x-rate-limit-remaining`` corrects the count (the lower wins inside one window; a later
    ``x-rate-limit-reset`` starts a new window). A watch starts only if what is left, less
    what started watches have reserved, covers one request per query.
    """

    def __init__(
        self, clock: Clock, budget: Budget, saved: RateState | None = None, name: str = "search"
    ) -> None:
        self._clock = clock
        self._budget = budget
        self._lock = threading.Lock()
        self.name = name
        self.limit: int | None = None
        self.remaining: int | None = None
        self.reset: int | None = None
        self.reserved = 0
        #: Requests sent while ``remaining`` was unknown: the first answer may not count them.
        self.blind = 0
        if saved is not None and saved.reset > clock.now():
            self.limit, self.remaining, self.reset = saved.limit, saved.remaining, saved.reset

    # -- under the lock ----------------------------------------------------------------------
    def _refresh(self) -> None:
        if self.reset is not None and self._clock.now() >= self.reset:
            self.remaining = self.reset = None  # a new window: X says how much on next answer
            self.blind = 0

    def _free(self) -> int | None:
        return None if self.remaining is None else self.remaining - self.reserved

    def _spend_one(self) -> None:
        if self.remaining is None:
            self.blind += 1
        else:
            self.remaining -= 1

    # -- the run's side ------------------------------------------------------------------------
    def start(self, requests: int) -> Ticket | None:
        """Reserve ``requests`` for a watch about to start; None when they are not left."""
        with self._lock:
            self._refresh()
            free = self._free()
            if free is not None and free < requests:
                return None
            self.reserved += requests
            return Ticket(requests)

    def take(self, ticket: Ticket | None = None) -> bool:
        """Spend one request (from ``ticket`` first). When none is left, wait for the reset
        if it comes inside the run's time budget; False when it does not."""
        for _ in range(2):
            with self._lock:
                self._refresh()
                if ticket is not None and ticket.left > 0:
                    ticket.left -= 1
                    self.reserved -= 1
                    self._spend_one()
                    return True
                free = self._free()
                if free is None or free >= 1:
                    self._spend_one()
                    return True
                wait = max(0.0, (self.reset or 0) - self._clock.now()) + 1.0
            if wait > self._budget.remaining() - 1:
                return False
            log.info("X %s rate limit used up; waiting %.0fs for the reset", self.name, wait)
            self._clock.sleep(wait)
        return False

    def finish(self, ticket: Ticket) -> None:
        """Give back what a watch reserved but did not use."""
        with self._lock:
            self.reserved -= ticket.left
            ticket.left = 0

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read ``x-rate-limit-limit``, ``-remaining`` and ``-reset`` from an answer."""
        remaining = _int(headers, "x-rate-limit-remaining")
        reset = _int(headers, "x-rate-limit-reset")
        if remaining is None or reset is None or reset > self._clock.now() + MAX_RESET_SECONDS:
            return  # not a rate-limit window (a usage cap, or a bogus header): not kept
        with self._lock:
            self.limit = _int(headers, "x-rate-limit-limit") or self.limit
            if self.reset is None or reset > self.reset:
                # A new window; of the requests sent before X said, this answer may count
                # only its own: the others are taken off too (never too many sent).
                self.reset, self.remaining = reset, remaining - max(0, self.blind - 1)
                self.blind = 0
            elif reset == self.reset and self.remaining is not None:
                self.remaining = min(self.remaining, remaining)

    def state(self) -> RateState | None:
        """What to keep for the next run (None when X never said)."""
        with self._lock:
            if self.remaining is None or self.reset is None:
                return None
            return RateState(self.limit or SEARCH_LIMIT, self.remaining, self.reset)
