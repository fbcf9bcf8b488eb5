"""Checked before each send: time left in the run's budget, and this run's lease on the watch."""

from __future__ import annotations

from dataclasses import dataclass

from mention_monitor.clock import Budget, Clock
from mention_monitor.state import StateStore

LEASE_LOST = (
    "another run took this watch's lease (this run outlived it): delivery stopped, "
    "no delivery cursor moved"
)
OUT_OF_TIME = "not sent: the run's time budget ran out first; the backlog goes out next run"


@dataclass
class SendGuard:
    """One watch's deliveries in one run may only go ahead while both hold.

    The lease is renewed with a write conditional on this run still owning it: a run that
    outlived its lease (its process paused, a wait not counted) finds a newer run's owner
    there, or no lease at all, and sends nothing more. The newer run loaded the delivery
    cursors before this one could move them, so a send now would repeat its digest.
    """

    store: StateStore
    watch: str
    owner: str
    lease_seconds: int
    clock: Clock
    budget: Budget
    lost: bool = False

    def refuse(self, notifier: str) -> tuple[str, str] | None:
        """None to send; else ``(key, reason)`` for the watch's ``failed`` map."""
        if not self.lost:
            now = int(self.clock.now())
            self.lost = not self.store.renew_lease(
                self.watch, self.owner, now, self.lease_seconds
            )
        if self.lost:
            return "lease", LEASE_LOST
        if self.budget.remaining() <= 0:
            return notifier, OUT_OF_TIME
        return None
