"""One run: search each watch, store new mentions once, deliver each notifier's backlog."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import requests

from mention_monitor.clock import Budget, Clock
from mention_monitor.config import Settings, Watch, x_secret_keys
from mention_monitor.delivery import Delivery, init_deliveries
from mention_monitor.errors import ConfigError, StateError
from mention_monitor.guard import SendGuard
from mention_monitor.logs import redact
from mention_monitor.models import Mention
from mention_monitor.notifiers import Notifier
from mention_monitor.query import plan_queries, search_url
from mention_monitor.results import RunSummary, WatchResult
from mention_monitor.search import WatchSearch
from mention_monitor.secrets import SecretProvider
from mention_monitor.spikes import SpikeCheck
from mention_monitor.state import StateStore
from mention_monitor.xsession import make_session
from mention_monitor.xsource import XClient

log = logging.getLogger(__name__)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class RunContext:
    """Everything a run needs, passed in: the run reads no environment variables and builds
    no notifiers (the CLI and the handler do, see :mod:`mention_monitor.wiring`)."""

    settings: Settings
    store: StateStore
    secrets: SecretProvider
    notifiers: Mapping[str, Notifier[Any]]
    clock: Clock = field(default_factory=Clock)
    session: requests.Session | None = None
    dry_run: bool = False
    budget_seconds: float | None = None
    owner: str = field(default_factory=_owner)


class _WatchRun:
    """The work for one watch in one run: lease, search, store, deliver."""

    def __init__(self, ctx: RunContext, client: XClient, watch: Watch, queries: list[str]):
        self.ctx = ctx
        self.client = client
        self.watch = watch
        self.queries = queries
        self.result = WatchResult()

    def run(self) -> WatchResult:
        ctx, watch, store = self.ctx, self.watch, self.ctx.store
        if ctx.dry_run:  # reported for every notifier of the watch, even with nothing new
            self.result.would_deliver = dict.fromkeys(watch.notify, 0)
        else:
            now_s = int(ctx.clock.now())
            try:
                got = store.acquire_lease(
                    watch.name, ctx.owner, now_s, ctx.settings.state.lease_seconds
                )
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
            log.error("state store failed for %s: %s", watch.name, exc)
        finally:
            if not ctx.dry_run:
                try:
                    store.release_lease(watch.name, ctx.owner)
                except StateError as exc:  # the lease expires on its own
                    log.warning("could not release the lease of %s: %s", watch.name, exc)
        return self.result

    def _run(self) -> None:
        ctx, watch, store = self.ctx, self.watch, self.ctx.store
        state = store.load(watch.name)
        notifiers = {name: ctx.notifiers[name] for name in watch.notify}
        init_deliveries(
            store, watch.name, notifiers, state, int(ctx.clock.now()), dry_run=ctx.dry_run
        )
        search = WatchSearch(self.client, watch, self.queries, ctx.clock.utcnow(), self.result)
        found = search.run(state)
        if found.errors:
            self.result.failed["search"] = redact("; ".join(found.errors))
        if ctx.settings.sentiment.enabled and found.collected:
            from mention_monitor.sentiment import score_all  # VADER only when it is on

            found.collected = {m.id: m for m in score_all(found.collected.values())}

        now_s = int(ctx.clock.now())
        ordered: list[Mention] = []
        if ctx.dry_run:
            self.result.found = len(found.collected)
        else:
            expires = now_s + int(ctx.settings.state.outbox_days * 86400)
            ordered = sorted(found.collected.values(), key=lambda m: m.id)
            self.result.found = store.store_mentions(watch.name, ordered, expires)
            # Cursors move only after their mentions are stored; an unchanged one is not
            # rewritten (a quiet run then writes nothing but its lease).
            for key, qs in found.states.items():
                if qs == state.queries.get(key):
                    continue
                if not store.save_query(watch.name, key, qs):
                    log.info("query cursor for %s already moved by another run", watch.name)
            mark = found.mark
            if mark is not None and (state.mark is None or mark > state.mark):
                store.advance_mark(watch.name, mark)

        delivery = Delivery(
            store=store,
            watch=watch.name,
            search_url=search_url(self.queries[0]),
            terms=tuple(watch.terms),
            mark=found.mark,
            now=now_s,
            result=self.result,
            dry_run=ctx.dry_run,
            collected=found.collected,
            guard=SendGuard(
                store=store,
                watch=watch.name,
                owner=ctx.owner,
                lease_seconds=ctx.settings.state.lease_seconds,
                clock=ctx.clock,
                budget=self.client.budget,
            ),
            outbox_days=ctx.settings.state.outbox_days,
        )
        for name, notifier in notifiers.items():
            delivery.deliver(name, notifier, state.deliveries[name], state.clocks.get(name))
        if watch.spike is not None and not ctx.dry_run:
            version, data = state.spike or (None, {})
            SpikeCheck(
                store, watch.name, watch.spike, version, data, now_s, self.result,
                sentiment_on=ctx.settings.sentiment.enabled, guard=delivery.guard,
            ).run(ordered, ctx.notifiers, delivery.search_url)


def run_once(ctx: RunContext) -> RunSummary:
    """Run every watch once and return the summary (see the README for its fields).

    Raises ConfigError / SecretsError before anything moves when configuration or
    credentials are wrong; everything after that is reported in the summary instead.
    """
    settings = ctx.settings
    queries = plan_queries(settings)
    # A dry run sends nothing: it needs X's credentials only, not the notifiers'.
    if ctx.dry_run:
        ctx.secrets.require(x_secret_keys(settings.x.auth, settings.x.source))
    else:
        ctx.secrets.require(settings.required_secret_keys())
    missing = sorted(set(settings.used_notifiers()) - set(ctx.notifiers))
    if missing:
        raise ConfigError(f"run: no notifier object passed for {', '.join(missing)}")
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
        fields_style=settings.x.fields_style,
    )
    # Every wait counts against the one budget: X's, and the notifiers' (Slack's 429s, ...).
    for notifier in ctx.notifiers.values():
        notifier.services = replace(notifier.services, budget=budget)
    if not ctx.dry_run:
        try:
            ctx.store.purge_expired(int(ctx.clock.now()))
        except StateError as exc:
            log.warning("could not purge expired outbox rows: %s", exc)
    summary = RunSummary(dry_run=ctx.dry_run)
    for watch in settings.watches:
        res = _WatchRun(ctx, client, watch, queries[watch.name]).run()
        summary.watches[watch.name] = res
        log.info("watch done", extra={"watch": watch.name, "result": res.to_dict()})
    return summary
