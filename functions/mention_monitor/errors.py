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


class StateError(MonitorError):
    """The state store could not be read or written."""


class DeliveryError(MonitorError):
    """A notifier could not deliver; the message is safe to show (no secrets, no webhook URL)."""
