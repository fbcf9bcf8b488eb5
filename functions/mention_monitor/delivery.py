"""Delivery: each notifier drains the outbox above its own cursor, up to the safe mark."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mention_monitor.guard import SendGuard
from mention_monitor.logs import redact
from mention_monitor.models import DeliveryResult, Digest, Mention
from mention_monitor.notifiers import Notifier
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
    #: Real runs: asked before each send (time budget, lease).
    guard: SendGuard | None = None
    #: ``state.outbox_days``, for the report of mentions that expired undelivered.
    outbox_days: float = 0

    def pending(self, cursor: int) -> list[Mention]:
        if self.mark is None or self.mark <= cursor:
            return []
        pending = self.store.pending(self.watch, cursor, self.mark, self.now)
        if self.dry_run and self.collected:
            extra = [m for m in self.collected.values() if cursor < m.id <= self.mark]
            merged = {m.id: m for m in [*pending, *extra]}
            pending = sorted(merged.values(), key=lambda m: m.id)
        return pending

    def deliver(self, name: str, notifier: Notifier[Any], cursor: int) -> None:
        """Send ``name`` its backlog, then move its cursor over what it accepted."""
        self.result.delivered[name] = 0
        if self.mark is None or self.mark <= cursor:
            return
        if self.dry_run:
            passing = [m for m in self.pending(cursor) if notifier.options.allows(m)]
            if self.result.would_deliver is None:
                self.result.would_deliver = {}
            self.result.would_deliver[name] = len(passing)
            return
        refused = self.guard.refuse(name) if self.guard is not None else None
        if refused is not None:
            self.result.failed.setdefault(*refused)
            return
        lost = self.store.expired(self.watch, cursor, self.mark, self.now)
        pending = self.pending(cursor)
        passing = [m for m in pending if notifier.options.allows(m)]
        digest = Digest(
            watch=self.watch, mentions=tuple(passing), search_url=self.search_url, terms=self.terms
        )
        sent = notifier.send(digest) if passing else DeliveryResult()
        # Filtered-out mentions are handled too: on success the cursor moves to the mark.
        target = self.mark if sent.ok else sent.delivered_through
        reasons = [] if sent.ok else [redact(sent.error or "failed")]
        if lost:
            # Gone for good: the cursor passes them (so they are reported once), but never
            # a mention still pending below them.
            below = [i for i in lost if not pending or i < pending[0].id]
            if below and (target is None or target < below[-1]):
                target = below[-1]
            reasons.insert(0, self._lost(name, lost))
        if target is not None and target > cursor:
            if not self.store.advance_delivery(self.watch, name, target):
                log.info("delivery cursor %s/%s already moved by another run", self.watch, name)
        self.result.delivered[name] = sent.delivered
        if reasons:
            reason = "; ".join(reasons)
            self.result.failed[name] = reason
            log.warning("notifier %s failed for %s: %s", name, self.watch, reason)

    def _lost(self, name: str, ids: list[int]) -> str:
        span = f"ID {ids[0]}" if len(ids) == 1 else f"IDs {ids[0]}..{ids[-1]}"
        return (
            f"{len(ids)} mention(s) ({span}) expired from the outbox before {name} delivered "
            f"them (state.outbox_days = {self.outbox_days:g}); they will not be sent"
        )
