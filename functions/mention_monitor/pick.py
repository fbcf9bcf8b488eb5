"""One notifier's digest, chosen while the backlog streams past: bounded by max_mentions."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from mention_monitor.models import Mention
from mention_monitor.notifiers import Notifier
from mention_monitor.period import PeriodTally
from mention_monitor.state import DeliveryClock


@dataclass
class Pick:
    """One notifier's digest, built while the backlog streams past: every mention above its
    cursor is seen; those its rules pass are counted, the ``max_mentions`` most-followed kept
    (and, for a scheduled digest, tallied for the period summary)."""

    name: str
    notifier: Notifier[Any]
    cursor: int
    clock: DeliveryClock | None = None
    due: int | None = None
    tally: PeriodTally | None = None
    #: The lowest pending ID (passing the rules or not), and how many pass them.
    first: int | None = None
    total: int = 0
    #: Mentions that expired before this notifier got them: any at all, the highest one below
    #: ``first`` (the cursor may pass it), and how many its rules let through (first, last ID).
    lost: bool = False
    lost_below: int | None = None
    missed: int = 0
    missed_ids: tuple[int, int] | None = None
    _heap: list[tuple[int, int, Mention]] = field(default_factory=list)

    def add_lost(self, m: Mention) -> None:
        """An expired row above the cursor (rows arrive in ascending ID order)."""
        if m.id <= self.cursor:
            return
        self.lost = True
        if self.first is None:
            self.lost_below = m.id
        if self.notifier.options.allows(m):
            self.missed += 1
            self.missed_ids = (self.missed_ids[0] if self.missed_ids else m.id, m.id)

    def add(self, m: Mention) -> None:
        if m.id <= self.cursor:
            return
        if self.first is None:
            self.first = m.id
        if not self.notifier.options.allows(m):
            return
        self.total += 1
        if self.tally is not None:
            self.tally.add(m)
        item = (m.author_followers, m.id, m)
        if len(self._heap) < self.notifier.options.max_mentions:
            heapq.heappush(self._heap, item)
        elif item[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, item)

    def mentions(self) -> tuple[Mention, ...]:
        return tuple(sorted((m for _, _, m in self._heap), key=lambda m: m.id))
