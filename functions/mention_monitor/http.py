"""One HTTP policy for X, Slack, Twilio and plugins: timeouts, bounded jittered retries,
429 / ``Retry-After`` / ``x-rate-limit-reset``, and the run's time budget."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from mention_monitor.clock import Budget, Clock
from mention_monitor.errors import MonitorError

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE_STATUS: frozenset[int] = frozenset({500, 502, 503, 504})


class HttpError(MonitorError):
    """A request failed for good. The message names the service and the reason, never a URL,
    a header or a credential."""


class RateLimited(HttpError):
    """Over the service's rate limit, and its reset is too far away (or waited for too often)."""

    def __init__(self, message: str, wait: float) -> None:
        super().__init__(message)
        self.wait = wait


class RetriesExhausted(HttpError):
    """Every attempt failed with a transient error (5xx, timeout, dropped connection)."""


class OutOfTime(HttpError):
    """The run's time budget ran out before the request could be made."""


class Retry(Exception):
    """Raise from a response check to ask for another attempt (counted against the retries).

    ``wait`` overrides the backoff (seconds), e.g. for a provider-specific rate-limit answer.
    """

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


#: The only hosts an ``http://`` base URL may name: this machine (test servers, local proxies).
LOCAL_HOSTS: frozenset[str] = frozenset({"localhost", "127.0.0.1", "::1"})


def base_url(value: str) -> str:
    """An API base URL without a trailing slash (a pydantic validator body): ``https://``, or
    ``http://`` to this machine only (credentials must never cross a network in clear)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("must start with https:// (or http://localhost for local tests)")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain a user name or password (they belong in the secret)")
    if parts.scheme == "http" and host not in LOCAL_HOSTS:
        raise ValueError(
            "http:// is allowed only for localhost, 127.0.0.1 and ::1; use https://"
        )
    return value.rstrip("/")


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds) or ``x-rate-limit-reset`` (epoch
    seconds, plus one to land after the reset); ``None`` when neither is readable."""
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    reset = headers.get("x-rate-limit-reset")
    if reset:
        try:
            return max(0.0, float(reset) - now) + 1.0
        except ValueError:
            pass
    return None


@dataclass
class HttpPolicy:
    """How one service is called. ``call`` makes one logical request with this policy.

    - Transient failures (``RETRYABLE_STATUS``, timeouts, connection errors, or a check that
      raises :class:`Retry`) are retried up to ``max_retries`` times with jittered
      exponential backoff (``backoff_seconds`` doubling, at most ``max_backoff_seconds``).
    - 429 waits for ``Retry-After`` / ``x-rate-limit-reset`` (``default_rate_wait`` when
      neither header is there; at least ``min_rate_wait``, at most ``max_rate_wait``), up to
      ``max_rate_limit_waits`` times, and never past the budget; rate-limit waits are not
      counted as attempts.
    - With a ``budget``, no request starts and no sleep runs past the run's deadline, and each
      request's timeout is cut to what is left.
    """

    service: str
    clock: Clock = field(default_factory=Clock)
    budget: Budget | None = None
    timeout_seconds: float = 10.0
    max_retries: int = 3
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    max_rate_limit_waits: int = 3
    default_rate_wait: float = 60.0
    min_rate_wait: float = 0.0
    max_rate_wait: float | None = None
    #: Called once per HTTP request sent (X counts them; so may plugins).
    on_request: Callable[[], None] | None = None
    #: Called with every response received, 429s and 5xx included (X reads its rate-limit
    #: headers from each).
    on_response: Callable[[requests.Response], None] | None = None

    # -- the pieces ------------------------------------------------------------------------
    def remaining(self) -> float:
        return self.budget.remaining() if self.budget is not None else float("inf")

    def _timeout(self) -> float:
        return min(self.timeout_seconds, max(self.remaining(), 0.5))

    def _rate_wait(self, resp: requests.Response) -> float:
        wait = retry_after(resp.headers, self.clock.now())
        wait = self.default_rate_wait if wait is None else wait
        wait = max(wait, self.min_rate_wait)
        return wait if self.max_rate_wait is None else min(wait, self.max_rate_wait)

    def _send(self, send: Callable[[float], requests.Response]) -> requests.Response:
        """One request, waiting out 429s; raises Retry for transient failures."""
        rate_waits = 0
        while True:
            if self.remaining() <= 0:
                raise OutOfTime("run time budget exhausted")
            if self.on_request is not None:
                self.on_request()
            try:
                resp = send(self._timeout())
            except requests.Timeout:
                raise Retry("timeout") from None
            except requests.RequestException as exc:  # its text can hold the URL: type only
                raise Retry(type(exc).__name__) from None
            if self.on_response is not None:
                self.on_response(resp)
            if resp.status_code == 429:
                wait = self._rate_wait(resp)
                if rate_waits < self.max_rate_limit_waits and wait <= self.remaining() - 1:
                    rate_waits += 1
                    log.info("%s rate limit reached; waiting %.0fs", self.service, wait)
                    self.clock.sleep(wait)
                    continue
                raise RateLimited(
                    f"rate limited by {self.service} (429); reset in {wait:.0f}s, after this run",
                    wait,
                )
            if resp.status_code in RETRYABLE_STATUS:
                reason = (resp.text or "").strip()[:100] if self.service != "X" else ""
                raise Retry(f"HTTP {resp.status_code} {reason}".strip())
            return resp

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Retry) and exc.wait is not None:
            wait = max(exc.wait, 0.0)
            return wait if self.max_rate_wait is None else min(wait, self.max_rate_wait)
        backoff = wait_exponential_jitter(
            multiplier=self.backoff_seconds,
            max=self.max_backoff_seconds,
            jitter=self.backoff_seconds / 2,
        )
        return min(float(backoff(state)), max(self.remaining() - 1, 0.0))

    # -- the one public call ----------------------------------------------------------------
    def call(
        self,
        send: Callable[[float], requests.Response],
        check: Callable[[requests.Response], T],
    ) -> T:
        """``check(send(timeout))`` under this policy.

        ``send`` makes the HTTP request with the given timeout. ``check`` turns a final
        (non-429, non-5xx) response into the result, raises :class:`Retry` to try again, or
        raises the caller's own error. Raises :class:`RateLimited`,
        :class:`RetriesExhausted` or :class:`OutOfTime` otherwise.
        """
        policy = self

        class _OutOfTime(stop_base):
            def __call__(self, retry_state: RetryCallState) -> bool:
                return policy.remaining() <= 0

        attempts = self.max_retries + 1
        retrying = Retrying(
            stop=stop_after_attempt(attempts) | _OutOfTime(),
            wait=self._wait,
            retry=retry_if_exception_type(Retry),
            sleep=self.clock.sleep,
            reraise=True,
        )
        try:
            return retrying(lambda: check(self._send(send)))
        except Retry as exc:
            raise RetriesExhausted(
                f"{exc.reason} from {self.service} after {attempts} attempts"
            ) from None
