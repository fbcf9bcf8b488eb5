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
class Digest:
    """What one notifier receives for one watch in one run: mentions in ascending ID order."""

    watch: str
    mentions: tuple[Mention, ...]
    search_url: str = ""
    terms: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return len(self.mentions)


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
