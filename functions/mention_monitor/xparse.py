"""X's JSON to mentions: text decoding and sanitising, malformed posts and pages, error bodies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mention_monitor.errors import MalformedPage, MalformedPost
from mention_monitor.models import Mention
from mention_monitor.notifiers.text import valid_unicode

#: Tweet IDs are 64-bit signed integers; X's spec allows 1 to 19 ASCII digits.
MAX_ID = 2**63 - 1
_ID = re.compile(r"[0-9]{1,19}")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
#: C0 and C1 controls, DEL, bidi embeddings, overrides and isolates: not in a message we show.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_OLD_SINCE_ID = re.compile(r"'since_id' must be a (?:tweet|post) id created after")
MESSAGE_MAX = 300


def one_line(value: str) -> str:
    """X's words for a report: cleaned, on one line, without control or bidi characters."""
    return " ".join(_CONTROLS.sub(" ", valid_unicode(value)).split())


def decode_entities(text: str) -> str:
    """Undo X's escaping of post text: exactly ``&amp;``, ``&lt;``, ``&gt;``, in one pass.

    One pass, so a post whose author typed ``&amp;`` (sent by X as ``&amp;amp;``) still reads
    ``&amp;``. Every other ``&...;`` is the author's own text and stays as it is.
    """
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def post_text(raw: str) -> str:
    """A post's text as its author wrote it, safe to encode: cleaned, entities decoded once."""
    return decode_entities(valid_unicode(raw))


def show_id(raw: Any) -> str:
    """An ID as X sent it, for a warning: short, quoted, control characters escaped."""
    return repr(raw)[:40]


def parse_id(raw: Any) -> int | None:
    """A post ID as an ``int``, or ``None`` unless it is 1 to 19 ASCII digits below 2**63."""
    if not isinstance(raw, str) or not _ID.fullmatch(raw):
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


def _count(obj: dict[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}{key} is not a count")
    return value


def _string(obj: dict[str, Any], key: str, where: str = "") -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{where}{key} is not a string")
    return valid_unicode(value)


def _object(obj: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where}{key} is not an object")
    return value


def full_text(post: dict[str, Any]) -> str:
    """The whole text: ``note_post.text`` (spec 2.167) or ``note_tweet.text`` (2.162) when the
    post is longer than 280 characters (``text`` is then cut), else ``text``."""
    for key in ("note_post", "note_tweet"):
        note = _object(post, key)
        if note.get("text") is not None:
            return post_text(_string(note, "text", f"{key}."))
    text = post.get("text")
    if not isinstance(text, str):
        raise ValueError("text is missing" if text is None else "text is not a string")
    return post_text(text)


def parse_post(post: Any, users: dict[str, Any]) -> Mention:
    """One ``data[]`` item and the expanded users as a :class:`Mention`.

    Raises :class:`MalformedPost` naming the ID (as X sent it) and what is wrong.
    """
    if not isinstance(post, dict):
        raise MalformedPost("(none)", "the post is not an object")
    raw_id = post.get("id")
    post_id = parse_id(raw_id)
    if post_id is None:
        raise MalformedPost(show_id(raw_id), "the ID is not a 64-bit tweet ID")
    try:
        metrics = _object(post, "public_metrics")
        author_id = _string(post, "author_id")
        author = users.get(author_id) if author_id else None
        if author is not None and not isinstance(author, dict):
            raise ValueError("its author is not an object")
        author = author or {}
        umetrics = _object(author, "public_metrics", "author ")
        repost_key = "repost_count" if metrics.get("repost_count") is not None else "retweet_count"
        return Mention(
            id=post_id,
            text=full_text(post),
            created_at=_string(post, "created_at"),
            author_id=author_id,
            author_username=_string(author, "username", "author "),
            author_name=_string(author, "name", "author "),
            author_followers=_count(umetrics, "followers_count", "author "),
            like_count=_count(metrics, "like_count", ""),
            # The current spec says repost_count; older payloads say retweet_count.
            repost_count=_count(metrics, repost_key, ""),
            reply_count=_count(metrics, "reply_count", ""),
            quote_count=_count(metrics, "quote_count", ""),
            lang=_string(post, "lang"),
        )
    except ValueError as exc:
        raise MalformedPost(show_id(raw_id), str(exc)) from None


def parse_author(user: Any) -> tuple[str, str, int]:
    """A user object of X's user lookup: (username, name, followers), cleaned like a post's
    author. Raises ``ValueError`` saying what is wrong."""
    if not isinstance(user, dict):
        raise ValueError("the user is not an object")
    umetrics = _object(user, "public_metrics", "author ")
    return (
        _string(user, "username", "author "),
        _string(user, "name", "author "),
        _count(umetrics, "followers_count", "author "),
    )


def error_messages(body: Any) -> list[str]:
    """X's own words from an answer: each ``errors[].message`` (or detail/title), else the
    problem's ``title: detail``; cleaned, one line (:func:`one_line`) and cut, never anything
    of our request."""
    if not isinstance(body, dict):
        return []
    out: list[str] = []
    errors = body.get("errors")
    for err in errors if isinstance(errors, list) else []:
        if isinstance(err, dict):
            text = next(
                (err[k] for k in ("message", "detail", "title") if isinstance(err.get(k), str)),
                "",
            )
            if one_line(text):
                out.append(one_line(text)[:MESSAGE_MAX])
    if not out:
        parts = [body.get(k) for k in ("title", "detail")]
        text = ": ".join(dict.fromkeys(p for p in parts if isinstance(p, str) and p))
        if one_line(text):
            out.append(one_line(text)[:MESSAGE_MAX])
    return list(dict.fromkeys(out))


def is_old_since_id(body: Any) -> bool:
    """X's own answer to a ``since_id`` older than its window, and nothing else."""
    return any(_OLD_SINCE_ID.search(m) for m in error_messages(body))


@dataclass
class Page:
    """One 200 answer of recent search, read."""

    mentions: list[Mention] = field(default_factory=list)
    #: Every valid post ID received, parsed or not: cursors move only over these.
    ids: list[int] = field(default_factory=list)
    #: How many ``data[]`` items X sent (what it bills), and how many were skipped.
    posts: int = 0
    malformed: list[str] = field(default_factory=list)
    users: int = 0
    #: X's ``errors[]`` messages (partial errors beside data, or errors instead of it).
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    next_token: str | None = None


def parse_page(body: Any) -> Page:
    """A recent-search page: its posts as mentions, malformed ones named and skipped.

    Raises :class:`MalformedPage` when the page's own structure cannot be read.
    """
    if not isinstance(body, dict):
        raise MalformedPage("X sent a page that is not a JSON object")
    data = body.get("data")
    if data is None:
        data = []
    if not isinstance(data, list):
        raise MalformedPage("X sent a page whose data is not a list")
    meta = body.get("meta")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise MalformedPage("X sent a page whose meta is not an object")
    token = meta.get("next_token")
    if token is not None and (not isinstance(token, str) or not token):
        raise MalformedPage("X sent a page whose next_token is not a string")
    page = Page(posts=len(data), next_token=token or None)

    errors = body.get("errors")
    if errors is not None and not isinstance(errors, list):
        page.warnings.append("X sent an errors field that is not a list; ignored")
    else:
        page.errors = error_messages({"errors": errors}) if errors else []
    includes = body.get("includes")
    users_raw = includes.get("users") if isinstance(includes, dict) else None
    if (includes is not None and not isinstance(includes, dict)) or (
        users_raw is not None and not isinstance(users_raw, list)
    ):
        page.warnings.append("X sent includes.users that is not a list; authors unknown")
        users_raw = None
    users: dict[str, Any] = {}
    for user in users_raw or []:
        if isinstance(user, dict) and isinstance(user.get("id"), str):
            users[user["id"]] = user
            page.users += 1

    for post in data:
        post_id = parse_id(post.get("id")) if isinstance(post, dict) else None
        if post_id is not None:
            page.ids.append(post_id)
        try:
            page.mentions.append(parse_post(post, users))
        except MalformedPost as exc:
            page.malformed.append(
                f"X sent a malformed post (id {exc.post_id}): {exc.reason}; skipped"
            )
    return page
