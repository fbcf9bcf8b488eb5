"""One watch in one run: lease, search (each page stored as it arrives), cursors, deliveries."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mention_monitor.authors import AuthorResolver
from mention_monitor.clock import Clock
from mention_monitor.config import Settings, Watch
from mention_monitor.delivery import Delivery, init_deliveries
from mention_monitor.errors import StateError
from mention_monitor.guard import SendGuard
from mention_monitor.logs import redact
from mention_monitor.models import Mention
from mention_monitor.notifiers import Notifier
from mention_monitor.query import search_url
from mention_monitor.ratelimit import DEFERRED as RATE_DEFERRED
from mention_monitor.ratelimit import RateBudget, Ticket
from mention_monitor.results import WatchResult
from mention_monitor.search import SearchOutcome, WatchSearch
from mention_monitor.spend import DEFERRED as SPEND_DEFERRED
from mention_monitor.spend import SpendGuard
from mention_monitor.spikes import SpikeCheck
from mention_monitor.state import StateStore, WatchState
from mention_monitor.xsource import XClient

log = logging.getLogger(__name__)

MAX_ID = 2**63 - 1


@dataclass
class RunParts:
    """What every watch of one run shares (all of it safe to use from several workers)."""

    settings: Settings
    store: StateStore
    notifiers: Mapping[str, Notifier[Any]]
    clock: Clock
    client: XClient
    rate: RateBudget
    spend: SpendGuard
    authors: AuthorResolver | None
    locks: Mapping[str, threading.Lock]
    owner: str
    dry_run: bool = False


class WatchGate:
    """The run's limits around each page one watch asks X for: the spending guard first
    (a page is asked for only if the budget covers a full one), then the rate limit."""

    def __init__(self, rate: RateBudget, ticket: Ticket, spend: SpendGuard) -> None:
        self.rate, self.ticket, self.spend = rate, ticket, spend
        self._held = False

    def _release(self) -> None:
        if self._held:
            self.spend.release()
            self._held = False

    def before_page(self) -> str | None:
        self._release()  # a page that failed never reached after_page
        if not self.spend.reserve():
            return SPEND_DEFERRED
        if not self.rate.take(self.ticket):
            self.spend.release()
            return RATE_DEFERRED
        self._held = True
        return None

    def observe(self, headers: Mapping[str, str]) -> None:
        self.rate.observe(headers)

    def after_page(self, posts: int, users: int) -> None:
        self._release()
        self.spend.record(posts, users)

    def close(self) -> None:
        self._release()
        self.rate.finish(self.ticket)


class WatchRun:
    """The work for one watch in one run: lease, search, store, deliver."""

    def __init__(self, parts: RunParts, watch: Watch, queries: list[str]) -> None:
        self.parts = parts
        self.watch = watch
        self.queries = queries
        self.result = WatchResult()
        self.collected: dict[int, Mention] = {}  # dry runs only: they store nothing
        self.expires = 0

    def run(self) -> WatchResult:
        parts, name = self.parts, self.watch.name
        if parts.dry_run:  # reported for every notifier of the watch, even with nothing new
            self.result.would_deliver = dict.fromkeys(self.watch.notify, 0)
        else:
            now_s = int(parts.clock.now())
            try:
                lease = parts.settings.state.lease_seconds
                got = parts.store.acquire_lease(name, parts.owner, now_s, lease)
            except StateError as exc:
                self.result.failed["state"] = redact(str(exc))
                return self.result
            if not got:
                self.result.skipped = "another run holds this watch's lease"
                return self.result
        try:
            self._run()
        except StateError as exc:
            self.result.failed["state"] = redact(str(exc))
            log.error("state store failed for %s: %s", name, exc)
        finally:
            if not parts.dry_run:
                try:
                    parts.store.release_lease(name, parts.owner)
                except StateError as exc:  # the lease expires on its own
                    log.warning("could not release the lease of %s: %s", name, exc)
        log.info("watch done", extra={"watch": name, "result": self.result.to_dict()})
        return self.result

    def _run(self) -> None:
        parts, watch, store = self.parts, self.watch, self.parts.store
        state = store.load(watch.name)
        notifiers = {name: parts.notifiers[name] for name in watch.notify}
        now_s = int(parts.clock.now())
        init_deliveries(store, watch.name, notifiers, state, now_s, dry_run=parts.dry_run)
        self.expires = now_s + int(parts.settings.state.outbox_days * 86400)
        found = self._search(state)
        if found.errors:
            self.result.failed["search"] = redact("; ".join(found.errors))
        self.result.deferred = found.deferred
        if parts.dry_run:
            self.result.found = len(self.collected)
        else:
            # Cursors move only after their mentions are stored (page by page, above); an
            # unchanged one is not rewritten (a quiet run then writes nothing but its lease).
            for key, qs in found.states.items():
                if qs == state.queries.get(key):
                    continue
                if not store.save_query(watch.name, key, qs):
                    log.info("query cursor for %s already moved by another run", watch.name)
            mark = found.mark
            if mark is not None and (state.mark is None or mark > state.mark):
                store.advance_mark(watch.name, mark)
            if found.complete and found.states:
                store.mark_searched(watch.name, now_s)
        guard = SendGuard(
            store=store,
            watch=watch.name,
            owner=parts.owner,
            lease_seconds=parts.settings.state.lease_seconds,
            clock=parts.clock,
            budget=parts.client.budget,
        )
        delivery = Delivery(
            store=store,
            watch=watch.name,
            search_url=search_url(self.queries[0]),
            terms=tuple(watch.terms),
            mark=found.mark,
            now=now_s,
            result=self.result,
            dry_run=parts.dry_run,
            collected=self.collected,
            guard=guard,
            outbox_days=parts.settings.state.outbox_days,
            locks=parts.locks,
        )
        delivery.deliver_all(
            [(n, nt, state.deliveries[n], state.clocks.get(n)) for n, nt in notifiers.items()]
        )
        if watch.spike is not None and not parts.dry_run:
            version, data = state.spike or (None, {})
            # What was stored since the last count, read back in chunks, ascending.
            above = int(data.get("counted", 0)) or (state.mark or 0)
            new = (m for page in store.iter_pending(watch.name, above, MAX_ID, now_s) for m in page)
            SpikeCheck(
                store, watch.name, watch.spike, version, data, now_s, self.result,
                sentiment_on=parts.settings.sentiment.enabled, guard=guard,
            ).run(new, parts.notifiers, delivery.search_url)

    def _search(self, state: WatchState) -> SearchOutcome:
        """Search unless the run's limits leave no room: the spending guard has stopped, or
        X's rate limit cannot cover one request per query (the watch then goes first next
        run). Deliveries of the backlog happen either way."""
        parts = self.parts
        ticket = None if parts.spend.stopped else parts.rate.start(len(self.queries))
        if ticket is None:
            reason = SPEND_DEFERRED if parts.spend.stopped else RATE_DEFERRED
            return SearchOutcome(mark=state.mark, deferred=reason)
        gate = WatchGate(parts.rate, ticket, parts.spend)
        client = parts.client.with_gate(gate)
        now = parts.clock.utcnow()
        try:
            search = WatchSearch(client, self.watch, self.queries, now, self.result, self._store)
            return search.run(state)
        finally:
            gate.close()

    def _store(self, page: list[Mention]) -> None:
        """One page of a search, as it arrives: authors filled in, sentiment scored, then
        stored once."""
        if self.parts.authors is not None:
            page = self.parts.authors.resolve(page, self.result)
        if self.parts.settings.sentiment.enabled and page:
            from mention_monitor.sentiment import score_all  # VADER only when it is on

            page = score_all(page)
        if self.parts.dry_run:
            for m in page:
                self.collected.setdefault(m.id, m)
        elif page:
            self.result.found += self.parts.store.store_mentions(
                self.watch.name, page, self.expires
            )
