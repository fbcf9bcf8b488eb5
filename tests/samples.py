"""Mentions for notifier tests, hostile ones included."""

from __future__ import annotations

from mention_monitor.models import Digest, Mention

HOSTILE = "<!channel> <script>alert(1)</script> &amp; <https://evil.example|x.com>"
EMOJI = "Acme 🚀🔥 is great 👍🏽"
RTL = "أحب منتجات Acme كثيرا"  # Arabic: right to left
LONG = ("acme " + "x" * 95 + "\n") * 40  # 4,000 characters with line breaks


def mention(i: int, text: str = "I love acme", **kw: object) -> Mention:
    fields: dict[str, object] = {
        "created_at": "2026-11-24T18:10:00.000Z",
        "author_id": str(9000 + i),
        "author_username": f"user{i}",
        "author_name": f"User {i}",
        "author_followers": 100 * (i + 1),
        "like_count": i % 11,
        "repost_count": i % 7,
    }
    fields.update(kw)
    return Mention(id=1_000 + i, text=text, **fields)  # type: ignore[arg-type]


def hostile_digest() -> Digest:
    mentions = (
        mention(0, HOSTILE, author_name="<!here> <b>Evil</b> &amp;"),
        mention(1, EMOJI),
        mention(2, RTL, author_name="محمد"),
        mention(3, LONG),
    )
    return Digest("Acme", mentions, search_url="https://x.com/search?q=acme&f=live")


def many(n: int, first: int = 0) -> Digest:
    return Digest(
        "Acme",
        tuple(mention(i) for i in range(first, first + n)),
        search_url="https://x.com/search?q=acme&f=live",
    )
