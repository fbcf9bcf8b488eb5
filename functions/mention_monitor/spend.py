"""The spending guard: what X bills is kept per UTC day and month in state, and searching
stops before the next page could pass a budget (cursors stay, so nothing is lost)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from mention_monitor.config import XSettings
from mention_monitor.results import POST_PRICE_USD, USER_PRICE_USD
from mention_monitor.state import StateStore

log = logging.getLogger(__name__)

MICRO = 1_000_000
POST_MICRO = round(POST_PRICE_USD * MICRO)
USER_MICRO = round(USER_PRICE_USD * MICRO)
DEFERRED = "budget"


def periods(now: datetime) -> tuple[str, str]:
    """The UTC day's and month's keys: ``D#2026-11-25``, ``M#2026-11``."""
    return f"D#{now:%Y-%m-%d}", f"M#{now:%Y-%m}"


def usd(micro: int) -> float:
    return round(micro / MICRO, 4)


class SpendGuard:
    """A run's view of X spend (thread-safe), checked before and recorded after each page.

    ``page_micro`` is the most one page can cost: a full page of posts and, unless authors
    are not read, as many user objects. A page is asked for only if the spend so far, plus
    the pages already in flight, plus this one stays within every budget that is set.
    """

    def __init__(
        self,
        store: StateStore,
        now: datetime,
        *,
        daily_usd: float | None,
        monthly_usd: float | None,
        page_micro: int,
        known: dict[str, int] | None = None,
        dry_run: bool = False,
    ) -> None:
        self.store = store
        self.day, self.month = periods(now)
        self.limits = {
            self.day: None if daily_usd is None else round(daily_usd * MICRO),
            self.month: None if monthly_usd is None else round(monthly_usd * MICRO),
        }
        self.page_micro = page_micro
        self.dry_run = dry_run
        self.spent = {self.day: 0, self.month: 0}
        self.spent.update({k: v for k, v in (known or {}).items() if k in self.spent})
        self.in_flight = 0
        #: "daily limit reached" / "monthly limit reached" once a budget stopped a page.
        self.stopped: str | None = None
        self._lock = threading.Lock()

    @property
    def period(self) -> str:
        """The key of the period whose budget stopped the run (for its one alert)."""
        return self.day if self.stopped == "daily limit reached" else self.month

    def reserve(self) -> bool:
        """Room for one more page in every budget; False stops searching for this run."""
        with self._lock:
            if self.stopped is not None:
                return False
            for key, name in ((self.day, "daily"), (self.month, "monthly")):
                limit = self.limits[key]
                if limit is not None and self.spent[key] + self.in_flight + self.page_micro > limit:
                    self.stopped = f"{name} limit reached"
                    log.warning("X spending guard: %s (%s)", self.stopped, key[2:])
                    return False
            self.in_flight += self.page_micro
            return True

    def release(self) -> None:
        with self._lock:
            self.in_flight -= self.page_micro

    def record(self, posts: int, users: int) -> None:
        """Add what X bills for ``posts`` post reads and ``users`` user objects."""
        micro = posts * POST_MICRO + users * USER_MICRO
        if not micro:
            return
        if self.dry_run:  # a dry run reads X too, but writes nothing
            with self._lock:
                for key in self.spent:
                    self.spent[key] += micro
            return
        totals = self.store.add_spend([self.day, self.month], micro)
        with self._lock:
            for key, total in totals.items():
                # The store's total counts every worker and overlapping run: never go back.
                self.spent[key] = max(self.spent[key], total)

    def alert(self) -> str:
        """This period's alert, one line (it goes out as a digest's headline)."""
        key = self.period
        limit = self.limits[key] or 0
        what, budget = ("day", "daily") if key == self.day else ("month", "monthly")
        return (
            f"X spending {budget} limit reached: ${usd(self.spent[key]):.3f} of "
            f"${usd(limit):.2f} this UTC {what} ({key[2:]}); searching resumes next {what}, "
            "no mention lost"
        )


def spend_report(store: StateStore, x: XSettings, now: float) -> dict[str, Any]:
    """What ``state show`` says of X spend: today's and this month's, against the budgets."""
    day, month = periods(datetime.fromtimestamp(now, UTC))
    spent = store.spend([day, month])
    out: dict[str, Any] = {
        "day": day[2:],
        "day_usd": usd(spent[day]),
        "month": month[2:],
        "month_usd": usd(spent[month]),
    }
    if x.daily_budget_usd is not None:
        out["daily_budget_usd"] = x.daily_budget_usd
    if x.monthly_budget_usd is not None:
        out["monthly_budget_usd"] = x.monthly_budget_usd
    return out
