"""The query-cursor state machine: search each of a watch's queries from its cursor, and the
safe mark below which the outbox is known to be complete."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mention_monitor.config import Watch
from mention_monitor.models import Mention
from mention_monitor.query import query_key
from mention_monitor.results import WatchResult
from mention_monitor.state import QueryState, WatchState
from mention_monitor.xsource import SearchResult, XClient

SEARCH_WINDOW = timedelta(days=7)
WINDOW_MARGIN = timedelta(minutes=10)


def parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


@dataclass
class SearchOutcome:
    """Where each query's cursor may move (the mentions went to the sink page by page)."""

    states: dict[str, QueryState] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    mark: int | None = None
    #: Why the run stopped a search itself (time budget, rate limit, spending budget).
    deferred: str | None = None

    @property
    def complete(self) -> bool:
        return not self.errors and self.deferred is None


def safe_mark(
    states: dict[str, QueryState], incomplete: list[QueryState], prior_mark: int | None
) -> int | None:
    """The highest tweet ID below which the outbox is known to be complete.

    A query that completed this run has read everything up to now, so it does not hold the
    mark back; a query that did not complete holds it at its own cursor, because posts above
    that cursor that only it matches may still be unread. Notifiers are only given mentions at
    or below the mark, so a delivery cursor never passes an unread mention.
    """
    tops = [q.cursor for q in states.values() if q.cursor is not None]
    mark = max(tops) if tops else None
    for q in incomplete:
        bound = q.cursor if q.cursor is not None else prior_mark
        mark = None if bound is None or mark is None else min(mark, bound)
    if prior_mark is not None and (mark is None or mark < prior_mark):
        mark = prior_mark
    return mark


class WatchSearch:
    """Searches one watch's queries once; each page read goes to ``sink`` (which stores it)
    as it arrives; accounts requests and reads into ``result``."""

    def __init__(
        self,
        client: XClient,
        watch: Watch,
        queries: list[str],
        now: datetime,
        result: WatchResult,
        sink: Callable[[list[Mention]], None],
    ) -> None:
        self.client = client
        self.watch = watch
        self.queries = queries
        self.now = now
        self.result = result
        self.sink = sink
        self.errors: list[str] = []
        self.deferred: str | None = None

    def run(self, state: WatchState) -> SearchOutcome:
        """Every query from its cursor; cursors are returned, not saved."""
        prior_mark = state.mark
        first_run = prior_mark is None and not any(
            q.cursor is not None or q.started_at for q in state.queries.values()
        )
        out = SearchOutcome()
        incomplete: list[QueryState] = []
        for query in self.queries:
            key = query_key(query)
            qs, holds = self._search_query(
                query, state.queries.get(key, QueryState()), prior_mark, first_run
            )
            out.states[key] = qs
            if holds:
                incomplete.append(qs)
        out.errors = list(dict.fromkeys(self.errors))
        out.deferred = self.deferred
        out.mark = safe_mark(out.states, incomplete, prior_mark)
        return out

    # -- accounting and windows --------------------------------------------------------------
    def _account(self, r: SearchResult) -> None:
        self.result.api_requests += r.requests
        self.result.posts_read += r.posts_read
        self.result.users_read += r.users_read
        self.result.malformed += r.malformed
        self.result.warnings.extend(r.warnings)

    def _window_start(self) -> datetime:
        return self.now - SEARCH_WINDOW + WINDOW_MARGIN

    def _gap_warning(self, query: str) -> None:
        self.result.warnings.append(
            "search cursor is older than X's 7-day window: searched from the window's start; "
            f"mentions may be missing for query {query[:60]!r}"
        )

    def _search_since(
        self, query: str, qs: QueryState, *, until_id: int | None = None
    ) -> SearchResult:
        """Search above the query's cursor, falling back to the window start if it is too old.

        X refuses an ID bound together with a time bound, so a time bound is only sent with
        no ID bound at all. Below ``until_id`` with no cursor, X's own window is the lower
        bound: a query that started with no posts has none older than its start to find.
        """
        cursor_time = parse_time(qs.cursor_time)
        since: int | None = qs.cursor
        start: datetime | None = None
        if since is None and qs.started_at:
            started = parse_time(qs.started_at)
            start = max(started - timedelta(minutes=1), self._window_start()) if started else None
        if since is not None and cursor_time is not None and cursor_time < self._window_start():
            self._gap_warning(query)
            since, start = None, self._window_start()
        if until_id is not None:
            start = None
        r = self.client.search(
            query, since_id=since, until_id=until_id, start_time=start, sink=self.sink
        )
        if not r.too_old:
            return r
        self._account(r)  # the refused request counts too
        self._gap_warning(query)
        start = None if until_id is not None else self._window_start()
        return self.client.search(query, until_id=until_id, start_time=start, sink=self.sink)

    def _failed(self, qs: QueryState, r: SearchResult) -> bool:
        """Note a search that did not complete; whether it holds back the safe mark.

        A query X refuses as invalid is reported on every run but holds back nothing: X
        answers it with no posts at all, so the other queries' mentions are delivered. A
        search the run stopped itself (time, rate limit, spend) is deferred, not failed.
        """
        if r.deferred is not None:
            self.deferred = self.deferred or r.deferred
            return True
        self.errors.append(r.error or "incomplete search")
        if r.rejected:
            qs.rejected = r.error or "rejected"
        return not r.rejected

    # -- one query -----------------------------------------------------------------------------
    def _search_query(
        self, query: str, qs: QueryState, prior_mark: int | None, first_run: bool
    ) -> tuple[QueryState, bool]:
        """Search one query (its pages are stored as they arrive); returns its new state and
        whether it holds back the safe mark (it did not complete, and may have missed
        something)."""
        qs = dataclasses.replace(qs, query=query)

        # 1. An earlier run read the newest pages but not the older ones: fill that gap first.
        if qs.pending_until is not None:
            r = self._search_since(query, qs, until_id=qs.pending_until)
            self._account(r)
            if not r.complete:
                if not r.untrusted and r.oldest_id is not None:  # untrusted pages move nothing
                    qs.pending_until = min(qs.pending_until, r.oldest_id)
                return qs, self._failed(qs, r)
            qs.cursor, qs.cursor_time = qs.pending_top, qs.pending_top_time
            qs.pending_until = qs.pending_top = None
            qs.pending_top_time = ""

        # 2. Where this query starts.
        if qs.cursor is None and not qs.started_at:
            if prior_mark is not None:  # a new query (terms changed) for a known watch
                qs.cursor = prior_mark
            elif first_run:
                return self._first_run(query, qs)

        # 3. Everything newer than the cursor, every page.
        r = self._search_since(query, qs)
        self._account(r)
        if not r.complete:
            if not r.untrusted and r.oldest_id is not None and r.newest_id is not None:
                qs.pending_until, qs.pending_top = r.oldest_id, r.newest_id
                qs.pending_top_time = r.newest_time
            return qs, self._failed(qs, r)
        qs.rejected = ""
        if r.newest_id is not None and (qs.cursor is None or r.newest_id > qs.cursor):
            qs.cursor, qs.cursor_time = r.newest_id, r.newest_time
        return qs, False

    def _first_run(self, query: str, qs: QueryState) -> tuple[QueryState, bool]:
        backfill = self.watch.first_run == "backfill"
        limit = self.watch.backfill_limit if backfill else 10
        # "latest" reads a few posts for the cursor only: they are not stored.
        r = self.client.search(query, limit=limit, sink=self.sink if backfill else None)
        self._account(r)
        if r.untrusted or r.rejected or r.newest_id is None:
            if r.complete:  # nothing matches yet: start from now
                qs.started_at = self.now.isoformat()
                return qs, False
            return qs, self._failed(qs, r)
        if not r.complete:
            self.result.warnings.append(f"first run stopped early: {r.error}")
        qs.cursor, qs.cursor_time = r.newest_id, r.newest_time
        return qs, False
