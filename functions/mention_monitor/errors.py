"""One hierarchy of typed errors; messages never carry secret values."""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error mention-monitor raises on purpose."""


class ConfigError(MonitorError):
    """The configuration is invalid; the message names the field. Exit code 2."""


class SecretsError(MonitorError):
    """A secret could not be read or lacks a key; names the key, never a value. Exit code 2."""


class SourceError(MonitorError):
    """A search against X failed after the retries it was allowed."""


class SearchDeferred(SourceError):
    """A search stopped by the run itself, not by X: ``reason`` is ``"time budget"``,
    ``"rate limit"`` or ``"budget"``. The watch goes first next run."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or f"search deferred: {reason}")
        self.reason = reason


class CursorTooOld(SourceError):
    """X refused a ``since_id`` older than its seven-day window (400 invalid-request)."""


class QueryRejected(SourceError):
    """X answered 400 to a search's first request: the query itself is invalid (X's message)."""


class SpendingCapped(SourceError):
    """X's usage cap or prepaid credits are used up (429 usage-capped, 402): stop searching."""


class MalformedPage(SourceError):
    """A 200 answer whose structure cannot be read (``data`` not a list, ``meta`` not an
    object, ...): the query it answers fails."""


class MalformedPost(MonitorError):
    """One post in a page cannot be turned into a mention; it is skipped with a warning."""

    def __init__(self, post_id: str, reason: str) -> None:
        super().__init__(f"post {post_id}: {reason}")
        self.post_id = post_id
        self.reason = reason


class StateError(MonitorError):
    """The state store could not be read or written."""


class DeliveryError(MonitorError):
    """A notifier could not deliver; the message is safe to show (no secrets, no webhook URL)."""
