"""X API v2 recent search: every page, 429 within the time budget, 5xx with bounded backoff."""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import requests

from mention_monitor.clock import Budget, Clock
from mention_monitor.errors import (
    CursorTooOld,
    MalformedPage,
    QueryRejected,
    SearchDeferred,
    SourceError,
    SpendingCapped,
)
from mention_monitor.http import HttpError, HttpPolicy, OutOfTime, Retry
from mention_monitor.models import Mention
from mention_monitor.xfields import USER_FIELDS, Fields, FieldsStyle
from mention_monitor.xparse import Page, error_messages, is_old_since_id, parse_page

log = logging.getLogger(__name__)

SEARCH_PATH = "/2/tweets/search/recent"
USERS_PATH = "/2/users"
MAX_RATE_LIMIT_WAITS = 3
__all__ = ["USERS_PATH", "USER_FIELDS", "PageGate", "SearchResult", "XClient"]


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

    ``newest_id``/``oldest_id`` are the highest and lowest IDs of posts actually received
    (never X's ``meta`` claims). ``rejected``: X refused the query itself (400). ``untrusted``:
    X's pagination could not be trusted (a repeated ``next_token``, more pages than posts);
    nothing read by such a search may move a cursor.

    With a ``sink`` the mentions go there page by page and ``mentions`` stays empty;
    ``count`` is how many were read either way. ``deferred`` is set when the run stopped
    the search itself (time budget, rate limit, spending budget) rather than X failing.
    """

    mentions: list[Mention] = field(default_factory=list)
    count: int = 0
    newest_id: int | None = None
    #: ``created_at`` of the post with ``newest_id`` (for the cursor's age).
    newest_time: str = ""
    oldest_id: int | None = None
    complete: bool = False
    error: str | None = None
    deferred: str | None = None
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


class _Shared:
    """What the copies of one run's client share: why searching stopped, and the first
    request, which goes alone (its answer says how many requests are left, or that X's usage
    cap or credits are used up, before the other workers send anything)."""

    def __init__(self) -> None:
        self.stopped: str | None = None
        self.first = threading.Lock()
        self.answered = threading.Event()


class XClient:
    """Reads the recent-search endpoint. Counts every HTTP request it sends.

    One client serves a whole run, all its workers: it keeps no per-search state, and once X
    says the usage cap or the credits are used up, every later search of the run stops at
    once (``stopped``) without a request. A watch's worker takes a copy with its own
    :class:`PageGate` (:meth:`with_gate`); the copies share ``stopped``.
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
        authors: Literal["cache", "expand", "none"] = "expand",
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
        self.fields = Fields(fields_style, api_base, authors)
        self.gate = gate
        self._shared = _Shared()  # the copies of with_gate share it

    @property
    def stopped(self) -> str | None:
        """Why every search of this run stops (X's usage cap or credits), once known."""
        return self._shared.stopped

    @stopped.setter
    def stopped(self, reason: str | None) -> None:
        self._shared.stopped = reason

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
        shared = self._shared
        if not shared.answered.is_set():
            with shared.first:  # the run's first request goes alone; the others wait for it
                if not shared.answered.is_set():
                    try:
                        return self._send_request(params, result)
                    finally:
                        shared.answered.set()
        if shared.stopped is not None:
            raise SpendingCapped(shared.stopped)
        return self._send_request(params, result)

    def _send_request(self, params: dict[str, str], result: SearchResult) -> Any:
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

        try:
            body, _ = self.policy(on_request).call(send, self._check)
        except OutOfTime:
            raise SearchDeferred(
                "time budget", "run time budget exhausted before the search finished"
            ) from None
        except HttpError as exc:
            raise SourceError(str(exc)) from None
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
        read. Each page goes to ``sink`` as it arrives (else into ``result.mentions``); the
        run's gate is asked before each page. On a failure the pages read so far have been
        passed on and ``complete`` is False
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
                want = limit - result.count
                params["max_results"] = str(max(10, min(self.page_size, want)))
            first = result.requests == 0
            reason = self.gate.before_page() if self.gate is not None else None
            if reason is not None:
                result.deferred, result.error = reason, f"search deferred: {reason}"
                return result
            try:
                page = parse_page(self._get(params, result))
            except CursorTooOld as exc:
                result.error = str(exc)
                if result.requests > 1 and result.count:
                    result.error = "X refused since_id in the middle of pagination"
                else:
                    result.too_old = True
                return result
            except SpendingCapped as exc:
                self.stopped = result.error = str(exc)
                return result
            except SearchDeferred as exc:
                result.deferred, result.error = exc.reason, str(exc)
                return result
            except QueryRejected as exc:
                result.error = f"{exc} (query {query[:60]!r})"
                result.rejected = first
                return result
            except (SourceError, MalformedPage) as exc:
                result.error = str(exc)
                return result
            if limit is not None:
                del page.mentions[limit - result.count :]
            self._account(page, result)
            try:
                if sink is not None:
                    sink(page.mentions)
                else:
                    result.mentions.extend(page.mentions)
            finally:
                if self.gate is not None:
                    self.gate.after_page(page.posts, page.users)
            if page.errors and not page.posts:
                result.error = "X answered with errors only: " + "; ".join(page.errors)
                return result
            if limit is not None and result.count >= limit:
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
        result.count += len(page.mentions)
        if page.ids:
            top, bottom = max(page.ids), min(page.ids)
            if result.newest_id is None or top > result.newest_id:
                result.newest_id = top
                result.newest_time = next(
                    (m.created_at for m in page.mentions if m.id == top), ""
                )
            result.oldest_id = bottom if result.oldest_id is None else min(bottom, result.oldest_id)
