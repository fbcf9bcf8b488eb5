"""Fake X API v2: recent search and user lookup, every request checked against X's published
OpenAPI specs, with X's rate-limit headers (per endpoint, 15-minute windows)."""

from __future__ import annotations

import copy
import json
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mention_monitor.clock import Clock
from mention_monitor.replay import SearchArchive
from mention_monitor.xsource import SEARCH_PATH, USERS_PATH
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
#: Spec 2.167's ``post.fields`` enum lacks ``author_id`` although its Post schema has the
#: field and X's docs (and spec 2.162's ``tweet.fields``) list it: it is accepted here.
PARAMS["post.fields"]["schema"]["items"]["enum"].append("author_id")
REAL = Path(__file__).resolve().parents[1] / "data" / "real" / "x"


def _tweet_params() -> dict[str, dict[str, Any]]:
    """The parameters as spec 2.162 and the docs name them: ``tweet.fields`` with
    ``note_tweet`` where spec 2.167 has ``post.fields`` with ``note_post``."""
    params = copy.deepcopy(PARAMS)
    fields = params.pop("post.fields")
    fields["name"] = "tweet.fields"
    enum = fields["schema"]["items"]["enum"]
    enum[enum.index("note_post")] = "note_tweet"
    params["tweet.fields"] = fields
    return params


FIELDS_PARAMS = {"post": PARAMS, "tweet": _tweet_params()}

USERS_SPEC_PATH = SPEC_PATH.with_name("x-users-lookup.openapi.json")
USERS_SPEC: dict[str, Any] = json.loads(
    (USERS_SPEC_PATH if USERS_SPEC_PATH.is_file() else LOCAL_SPEC.with_name(USERS_SPEC_PATH.name))
    .read_text(encoding="utf-8")
)
_USERS_REGISTRY = Registry().with_resource(
    "urn:x-users", Resource.from_contents(USERS_SPEC, default_specification=DRAFT202012)
)


def _resolve(node: Any) -> Any:
    """A users-spec node with its local ``$ref``s inlined (parameters only: no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = USERS_SPEC
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return _resolve(target)
        return {k: _resolve(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v) for v in node]
    return node


USERS_PARAMS = {
    p["name"]: p for p in _resolve(USERS_SPEC["paths"][USERS_PATH]["get"]["parameters"])
}


def real_error(name: str) -> dict[str, Any]:
    """A recorded X error (status, headers, body) from ``tests/data/real/x/errors``."""
    data: dict[str, Any] = json.loads((REAL / "errors" / f"{name}.json").read_text("utf-8"))
    return data


def real_reply(name: str, status: int | None = None, reset: float | None = None) -> Reply:
    """That recorded error as the fake serves it: its exact body and status (``status`` for a
    recording without one), its headers with ``RESET`` replaced by ``reset`` (epoch seconds)."""
    data = real_error(name)
    headers = {
        k: (str(int(reset)) if v == "RESET" and reset is not None else v)
        for k, v in data.get("headers", {}).items()
    }
    return Reply(data["status"] or status or 400, data["body"], headers)


def id_with_time(query: dict[str, str]) -> Reply:
    """X's real 400 for an ID bound sent together with a time bound."""
    reply = real_reply("400_id_with_time")
    body = copy.deepcopy(reply.body)
    bounds = ("since_id", "until_id", "start_time", "end_time")
    body["errors"][0]["parameters"] = {k: [query[k]] for k in bounds if k in query}
    return Reply(400, body)


def unknown_fields(name: str, value: str, accepted: dict[str, dict[str, Any]]) -> Reply | None:
    """X's 400 for a fields parameter it does not know, or a value it does not know, in the
    shape of ``errors/400_unknown_param.json``; None when ``name=value`` is accepted."""
    body = copy.deepcopy(real_error("400_unknown_param")["body"])
    if name not in accepted:
        known = ",".join(k for k in accepted if k != "query")
        message = f"[{name}] is not one of [query,{known}]"
    else:
        enum = accepted[name]["schema"]["items"]["enum"]
        bad = [v for v in value.split(",") if v not in enum]
        if not bad:
            return None
        message = (
            f"The `{name}` query parameter value [{bad[0]}] is not one of [{','.join(enum)}]"
        )
    body["errors"] = [{"parameters": {name: [value]}, "message": message}]
    return Reply(400, body)


def spec_violations(
    query: dict[str, str], params: dict[str, dict[str, Any]] | None = None
) -> list[str]:
    """Reasons ``query`` does not satisfy the spec's parameters (empty when it does)."""
    spec = params or FIELDS_PARAMS["post"]
    problems = []
    for name, param in spec.items():
        if param.get("required") and name not in query:
            problems.append(f"missing required parameter {name}")
    for name, raw in query.items():
        if name not in spec:
            problems.append(f"unknown parameter {name}")
            continue
        schema = spec[name]["schema"]
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
    if any(k in query for k in ("since_id", "until_id")) and any(
        k in query for k in ("start_time", "end_time")
    ):
        problems.append("since_id/until_id cannot be combined with start_time/end_time")
    return problems


def users_spec_violations(query: dict[str, str]) -> list[str]:
    """Reasons a ``GET /2/users`` query does not satisfy the users-lookup spec."""
    return [p for p in spec_violations(query, USERS_PARAMS) if "cannot be combined" not in p]


def users_response_violations(body: dict[str, Any]) -> list[str]:
    """Reasons a ``GET /2/users`` answer does not satisfy its 200 schema."""
    schema = {"$ref": "urn:x-users#/components/schemas/GetUsersByIdsResponse"}
    validator = jsonschema.Draft202012Validator(schema, registry=_USERS_REGISTRY)
    return [e.message for e in validator.iter_errors(body)]


class RateWindow:
    """One endpoint's rate limit as X counts it: ``limit`` requests per 15-minute window
    from the window's first request; ``x-rate-limit-*`` headers on every answer."""

    def __init__(self, limit: int, clock: Clock) -> None:
        self.limit = limit
        self.clock = clock
        self.reset = 0
        self.used = 0
        self._lock = threading.Lock()

    def hit(self) -> tuple[bool, dict[str, str]]:
        """Count one request: whether it is allowed, and the headers to answer with."""
        with self._lock:
            now = self.clock.now()
            if now >= self.reset:
                self.reset, self.used = int(now) + 15 * 60, 0
            self.used += 1
            allowed = self.used <= self.limit
            headers = {
                "x-rate-limit-limit": str(self.limit),
                "x-rate-limit-remaining": str(max(0, self.limit - self.used)),
                "x-rate-limit-reset": str(self.reset),
            }
            return allowed, headers


class _Discard(list):  # type: ignore[type-arg]
    """A list that keeps nothing."""

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


def x_escape(text: str) -> str:
    """Post text as X sends it: ``&``, ``<`` and ``>`` escaped as HTML entities (only those)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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
    """Serves ``archive`` like X; records every request and any spec violation in it.

    ``fields`` is the one spelling of the fields parameter it accepts: ``post`` (spec 2.167:
    ``post.fields``, ``note_post``) or ``tweet`` (spec 2.162 and the docs: ``tweet.fields``,
    ``note_tweet``). The other spelling is answered as X answers an unknown parameter (a 400,
    not a violation: a client may probe for it); an unknown field value is a violation.

    It serves ``GET /2/users`` too. Rate limits run on ``clock`` (the tests' fake clock): 450
    searches and 300 user lookups per 15 minutes, 429 past them. ``latency`` delays every
    answer; ``on_search`` is called with each search request (a test can advance its clock).
    """

    def __init__(
        self,
        archive: SearchArchive | None = None,
        fields: Literal["post", "tweet"] = "post",
        *,
        clock: Clock | None = None,
        latency: float = 0.0,
        search_limit: int = 450,
        users_limit: int = 300,
        record: bool = True,
    ) -> None:
        super().__init__()
        self.archive = archive or SearchArchive(users=make_users())
        self.fields = fields
        self.params = FIELDS_PARAMS[fields]
        self.violations: list[str] = []
        #: Fixed ``x-rate-limit-remaining`` on every search answer (``None``: count for real).
        self.rate_limit_remaining: int | None = None
        self.clock = clock or Clock()
        self.latency = latency
        self.windows = {
            SEARCH_PATH: RateWindow(search_limit, self.clock),
            USERS_PATH: RateWindow(users_limit, self.clock),
        }
        self.on_search: Callable[[Received], None] | None = None
        #: Every post ID sent, with repeats: X bills each one.
        self.served_ids: list[int] = []
        #: (query, post ID) for every post sent: a query must never read a post twice.
        self.served_pairs: list[tuple[str, int]] = []
        #: Every user object sent (search expansions and lookups), with repeats: X bills each.
        self.users_served: list[str] = []
        #: How many requests were answered 429.
        self.throttled = 0
        #: Scripted answers for searches whose query contains a key (see ``then_for``).
        self.query_scripts: dict[str, deque[Reply | Callable[[Received], Reply]]] = {}
        #: Scripted answers for user lookups (``script`` is for searches only).
        self.users_script: deque[Reply | Callable[[Received], Reply]] = deque()
        self._served_lock = threading.Lock()
        if not record:  # memory measurements: what the fake keeps must not grow
            self.received = _Discard()
            self.served_ids, self.served_pairs, self.users_served = _Discard(), _Discard(), _Discard()

    def add_posts(self, posts: list[dict[str, Any]], users: list[dict[str, Any]] | None = None):
        self.archive.add(posts, users or [])

    @property
    def searches(self) -> list[Received]:
        return [r for r in self.received if r.path == SEARCH_PATH]

    @property
    def lookups(self) -> list[Received]:
        return [r for r in self.received if r.path == USERS_PATH]

    def script_for(self, req: Received) -> deque[Reply | Callable[[Received], Reply]]:
        if req.path == USERS_PATH:
            return self.users_script
        for needle, queue in self.query_scripts.items():
            if queue and needle in req.query.get("query", ""):
                return queue
        return self.script

    def then_for(self, needle: str, *replies: Reply | Callable[[Received], Reply]) -> None:
        """Answer the next searches whose query contains ``needle`` with ``replies`` (so
        workers searching other watches at the same time do not take them)."""
        with self._lock:
            self.query_scripts.setdefault(needle, deque()).extend(replies)

    def users_then(self, *replies: Reply | Callable[[Received], Reply]) -> None:
        """Answer the next user lookups with ``replies``, then go back to the default."""
        with self._lock:
            self.users_script.extend(replies)

    def _throttled(self, headers: dict[str, str]) -> Reply:
        with self._served_lock:
            self.throttled += 1
        body = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank"}
        return Reply(429, {**body, "status": 429}, headers, delay=self.latency)

    def _users(self, req: Received) -> Reply:
        problems = users_spec_violations(req.query)
        if problems:
            self.violations.extend(problems)
            return Reply(400, {"title": "Invalid Request", "detail": "; ".join(problems)})
        allowed, headers = self.windows[USERS_PATH].hit()
        if not allowed:
            return self._throttled(headers)
        body = self.archive.lookup(req.query)
        with self._served_lock:
            self.users_served.extend(str(u["id"]) for u in body.get("data") or [])
        return Reply(200, body, headers, delay=self.latency)

    def default(self, req: Received) -> Reply:
        if req.path == USERS_PATH:
            return self._users(req)
        if req.path != SEARCH_PATH:
            return Reply(404, {"title": "Not Found", "detail": req.path, "type": "about:blank"})
        for name in ("post.fields", "tweet.fields"):
            if name in req.query:
                refused = unknown_fields(name, req.query[name], self.params)
                if refused is not None:
                    if name in self.params:
                        self.violations.append(refused.body["errors"][0]["message"])
                    return refused
        problems = spec_violations(req.query, self.params)
        if any("cannot be combined" in p for p in problems):
            self.violations.extend(problems)
            return id_with_time(req.query)
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
        if self.on_search is not None:
            self.on_search(req)
        allowed, headers = self.windows[SEARCH_PATH].hit()
        if self.rate_limit_remaining is not None:
            headers["x-rate-limit-remaining"] = str(self.rate_limit_remaining)
        elif not allowed:
            return self._throttled(headers)
        body = self.archive.answer(req.query)
        if body.get("data"):
            body["data"] = [self._as_requested(p, req.query) for p in body["data"]]
        with self._served_lock:
            self.served_ids.extend(int(p["id"]) for p in body.get("data", []))
            self.served_pairs.extend(
                (req.query["query"], int(p["id"])) for p in body.get("data", [])
            )
            users = (body.get("includes") or {}).get("users") or []
            self.users_served.extend(str(u["id"]) for u in users)
        return Reply(200, body, headers, delay=self.latency)


    def _as_requested(self, post: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        """A long post's full text only when asked for, under the name it was asked for."""
        note = post.get("note_post") or post.get("note_tweet")
        if note is None:
            return post
        out = {k: v for k, v in post.items() if k not in ("note_post", "note_tweet")}
        asked = ",".join(query.get(n, "") for n in ("post.fields", "tweet.fields")).split(",")
        for name in ("note_post", "note_tweet"):
            if name in asked:
                out[name] = note
        return out


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
