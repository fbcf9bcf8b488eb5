"""X's rate limit as a budget: read x-rate-limit-* headers, defer what cannot be covered
(stalest first next run) instead of running into 429s; check --schedule rates a schedule."""

from __future__ import annotations

import json

import pytest

from mention_monitor.cli import main
from mention_monitor.clock import Budget
from mention_monitor.ratelimit import RateBudget
from mention_monitor.xsource import SEARCH_PATH
from tests.conftest import FakeClock, basic_config
from tests.fakes.xapi import make_posts
from tests.scale import (  # noqa: F401 - backend is a fixture
    backend,
    delivered_by_watch,
    multi_config,
    name,
    run_cfg,
    term,
)

__all__ = ["backend"]


def _searched(fake_x, since: int = 0) -> list[str]:
    return ["W" + r.query["query"][5:8] for r in fake_x.searches[since:]]


def test_the_limit_defers_watches_instead_of_running_into_429(
    tmp_path, fake_x, clock, bearer, backend
):
    fake_x.windows[SEARCH_PATH].limit = 20  # X allows 20 searches in this window
    cfg = multi_config(tmp_path, fake_x.url, 30, backend=backend)
    s = run_cfg(cfg, clock)
    assert s["ok"] is True, s
    assert fake_x.throttled == 0 and len(fake_x.searches) <= 20
    first = set(_searched(fake_x))
    deferred = {n for n, w in s["watches"].items() if w.get("deferred") == "rate limit"}
    assert len(first) >= 17 and deferred == {name(i) for i in range(30)} - first
    assert all(s["watches"][n]["api_requests"] == 0 for n in deferred)

    # Before the window resets, a new run (a new process) knows what is left from state.
    clock.advance(60)
    seen = len(fake_x.searches)
    s = run_cfg(cfg, clock)
    assert s["ok"] is True and fake_x.throttled == 0 and len(fake_x.searches) <= 20
    second = set(_searched(fake_x, seen))

    # After the reset, the watches left out go first.
    clock.advance(900)
    seen = len(fake_x.searches)
    s = run_cfg(cfg, clock)
    assert fake_x.throttled == 0
    left_out = {name(i) for i in range(30)} - first - second
    assert left_out and left_out <= set(_searched(fake_x, seen)[: len(left_out) + 3])


def test_a_burst_past_the_limit_stops_between_pages_and_resumes_each_post_once(
    tmp_path, fake_x, clock, bearer, backend
):
    fake_x.add_posts(make_posts(5, first_id=1_000, text=f"old {term(0)}"))
    cfg = multi_config(tmp_path, fake_x.url, 1, backend=backend, page_size=10)
    run_cfg(cfg, clock)
    clock.advance(900)  # a new window, of six searches
    fake_x.windows[SEARCH_PATH].limit = 6
    posts = make_posts(95, first_id=10_000, text=f"burst {term(0)}")
    fake_x.add_posts(posts)
    s = run_cfg(cfg, clock)
    w = s["watches"]["W000"]
    assert s["ok"] is True and w["deferred"] == "rate limit" and w["failed"] == {}
    assert (w["api_requests"], w["found"], fake_x.throttled) == (6, 60, 0)
    assert w["delivered"] == {"out": 0}  # not before the query completes
    clock.advance(900)
    s = run_cfg(cfg, clock)
    w = s["watches"]["W000"]
    assert s["ok"] is True and "deferred" not in w and w["found"] == 35
    got = delivered_by_watch(tmp_path / "out")["W000"]
    assert sorted(got) == list(range(1_000, 1_005)) + [int(p["id"]) for p in posts]
    assert sorted(fake_x.served_ids) == sorted(set(fake_x.served_ids))


def test_the_budget_waits_for_a_reset_inside_the_time_budget():
    clock = FakeClock()
    budget = RateBudget(clock, Budget(240, clock))
    reset = int(clock.now()) + 30
    budget.observe({"x-rate-limit-remaining": "1", "x-rate-limit-reset": str(reset)})
    ticket = budget.start(1)
    assert ticket is not None and budget.start(1) is None  # one left, and it is reserved
    assert budget.take(ticket)
    assert budget.take()  # none left: waits for the reset (30 s + 1), then goes on
    assert clock.sleeps == [31.0]


def test_requests_sent_before_x_said_are_counted_off_the_first_answer():
    clock = FakeClock()
    budget = RateBudget(clock, Budget(240, clock))
    tickets = [budget.start(1) for _ in range(4)]
    for t in tickets:
        assert t is not None and budget.take(t)
    reset = str(int(clock.now()) + 600)
    budget.observe({"x-rate-limit-remaining": "10", "x-rate-limit-reset": reset})
    assert budget.remaining == 7  # three other requests may not be counted yet
    budget.observe({"x-rate-limit-remaining": "8", "x-rate-limit-reset": reset})
    assert budget.remaining == 7
    budget.observe({"x-rate-limit-remaining": "6", "x-rate-limit-reset": reset})
    assert budget.remaining == 6


def test_a_reset_beyond_one_window_is_not_a_rate_limit_window():
    clock = FakeClock()
    budget = RateBudget(clock, Budget(240, clock))
    far = str(int(clock.now()) + 100_000)
    budget.observe({"x-rate-limit-remaining": "0", "x-rate-limit-reset": far})
    assert budget.remaining is None and budget.start(3) is not None


def _check(tmp_path, capsys, cfg, *args):
    code = main(["check", "--config", str(cfg), *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else None), err


def test_check_rates_a_schedule_against_450_per_15_minutes(tmp_path, capsys, bearer):
    cfg = multi_config(tmp_path, "http://127.0.0.1:9", 12)
    code, out, err = _check(tmp_path, capsys, cfg, "--schedule", "rate(5 minutes)")
    assert code == 0 and err == ""
    assert out["rate_limit"] == {
        "schedule": "rate(5 minutes)",
        "requests_per_quiet_run": 12,
        "runs_per_15_minutes": 3,
        "requests_per_15_minutes": 36,
        "limit_per_15_minutes": 450,
        "share": 0.08,
    }


def test_check_defaults_to_the_templates_schedule(tmp_path, capsys, bearer):
    cfg = basic_config(tmp_path, "http://127.0.0.1:9")
    code, out, _ = _check(tmp_path, capsys, cfg)
    assert code == 0 and out["rate_limit"]["schedule"] == "rate(15 minutes)"
    assert out["rate_limit"]["runs_per_15_minutes"] == 1
    (tmp_path / "template.yaml").write_text(
        "Parameters:\n  ScheduleExpression:\n    Type: String\n    Default: rate(2 minutes)\n"
    )
    code, out, _ = _check(tmp_path, capsys, cfg)
    assert out["rate_limit"]["schedule"] == "rate(2 minutes)"
    assert out["rate_limit"]["runs_per_15_minutes"] == 8


def test_check_warns_above_80_percent(tmp_path, capsys, bearer):
    cfg = multi_config(tmp_path, "http://127.0.0.1:9", 25)
    code, out, err = _check(tmp_path, capsys, cfg, "--schedule", "cron(*/1 * * * ? *)")
    assert code == 0
    assert out["rate_limit"]["requests_per_15_minutes"] == 375 and out["rate_limit"]["share"] > 0.8
    assert "83%" in out["rate_limit"]["warning"]
    assert err.startswith("mention-monitor: warning: quiet runs alone use 83% of X's 450")
    code, out, err = _check(tmp_path, capsys, cfg, "--schedule", "rate(2 minutes)")
    assert "warning" not in out["rate_limit"] and err == ""  # 25 x 8 = 200: 44%


@pytest.mark.parametrize("bad", ["every 5 minutes", "rate(0 minutes)", "cron(61 * * * ? *)"])
def test_check_refuses_a_schedule_it_cannot_read(tmp_path, capsys, bearer, bad):
    cfg = basic_config(tmp_path, "http://127.0.0.1:9")
    code, out, err = _check(tmp_path, capsys, cfg, "--schedule", bad)
    assert code == 2 and out is None
    assert err.count("\n") == 1 and "--schedule" in err
