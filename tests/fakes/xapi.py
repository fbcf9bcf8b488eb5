"""Fake X API v2 recent search; every request is checked against X's published OpenAPI spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from mention_monitor.replay import SearchArchive
from mention_monitor.xsource import SEARCH_PATH
from tests.fakes.http import FakeServer, Received, Reply

SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "data" / "x-search-recent.openapi.json"
LOCAL_SPEC = Path(__file__).resolve().parent / "x-search-recent.openapi.json"


def load_spec() -> dict[str, Any]:
    """The recent-search operation from X's OpenAPI spec (a copy is kept beside this file)."""
    path = SPEC_PATH if SPEC_PATH.is_file() else LOCAL_SPEC
    spec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return spec


SPEC = load_spec()
PARAMS = {p["name"]: p for p in SPEC["parameters"]}


def spec_violations(query: dict[str, str]) -> list[str]:
    """Reasons ``query`` does not satisfy the spec's parameters (empty when it does)."""
    problems = []
    for name, param in PARAMS.items():
        if param.get("required") and name not in query:
            problems.append(f"missing required parameter {name}")
    for name, raw in query.items():
        if name not in PARAMS:
            problems.append(f"unknown parameter {name}")
            continue
        schema = PARAMS[name]["schema"]
        value: Any = raw
        if schema.get("type") == "array":
            value = raw.split(",")
        elif schema.get("type") == "integer":
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"{name} is not an integer")
                continue
        try:
            jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())
        except jsonschema.ValidationError as exc:
            problems.append(f"{name}: {exc.message}")
    if "since_id" in query and "start_time" in query:
        problems.append("since_id cannot be combined with start_time")
    if "until_id" in query and "end_time" in query:
        problems.append("until_id cannot be combined with end_time")
    return problems


def make_users(n: int = 5, base_followers: int = 100) -> list[dict[str, Any]]:
    return [
        {
            "id": str(9000 + i),
            "name": f"User {i}",
            "username": f"user{i}",
            "public_metrics": {
                "followers_count": base_followers * (i + 1),
                "following_count": 10,
                "post_count": 100,
                "listed_count": 1,
            },
        }
        for i in range(n)
    ]


def make_posts(
    count: int,
    first_id: int = 1_000,
    *,
    text: str = "I love acme",
    step: int = 1,
    users: int = 5,
    created_at: str = "",
) -> list[dict[str, Any]]:
    """``count`` posts with ascending IDs ``first_id``, ``first_id + step``, ..."""
    out = []
    for i in range(count):
        pid = first_id + i * step
        post: dict[str, Any] = {
            "id": str(pid),
            "text": f"{text} #{i}",
            "author_id": str(9000 + i % users),
            "edit_history_post_ids": [str(pid)],
            "lang": "en",
            "public_metrics": {
                "repost_count": i % 7,
                "reply_count": 0,
                "like_count": i % 11,
                "quote_count": 0,
                "bookmark_count": 0,
                "impression_count": 10,
            },
        }
        if created_at:
            post["created_at"] = created_at
        out.append(post)
    return out


class FakeX(FakeServer):
    """Serves ``archive`` like X; records every request and any spec violation in it."""

    def __init__(self, archive: SearchArchive | None = None) -> None:
        super().__init__()
        self.archive = archive or SearchArchive(users=make_users())
        self.violations: list[str] = []
        self.rate_limit_remaining: int | None = None
        #: Every post ID sent, with repeats: X bills each one.
        self.served_ids: list[int] = []
        #: (query, post ID) for every post sent: a query must never read a post twice.
        self.served_pairs: list[tuple[str, int]] = []

    def add_posts(self, posts: list[dict[str, Any]], users: list[dict[str, Any]] | None = None):
        self.archive.add(posts, users or [])

    @property
    def searches(self) -> list[Received]:
        return [r for r in self.received if r.path == SEARCH_PATH]

    def default(self, req: Received) -> Reply:
        if req.path != SEARCH_PATH:
            return Reply(404, {"title": "Not Found", "detail": req.path, "type": "about:blank"})
        problems = spec_violations(req.query)
        if problems:
            self.violations.extend(problems)
            return Reply(
                400,
                {
                    "title": "Invalid Request",
                    "detail": "; ".join(problems),
                    "type": "https://api.x.com/2/problems/invalid-request",
                },
            )
        headers = {}
        if self.rate_limit_remaining is not None:
            headers = {
                "x-rate-limit-limit": "450",
                "x-rate-limit-remaining": str(self.rate_limit_remaining),
                "x-rate-limit-reset": "0",
            }
        body = self.archive.answer(req.query)
        self.served_ids.extend(int(p["id"]) for p in body.get("data", []))
        self.served_pairs.extend((req.query["query"], int(p["id"])) for p in body.get("data", []))
        return Reply(200, body, headers)


def rate_limited(reset_epoch: float) -> Reply:
    return Reply(
        429,
        {
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "https://api.x.com/2/problems/rate-limit-exceeded",
        },
        {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(reset_epoch))},
    )


def server_error(status: int = 503) -> Reply:
    return Reply(status, {"title": "Service Unavailable", "detail": "try later", "type": "about:blank"})


def since_id_too_old(since_id: str) -> Reply:
    return Reply(
        400,
        {
            "errors": [
                {
                    "parameters": {"since_id": [since_id]},
                    "message": f"Invalid 'since_id':'{since_id}'. 'since_id' must be a tweet id "
                    "created after the start of the search window.",
                }
            ],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.x.com/2/problems/invalid-request",
        },
    )
