"""X API v2 recent search: every page, 429 within the time budget, 5xx with bounded backoff."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import requests

from mention_monitor.clock import Budget, Clock
from mention_monitor.errors import CursorTooOld, SearchDeferred, SourceError
from mention_monitor.http import HttpError, HttpPolicy, OutOfTime, Retry
from mention_monitor.models import Mention

log = logging.getLogger(__name__)

SEARCH_PATH = "/2/tweets/search/recent"
USERS_PATH = "/2/users"
# X's OpenAPI spec (2.167) names the post fields parameter ``post.fields``; older docs say
# ``tweet.fields``. One constant, so switching is one line.
POST_FIELDS_PARAM = "post.fields"
POST_FIELDS = "created_at,lang,public_metrics"  # the author_id expansion adds author_id
USER_FIELDS = "name,public_metrics,username"
EXPANSIONS = "author_id"


def search_params(query: str, page_size: int, authors: str) -> dict[str, str]:
    """The fixed parameters of a search. ``authors = "expand"`` asks X to expand each post's
    author (X bills every author object it returns, on every search); otherwise only the
    ``author_id`` field is asked for and authors are looked up once (:mod:`authors`)."""
    params = {"query": query, "max_results": str(page_size)}
    if authors == "expand":
        params.update({"expansions": EXPANSIONS, POST_FIELDS_PARAM: POST_FIELDS})
        params["user.fields"] = USER_FIELDS
    else:
        params[POST_FIELDS_PARAM] = POST_FIELDS + ",author_id"
    return params


class PageGate(Protocol):
    """What the run checks around each page a search asks X for (rate limit, spend)."""

    def before_page(self) -> str | None:
        """A reason not to ask for the next page (the search is deferred), or None."""

    def observe(self, headers: Mapping[str, str]) -> None:
        """Headers of every answer from X (``x-rate-limit-*``)."""

    def after_page(self, posts: int, users: int) -> None:
        """A page was read (and stored): what X bills for it."""


@dataclass
class SearchResult:
    """The pages one search read; ``complete`` only if the result set was exhausted.

    With a ``sink`` the mentions go there page by page and ``mentions`` stays empty;
    ``count`` is how many were read either way. ``deferred`` is set when the run stopped
    the search itself (time budget, rate limit, spending budget) rather than X failing.
    """

    mentions: list[Mention] = field(default_factory=list)
    count: int = 0
    newest_id: int | None = None
    newest_time: str = ""
    oldest_id: int | None = None
    complete: bool = False
    error: str | None = None
    deferred: str | None = None
    requests: int = 0
    posts_read: int = 0
    users_read: int = 0
    warnings: list[str] = field(default_factory=list)


class BearerAuth(requests.auth.AuthBase):
    """App-only bearer token; its repr never shows the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token}"
        return r

    def __repr__(self) -> str:
        return "BearerAuth(***)"


def _problem(resp: requests.Response) -> str:
    """A short reason from X's problem JSON (title/detail), never request headers."""
    try:
        body = resp.json()
    except ValueError:
        return resp.reason or ""
    if not isinstance(body, dict):
        return ""
    title = body.get("title") or ""
    detail = body.get("detail") or ""
    if not detail and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        if isinstance(first, dict):
            detail = first.get("message") or first.get("detail") or ""
    return f"{title}: {detail}".strip(": ")[:300]


MAX_RATE_LIMIT_WAITS = 3


def _is_old_since_id(resp: requests.Response) -> bool:
    return resp.status_code == 400 and "since_id" in resp.text


class XClient:
    """Reads the recent-search endpoint. Counts every HTTP request it sends.

    Holds no per-search state, so one client serves every worker of a run; a watch's worker
    takes a copy with its own :class:`PageGate` (:meth:`with_gate`).
    """

    def __init__(
        self,
        session: requests.Session,
        api_base: str,
        *,
        page_size: int = 100,
        clock: Clock | None = None,
        budget: Budget | None = None,
        max_retries: int = 3,
        backoff_seconds: float = 1.0,
        timeout_seconds: float = 10.0,
        authors: str = "expand",
        gate: PageGate | None = None,
    ) -> None:
        self.session = session
        self.api_base = api_base.rstrip("/")
        self.url = self.api_base + SEARCH_PATH
        self.page_size = page_size
        self.clock = clock or Clock()
        self.budget = budget or Budget(3600, self.clock)
        self.max_retries = max_retries
        self.backoff = backoff_seconds
        self.timeout = timeout_seconds
        self.authors = authors
        self.gate = gate

    def with_gate(self, gate: PageGate | None) -> XClient:
        """This client with ``gate`` checked around every page."""
        other = copy.copy(self)
        other.gate = gate
        return other

    def policy(
        self,
        on_request: Callable[[], None] | None = None,
        observe: Callable[[Mapping[str, str]], None] | None = None,
    ) -> HttpPolicy:
        """The shared HTTP policy as X's endpoints use it (the user lookup's too); every
        answer's headers go to ``observe`` (default: this client's gate)."""
        seen = observe or (self.gate.observe if self.gate is not None else None)
        return HttpPolicy(
            service="X",
            clock=self.clock,
            budget=self.budget,
            timeout_seconds=self.timeout,
            max_retries=self.max_retries,
            backoff_seconds=self.backoff,
            max_backoff_seconds=max(self.backoff * 16, 0.0),
            max_rate_limit_waits=MAX_RATE_LIMIT_WAITS,
            on_request=on_request,
            on_response=(lambda resp: seen(resp.headers)) if seen is not None else None,
        )

    # -- one HTTP request, under the shared policy ------------------------------------------
    def _get(self, params: dict[str, str], result: SearchResult) -> dict[str, Any]:
        def on_request() -> None:
            result.requests += 1
            log.debug(
                "GET recent search",
                extra={
                    k: params[k]
                    for k in ("query", "since_id", "until_id", "next_token")
                    if k in params
                },
            )

        try:
            body, _ = self.policy(on_request).call(
                lambda timeout: self.session.get(self.url, params=params, timeout=timeout),
                self._check,
            )
        except OutOfTime:
            raise SearchDeferred(
                "time budget", "run time budget exhausted before the search finished"
            ) from None
        except HttpError as exc:
            raise SourceError(str(exc)) from None
        return body

    @staticmethod
    def _check(resp: requests.Response) -> tuple[dict[str, Any], requests.Response]:
        log.debug(
            "X answered",
            extra={
                "status": resp.status_code,
                "rate_limit_remaining": resp.headers.get("x-rate-limit-remaining"),
            },
        )
        if resp.status_code == 200:
            try:
                body = resp.json()
            except ValueError:
                raise Retry("malformed JSON in a 200 answer") from None
            if not isinstance(body, dict):
                raise Retry("unexpected JSON in a 200 answer")
            return body, resp
        if _is_old_since_id(resp):
            raise CursorTooOld("since_id is older than the 7-day search window")
        raise SourceError(f"HTTP {resp.status_code} from X: {_problem(resp)}")

    # -- a whole search ------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        since_id: int | None = None,
        until_id: int | None = None,
        start_time: datetime | None = None,
        limit: int | None = None,
        sink: Callable[[list[Mention]], None] | None = None,
    ) -> SearchResult:
        """All posts newer than ``since_id`` (and older than ``until_id``), newest first.

        Follows ``next_token`` until the result set is exhausted, or ``limit`` posts were
        read. Each page goes to ``sink`` as it arrives (else into ``result.mentions``). On a
        failure the pages read so far have been passed on and ``complete`` is False.
        Raises :class:`CursorTooOld` when X refuses ``since_id`` as too old.
        """
        result = SearchResult()
        params = search_params(query, self.page_size, self.authors)
        if since_id is not None:
            params["since_id"] = str(since_id)
        if until_id is not None:
            params["until_id"] = str(until_id)
        if start_time is not None:
            params["start_time"] = start_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        while True:
            if limit is not None:
                want = limit - result.count
                params["max_results"] = str(max(10, min(self.page_size, want)))
            reason = self.gate.before_page() if self.gate is not None else None
            if reason is not None:
                result.deferred, result.error = reason, f"search deferred: {reason}"
                return result
            try:
                body = self._get(params, result)
            except CursorTooOld:
                if result.requests > 1 and result.count:
                    result.error = "X refused since_id in the middle of pagination"
                    return result
                raise
            except SearchDeferred as exc:
                result.deferred, result.error = exc.reason, str(exc)
                return result
            except SourceError as exc:
                result.error = str(exc)
                return result
            posts_before, users_before = result.posts_read, result.users_read
            page = self._read_page(body, result)
            if limit is not None:
                del page[limit - result.count :]
            raw_meta = body.get("meta")
            meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
            if result.newest_id is None and meta.get("newest_id"):
                result.newest_id = int(meta["newest_id"])
                result.newest_time = next(
                    (m.created_at for m in page if m.id == result.newest_id), ""
                )
            if meta.get("oldest_id"):
                oldest = int(meta["oldest_id"])
                prev = result.oldest_id
                result.oldest_id = oldest if prev is None else min(oldest, prev)
            result.count += len(page)
            try:
                if sink is not None:
                    sink(page)
                else:
                    result.mentions.extend(page)
            finally:
                if self.gate is not None:
                    self.gate.after_page(
                        result.posts_read - posts_before, result.users_read - users_before
                    )
            if limit is not None and result.count >= limit:
                result.complete = True
                return result
            token = meta.get("next_token")
            if not token:
                result.complete = True
                return result
            params["next_token"] = str(token)

    @staticmethod
    def _read_page(body: dict[str, Any], result: SearchResult) -> list[Mention]:
        raw_includes = body.get("includes")
        includes: dict[str, Any] = raw_includes if isinstance(raw_includes, dict) else {}
        users_list = includes.get("users") or []
        users = {str(u.get("id")): u for u in users_list if isinstance(u, dict)}
        result.users_read += len(users_list)
        data = body.get("data") or []
        for err in body.get("errors") or []:
            if isinstance(err, dict):
                result.warnings.append(
                    f"X reported a partial error: {str(err.get('title', ''))[:100]}"
                )
        page: list[Mention] = []
        for post in data:
            if not isinstance(post, dict) or not str(post.get("id", "")).isdigit():
                result.warnings.append("X returned a post without a numeric id; skipped")
                continue
            result.posts_read += 1
            page.append(Mention.from_api(post, users))
        return page
