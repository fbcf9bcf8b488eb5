"""Delivery: each notifier drains the outbox above its own cursor, up to the safe mark, in
bounded digests built in one pass over the outbox read in chunks."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from mention_monitor.guard import SendGuard
from mention_monitor.logs import redact
from mention_monitor.models import DeliveryResult, Digest, Mention
from mention_monitor.notifiers import Notifier
from mention_monitor.period import PeriodTally, stamp
from mention_monitor.pick import Pick
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
    #: One lock per notifier: a notifier sends one digest at a time across the run's workers.
    locks: Mapping[str, threading.Lock] | None = None

    def backlog(self, above: int) -> Iterator[tuple[Mention, bool]]:
        """Outbox rows in (above, mark], ascending, read in chunks, each with whether it
        expired before delivery (dry runs add what their searches found)."""
        if self.mark is None or self.mark <= above:
            return
        seen: set[int] = set()
        for rows in self.store.iter_rows(self.watch, above, self.mark, self.now):
            for m, expired in rows:
                if self.dry_run:
                    seen.add(m.id)
                yield m, expired
        if self.dry_run and self.collected:
            for m in sorted(self.collected.values(), key=lambda m: m.id):
                if above < m.id <= self.mark and m.id not in seen:
                    yield m, False

    def pending(self, cursor: int) -> list[Mention]:
        return [m for m, expired in self.backlog(cursor) if not expired]

    def deliver(
        self, name: str, notifier: Notifier[Any], cursor: int, clock: DeliveryClock | None = None
    ) -> None:
        self.deliver_all([(name, notifier, cursor, clock)])

    def deliver_all(
        self, targets: list[tuple[str, Notifier[Any], int, DeliveryClock | None]]
    ) -> None:
        """Send each notifier its backlog, then move its cursor over what it accepted; one
        pass over the outbox serves them all.

        A scheduled notifier sends only on the first run at or after its due time, everything
        since its last digest, once per period: the period's due time is written with its
        cursor (conditionally, forward only), and a period that failed is sent on the next run.
        """
        picks: list[Pick] = []
        for name, notifier, cursor, clock in targets:
            self.result.delivered[name] = 0
            pick = self._plan(name, notifier, cursor, clock)
            if pick is not None:
                picks.append(pick)
        if not picks:
            return
        for m, expired in self.backlog(min(p.cursor for p in picks)):
            for pick in picks:
                if expired:
                    pick.add_lost(m)
                else:
                    pick.add(m)
        for pick in picks:
            self._send(pick)

    def _plan(
        self, name: str, notifier: Notifier[Any], cursor: int, clock: DeliveryClock | None
    ) -> Pick | None:
        """The pick of a notifier that sends this run (None: a schedule not yet due)."""
        plan = notifier.options.plan
        if plan.every_run:
            return Pick(name, notifier, cursor)
        clock = clock or DeliveryClock()
        now = from_epoch(self.now)
        due = epoch(plan.last_due(now))
        if clock.due is None and not self.dry_run:
            # Delivered every run until now: its first scheduled period starts here.
            self.store.advance_delivery(self.watch, name, cursor, DeliveryClock(due, self.now))
        if clock.due is None or clock.due >= due:
            self.result.waiting[name] = plan.next_due(now).isoformat()
            return None
        since = from_epoch(clock.at or clock.due or self.now)
        tally = PeriodTally(since, now, notifier.options.timezone)
        return Pick(name, notifier, cursor, clock, due, tally)

    def _digest(self, pick: Pick) -> Digest:
        digest = Digest(
            watch=self.watch,
            mentions=pick.mentions(),
            search_url=self.search_url,
            terms=self.terms,
            total=pick.total,
        )
        if pick.clock is None:
            return digest
        opts = pick.notifier.options
        if pick.total and pick.tally is not None:
            return dataclasses.replace(digest, period=pick.tally.summary())
        if opts.send_empty:
            since = from_epoch(pick.clock.at or pick.clock.due or self.now)
            note = f"No new mentions of {self.watch} since {stamp(since, ZoneInfo(opts.timezone))}"
            return dataclasses.replace(digest, headline=note)
        return digest

    def _send(self, pick: Pick) -> None:
        name, notifier, cursor, clock, due = (
            pick.name, pick.notifier, pick.cursor, pick.clock, pick.due
        )
        if self.dry_run:
            if self.result.would_deliver is None:
                self.result.would_deliver = {}
            self.result.would_deliver[name] = pick.total
            return
        if not pick.lost:
            if clock is None and not pick.total:
                # Only mentions its routing rules filter out: pass them (nothing to send).
                if pick.first is not None and self.mark is not None:
                    self.store.advance_delivery(self.watch, name, self.mark)
                return
            if clock is not None and not pick.total and "search" in self.result.failed:
                return  # "no new mentions" is not known while X could not be read: try next run
        refused = self.guard.refuse(name) if self.guard is not None else None
        if refused is not None:
            self.result.failed.setdefault(*refused)
            return
        digest = self._digest(pick)
        lock = self.locks.get(name) if self.locks is not None else None
        with lock if lock is not None else nullcontext():
            sent = notifier.send(digest) if digest.mentions or digest.headline else DeliveryResult()
        # The cursor moves over the whole digest (the mentions it does not show too) and over
        # filtered-out mentions, once every mention shown was accepted (an SMS that reached
        # some numbers); on failure only over what was accepted.
        whole = sent.ok or 0 < len(digest.mentions) <= sent.delivered
        target = self.mark if whole else sent.delivered_through
        target = cursor if target is None or target < cursor else target
        reasons = [] if sent.ok else [redact(sent.error or "failed")]
        if pick.lost:
            # Gone for good: the cursor passes them (so they are reported once), but never a
            # mention still pending below them. Only those its rules let through are missed.
            if pick.lost_below is not None:
                target = max(target, pick.lost_below)
            if pick.missed_ids is not None:
                reasons.insert(0, self._lost(name, pick.missed, pick.missed_ids))
        # A scheduled period counts as sent once all of it was accepted, or every mention it
        # shows was (an SMS that reached some numbers): the cursor passed it all, and a later
        # run in the period must not call it quiet.
        if clock is not None and due is not None and whole:
            clock = DeliveryClock(due, self.now)
        if target > cursor or (clock is not None and clock.due == due):
            args = (target,) if clock is None else (target, clock)
            if not self.store.advance_delivery(self.watch, name, *args):
                log.info("delivery cursor %s/%s already moved by another run", self.watch, name)
        # Every mention shown was accepted: the digest reported all it stands for.
        shown_all = 0 < len(digest.mentions) <= sent.delivered
        self.result.delivered[name] = digest.count if shown_all else sent.delivered
        if reasons:
            reason = "; ".join(reasons)
            self.result.failed[name] = reason
            log.warning("notifier %s failed for %s: %s", name, self.watch, reason)

    def _lost(self, name: str, count: int, ids: tuple[int, int]) -> str:
        span = f"ID {ids[0]}" if count == 1 else f"IDs {ids[0]}..{ids[1]}"
        return (
            f"{count} mention(s) ({span}) expired from the outbox before {name} delivered "
            f"them (state.outbox_days = {self.outbox_days:g}); they will not be sent"
        )
