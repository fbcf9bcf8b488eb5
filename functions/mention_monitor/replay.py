"""Offline X: answers recent-search and user-lookup requests from recorded API v2 pages."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from mention_monitor.xsource import SEARCH_PATH, USERS_PATH

_TOKEN = re.compile(r'-?"[^"]*"|-?\([^)]*\)|\S+')


def encode_token(post_id: int) -> str:
    return base64.b32hexencode(str(post_id).encode()).decode().rstrip("=").lower()


def decode_token(token: str) -> int:
    padded = token.upper() + "=" * (-len(token) % 8)
    return int(base64.b32hexdecode(padded).decode())


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class QueryMatcher:
    """Enough of X's query language for our own queries: OR groups, phrases, ``-x``,
    ``-from:``, ``-is:retweet``, ``lang:``. Matching ignores case."""

    def __init__(self, query: str) -> None:
        self.any_of: list[str] = []
        self.none_of: list[str] = []
        self.not_from: set[str] = set()
        self.langs: set[str] = set()
        self.no_retweets = False
        for tok in _TOKEN.findall(query):
            neg = tok.startswith("-")
            body = tok[1:] if neg else tok
            if body.startswith("(") and body.endswith(")"):
                alts = [a.strip() for a in body[1:-1].split(" OR ")]
                if all(a.startswith("lang:") for a in alts):
                    self.langs.update(a[5:] for a in alts)
                else:
                    self.any_of.extend(a.strip('"').lower() for a in alts)
            elif body == "is:retweet":
                self.no_retweets = neg
            elif body.startswith("from:") and neg:
                self.not_from.add(body[5:].lower())
            elif body.startswith("lang:"):
                self.langs.add(body[5:])
            elif body == "OR":
                continue
            elif neg:
                self.none_of.append(body.strip('"').lower())
            else:
                self.any_of.append(body.strip('"').lower())

    def matches(self, post: dict[str, Any], username: str) -> bool:
        text = str(post.get("text", "")).lower()
        if self.any_of and not any(t in text for t in self.any_of):
            return False
        if any(t in text for t in self.none_of):
            return False
        if username.lower() in self.not_from:
            return False
        if self.no_retweets and text.startswith("rt @"):
            return False
        return not (self.langs and post.get("lang") and post.get("lang") not in self.langs)


class SearchArchive:
    """Posts and users, answering recent-search parameters the way X does (newest first)."""

    def __init__(self, posts: Iterable[dict[str, Any]] = (), users: Iterable[dict[str, Any]] = ()):
        self.posts: dict[int, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        # Matches per (query, bounds): pages of one search then cost a slice, not a rescan.
        self._matches: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        self.add(posts, users)

    def add(self, posts: Iterable[dict[str, Any]], users: Iterable[dict[str, Any]] = ()) -> None:
        for user in users:
            self.users[str(user["id"])] = user
        for post in posts:
            self.posts[int(post["id"])] = post
        self._matches = {}

    @classmethod
    def from_dir(cls, directory: str | Path) -> SearchArchive:
        archive = cls()
        for path in sorted(Path(directory).glob("*.json")):
            page = json.loads(path.read_text(encoding="utf-8"))
            archive.add(page.get("data") or [], (page.get("includes") or {}).get("users") or [])
        return archive

    def _username(self, post: dict[str, Any]) -> str:
        return str(self.users.get(str(post.get("author_id")), {}).get("username", ""))

    def matching(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """Posts matching the query within the ID/time bounds, newest first (memoised)."""
        key = tuple(params.get(k, "") for k in ("query", "since_id", "until_id", "start_time"))
        if key not in self._matches:
            self._matches[key] = self._scan(params)
        return self._matches[key]

    def _scan(self, params: dict[str, str]) -> list[dict[str, Any]]:
        matcher = QueryMatcher(params.get("query", ""))
        since = int(params["since_id"]) if params.get("since_id") else None
        until = int(params["until_id"]) if params.get("until_id") else None
        start = _parse_time(params["start_time"]) if params.get("start_time") else None
        out = []
        for pid in sorted(self.posts, reverse=True):
            post = self.posts[pid]
            if since is not None and pid <= since:
                break  # newest first: the rest are older still
            if until is not None and pid >= until:
                continue
            if start is not None and post.get("created_at"):
                if _parse_time(post["created_at"]) < start:
                    continue
            if matcher.matches(post, self._username(post)):
                out.append(post)
        return out

    def answer(self, params: dict[str, str]) -> dict[str, Any]:
        """The 200 body for ``params`` (query, max_results, since_id, until_id, next_token)."""
        hits = self.matching(params)
        token = params.get("next_token") or params.get("pagination_token")
        first = 0
        if token:  # hits are newest first: skip to the first ID below the token's
            below = decode_token(token)
            lo, hi = 0, len(hits)
            while lo < hi:
                mid = (lo + hi) // 2
                if int(hits[mid]["id"]) >= below:
                    lo = mid + 1
                else:
                    hi = mid
            first = lo
        size = int(params.get("max_results", "10"))
        page = hits[first : first + size]
        if not page:
            return {"meta": {"result_count": 0}}
        # Like X: author_id only when asked for (as a field or by the expansion), author
        # objects only with the expansion.
        expand = "author_id" in params.get("expansions", "").split(",")
        fields = ",".join(params.get(k, "") for k in ("post.fields", "tweet.fields"))
        if not expand and "author_id" not in fields.split(","):
            page = [{k: v for k, v in p.items() if k != "author_id"} for p in page]
        meta: dict[str, Any] = {
            "newest_id": str(page[0]["id"]),
            "oldest_id": str(page[-1]["id"]),
            "result_count": len(page),
        }
        if first + size < len(hits):
            meta["next_token"] = encode_token(int(page[-1]["id"]))
        body: dict[str, Any] = {"data": page, "meta": meta}
        author_ids = list(dict.fromkeys(str(p["author_id"]) for p in page if p.get("author_id")))
        users = [self.users[a] for a in author_ids if a in self.users]
        if users and expand:
            body["includes"] = {"users": users}
        return body

    def lookup(self, params: dict[str, str]) -> dict[str, Any]:
        """The 200 body of ``GET /2/users?ids=``: the users known, an error for the others."""
        ids = [i for i in params.get("ids", "").split(",") if i]
        body: dict[str, Any] = {}
        data = [self.users[i] for i in ids if i in self.users]
        if data:
            body["data"] = data
        missing = [i for i in ids if i not in self.users]
        if missing:
            body["errors"] = [
                {
                    "value": i,
                    "detail": f"Could not find user with ids: [{i}].",
                    "title": "Not Found Error",
                    "resource_type": "user",
                    "parameter": "ids",
                    "resource_id": i,
                    "type": "https://api.x.com/2/problems/resource-not-found",
                }
                for i in missing
            ]
        return body


    def shift_to(self, newest: datetime) -> None:
        """Move every ``created_at`` by one offset so the newest post was created at ``newest``.

        Recordings age; replayed as if just posted, they stay inside X's 7-day window.
        """
        times = [_parse_time(p["created_at"]) for p in self.posts.values() if p.get("created_at")]
        if not times:
            return
        offset = newest - max(times)
        if offset.total_seconds() <= 0:
            return
        for pid, post in self.posts.items():
            if post.get("created_at"):
                moved = _parse_time(post["created_at"]) + offset
                stamp = moved.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
                self.posts[pid] = {**post, "created_at": stamp}
        self._matches = {}


class ReplayAdapter(BaseAdapter):
    """A requests transport that serves recent search from a directory of recorded pages.

    The recorded posts are replayed as if the newest had been posted five minutes ago.
    """

    def __init__(self, directory: str | Path) -> None:
        super().__init__()
        self.archive = SearchArchive.from_dir(directory)
        self.archive.shift_to(datetime.now(UTC) - timedelta(minutes=5))

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        resp = requests.Response()
        resp.request = request
        resp.url = request.url or ""
        resp.headers = CaseInsensitiveDict({"content-type": "application/json"})
        resp.status_code = 200
        body: dict[str, Any]
        if parts.path == SEARCH_PATH:
            body = self.archive.answer(dict(parse_qsl(parts.query)))
        elif parts.path == USERS_PATH:
            body = self.archive.lookup(dict(parse_qsl(parts.query)))
        else:
            resp.status_code = 404
            body = {"title": "Not Found", "detail": parts.path}
        resp._content = json.dumps(body).encode()
        resp.encoding = "utf-8"
        return resp

    def close(self) -> None:
        pass
