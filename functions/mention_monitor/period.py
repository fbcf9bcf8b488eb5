"""The period summary a scheduled digest opens with: counts per hour or day, top authors and
posts, and the sentiment shares."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
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


def summarize(
    mentions: Sequence[Mention], start: datetime, end: datetime, timezone: str
) -> PeriodSummary:
    """The numbers for ``mentions`` over [start, end] in ``timezone``. A mention without a
    usable time, or outside the range, counts in the nearest bucket."""
    tz = ZoneInfo(timezone)
    start, end = start.astimezone(UTC), max(end, start).astimezone(UTC)
    unit = _unit(end - start)
    edges = _edges(start, end, unit, tz)
    counts = [0] * len(edges)
    for m in mentions:
        when = parse_created(m.created_at) or end
        counts[max(0, bisect_right(edges, when) - 1)] += 1

    authors: dict[str, AuthorCount] = {}
    for m in mentions:
        key = m.author_id or m.author_username
        if not key:
            continue
        seen = authors.get(key)
        authors[key] = AuthorCount(
            username=m.author_username,
            name=m.author_name,
            followers=max(m.author_followers, seen.followers if seen else 0),
            mentions=(seen.mentions if seen else 0) + 1,
        )
    top_authors = sorted(authors.values(), key=lambda a: (-a.followers, -a.mentions, a.username))
    top_posts = sorted(
        (m for m in mentions if m.like_count + m.repost_count > 0),
        key=lambda m: (-(m.like_count + m.repost_count), -m.id),
    )
    labels = [m.sentiment for m in mentions if m.sentiment]
    shown = [lab for lab in SENTIMENT_ORDER if lab != "unknown" or lab in labels]
    sentiment = tuple((lab, labels.count(lab)) for lab in shown) if labels else ()
    return PeriodSummary(
        start=stamp(start, tz),
        end=stamp(end, tz),
        unit=unit,
        buckets=tuple((_label(e, unit, tz), n) for e, n in zip(edges, counts, strict=True)),
        total=len(mentions),
        top_authors=tuple(top_authors[:TOP]),
        top_posts=tuple(top_posts[:TOP]),
        sentiment=sentiment,
    )
