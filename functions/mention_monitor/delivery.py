"""Delivery: each notifier drains the outbox above its own cursor, up to the safe mark."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from mention_monitor.guard import SendGuard
from mention_monitor.logs import redact
from mention_monitor.models import DeliveryResult, Digest, Mention
from mention_monitor.notifiers import Notifier
from mention_monitor.period import stamp, summarize
from mention_monitor.results import WatchResult
from mention_monitor.schedule import epoch, from_epoch
from mention_monitor.state import DeliveryClock, StateStore, WatchState

log = logging.getLogger(__name__)


def init_deliveries(
    store: StateStore,
    watch: str,
    notifiers: Mapping[str, Notifier[Any]],
    state: WatchState,
    now: int,
    *,
    dry_run: bool,
) -> None:
    """Give every notifier its starting point before anything is stored.

    One that is new to this watch starts where the watch is now (not with its history), and a
    run that dies after storing cannot leave a notifier to start past mentions it never got.
    A scheduled one starts in its current period: its first digest goes out at the next due time.
    """
    for name, notifier in notifiers.items():
        if name in state.deliveries:
            continue
        start = state.mark if state.mark is not None else 0
        plan = notifier.options.plan
        clock = DeliveryClock()
        if not plan.every_run:
            clock = DeliveryClock(epoch(plan.last_due(from_epoch(now))), now)
        if dry_run or store.init_delivery(watch, name, start, clock):
            state.deliveries[name], state.clocks[name] = start, clock
        else:  # another run got there first: take its starting point
            other = store.load(watch)
            state.deliveries[name] = other.deliveries.get(name, start)
            state.clocks[name] = other.clocks.get(name, clock)


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

    def deliver(
        self, name: str, notifier: Notifier[Any], cursor: int, clock: DeliveryClock | None = None
    ) -> None:
        """Send ``name`` its backlog, then move its cursor over what it accepted.

        A scheduled notifier sends only on the first run at or after its due time, everything
        since its last digest, once per period: the period's due time is written with its
        cursor (conditionally, forward only), and a period that failed is sent on the next run.
        """
        self.result.delivered[name] = 0
        plan = notifier.options.plan
        if plan.every_run:
            self._send(name, notifier, cursor, None, None)
            return
        clock = clock or DeliveryClock()
        now = from_epoch(self.now)
        due = epoch(plan.last_due(now))
        if clock.due is None and not self.dry_run:
            # Delivered every run until now: its first scheduled period starts here.
            self.store.advance_delivery(self.watch, name, cursor, DeliveryClock(due, self.now))
        if clock.due is None or clock.due >= due:
            self.result.waiting[name] = plan.next_due(now).isoformat()
            return
        self._send(name, notifier, cursor, clock, due)

    def _digest(
        self, notifier: Notifier[Any], passing: list[Mention], clock: DeliveryClock | None
    ) -> Digest:
        digest = Digest(
            watch=self.watch, mentions=tuple(passing), search_url=self.search_url, terms=self.terms
        )
        if clock is None:
            return digest
        opts = notifier.options
        since = from_epoch(clock.at or clock.due or self.now)
        if passing:
            period = summarize(passing, since, from_epoch(self.now), opts.timezone)
            return dataclasses.replace(digest, period=period)
        if opts.send_empty:
            zone = ZoneInfo(opts.timezone)
            note = f"No new mentions of {self.watch} since {stamp(since, zone)}"
            return dataclasses.replace(digest, headline=note)
        return digest

    def _send(
        self,
        name: str,
        notifier: Notifier[Any],
        cursor: int,
        clock: DeliveryClock | None,
        due: int | None,
    ) -> None:
        pending = self.pending(cursor)
        passing = [m for m in pending if notifier.options.allows(m)]
        if self.dry_run:
            if self.result.would_deliver is None:
                self.result.would_deliver = {}
            self.result.would_deliver[name] = len(passing)
            return
        lost = []
        if self.mark is not None:
            lost = self.store.expired(self.watch, cursor, self.mark, self.now)
        if not lost:
            if clock is None and not passing:
                # Only mentions its routing rules filter out: pass them (nothing to send).
                if pending and self.mark is not None:
                    self.store.advance_delivery(self.watch, name, self.mark)
                return
            if clock is not None and not passing and "search" in self.result.failed:
                return  # "no new mentions" is not known while X could not be read: try next run
        refused = self.guard.refuse(name) if self.guard is not None else None
        if refused is not None:
            self.result.failed.setdefault(*refused)
            return
        digest = self._digest(notifier, passing, clock)
        sent = notifier.send(digest) if digest.mentions or digest.headline else DeliveryResult()
        # Filtered-out mentions are handled too: on success the cursor moves to the mark.
        target = self.mark if sent.ok else sent.delivered_through
        target = cursor if target is None or target < cursor else target
        reasons = [] if sent.ok else [redact(sent.error or "failed")]
        if lost:
            # Gone for good: the cursor passes them (so they are reported once), but never a
            # mention still pending below them. Only those its rules let through are missed.
            below = [m.id for m in lost if not pending or m.id < pending[0].id]
            target = max(target, below[-1]) if below else target
            missed = [m.id for m in lost if notifier.options.allows(m)]
            if missed:
                reasons.insert(0, self._lost(name, missed))
        # A scheduled period counts as sent only when all of it was accepted.
        if clock is not None and due is not None and sent.ok:
            clock = DeliveryClock(due, self.now)
        if target > cursor or (clock is not None and clock.due == due):
            args = (target,) if clock is None else (target, clock)
            if not self.store.advance_delivery(self.watch, name, *args):
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
