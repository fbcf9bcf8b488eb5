"""Spike alerts: hourly mention counts per watch, a median baseline, one alert per cooldown."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mention_monitor.config import SpikeSettings
from mention_monitor.guard import SendGuard
from mention_monitor.logs import redact
from mention_monitor.models import Digest, Mention, SpikeInfo
from mention_monitor.notifiers import Notifier
from mention_monitor.period import parse_created
from mention_monitor.results import WatchResult
from mention_monitor.state import StateStore

log = logging.getLogger(__name__)

HOUR = 3600
KEEP_SECONDS = 14 * 86400  # hourly buckets kept
BASELINE_SECONDS = 7 * 86400  # the baseline's windows come from this far back
MIN_HISTORY_SECONDS = 86400  # no baseline, so no alert, before a day of counts
TOP = 3


def window_text(minutes: int) -> str:
    """60 -> ``hour``, 120 -> ``2 hours``, 30 -> ``30 minutes``."""
    if minutes == 60:
        return "hour"
    if minutes % 60 == 0:
        return f"{minutes // 60} hours"
    return f"{minutes} minutes"


def headline(watch: str, info: SpikeInfo) -> str:
    """``Spike: 240 mentions of Acme in the last hour (usual: 12)``."""
    noun = "mention" if info.count == 1 else "mentions"
    return (
        f"Spike: {info.count} {noun} of {watch} in the last "
        f"{window_text(info.window_minutes)} (usual: {info.usual})"
    )


@dataclass
class SpikeStats:
    """A watch's SPIKE record: counts per hour (mentions, negative, scored) by the posts'
    ``created_at``, the most-engaged post IDs of recent hours, and when each notifier was
    last alerted. ``counted`` is the highest tweet ID counted (each post counts once)."""

    since: int
    counted: int = 0
    hours: dict[int, list[int]] = field(default_factory=dict)
    top: dict[int, list[list[int]]] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: Mapping[str, Any], now: int) -> SpikeStats:
        return cls(
            since=int(data.get("since", now)),
            counted=int(data.get("counted", 0)),
            hours={int(h): [int(x) for x in v] for h, v in (data.get("hours") or {}).items()},
            top={
                int(h): [[int(a), int(b)] for a, b in v] for h, v in (data.get("top") or {}).items()
            },
            alerts={str(k): int(v) for k, v in (data.get("alerts") or {}).items()},
        )

    def data(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "counted": self.counted,
            "hours": {str(h): v for h, v in sorted(self.hours.items())},
            "top": {str(h): v for h, v in sorted(self.top.items())},
            "alerts": dict(sorted(self.alerts.items())),
        }

    def add(self, mentions: Iterable[Mention], now: int) -> int:
        """Count the mentions above ``counted``; return how many were counted. An iterator
        must yield them in ascending ID order (the outbox read back in chunks): it is not
        held in memory."""
        added = 0
        ordered = mentions
        if not isinstance(mentions, Iterator):
            ordered = sorted(mentions, key=lambda x: x.id)
        for m in ordered:
            if m.id <= self.counted:
                continue
            created = parse_created(m.created_at)
            when = min(int(created.timestamp()), now) if created else now
            hour = when - when % HOUR
            if hour <= now - KEEP_SECONDS:
                self.counted = m.id
                continue
            row = self.hours.setdefault(hour, [0, 0, 0])
            row[0] += 1
            if m.sentiment == "negative":
                row[1] += 1
            if m.sentiment in ("negative", "neutral", "positive"):
                row[2] += 1
            best = sorted([*self.top.get(hour, []), [m.engagement, m.id]], reverse=True)
            self.top[hour] = best[:TOP]
            self.counted = m.id
            added += 1
        return added

    def prune(self, now: int, window_seconds: int) -> None:
        self.hours = {h: v for h, v in self.hours.items() if h > now - KEEP_SECONDS}
        recent = now - max(window_seconds, HOUR) - HOUR
        self.top = {h: v for h, v in self.top.items() if h >= recent}

    def window(self, start: int, end: int, now: int) -> tuple[float, float, float]:
        """(mentions, negative, scored) in [start, end). A bucket counts by the share of its
        observed time inside the window (the current hour is observed up to ``now``)."""
        totals = [0.0, 0.0, 0.0]
        for hour, row in self.hours.items():
            observed_end = min(hour + HOUR, now)
            if observed_end <= hour:
                continue
            overlap = min(end, observed_end) - max(start, hour)
            if overlap <= 0:
                continue
            share = overlap / (observed_end - hour)
            for i in range(3):
                totals[i] += row[i] * share
        return totals[0], totals[1], totals[2]

    def baseline(self, window_seconds: int, now: int) -> float | None:
        """Median count of the windows of the same length before the current one, over the
        previous 7 days (only windows inside the history); None before a day of history."""
        if now - self.since < MIN_HISTORY_SECONDS:
            return None
        counts = []
        for j in range(1, BASELINE_SECONDS // window_seconds + 1):
            start = now - (j + 1) * window_seconds
            if start < self.since:
                break
            counts.append(self.window(start, start + window_seconds, now)[0])
        return statistics.median(counts) if counts else None

    def top_ids(self, start: int, now: int) -> list[int]:
        rows = [r for h, v in self.top.items() if h + HOUR > start and h <= now for r in v]
        return [tweet_id for _, tweet_id in sorted(rows, reverse=True)[:TOP]]


def check(
    cfg: SpikeSettings, stats: SpikeStats, now: int, sentiment_on: bool
) -> SpikeInfo | None:
    """The alert's numbers when the last window is a spike, else None."""
    seconds = cfg.window_minutes * 60
    usual = stats.baseline(seconds, now)
    if usual is None:
        return None
    count, negative, scored = stats.window(now - seconds, now, now)
    if round(count) < max(cfg.min_mentions, cfg.factor * usual):
        return None
    share = round(100 * negative / scored) if sentiment_on and scored else None
    return SpikeInfo(round(count), round(usual), cfg.window_minutes, share)


@dataclass
class SpikeCheck:
    """After a watch's run: count what it stored, compare, and alert the spike notifiers."""

    store: StateStore
    watch: str
    cfg: SpikeSettings
    version: int | None
    data: Mapping[str, Any]
    now: int
    result: WatchResult
    sentiment_on: bool = False
    #: Asked before each alert, like before each digest: the run's budget and its lease.
    guard: SendGuard | None = None

    def run(
        self, new: Iterable[Mention], notifiers: Mapping[str, Notifier[Any]], search_url: str
    ) -> None:
        stats = SpikeStats.from_data(self.data, self.now)
        changed = stats.add(new, self.now) > 0 or self.version is None
        stats.prune(self.now, self.cfg.window_minutes * 60)
        version = self.version
        if changed:
            if not self.store.save_spike(self.watch, version, stats.data()):
                log.info("spike counts of %s were updated by another run", self.watch)
                return
            version = 1 if version is None else version + 1
        info = check(self.cfg, stats, self.now, self.sentiment_on)
        if info is None:
            return
        cooldown = self.cfg.cooldown_minutes * 60
        due = [n for n in self.cfg.notify if self.now - stats.alerts.get(n, -cooldown) >= cooldown]
        self.result.spike = {"count": info.count, "usual": info.usual, "alerted": []}
        if not due:
            return
        digest = Digest(
            watch=self.watch,
            mentions=self._top_posts(stats),
            search_url=search_url,
            kind="spike",
            headline=headline(self.watch, info),
            spike=info,
        )
        for name in due:
            refused = self.guard.refuse(name) if self.guard is not None else None
            if refused is not None:
                key, reason = refused
                key = "lease" if key == "lease" else f"spike {name}"
                self.result.failed.setdefault(key, reason)
                continue
            sent = notifiers[name].send(digest)
            if sent.ok:
                stats.alerts[name] = self.now
                self.result.spike["alerted"].append(name)
            else:
                reason = redact(sent.error or "failed")
                self.result.failed[f"spike {name}"] = reason
                log.warning("spike alert to %s failed for %s: %s", name, self.watch, reason)
        if self.result.spike["alerted"] and not self.store.save_spike(
            self.watch, version, stats.data()
        ):
            log.info("spike alerts of %s were recorded by another run", self.watch)

    def _top_posts(self, stats: SpikeStats) -> tuple[Mention, ...]:
        start = self.now - self.cfg.window_minutes * 60
        found: list[Mention] = []
        for tweet_id in stats.top_ids(start, self.now):
            found.extend(self.store.pending(self.watch, tweet_id - 1, tweet_id, self.now))
        return tuple(sorted(found, key=lambda m: (-m.engagement, m.id)))
