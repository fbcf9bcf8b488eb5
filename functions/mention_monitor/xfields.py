"""What a search asks X for: the fields parameter in either spelling, and which one works."""

from __future__ import annotations

import threading
from typing import Any, Literal

from mention_monitor.xparse import error_messages

FieldsStyle = Literal["auto", "post", "tweet"]
Spelling = Literal["post", "tweet"]

#: X's spec 2.167 names the parameter ``post.fields`` and the long-post field ``note_post``;
#: spec 2.162 and the docs pages say ``tweet.fields`` and ``note_tweet``.
SPELLINGS: dict[Spelling, tuple[str, str]] = {
    "post": ("post.fields", "note_post"),
    "tweet": ("tweet.fields", "note_tweet"),
}
#: The author_id expansion adds ``author_id`` to each post.
POST_FIELDS = ("created_at", "lang", "public_metrics")
USER_FIELDS = "name,public_metrics,username"
EXPANSIONS = "author_id"
#: ``auto`` tries this spelling first: the one in the spec our requests are checked against.
FIRST: Spelling = "post"

_lock = threading.Lock()
#: The spelling X accepted (or the one switched to), per API base, for the whole process.
_learned: dict[str, Spelling] = {}


def forget() -> None:
    """Forget every learned spelling (tests; a new process starts empty)."""
    with _lock:
        _learned.clear()


def other(spelling: Spelling) -> Spelling:
    return "tweet" if spelling == "post" else "post"


class Fields:
    """The fields part of a search request for one API base.

    ``style`` ``post`` or ``tweet`` pins the spelling; ``auto`` starts with :data:`FIRST`, and
    after X names the fields parameter in a 400 switches (once per request) to the other
    spelling, which every later request of the process then uses.
    """

    def __init__(self, style: FieldsStyle, api_base: str, authors: str = "expand") -> None:
        self.style = style
        self.api_base = api_base.rstrip("/")
        self.authors = authors

    @property
    def spelling(self) -> Spelling:
        if self.style != "auto":
            return self.style
        with _lock:
            return _learned.get(self.api_base, FIRST)

    @property
    def param(self) -> str:
        return SPELLINGS[self.spelling][0]

    def params(self) -> dict[str, str]:
        """The request parameters naming what each post and author should carry.

        ``authors = "expand"`` asks X to expand each post's author (X bills every author
        object it returns, on every search); otherwise only the ``author_id`` field is asked
        for, and authors are looked up once and cached (:mod:`mention_monitor.authors`).
        """
        name, note = SPELLINGS[self.spelling]
        if self.authors != "expand":
            return {name: ",".join((*POST_FIELDS, note, "author_id"))}
        return {
            "expansions": EXPANSIONS,
            name: ",".join((*POST_FIELDS, note)),
            "user.fields": USER_FIELDS,
        }

    @property
    def can_switch(self) -> bool:
        return self.style == "auto"

    def switch(self, rejected: Spelling) -> Spelling:
        """X refused ``rejected``: use the other spelling from now on."""
        new = other(rejected)
        with _lock:
            _learned[self.api_base] = new
        return new

    def rejects(self, body: Any) -> bool:
        """Does X's 400 ``body`` name the fields parameter (as unknown, or a value of it)?"""
        name, note = SPELLINGS[self.spelling]
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            for err in body["errors"]:
                params = err.get("parameters") if isinstance(err, dict) else None
                if isinstance(params, dict) and name in params:
                    return True
        # Quoted as X quotes it: its list of known parameters also holds the other spelling.
        marks = (f"[{name}]", f"`{name}`", f"'{name}'", f"[{note}]")
        return any(mark in m for m in error_messages(body) for mark in marks)
