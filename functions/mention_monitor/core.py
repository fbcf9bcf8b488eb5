"""One run: search each watch, store new mentions once, deliver each notifier's backlog."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests

from mention_monitor.clock import Budget, Clock
from mention_monitor.config import Settings, Watch
from mention_monitor.errors import CursorTooOld, StateError
from mention_monitor.logs import redact
from mention_monitor.models import DeliveryResult, Digest, Mention
from mention_monitor.notifiers.base import Notifier
from mention_monitor.notifiers.registry import get_notifier_class
from mention_monitor.query import build_queries, query_key, search_url
from mention_monitor.secrets import SecretProvider
from mention_monitor.state import QueryState, StateStore
from mention_monitor.xsource import SearchResult, XClient, make_session, x_secret_keys

log = logging.getLogger(__name__)

SEARCH_WINDOW = timedelta(days=7)
WINDOW_MARGIN = timedelta(minutes=10)
POST_PRICE_USD = 0.005
USER_PRICE_USD = 0.010


@dataclass
class RunContext:
    """Everything a run needs, passed in: the core reads no environment variables."""

    settings: Settings
    store: StateStore
    secrets: SecretProvider
    clock: Clock = field(default_factory=Clock)
    session: requests.Session | None = None
    notifiers: dict[str, Notifier] | None = None
    dry_run: bool = False
    budget_seconds: float | None = None
    owner: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )
    notifier_context: dict[str, Any] = field(default_factory=dict)


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def plan_queries(settings: Settings) -> dict[str, list[str]]:
    """Each watch's queries (raises ConfigError if a term cannot fit)."""
    return {
        w.name: build_queries(w, settings.x.max_query_length, i)
        for i, w in enumerate(settings.watches)
    }


def used_notifiers(settings: Settings) -> list[str]:
    """Names of the notifiers some watch sends to (unused ones need no secrets)."""
    return sorted({n for w in settings.watches for n in w.notify})


def required_secret_keys(settings: Settings) -> list[str]:
    keys = list(x_secret_keys(settings.x.auth, settings.x.source))
    for name in used_notifiers(settings):
        keys.extend(settings.notifier_options(name).secret_keys())
    return keys


def build_notifiers(
    settings: Settings, secrets: SecretProvider, context: dict[str, Any]
) -> dict[str, Notifier]:
    out: dict[str, Notifier] = {}
    for name in used_notifiers(settings):
        options = settings.notifier_options(name)
        out[name] = get_notifier_class(options.type)(name, options, secrets, context)
    return out


class _WatchRun:
    """The work for one watch in one run."""

    def __init__(self, ctx: RunContext, client: XClient, watch: Watch, queries: list[str]):
        self.ctx = ctx
        self.client = client
        self.watch = watch
        self.queries = queries
        self.store = ctx.store
        self.now = ctx.clock.utcnow()
        self.res: dict[str, Any] = {
            "found": 0,
            "api_requests": 0,
            "posts_read": 0,
            "users_read": 0,
            "cost_usd": 0.0,
            "delivered": {},
            "failed": {},
            "warnings": [],
        }
        self.search_errors: list[str] = []

    # -- search ----------------------------------------------------------------------------
    def _account(self, r: SearchResult) -> None:
        self.res["api_requests"] += r.requests
        self.res["posts_read"] += r.posts_read
        self.res["users_read"] += r.users_read
        self.res["warnings"].extend(r.warnings)

    def _window_start(self) -> datetime:
        return self.now - SEARCH_WINDOW + WINDOW_MARGIN

    def _gap_warning(self, query: str) -> None:
        self.res["warnings"].append(
            "search cursor is older than X's 7-day window: searched from the window's start; "
            f"mentions may be missing for query {query[:60]!r}"
        )

    def _search_since(
        self, query: str, qs: QueryState, *, until_id: int | None = None
    ) -> SearchResult:
        """Search above the query's cursor, falling back to the window start if it is too old."""
        cursor_time = _parse_time(qs.cursor_time)
        since: int | None = qs.cursor
        start: datetime | None = None
        if since is None and qs.started_at:
            started = _parse_time(qs.started_at)
            start = max(started - timedelta(minutes=1), self._window_start()) if started else None
        if since is not None and cursor_time is not None and cursor_time < self._window_start():
            self._gap_warning(query)
            since, start = None, self._window_start()
        try:
            return self.client.search(query, since_id=since, until_id=until_id, start_time=start)
        except CursorTooOld:
            self._gap_warning(query)
            return self.client.search(query, until_id=until_id, start_time=self._window_start())

    @staticmethod
    def _time_of(mentions: list[Mention], tweet_id: int | None) -> str:
        for m in mentions:
            if m.id == tweet_id:
                return m.created_at
        return ""

    def _search_query(
        self, query: str, qs: QueryState, prior_mark: int | None, first_run: bool
    ) -> tuple[QueryState, list[Mention], bool]:
        """Search one query; returns its new state, what it found, and whether it completed."""
        qs = dataclasses.replace(qs, query=query)
        found: list[Mention] = []

        # 1. An earlier run read the newest pages but not the older ones: fill that gap first.
        if qs.pending_until is not None:
            r = self._search_since(query, qs, until_id=qs.pending_until)
            self._account(r)
            found.extend(r.mentions)
            if not r.complete:
                if r.oldest_id is not None:
                    qs.pending_until = min(qs.pending_until, r.oldest_id)
                self.search_errors.append(r.error or "incomplete search")
                return qs, found, False
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
        found.extend(r.mentions)
        if r.complete:
            if r.newest_id is not None and (qs.cursor is None or r.newest_id > qs.cursor):
                qs.cursor = r.newest_id
                qs.cursor_time = self._time_of(r.mentions, r.newest_id)
        else:
            self.search_errors.append(r.error or "incomplete search")
            if r.mentions and r.oldest_id is not None and r.newest_id is not None:
                qs.pending_until, qs.pending_top = r.oldest_id, r.newest_id
                qs.pending_top_time = self._time_of(r.mentions, r.newest_id)
        return qs, found, r.complete

    def _first_run(
        self, query: str, qs: QueryState
    ) -> tuple[QueryState, list[Mention], bool]:
        backfill = self.watch.first_run == "backfill"
        limit = self.watch.backfill_limit if backfill else 10
        r = self.client.search(query, limit=limit)
        self._account(r)
        if r.newest_id is None:
            if r.complete:  # nothing matches yet: start from now
                qs.started_at = self.now.isoformat()
            else:
                self.search_errors.append(r.error or "incomplete search")
            return qs, [], r.complete
        if not r.complete:
            self.res["warnings"].append(f"first run stopped early: {r.error}")
        qs.cursor = r.newest_id
        qs.cursor_time = self._time_of(r.mentions, r.newest_id)
        return qs, (r.mentions if backfill else []), True

    # -- the whole watch ---------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        ctx, watch = self.ctx, self.watch
        if not ctx.dry_run:
            now_s = int(ctx.clock.now())
            try:
                got = self.store.acquire_lease(
                    watch.name, ctx.owner, now_s, ctx.settings.state.lease_seconds
                )
            except StateError as exc:
                self.res["failed"]["state"] = redact(str(exc))
                return self._finish()
            if not got:
                self.res["skipped"] = "another run holds this watch's lease"
                return self._finish()
        try:
            self._run()
        except StateError as exc:
            self.res["failed"]["state"] = redact(str(exc))
            log.error("state store failed for %s: %s", watch.name, exc)
        finally:
            if not ctx.dry_run:
                try:
                    self.store.release_lease(watch.name, ctx.owner)
                except StateError as exc:  # the lease expires on its own
                    log.warning("could not release the lease of %s: %s", watch.name, exc)
        return self._finish()

    def _finish(self) -> dict[str, Any]:
        self.res["cost_usd"] = round(
            self.res["posts_read"] * POST_PRICE_USD + self.res["users_read"] * USER_PRICE_USD, 4
        )
        if not self.res["warnings"]:
            del self.res["warnings"]
        return self.res

    def _run(self) -> None:
        ctx, watch, store = self.ctx, self.watch, self.store
        state = store.load(watch.name)
        prior_mark = state.mark
        # Give every notifier its starting point before anything is stored: one that is new to
        # this watch starts where the watch is now (not with its history), and a run that dies
        # after storing cannot leave a notifier to start past mentions it never received.
        for name in watch.notify:
            if name not in state.deliveries:
                start = prior_mark if prior_mark is not None else 0
                if ctx.dry_run or store.init_delivery(watch.name, name, start):
                    state.deliveries[name] = start
                else:
                    state.deliveries[name] = store.load(watch.name).deliveries.get(name, start)
        first_run = prior_mark is None and not any(
            q.cursor is not None or q.started_at for q in state.queries.values()
        )
        collected: dict[int, Mention] = {}
        new_states: dict[str, QueryState] = {}
        incomplete: list[QueryState] = []
        for query in self.queries:
            key = query_key(query)
            qs, found, complete = self._search_query(
                query, state.queries.get(key, QueryState()), prior_mark, first_run
            )
            new_states[key] = qs
            if not complete:
                incomplete.append(qs)
            for m in found:
                collected.setdefault(m.id, m)
        if self.search_errors:
            self.res["failed"]["search"] = redact("; ".join(dict.fromkeys(self.search_errors)))
        mark = self._safe_mark(new_states, incomplete, prior_mark)

        now_s = int(ctx.clock.now())
        if ctx.dry_run:
            self.res["found"] = len(collected)
        else:
            expires = now_s + int(ctx.settings.state.outbox_days * 86400)
            ordered = sorted(collected.values(), key=lambda m: m.id)
            self.res["found"] = store.store_mentions(watch.name, ordered, expires)
            # Cursors move only after their mentions are stored; an unchanged one is not
            # rewritten (a quiet run then writes nothing but its lease).
            for key, qs in new_states.items():
                if qs == state.queries.get(key):
                    continue
                if not store.save_query(watch.name, key, qs):
                    log.info("query cursor for %s already moved by another run", watch.name)
            if mark is not None and (prior_mark is None or mark > prior_mark):
                store.advance_mark(watch.name, mark)

        for name in watch.notify:
            self._deliver(name, state.deliveries[name], mark, collected, now_s)

    @staticmethod
    def _safe_mark(
        states: dict[str, QueryState], incomplete: list[QueryState], prior_mark: int | None
    ) -> int | None:
        """The highest tweet ID below which the outbox is known to be complete.

        A query that completed this run has read everything up to now, so it does not hold
        the mark back; a query that did not complete holds it at its own cursor, because posts
        above that cursor that only it matches may still be unread. Notifiers are only given
        mentions at or below the mark, so a delivery cursor never passes an unread mention.
        """
        tops = [q.cursor for q in states.values() if q.cursor is not None]
        mark = max(tops) if tops else None
        for q in incomplete:
            bound = q.cursor if q.cursor is not None else prior_mark
            mark = None if bound is None or mark is None else min(mark, bound)
        if prior_mark is not None and (mark is None or mark < prior_mark):
            mark = prior_mark
        return mark

    def _deliver(
        self,
        name: str,
        cursor: int,
        mark: int | None,
        collected: dict[int, Mention],
        now_s: int,
    ) -> None:
        ctx, watch, store = self.ctx, self.watch, self.store
        assert ctx.notifiers is not None
        notifier = ctx.notifiers[name]
        self.res["delivered"][name] = 0
        if mark is None or mark <= cursor:
            return
        pending = store.pending(watch.name, cursor, mark, now_s)
        if ctx.dry_run:
            extra = [m for m in collected.values() if cursor < m.id <= mark]
            pending = sorted({m.id: m for m in [*pending, *extra]}.values(), key=lambda m: m.id)
        passing = [m for m in pending if notifier.options.allows(m)]
        if ctx.dry_run:
            self.res.setdefault("would_deliver", {})[name] = len(passing)
            return
        digest = Digest(
            watch=watch.name,
            mentions=tuple(passing),
            search_url=search_url(self.queries[0]),
            terms=tuple(watch.terms),
        )
        result = notifier.send(digest) if passing else DeliveryResult()
        target = mark if result.ok else result.delivered_through
        if target is not None and target > cursor:
            if not store.advance_delivery(watch.name, name, target):
                log.info("delivery cursor %s/%s already moved by another run", watch.name, name)
        self.res["delivered"][name] = result.delivered
        if not result.ok:
            self.res["failed"][name] = redact(result.error or "failed")
            log.warning("notifier %s failed for %s: %s", name, watch.name, self.res["failed"][name])


def run_once(ctx: RunContext) -> dict[str, Any]:
    """Run every watch once and return the summary (see the README for its fields).

    Raises ConfigError / SecretsError before anything moves when configuration or
    credentials are wrong; everything after that is reported in the summary instead.
    """
    settings = ctx.settings
    queries = plan_queries(settings)
    ctx.secrets.require(required_secret_keys(settings))
    if ctx.notifiers is None:
        context = {"clock": ctx.clock, **ctx.notifier_context}
        ctx.notifiers = build_notifiers(settings, ctx.secrets, context)
    session = ctx.session or make_session(
        settings.x.api_base,
        auth=settings.x.auth,
        secrets=ctx.secrets,
        replay_dir=settings.x.replay_dir if settings.x.source == "replay" else None,
    )
    budget = Budget(ctx.budget_seconds or settings.time_budget_seconds, ctx.clock)
    client = XClient(
        session,
        settings.x.api_base,
        page_size=settings.x.page_size,
        clock=ctx.clock,
        budget=budget,
        max_retries=settings.x.max_retries,
        backoff_seconds=settings.x.backoff_seconds,
        timeout_seconds=settings.x.timeout_seconds,
    )
    if not ctx.dry_run:
        try:
            ctx.store.purge_expired(int(ctx.clock.now()))
        except StateError as exc:
            log.warning("could not purge expired outbox rows: %s", exc)
    summary: dict[str, Any] = {"ok": True, "watches": {}}
    for watch in settings.watches:
        res = _WatchRun(ctx, client, watch, queries[watch.name]).run()
        summary["watches"][watch.name] = res
        log.info("watch done", extra={"watch": watch.name, "result": res})
        if res["failed"]:
            summary["ok"] = False
    if ctx.dry_run:
        summary["dry_run"] = True
    return summary
