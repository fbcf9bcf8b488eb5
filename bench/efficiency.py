"""Figure 1, API efficiency: search requests and posts read per run against the lower bound.

Lower bound for one run: requests = sum over the watch's queries of ceil(new posts matching
that query / page size), at least 1 per query; posts read = distinct new posts. A scenario of
several runs adds the bounds of its runs. The run's own summary (``api_requests``,
``posts_read``, ``users_read``, ``cost_usd``) is checked against what the fake X served.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import BenchX, ScriptedNotifier, run_monitor, write_config
from mention_monitor.config import load_settings
from mention_monitor.notifiers import registry
from mention_monitor.query import plan_queries
from mention_monitor.results import POST_PRICE_USD, USER_PRICE_USD
from mention_monitor.secrets import EnvSecrets
from mention_monitor.state import make_store
from tests.fakes.xapi import make_posts

SECRETS = {"MENTION_MONITOR_SECRET_X_BEARER_TOKEN": "bench-bearer-token"}


@dataclass
class Row:
    scenario: str
    runs: int = 0
    requests: int = 0
    requests_lb: int = 0
    posts: int = 0
    posts_lb: int = 0
    found: int = 0
    checks: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """The worse of the two ratios (1.00 = at the lower bound)."""
        r = self.requests / self.requests_lb if self.requests_lb else 1.0
        p = self.posts / self.posts_lb if self.posts_lb else (1.0 if self.posts == 0 else math.inf)
        return max(r, p)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ratio": round(self.ratio, 4)}


class Scenario:
    """One watch against a fresh fake X and a fresh SQLite store."""

    def __init__(self, tmp: Path, x: BenchX, **config: Any) -> None:
        self.x = x
        self.cfg = write_config(tmp, x.url, **config)
        self.settings = load_settings(self.cfg)
        self.page = self.settings.x.page_size
        self.queries = plan_queries(self.settings)["Acme"]
        self.next_id = 1_000_000_000_000_000_000  # 19 digits, like real tweet IDs
        self.top = 0  # the newest post that exists before the measured run

    def add(self, count: int, text: str = "I love acme", step: int = 7) -> list[int]:
        posts = make_posts(count, first_id=self.next_id, text=text, step=step)
        self.x.add_posts(posts)
        self.next_id += count * step + 1
        return [int(p["id"]) for p in posts]

    def bound(self) -> tuple[int, int]:
        """Lower bound for the next run: everything above ``self.top`` is new."""
        new_ids: set[int] = set()
        requests = 0
        for q in self.queries:
            hits = self.x.archive.matching({"query": q, "since_id": str(self.top)})
            new_ids.update(int(p["id"]) for p in hits)
            requests += max(1, math.ceil(len(hits) / self.page))
        return requests, len(new_ids)

    def run(self, row: Row | None = None) -> dict[str, Any]:
        """One run; with ``row`` it is measured against the bound and its summary checked."""
        bound = self.bound() if row is not None else (0, 0)
        self.x.reset_counts()
        store = make_store("sqlite", path=self.settings.state.path)
        try:
            summary = run_monitor(self.settings, store, EnvSecrets(SECRETS))
        finally:
            store.close()
        w = summary["watches"]["Acme"]
        self.top = max(self.x.archive.posts, default=0)
        if row is not None:
            row.runs += 1
            row.requests += w["api_requests"]
            row.posts += w["posts_read"]
            row.requests_lb += bound[0]
            row.posts_lb += bound[1]
            row.found += w["found"]
            self._check(row, w)
        return summary

    def _check(self, row: Row, w: dict[str, Any]) -> None:
        served = len(self.x.searches), len(self.x.served_ids), len(self.x.users_served)
        reported = w["api_requests"], w["posts_read"], w["users_read"]
        if served != reported:
            row.checks.append(f"summary {reported} != served (requests, posts, users) {served}")
        cost = round(w["posts_read"] * POST_PRICE_USD + w["users_read"] * USER_PRICE_USD, 4)
        if abs(w["cost_usd"] - cost) > 1e-9:
            row.checks.append(f"cost_usd {w['cost_usd']} != {cost}")
        if w["failed"] and set(w["failed"]) - {"n1", "n2"}:
            row.checks.append(f"failed: {w['failed']}")


def _fresh(tmp: Path, name: str) -> tuple[Path, BenchX]:
    d = tmp / name
    d.mkdir()
    return d, BenchX().start()


def quiet(tmp: Path) -> Row:
    d, x = _fresh(tmp, "quiet")
    try:
        s = Scenario(d, x)
        s.add(5)
        s.run()  # first run: sets the cursor
        row = Row("quiet run (nothing new)")
        s.run(row)
        return row
    finally:
        x.stop()


def burst(tmp: Path, n: int = 1234) -> Row:
    d, x = _fresh(tmp, "burst")
    try:
        s = Scenario(d, x)
        s.add(5)
        s.run()
        ids = s.add(n)
        row = Row(f"burst of {n:,} mentions")
        s.run(row)
        got = ScriptedNotifier.received.get("n1", [])
        if sorted(got) != ids:
            row.checks.append(f"notifier got {len(got)} mentions, {len(set(got))} distinct")
        return row
    finally:
        ScriptedNotifier.reset()
        x.stop()


def many_terms(tmp: Path, terms: int = 40, per_term: int = 30, max_len: int = 120) -> Row:
    d, x = _fresh(tmp, "terms")
    try:
        words = [f"brand{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(terms)]
        s = Scenario(d, x, terms=words, max_query_length=max_len)
        for w in words:
            s.add(1, text=f"hello {w}")
        s.run()
        ids: list[int] = []
        for i, w in enumerate(words):  # uneven: some terms quiet, some busy
            ids += s.add(per_term * (i % 4), text=f"new from {w}")
        row = Row(f"{terms} terms in {len(s.queries)} queries (max_query_length {max_len})")
        s.run(row)
        if len(s.queries) < 3:
            row.checks.append(f"only {len(s.queries)} queries")
        if row.found != len(ids):
            row.checks.append(f"found {row.found} != {len(ids)} new posts")
        return row
    finally:
        ScriptedNotifier.reset()
        x.stop()


def outage(tmp: Path, arrivals: tuple[int, ...] = (150, 30, 0, 20)) -> Row:
    """n1 fails three runs then recovers; n2 works throughout. New posts keep arriving."""
    d, x = _fresh(tmp, "outage")
    try:
        s = Scenario(
            d, x, notifiers={"n1": 'type = "bench-scripted"\nmax_mentions = 100000', "n2": 'type = "bench-scripted"\nmax_mentions = 100000'}
        )
        s.add(5)
        s.run()
        row = Row("notifier outage: n1 down 3 runs, then up")
        ScriptedNotifier.fail_runs["n1"] = 3
        ids: list[int] = []
        for count in arrivals:
            ids += s.add(count)
            s.run(row)
            ScriptedNotifier.fail_runs["n1"] -= 1
        for name in ("n1", "n2"):
            got = ScriptedNotifier.received.get(name, [])
            if sorted(got) != ids:
                row.checks.append(f"{name} got {len(got)} ({len(set(got))} distinct) of {len(ids)}")
        return row
    finally:
        ScriptedNotifier.reset()
        x.stop()


def run_all(small: bool = False) -> list[Row]:
    """Every scenario; ``small`` shrinks the sizes (the smoke test)."""
    registry.register(ScriptedNotifier.type_name, ScriptedNotifier)
    try:
        with tempfile.TemporaryDirectory(prefix="mm-bench-eff-") as tmp:
            t = Path(tmp)
            if small:
                return [
                    quiet(t),
                    burst(t, 234),
                    many_terms(t, terms=40, per_term=3, max_len=120),
                    outage(t, (25, 3, 0, 2)),
                ]
            return [quiet(t), burst(t), many_terms(t), outage(t)]
    finally:
        registry.unregister(ScriptedNotifier.type_name)


def table(rows: list[Row]) -> str:
    head = f"{'scenario':<52} {'runs':>4} {'requests':>13} {'posts read':>13} {'ratio':>6}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.scenario:<52} {r.runs:>4} {f'{r.requests}/{r.requests_lb}':>13} "
            f"{f'{r.posts}/{r.posts_lb}':>13} {r.ratio:>6.2f}"
        )
        lines.extend(f"    CHECK FAILED: {c}" for c in r.checks)
    lines.append("(measured/lower bound; ratio = the worse of the two; summary counts and")
    lines.append(" cost_usd checked against what the fake X served: " +
                 ("all match)" if not any(r.checks for r in rows) else "MISMATCHES above)"))
    return "\n".join(lines)
