"""Delivery: each notifier drains the outbox above its own cursor, up to the safe mark, in
bounded digests read from the outbox in chunks."""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from mention_monitor.logs import redact
from mention_monitor.models import DeliveryResult, Digest, Mention
from mention_monitor.notifiers import Notifier, NotifierOptions
from mention_monitor.results import WatchResult
from mention_monitor.state import StateStore, WatchState

log = logging.getLogger(__name__)


def init_deliveries(
    store: StateStore, watch: str, notify: list[str], state: WatchState, *, dry_run: bool
) -> None:
    """Give every notifier its starting point before anything is stored.

    One that is new to this watch starts where the watch is now (not with its history), and a
    run that dies after storing cannot leave a notifier to start past mentions it never got.
    """
    for name in notify:
        if name in state.deliveries:
            continue
        start = state.mark if state.mark is not None else 0
        if dry_run or store.init_delivery(watch, name, start):
            state.deliveries[name] = start
        else:  # another run got there first: take its starting point
            state.deliveries[name] = store.load(watch).deliveries.get(name, start)


@dataclass
class Selection:
    """One notifier's digest, built while the backlog streams past: every mention above its
    cursor that passes its rules is counted; the ``limit`` most-followed are kept."""

    cursor: int
    options: NotifierOptions
    total: int = 0
    _heap: list[tuple[int, int, Mention]] = field(default_factory=list)

    def add(self, m: Mention) -> None:
        if m.id <= self.cursor or not self.options.allows(m):
            return
        self.total += 1
        item = (m.author_followers, m.id, m)
        if len(self._heap) < self.options.max_mentions:
            heapq.heappush(self._heap, item)
        elif item > self._heap[0]:
            heapq.heapreplace(self._heap, item)

    def mentions(self) -> tuple[Mention, ...]:
        return tuple(sorted((m for _, _, m in self._heap), key=lambda m: m.id))


@dataclass
class Delivery:
    """One watch's deliveries in one run: the same digest inputs for every notifier."""

    store: StateStore
    watch: str
    search_url: str
    terms: tuple[str, ...]
    mark: int | None
    now: int
    result: WatchResult
    dry_run: bool = False
    #: Dry runs store nothing: what the searches found stands in for the outbox.
    collected: Mapping[int, Mention] | None = None
    #: One lock per notifier: a notifier sends one digest at a time across the run's workers.
    locks: Mapping[str, threading.Lock] | None = None

    def backlog(self, above: int) -> Iterator[Mention]:
        """Outbox mentions in (above, mark], ascending, read in chunks."""
        if self.mark is None or self.mark <= above:
            return
        seen: set[int] = set()
        for page in self.store.iter_pending(self.watch, above, self.mark, self.now):
            for m in page:
                if self.dry_run:
                    seen.add(m.id)
                yield m
        if self.dry_run and self.collected:
            for m in sorted(self.collected.values(), key=lambda m: m.id):
                if above < m.id <= self.mark and m.id not in seen:
                    yield m

    def pending(self, cursor: int) -> list[Mention]:
        return list(self.backlog(cursor))

    def deliver_all(self, targets: list[tuple[str, Notifier[Any], int]]) -> None:
        """Each ``(name, notifier, cursor)`` gets its digest; one pass over the backlog."""
        due = [t for t in targets if self.mark is not None and self.mark > t[2]]
        for name, _, _ in targets:
            self.result.delivered[name] = 0
        if not due:
            return
        picks = {name: Selection(cursor, notifier.options) for name, notifier, cursor in due}
        for m in self.backlog(min(cursor for _, _, cursor in due)):
            for pick in picks.values():
                pick.add(m)
        for name, notifier, cursor in due:
            self._send(name, notifier, cursor, picks[name])

    def deliver(self, name: str, notifier: Notifier[Any], cursor: int) -> None:
        """Send ``name`` its backlog, then move its cursor over what it accepted."""
        self.deliver_all([(name, notifier, cursor)])

    def _send(self, name: str, notifier: Notifier[Any], cursor: int, pick: Selection) -> None:
        if self.dry_run:
            if self.result.would_deliver is None:
                self.result.would_deliver = {}
            self.result.would_deliver[name] = pick.total
            return
        digest = Digest(
            watch=self.watch,
            mentions=pick.mentions(),
            search_url=self.search_url,
            terms=self.terms,
            total=pick.total,
        )
        lock = self.locks.get(name) if self.locks is not None else None
        with lock if lock is not None else nullcontext():
            sent = notifier.send(digest) if pick.total else DeliveryResult()
        # The cursor moves over the whole digest, the mentions it did not show included, and
        # over filtered-out mentions too; on failure only over what was accepted.
        target = self.mark if sent.ok else sent.delivered_through
        if target is not None and target > cursor:
            if not self.store.advance_delivery(self.watch, name, target):
                log.info("delivery cursor %s/%s already moved by another run", self.watch, name)
        self.result.delivered[name] = digest.count if sent.ok else sent.delivered
        if not sent.ok:
            reason = redact(sent.error or "failed")
            self.result.failed[name] = reason
            log.warning("notifier %s failed for %s: %s", name, self.watch, reason)
