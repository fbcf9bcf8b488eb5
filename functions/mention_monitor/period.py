"""The period summary a scheduled digest opens with: counts per hour or day, top authors and
posts, and the sentiment shares."""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from mention_monitor.models import AuthorCount, Mention, PeriodSummary

TOP = 3
SENTIMENT_ORDER = ("negative", "neutral", "positive", "unknown")


def parse_created(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def stamp(moment: datetime, tz: ZoneInfo) -> str:
    """``Tue 24 Nov 09:00 CET``: a moment as the notifier's readers see it."""
    return moment.astimezone(tz).strftime("%a %d %b %H:%M %Z")


def _unit(span: timedelta) -> str:
    if span <= timedelta(hours=3):
        return "10 minutes"
    if span <= timedelta(hours=48):
        return "hour"
    return "day"


def _edges(start: datetime, end: datetime, unit: str, tz: ZoneInfo) -> list[datetime]:
    """Bucket starts from the one holding ``start`` up to ``end``, on local boundaries."""
    local = start.astimezone(tz)
    edges: list[datetime] = []
    if unit == "day":
        day = local.date()
        while True:
            edge = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
            if edge >= end and edges:
                return edges
            edges.append(edge)
            day += timedelta(days=1)
    if unit == "hour":
        first = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        step = timedelta(hours=1)
    else:
        first = local.replace(minute=local.minute // 10 * 10, second=0, microsecond=0)
        first = first.astimezone(UTC)
        step = timedelta(minutes=10)
    edge = first
    while edge < end or not edges:
        edges.append(edge)
        edge += step
    return edges


def _label(edge: datetime, unit: str, tz: ZoneInfo) -> str:
    local = edge.astimezone(tz)
    return local.strftime("%a %d") if unit == "day" else local.strftime("%H:%M")


class PeriodTally:
    """The numbers of a period's mentions, counted as they stream past (bounded memory): counts
    per bucket, the most-followed authors, the most-engaged posts, sentiment labels."""

    #: Authors kept while counting; below the most-followed this many, none reaches the top.
    KEEP_AUTHORS = 1000

    def __init__(self, start: datetime, end: datetime, timezone: str) -> None:
        self.tz = ZoneInfo(timezone)
        self.start, self.end = start.astimezone(UTC), max(end, start).astimezone(UTC)
        self.unit = _unit(self.end - self.start)
        self.edges = _edges(self.start, self.end, self.unit, self.tz)
        self.counts = [0] * len(self.edges)
        self.total = 0
        self.authors: dict[str, AuthorCount] = {}
        self.posts: list[tuple[int, int, Mention]] = []  # a min-heap of the TOP most engaged
        self.labels: Counter[str] = Counter()

    def add(self, m: Mention) -> None:
        """Count one mention. One without a usable time, or outside the range, counts in
        the nearest bucket."""
        self.total += 1
        when = parse_created(m.created_at) or self.end
        self.counts[max(0, bisect_right(self.edges, when) - 1)] += 1
        key = m.author_id or m.author_username
        if key:
            seen = self.authors.get(key)
            self.authors[key] = AuthorCount(
                username=m.author_username,
                name=m.author_name,
                followers=max(m.author_followers, seen.followers if seen else 0),
                mentions=(seen.mentions if seen else 0) + 1,
            )
            if len(self.authors) > 2 * self.KEEP_AUTHORS:
                kept = sorted(self.authors.items(), key=lambda kv: -kv[1].followers)
                self.authors = dict(kept[: self.KEEP_AUTHORS])
        engagement = m.like_count + m.repost_count
        if engagement > 0:
            item = (engagement, m.id, m)
            if len(self.posts) < TOP:
                heapq.heappush(self.posts, item)
            elif item[:2] > self.posts[0][:2]:
                heapq.heapreplace(self.posts, item)
        if m.sentiment:
            self.labels[m.sentiment] += 1

    def summary(self) -> PeriodSummary:
        top_authors = sorted(
            self.authors.values(), key=lambda a: (-a.followers, -a.mentions, a.username)
        )
        top_posts = [m for _, _, m in sorted(self.posts, key=lambda p: (-p[0], -p[1]))]
        shown = [lab for lab in SENTIMENT_ORDER if lab != "unknown" or self.labels[lab]]
        sentiment = tuple((lab, self.labels[lab]) for lab in shown) if self.labels else ()
        return PeriodSummary(
            start=stamp(self.start, self.tz),
            end=stamp(self.end, self.tz),
            unit=self.unit,
            buckets=tuple(
                (_label(e, self.unit, self.tz), n)
                for e, n in zip(self.edges, self.counts, strict=True)
            ),
            total=self.total,
            top_authors=tuple(top_authors[:TOP]),
            top_posts=tuple(top_posts),
            sentiment=sentiment,
        )


def summarize(
    mentions: Iterable[Mention], start: datetime, end: datetime, timezone: str
) -> PeriodSummary:
    """The numbers for ``mentions`` over [start, end] in ``timezone`` (see :class:`PeriodTally`)."""
    tally = PeriodTally(start, end, timezone)
    for m in mentions:
        tally.add(m)
    return tally.summary()
