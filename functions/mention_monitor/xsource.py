"""X API v2 recent search: every page, 429 within the time budget, 5xx with bounded backoff."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from mention_monitor.clock import Budget, Clock
from mention_monitor.errors import CursorTooOld, SourceError
from mention_monitor.http import HttpError, HttpPolicy, OutOfTime, Retry, retry_after
from mention_monitor.models import Mention

log = logging.getLogger(__name__)

SEARCH_PATH = "/2/tweets/search/recent"
# X's OpenAPI spec (2.167) names the post fields parameter ``post.fields``; older docs say
# ``tweet.fields``. One constant, so switching is one line.
POST_FIELDS_PARAM = "post.fields"
POST_FIELDS = "created_at,lang,public_metrics"  # the author_id expansion adds author_id
USER_FIELDS = "name,public_metrics,username"
EXPANSIONS = "author_id"
MAX_RATE_LIMIT_WAITS = 3


@dataclass
class SearchResult:
    """The pages one search read; ``complete`` only if the result set was exhausted."""

    mentions: list[Mention] = field(default_factory=list)
    newest_id: int | None = None
    oldest_id: int | None = None
    complete: bool = False
    error: str | None = None
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


def _is_old_since_id(resp: requests.Response) -> bool:
    return resp.status_code == 400 and "since_id" in resp.text


class XClient:
    """Reads the recent-search endpoint. Counts every HTTP request it sends."""

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
    ) -> None:
        self.session = session
        self.url = api_base.rstrip("/") + SEARCH_PATH
        self.page_size = page_size
        self.clock = clock or Clock()
        self.budget = budget or Budget(3600, self.clock)
        self.max_retries = max_retries
        self.backoff = backoff_seconds
        self.timeout = timeout_seconds
        #: Headers of the last 200, for ``x-rate-limit-remaining`` before the next page.
        self._last_headers: Mapping[str, str] = {}

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

        policy = HttpPolicy(
            service="X",
            clock=self.clock,
            budget=self.budget,
            timeout_seconds=self.timeout,
            max_retries=self.max_retries,
            backoff_seconds=self.backoff,
            max_backoff_seconds=max(self.backoff * 16, 0.0),
            max_rate_limit_waits=MAX_RATE_LIMIT_WAITS,
            on_request=on_request,
        )
        try:
            body, resp = policy.call(
                lambda timeout: self.session.get(self.url, params=params, timeout=timeout),
                self._check,
            )
        except OutOfTime:
            raise SourceError("run time budget exhausted before the search finished") from None
        except HttpError as exc:
            raise SourceError(str(exc)) from None
        self._last_headers = resp.headers
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

    def _pause_if_exhausted(self) -> None:
        """Honour ``x-rate-limit-remaining: 0`` before asking for the next page."""
        headers = self._last_headers
        if headers.get("x-rate-limit-remaining") != "0":
            return
        wait = retry_after(headers, self.clock.now()) or 0.0
        if wait > self.budget.remaining() - 1:
            raise SourceError(f"X rate limit exhausted; reset in {wait:.0f}s, after this run")
        if wait:
            log.info("X rate limit exhausted; waiting %.0fs for the reset", wait)
            self.clock.sleep(wait)

    # -- a whole search ------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        since_id: int | None = None,
        until_id: int | None = None,
        start_time: datetime | None = None,
        limit: int | None = None,
    ) -> SearchResult:
        """All posts newer than ``since_id`` (and older than ``until_id``), newest first.

        Follows ``next_token`` until the result set is exhausted, or ``limit`` posts were
        read. On a failure the pages read so far are returned with ``complete = False``.
        Raises :class:`CursorTooOld` when X refuses ``since_id`` as too old.
        """
        result = SearchResult()
        params: dict[str, str] = {
            "query": query,
            "max_results": str(self.page_size),
            "expansions": EXPANSIONS,
            POST_FIELDS_PARAM: POST_FIELDS,
            "user.fields": USER_FIELDS,
        }
        if since_id is not None:
            params["since_id"] = str(since_id)
        if until_id is not None:
            params["until_id"] = str(until_id)
        if start_time is not None:
            params["start_time"] = start_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        while True:
            if limit is not None:
                want = limit - len(result.mentions)
                params["max_results"] = str(max(10, min(self.page_size, want)))
            try:
                if "next_token" in params:
                    self._pause_if_exhausted()
                body = self._get(params, result)
            except CursorTooOld:
                if result.requests > 1 and result.mentions:
                    result.error = "X refused since_id in the middle of pagination"
                    return result
                raise
            except SourceError as exc:
                result.error = str(exc)
                return result
            self._read_page(body, result)
            raw_meta = body.get("meta")
            meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
            if result.newest_id is None and meta.get("newest_id"):
                result.newest_id = int(meta["newest_id"])
            if meta.get("oldest_id"):
                oldest = int(meta["oldest_id"])
                prev = result.oldest_id
                result.oldest_id = oldest if prev is None else min(oldest, prev)
            if limit is not None and len(result.mentions) >= limit:
                del result.mentions[limit:]
                result.complete = True
                return result
            token = meta.get("next_token")
            if not token:
                result.complete = True
                return result
            params["next_token"] = str(token)

    @staticmethod
    def _read_page(body: dict[str, Any], result: SearchResult) -> None:
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
        for post in data:
            if not isinstance(post, dict) or not str(post.get("id", "")).isdigit():
                result.warnings.append("X returned a post without a numeric id; skipped")
                continue
            result.posts_read += 1
            result.mentions.append(Mention.from_api(post, users))
