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

    def with_author(self, user: dict[str, Any]) -> Mention:
        """This mention with the author fields of an X user object (``GET /2/users``)."""
        metrics = user.get("public_metrics") or {}
        return dataclasses.replace(
            self,
            author_username=str(user.get("username", "")),
            author_name=str(user.get("name", "")),
            author_followers=int(metrics.get("followers_count", 0) or 0),
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

    @classmethod
    def from_api(cls, post: dict[str, Any], users: dict[str, dict[str, Any]]) -> Mention:
        """Build from one ``data[]`` item of a recent-search response and its expanded users."""
        metrics = post.get("public_metrics") or {}
        author = users.get(str(post.get("author_id", ""))) or {}
        umetrics = author.get("public_metrics") or {}
        return cls(
            id=int(post["id"]),
            text=str(post.get("text", "")),
            created_at=str(post.get("created_at", "")),
            author_id=str(post.get("author_id", "")),
            author_username=str(author.get("username", "")),
            author_name=str(author.get("name", "")),
            author_followers=int(umetrics.get("followers_count", 0) or 0),
            like_count=int(metrics.get("like_count", 0) or 0),
            # The current spec says repost_count; older payloads say retweet_count.
            repost_count=int(metrics.get("repost_count", metrics.get("retweet_count", 0)) or 0),
            reply_count=int(metrics.get("reply_count", 0) or 0),
            quote_count=int(metrics.get("quote_count", 0) or 0),
            lang=str(post.get("lang", "")),
        )


@dataclass(frozen=True, slots=True)
class Digest:
    """What one notifier receives for one watch in one run: mentions in ascending ID order.

    ``total`` is how many new mentions the digest stands for; a run bounds what it shows to the
    notifier's ``max_mentions`` (the most-followed authors), so ``total`` can exceed
    ``len(mentions)``: ``more`` says by how many (a digest then links to ``search_url``).
    """

    watch: str
    mentions: tuple[Mention, ...]
    search_url: str = ""
    terms: tuple[str, ...] = ()
    total: int = 0

    @property
    def count(self) -> int:
        """How many new mentions this digest reports (shown or not)."""
        return max(self.total, len(self.mentions))

    @property
    def more(self) -> int:
        """How many of them the digest does not show."""
        return self.count - len(self.mentions)


@dataclass(frozen=True, slots=True)
class Alert:
    """A message that is not a digest (e.g. the spending guard's): a title and plain text."""

    title: str
    text: str
    watch: str = ""


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
