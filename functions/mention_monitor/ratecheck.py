"""How much of X's recent-search rate limit a schedule's quiet runs use (``check --schedule``)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from mention_monitor.errors import ConfigError
from mention_monitor.ratelimit import SEARCH_LIMIT, WINDOW_SECONDS

DEFAULT_SCHEDULE = "rate(15 minutes)"
WARN_SHARE = 0.8
_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_RATE = re.compile(r"^rate\((\d+)\s+([a-z]+)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")


def _minutes(field: str) -> set[int]:
    """The minutes a cron minute field matches (``*``, ``5``, ``0/10``, ``*/5``, ``1-9/2``,
    lists of those)."""
    out: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", "?"):
            lo, hi = 0, 59
        elif "-" in base:
            lo, hi = (int(v) for v in base.split("-", 1))
        else:
            lo = int(base)
            hi = 59 if step_text else lo
        if not (0 <= lo <= hi <= 59) or step < 1:
            raise ValueError(part)
        out.update(range(lo, hi + 1, step))
    return out


def runs_per_window(expression: str) -> int:
    """The most runs a schedule starts inside one 15-minute window of X's rate limit."""
    text = expression.strip()
    rate = _RATE.match(text)
    if rate and rate.group(2) in _UNITS and int(rate.group(1)) > 0:
        period = int(rate.group(1)) * _UNITS[rate.group(2)]
        return max(1, math.ceil(WINDOW_SECONDS / period))
    cron = _CRON.match(text)
    if cron:
        fields = cron.group(1).split()
        try:
            minutes = _minutes(fields[0]) if len(fields) == 6 else None
        except ValueError:
            minutes = None
        if minutes:  # the busiest 15 minutes of an hour (hours are assumed back to back)
            span = WINDOW_SECONDS // 60
            return max(
                sum(1 for m in minutes if (m - start) % 60 < span) for start in range(60)
            )
    if text.startswith("at("):
        return 1
    raise ConfigError(
        f"check: --schedule: {expression!r} is not a schedule such as 'rate(5 minutes)' or "
        "'cron(0/10 * * * ? *)'"
    )


def template_schedule(config: Path | None) -> str:
    """The ``ScheduleExpression`` default of ``template.yaml``: beside the config file or one
    folder up (``infra/monitor.toml``), else in the working directory or this project."""
    folders = [Path.cwd(), Path(__file__).resolve().parents[2]]
    if config is not None:
        folders[:0] = [config.resolve().parent, config.resolve().parent.parent]
    candidates = [folder / "template.yaml" for folder in folders]
    for path in candidates:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        found = re.search(r"\n  ScheduleExpression:\n(?:    .*\n)*?    Default: *(.+)\n", text)
        if found:
            return found.group(1).strip().strip("'\"")
    return DEFAULT_SCHEDULE


def rate_share(requests_per_run: int, expression: str) -> dict[str, Any]:
    """Requests a quiet run needs, and the share of X's 450 per 15 minutes the schedule uses."""
    runs = runs_per_window(expression)
    per_window = requests_per_run * runs
    share = per_window / SEARCH_LIMIT
    out: dict[str, Any] = {
        "schedule": expression,
        "requests_per_quiet_run": requests_per_run,
        "runs_per_15_minutes": runs,
        "requests_per_15_minutes": per_window,
        "limit_per_15_minutes": SEARCH_LIMIT,
        "share": round(share, 4),
    }
    if share > WARN_SHARE:
        out["warning"] = (
            f"quiet runs alone use {share:.0%} of X's {SEARCH_LIMIT} recent-search requests per "
            f"15 minutes (over {WARN_SHARE:.0%}): mentions will wait for the next window; "
            "pack terms into fewer watches or run less often"
        )
    return out
