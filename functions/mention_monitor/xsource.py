"""X API v2 recent search: every page, 429 within the time budget, 5xx with bounded backoff."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from mention_monitor.clock import Budget, Clock
from mention_monitor.errors import (
    CursorTooOld,
    MalformedPage,
    QueryRejected,
    SourceError,
    SpendingCapped,
)
from mention_monitor.http import HttpError, HttpPolicy, OutOfTime, Retry, retry_after
from mention_monitor.models import Mention
from mention_monitor.xfields import Fields, FieldsStyle
from mention_monitor.xparse import Page, error_messages, is_old_since_id, parse_page

log = logging.getLogger(__name__)

SEARCH_PATH = "/2/tweets/search/recent"
MAX_RATE_LIMIT_WAITS = 3


@dataclass
class SearchResult:
    """The pages one search read; ``complete`` only if the result set was exhausted.

    ``newest_id``/``oldest_id`` are the highest and lowest IDs of posts actually received
    (never X's ``meta`` claims). ``rejected``: X refused the query itself (400). ``untrusted``:
    X's pagination could not be trusted (a repeated ``next_token``, more pages than posts);
    nothing read by such a search may move a cursor.
    """

    mentions: list[Mention] = field(default_factory=list)
    newest_id: int | None = None
    oldest_id: int | None = None
    complete: bool = False
    error: str | None = None
    rejected: bool = False
    untrusted: bool = False
    #: X refused ``since_id`` as older than its window before anything was read.
    too_old: bool = False
    requests: int = 0
    posts_read: int = 0
    users_read: int = 0
    malformed: int = 0
    warnings: list[str] = field(default_factory=list)


class _FieldsRejected(SourceError):
    """X's 400 names the fields parameter: the other spelling may work."""


class BearerAuth(requests.auth.AuthBase):
    """App-only bearer token; its repr never shows the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token}"
        return r

    def __repr__(self) -> str:
        return "BearerAuth(***)"


def _body(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _problem(resp: requests.Response) -> str:
    """X's own reason (``errors[].message``, else title/detail), never request headers."""
    return "; ".join(error_messages(_body(resp))) or resp.reason or ""


def spending_cap(resp: requests.Response) -> str | None:
    """The summary's words when X's answer means money, not time, ran out; else None."""
    if resp.status_code not in (402, 429):
        return None
    body = _body(resp)
    body = body if isinstance(body, dict) else {}
    kind = str(body.get("type") or "")
    if resp.status_code == 402:
        if body.get("title") == "CreditsDepleted" or kind.endswith("/credits"):
            return "X credits depleted"
        return f"X refused for payment (HTTP 402): {_problem(resp)}"
    if body.get("title") == "UsageCapExceeded" or kind.endswith("/usage-capped"):
        period = body.get("period")
        if isinstance(period, str) and period.isalnum():
            return f"X usage cap reached ({period[:20]})"
        return "X usage cap reached"
    return None


class XClient:
    """Reads the recent-search endpoint. Counts every HTTP request it sends.

    One client serves a whole run: once X says the usage cap or the credits are used up,
    every later search of the run stops at once (``stopped``) without a request.
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
        fields_style: FieldsStyle = "auto",
    ) -> None:
        self.session = session
        self.url = api_base.rstrip("/") + SEARCH_PATH
        self.page_size = page_size
        self.clock = clock or Clock()
        self.budget = budget or Budget(3600, self.clock)
        self.max_retries = max_retries
        self.backoff = backoff_seconds
        self.timeout = timeout_seconds
        self.fields = Fields(fields_style, api_base)
        #: Why every search of this run stops (X's usage cap or credits), once known.
        self.stopped: str | None = None
        #: Headers of the last 200, for ``x-rate-limit-remaining`` before the next page.
        self._last_headers: Mapping[str, str] = {}

    # -- one HTTP request, under the shared policy ------------------------------------------
    def _get(self, params: dict[str, str], result: SearchResult) -> Any:
        """One logical request; switches the fields spelling once if X refuses it."""
        switched = False
        while True:
            spelling = self.fields.spelling
            try:
                return self._request({**params, **self.fields.params()}, result)
            except _FieldsRejected as exc:
                if not self.fields.can_switch or switched:
                    hint = "" if self.fields.can_switch else ' (try [x] fields_style = "auto")'
                    raise SourceError(f"{exc}{hint}") from None
                self.fields.switch(spelling)
                log.warning("%s; using %s from now on", exc, self.fields.param)
                switched = True

    def _request(self, params: dict[str, str], result: SearchResult) -> Any:
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

        def send(timeout: float) -> requests.Response:
            resp = self.session.get(self.url, params=params, timeout=timeout)
            capped = spending_cap(resp)
            if capped:  # before the policy's 429 handling: waiting would not help
                raise SpendingCapped(capped)
            return resp

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
            body, resp = policy.call(send, self._check)
        except OutOfTime:
            raise SourceError("run time budget exhausted before the search finished") from None
        except HttpError as exc:
            raise SourceError(str(exc)) from None
        self._last_headers = resp.headers
        return body

    def _check(self, resp: requests.Response) -> tuple[Any, requests.Response]:
        log.debug(
            "X answered",
            extra={
                "status": resp.status_code,
                "rate_limit_remaining": resp.headers.get("x-rate-limit-remaining"),
            },
        )
        if resp.status_code == 200:
            try:
                return resp.json(), resp
            except ValueError:
                raise Retry("malformed JSON in a 200 answer") from None
        if resp.status_code == 400:
            body = _body(resp)
            if is_old_since_id(body):
                raise CursorTooOld("since_id is older than the 7-day search window")
            reason = "; ".join(error_messages(body)) or "Bad Request"
            if self.fields.rejects(body):
                raise _FieldsRejected(f"X refused {self.fields.param}: {reason}")
            raise QueryRejected(f"X rejected the request (HTTP 400): {reason}")
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
        read. On a failure the pages read so far are returned with ``complete = False``
        (``too_old`` when X refused ``since_id`` as older than its window). X refuses an ID
        bound together with a time bound, so asking for both is a ``ValueError``.
        """
        if start_time is not None and (since_id is not None or until_id is not None):
            raise ValueError("X refuses since_id/until_id together with start_time")
        result = SearchResult()
        if self.stopped:
            result.error = self.stopped
            return result
        params: dict[str, str] = {"query": query, "max_results": str(self.page_size)}
        if since_id is not None:
            params["since_id"] = str(since_id)
        if until_id is not None:
            params["until_id"] = str(until_id)
        if start_time is not None:
            params["start_time"] = start_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        tokens: set[str] = set()
        while True:
            if limit is not None:
                want = limit - len(result.mentions)
                params["max_results"] = str(max(10, min(self.page_size, want)))
            first = result.requests == 0
            try:
                if "next_token" in params:
                    self._pause_if_exhausted()
                page = parse_page(self._get(params, result))
            except CursorTooOld as exc:
                result.error = str(exc)
                if result.requests > 1 and result.mentions:
                    result.error = "X refused since_id in the middle of pagination"
                else:
                    result.too_old = True
                return result
            except SpendingCapped as exc:
                self.stopped = result.error = str(exc)
                return result
            except QueryRejected as exc:
                result.error = f"{exc} (query {query[:60]!r})"
                result.rejected = first
                return result
            except (SourceError, MalformedPage) as exc:
                result.error = str(exc)
                return result
            self._account(page, result)
            if page.errors and not page.posts:
                result.error = "X answered with errors only: " + "; ".join(page.errors)
                return result
            if limit is not None and len(result.mentions) >= limit:
                del result.mentions[limit:]
                result.complete = True
                return result
            token = page.next_token
            if not token:
                result.complete = True
                return result
            pages = len(tokens) + 1
            if token in tokens or pages > result.posts_read:
                why = "repeated a next_token" if token in tokens else "sent more pages than posts"
                result.error = f"X {why}; query {query[:60]!r} stopped, nothing moved"
                result.untrusted = True
                return result
            tokens.add(token)
            params["next_token"] = token

    @staticmethod
    def _account(page: Page, result: SearchResult) -> None:
        """Add one page's posts, users, malformed posts and warnings to ``result``."""
        result.posts_read += page.posts
        result.users_read += page.users
        result.malformed += len(page.malformed)
        result.warnings.extend(page.malformed)
        result.warnings.extend(page.warnings)
        if page.errors and page.posts:
            result.warnings.extend(f"X reported a partial error: {e[:100]}" for e in page.errors)
        result.mentions.extend(page.mentions)
        if page.ids:
            top, bottom = max(page.ids), min(page.ids)
            result.newest_id = top if result.newest_id is None else max(top, result.newest_id)
            result.oldest_id = bottom if result.oldest_id is None else min(bottom, result.oldest_id)
