"""Plain data shared by the source, the store and the notifiers."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote


@dataclass(frozen=True, slots=True)
class Mention:
    """One post that matched a watch, with the author fields a digest needs.

    ``id`` is the 64-bit tweet ID as an ``int``: IDs are compared as integers everywhere.
    """

    id: int
    text: str
    created_at: str = ""
    author_id: str = ""
    author_username: str = ""
    author_name: str = ""
    author_followers: int = 0
    like_count: int = 0
    repost_count: int = 0
    reply_count: int = 0
    quote_count: int = 0
    lang: str = ""
    #: ``negative``, ``neutral``, ``positive`` or ``unknown`` (not English) when sentiment is
    #: on; ``""`` when it is off. ``sentiment_score`` is VADER's compound score (-1..1).
    sentiment: str = ""
    sentiment_score: float | None = None

    @property
    def engagement(self) -> int:
        """Likes, reposts, replies and quotes together."""
        return self.like_count + self.repost_count + self.reply_count + self.quote_count

    @property
    def url(self) -> str:
        """Link to the post on X."""
        user = quote(self.author_username or "i", safe="")
        return f"https://x.com/{user}/status/{self.id}"

    @property
    def author_label(self) -> str:
        """The author as a digest names them: name, else @username, else the author ID."""
        if self.author_name or self.author_username:
            return self.author_name or self.author_username
        return f"author {self.author_id}" if self.author_id else "unknown author"

    def with_author(self, username: str, name: str, followers: int) -> Mention:
        """This mention with its author's fields (looked up apart from the post)."""
        return dataclasses.replace(
            self, author_username=username, author_name=name, author_followers=followers
        )

    @property
    def profile_url(self) -> str:
        """Link to the author's profile on X."""
        return f"https://x.com/{quote(self.author_username, safe='')}"

    def to_json(self) -> str:
        """Serialise for the outbox (IDs as JSON numbers would lose precision in JS, so str)."""
        data = dataclasses.asdict(self)
        data["id"] = str(self.id)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | dict[str, Any]) -> Mention:
        """Inverse of :meth:`to_json`; unknown keys are ignored so old outbox rows still load."""
        data = json.loads(raw) if isinstance(raw, str) else dict(raw)
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["id"] = int(kwargs["id"])
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class AuthorCount:
    """One author in a period summary: how many of the period's mentions are theirs."""

    username: str
    name: str
    followers: int
    mentions: int


@dataclass(frozen=True, slots=True)
class PeriodSummary:
    """The numbers a scheduled digest opens with. Times are labels in the notifier's zone.

    ``buckets``: (label, count) per ``unit`` (``10 minutes``, ``hour`` or ``day``) from
    ``start`` to ``end``; ``sentiment``: (label, count) for negative, neutral, positive (and
    unknown), empty when no mention was scored.
    """

    start: str
    end: str
    unit: str
    buckets: tuple[tuple[str, int], ...]
    total: int
    top_authors: tuple[AuthorCount, ...] = ()
    top_posts: tuple[Mention, ...] = ()
    sentiment: tuple[tuple[str, int], ...] = ()

    @property
    def peak(self) -> tuple[str, int]:
        """The busiest bucket (the first one on a tie)."""
        return max(self.buckets, key=lambda b: b[1]) if self.buckets else ("", 0)

    def share(self, label: str) -> int:
        """Percent of the scored mentions (negative, neutral, positive) with ``label``."""
        scored = sum(n for lab, n in self.sentiment if lab != "unknown")
        count = sum(n for lab, n in self.sentiment if lab == label)
        return round(100 * count / scored) if scored else 0


@dataclass(frozen=True, slots=True)
class SpikeInfo:
    """A spike alert's numbers: the window's count, the usual count, the negative share."""

    count: int
    usual: int
    window_minutes: int
    negative_share: int | None = None  # percent, when sentiment is on


@dataclass(frozen=True, slots=True)
class Digest:
    """What one notifier receives for one watch: mentions in ascending ID order.

    ``kind`` is ``digest`` or ``spike`` (an alert: ``mentions`` are the most-engaged posts).
    ``headline``, when set, replaces the count as the title: a spike alert's message, a
    scheduled digest's "no new mentions ... since ..." (``send_empty``, no mentions), or the
    spending guard's alert. ``period`` is the summary a scheduled digest opens with.
    ``total`` is how many new mentions the digest stands for: a run bounds what it shows to
    the notifier's ``max_mentions`` (the most-followed authors), so ``total`` can exceed
    ``len(mentions)``; ``more`` says by how many (the digest then links to ``search_url``).
    """

    watch: str
    mentions: tuple[Mention, ...]
    search_url: str = ""
    terms: tuple[str, ...] = ()
    kind: str = "digest"
    headline: str = ""
    period: PeriodSummary | None = None
    spike: SpikeInfo | None = None
    total: int = 0

    @property
    def count(self) -> int:
        """How many new mentions this digest reports (shown or not)."""
        return max(self.total, len(self.mentions))

    @property
    def more(self) -> int:
        """How many of them the digest does not show."""
        return self.count - len(self.mentions)

    @property
    def is_alert(self) -> bool:
        return self.kind == "spike"

    @property
    def title(self) -> str:
        """``12 new mentions of Acme`` (``1 new mention of Acme``), or the ``headline``."""
        if self.headline:
            return self.headline
        noun = "mention" if self.count == 1 else "mentions"
        return f"{self.count} new {noun} of {self.watch}"


@dataclass(slots=True)
class DeliveryResult:
    """What a notifier accepted: the highest tweet ID it took and how many mentions that was.

    ``delivered_through`` is ``None`` when nothing was accepted. ``error`` is a safe,
    secret-free reason when (part of) the digest was not accepted.
    """

    delivered: int = 0
    delivered_through: int | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None
