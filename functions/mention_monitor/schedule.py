"""Notifier schedules: "every run", "hourly", "daily HH:MM", "weekly DAY HH:MM" in an IANA zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EVERY_RUN = "every run"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAILY = re.compile(r"^daily ([01]\d|2[0-3]):([0-5]\d)$")
_WEEKLY = re.compile(r"^weekly (mon|tue|wed|thu|fri|sat|sun) ([01]\d|2[0-3]):([0-5]\d)$")
#: The longest a period can last, daylight-saving changes included (a day can have 25 hours).
_LONGEST = {"every run": 0, "hourly": 3600, "daily": 25 * 3600, "weekly": (7 * 24 + 1) * 3600}


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError (naming no value) when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("not an IANA time zone name such as 'Europe/Berlin' or 'UTC'") from None


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a notifier's digests are due. Due times are walked in local calendar days, so a
    daylight-saving change neither skips nor repeats a day."""

    kind: str = EVERY_RUN  # "every run", "hourly", "daily" or "weekly"
    hour: int = 0
    minute: int = 0
    weekday: int = 0  # Monday is 0
    timezone: str = "UTC"

    @classmethod
    def parse(cls, text: str, timezone: str = "UTC") -> Schedule:
        zone(timezone)
        spec = " ".join(text.strip().lower().split())
        if spec in (EVERY_RUN, "hourly"):
            return cls(spec, timezone=timezone)
        if m := _DAILY.match(spec):
            return cls("daily", int(m[1]), int(m[2]), timezone=timezone)
        if m := _WEEKLY.match(spec):
            return cls("weekly", int(m[2]), int(m[3]), DAYS.index(m[1]), timezone)
        raise ValueError(
            "must be 'every run', 'hourly', 'daily HH:MM' or 'weekly DAY HH:MM' (DAY: mon..sun)"
        )

    @property
    def every_run(self) -> bool:
        return self.kind == EVERY_RUN

    @property
    def longest_period_seconds(self) -> int:
        return _LONGEST[self.kind]

    def describe(self) -> str:
        if self.kind in (EVERY_RUN, "hourly"):
            return self.kind
        at = f"{self.hour:02d}:{self.minute:02d}"
        day = f"{DAYS[self.weekday]} " if self.kind == "weekly" else ""
        return f"{self.kind} {day}{at}"

    def _at(self, day: date) -> datetime:
        # fold=0: a time that does not exist (spring forward) lands just after the gap, one
        # that exists twice (fall back) is taken the first time; either way once per day.
        local = datetime.combine(day, time(self.hour, self.minute), ZoneInfo(self.timezone))
        return local.astimezone(UTC)

    def last_due(self, now: datetime) -> datetime:
        """The latest due time at or before ``now`` (aware, UTC); ``now`` itself every run."""
        now = now.astimezone(UTC)
        if self.every_run:
            return now
        local = now.astimezone(ZoneInfo(self.timezone))
        if self.kind == "hourly":
            return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        day = local.date()
        if self.kind == "weekly":
            day -= timedelta(days=(day.weekday() - self.weekday) % 7)
        step = timedelta(days=7 if self.kind == "weekly" else 1)
        due = self._at(day)
        while due > now:
            day -= step
            due = self._at(day)
        return due

    def next_due(self, now: datetime) -> datetime:
        """The first due time after ``now`` (aware, UTC)."""
        now = now.astimezone(UTC)
        if self.every_run:
            return now
        if self.kind == "hourly":
            return self.last_due(now + timedelta(hours=1))
        last = self.last_due(now)
        local_day = last.astimezone(ZoneInfo(self.timezone)).date()
        step = timedelta(days=7 if self.kind == "weekly" else 1)
        due = self._at(local_day + step)
        while due <= now:  # a gap day can map two local dates close together
            local_day += step
            due = self._at(local_day + step)
        return due


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
