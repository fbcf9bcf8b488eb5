"""Typed results of a run: one ``WatchResult`` per watch in a ``RunSummary``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

POST_PRICE_USD = 0.005
USER_PRICE_USD = 0.010


@dataclass
class WatchResult:
    """What one watch did in one run. ``to_dict`` is the watch's entry in the JSON summary."""

    found: int = 0
    api_requests: int = 0
    posts_read: int = 0
    users_read: int = 0
    #: Posts X sent that could not be read (skipped, each named in ``warnings``).
    malformed: int = 0
    delivered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: Why the watch was not run at all (another run holds its lease).
    skipped: str | None = None
    #: Dry runs only: how many mentions each notifier would have received.
    would_deliver: dict[str, int] | None = None
    #: Why the watch was not searched (completely) this run: ``"time budget"``,
    #: ``"rate limit"`` or ``"budget"``; it goes first next run. Not a failure by itself.
    deferred: str | None = None
    #: Requests to X's user lookup (``GET /2/users``) for authors not in the cache.
    user_requests: int = 0
    #: Scheduled notifiers that were not due: their next due time (UTC, ISO 8601).
    waiting: dict[str, str] = field(default_factory=dict)
    #: When the last window was a spike: its count, the usual count, who was alerted.
    spike: dict[str, Any] | None = None

    @property
    def cost_usd(self) -> float:
        """What X bills for this watch's reads (posts and user objects)."""
        return round(self.posts_read * POST_PRICE_USD + self.users_read * USER_PRICE_USD, 4)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "found": self.found,
            "api_requests": self.api_requests,
            "posts_read": self.posts_read,
            "users_read": self.users_read,
            "cost_usd": self.cost_usd,
            "delivered": dict(self.delivered),
            "failed": dict(self.failed),
        }
        if self.malformed:
            out["malformed"] = self.malformed
        if self.warnings:
            out["warnings"] = list(self.warnings)
        if self.skipped is not None:
            out["skipped"] = self.skipped
        if self.would_deliver is not None:
            out["would_deliver"] = dict(self.would_deliver)
        if self.deferred is not None:
            out["deferred"] = self.deferred
        if self.user_requests:
            out["user_requests"] = self.user_requests
        if self.waiting:
            out["waiting"] = dict(self.waiting)
        if self.spike is not None:
            out["spike"] = dict(self.spike)
        return out


@dataclass
class RunSummary:
    """Every watch's result. ``to_dict`` is the one-line JSON the CLI prints and Lambda returns."""

    watches: dict[str, WatchResult] = field(default_factory=dict)
    dry_run: bool = False
    #: Set when the spending guard stopped searching: ``"daily limit reached"`` or
    #: ``"monthly limit reached"`` (the run still exits 0).
    budget: str | None = None

    @property
    def ok(self) -> bool:
        return all(w.ok for w in self.watches.values())

    @property
    def failures(self) -> dict[str, dict[str, str]]:
        """``{watch: {what: reason}}`` for the watches that failed."""
        return {name: dict(w.failed) for name, w in self.watches.items() if w.failed}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": self.ok,
            "watches": {name: w.to_dict() for name, w in self.watches.items()},
        }
        if self.dry_run:
            out["dry_run"] = True
        if self.budget is not None:
            out["budget"] = self.budget
        return out
