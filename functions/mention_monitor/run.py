"""One run: search each watch (a bounded pool, stalest first), store new mentions once, deliver
each notifier's backlog; the run's limits (time, X's rate limit, spend) are shared."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import requests

from mention_monitor.authors import AuthorResolver
from mention_monitor.clock import Budget, Clock
from mention_monitor.config import Settings, x_secret_keys
from mention_monitor.errors import ConfigError, StateError
from mention_monitor.models import Digest
from mention_monitor.notifiers import Notifier
from mention_monitor.pool import check_staleness, order_watches, run_pool
from mention_monitor.query import plan_queries
from mention_monitor.ratelimit import RateBudget
from mention_monitor.results import RunSummary, WatchResult
from mention_monitor.secrets import SecretProvider
from mention_monitor.spend import POST_MICRO, USER_MICRO, SpendGuard, periods
from mention_monitor.state import StateStore
from mention_monitor.state.base import RunState
from mention_monitor.watch import RunParts, WatchRun
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


def _read_run_state(store: StateStore, periods: list[str]) -> RunState:
    """Staleness, rate limit and spend as the last runs left them: one read."""
    try:
        return store.run_state(periods)
    except StateError as exc:  # the run still works, in configured order and without history
        log.warning("could not read the run's state: %s", exc)
        return RunState()


def _build(ctx: RunContext, session: requests.Session, budget: Budget) -> tuple[RunParts, RunState]:
    settings, store, clock = ctx.settings, ctx.store, ctx.clock
    x = settings.x
    client = XClient(
        session,
        x.api_base,
        page_size=x.page_size,
        clock=clock,
        budget=budget,
        max_retries=x.max_retries,
        backoff_seconds=x.backoff_seconds,
        timeout_seconds=x.timeout_seconds,
        fields_style=x.fields_style,
        authors=x.authors,
    )
    day, month = periods(clock.utcnow())
    saved = _read_run_state(store, [day, month])
    per_page = POST_MICRO + (USER_MICRO if x.authors != "none" else 0)
    spend = SpendGuard(
        store,
        clock.utcnow(),
        daily_usd=x.daily_budget_usd,
        monthly_usd=x.monthly_budget_usd,
        page_micro=x.page_size * per_page,
        known=saved.spend,
        dry_run=ctx.dry_run,
    )
    authors = None
    if x.authors == "cache":
        authors = AuthorResolver(
            client,
            store,
            clock,
            ttl_seconds=x.author_ttl_days * 86400,
            rate=RateBudget(clock, budget, name="user lookup"),
            spend=spend,
            dry_run=ctx.dry_run,
        )
    parts = RunParts(
        settings=settings,
        store=store,
        notifiers=ctx.notifiers,
        clock=clock,
        client=client,
        rate=RateBudget(clock, budget, saved.rate),
        spend=spend,
        authors=authors,
        locks={name: threading.Lock() for name in ctx.notifiers},
        owner=ctx.owner,
        dry_run=ctx.dry_run,
    )
    return parts, saved


def _finish(parts: RunParts, summary: RunSummary) -> None:
    """What the run keeps for the next one, and the spending guard's one alert per period."""
    rate = parts.rate.state()
    try:
        if rate is not None:
            parts.store.save_rate_state(rate)
        if parts.spend.stopped is not None:
            summary.budget = parts.spend.stopped
            if parts.store.claim_alert(parts.spend.period):
                # One line to every budget_notify notifier: a digest with only a headline.
                alert = Digest(watch="budget", mentions=(), headline=parts.spend.alert())
                for name in parts.settings.x.budget_notify:
                    sent = parts.notifiers[name].send(alert)
                    if not sent.ok:
                        log.warning("budget alert to %s failed: %s", name, sent.error)
    except StateError as exc:
        log.warning("could not save the run's state: %s", exc)


def run_once(ctx: RunContext) -> RunSummary:
    """Run every watch once and return the summary (see the README for its fields).

    Watches run in a bounded pool of ``max_concurrent_watches`` workers, stalest first;
    those the time budget leaves out are reported ``deferred`` and go first next run.
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
    total = ctx.budget_seconds or settings.time_budget_seconds
    budget = Budget(total, ctx.clock)
    # Every wait counts against the one budget: X's, and the notifiers' (Slack's 429s, ...).
    for notifier in ctx.notifiers.values():
        notifier.services = replace(notifier.services, budget=budget)
    if not ctx.dry_run:
        try:
            ctx.store.purge_expired(int(ctx.clock.now()))
        except StateError as exc:
            log.warning("could not purge expired outbox rows: %s", exc)
    parts, saved = _build(ctx, session, budget)
    # A watch starts only with time left for at least one request to X.
    margin = min(settings.x.timeout_seconds, total / 10)
    order = order_watches(settings.watches, saved.searched)
    done = run_pool(
        order,
        lambda w: WatchRun(parts, w, queries[w.name]).run(),
        lambda w: WatchResult(deferred="time budget"),
        workers=settings.max_concurrent_watches,
        may_start=lambda: budget.remaining() > margin,
    )
    by_name = {w.name: res for w, res in zip(order, done, strict=True)}
    summary = RunSummary(dry_run=ctx.dry_run)
    for watch in settings.watches:
        summary.watches[watch.name] = by_name[watch.name]
    now_s = int(ctx.clock.now())
    try:
        check_staleness(
            summary.watches,
            saved.searched,
            ctx.store,
            now_s,
            settings.max_staleness_minutes,
            dry_run=ctx.dry_run,
        )
    except StateError as exc:
        log.warning("could not record deferred watches: %s", exc)
    if not ctx.dry_run:
        _finish(parts, summary)
    elif parts.spend.stopped is not None:
        summary.budget = parts.spend.stopped
    return summary
