"""The spending guard: spend per UTC day and month in state; searching stops before the next
page could pass a budget, one alert per period, exit 0, and the next day resumes without a gap."""

from __future__ import annotations

import json
import threading
import time

from mention_monitor.cli import main
from mention_monitor.config import load_settings
from mention_monitor.spend import spend_report
from tests.conftest import summary_line
from tests.fakes.xapi import make_posts
from tests.invariants import assert_exactly_once, assert_read_once
from tests.scale import (  # noqa: F401 - backend is a fixture
    backend,
    delivered_by_watch,
    multi_config,
    open_store,
    run_cfg,
    term,
)

__all__ = ["backend"]

# 10 posts a page at $0.005, no authors read: a full page costs $0.05.
GUARD = 'authors = "none"\ndaily_budget_usd = 0.2\nbudget_notify = ["alerts"]'


def _config(tmp_path, x_url, backend, x=GUARD, watches=1):
    return multi_config(
        tmp_path,
        x_url,
        watches,
        backend=backend,
        page_size=10,
        first_run="latest",
        x=x,
        notifiers=f"""
            [notifiers.out]
            type = "file"
            directory = "{tmp_path / 'out'}"
            [notifiers.alerts]
            type = "file"
            directory = "{tmp_path / 'alerts'}"
        """,
    )


def _alerts(tmp_path) -> list[str]:
    """The alerts the file notifier wrote: a digest with only a headline each."""
    found = sorted((tmp_path / "alerts").glob("budget-*.json"))
    return [json.loads(p.read_text())["subject"] for p in found]


def test_the_guard_stops_at_the_limit_alerts_once_and_resumes_next_day_without_a_gap(
    tmp_path, fake_x, clock, bearer, backend
):
    clock.t = 1_764_028_800.0 + 3_600  # 2025-11-25 01:00 UTC
    cfg = _config(tmp_path, fake_x.url, backend)
    settings = load_settings(cfg)
    fake_x.add_posts(make_posts(3, first_id=100, text=term(0)))
    run_cfg(settings, clock)  # the first run ("latest") only sets the cursor: $0.015
    burst = make_posts(45, first_id=1_000, text=term(0))
    fake_x.add_posts(burst)

    clock.advance(900)
    s = run_cfg(settings, clock)
    w = s["watches"]["W000"]
    assert s["ok"] is True and s["budget"] == "daily limit reached"
    assert w["deferred"] == "budget" and w["failed"] == {}
    # $0.015 + three pages ($0.15) = $0.165; a fourth full page could pass $0.20
    assert (w["api_requests"], w["posts_read"], w["found"]) == (3, 30, 30)
    assert w["delivered"] == {"out": 0}  # the query did not complete: nothing moves
    assert _alerts(tmp_path) == [
        "X spending daily limit reached: $0.165 of $0.20 this UTC day (2025-11-25); "
        "searching resumes next day, no mention lost"
    ]

    clock.advance(900)  # the same day: no search, no second alert
    requests = len(fake_x.searches)
    s = run_cfg(settings, clock)
    assert s["budget"] == "daily limit reached" and s["ok"] is True
    assert len(fake_x.searches) == requests and len(_alerts(tmp_path)) == 1
    assert s["watches"]["W000"]["deferred"] == "budget"

    store = open_store(settings)
    try:
        report = spend_report(store, settings.x, clock.now())
    finally:
        store.close()
    assert report == {
        "day": "2025-11-25",
        "day_usd": 0.165,
        "month": "2025-11",
        "month_usd": 0.165,
        "daily_budget_usd": 0.2,
    }

    clock.t = 1_764_115_200.0 + 60  # 2025-11-26 00:01 UTC: a new day, a new budget
    s = run_cfg(settings, clock)
    w = s["watches"]["W000"]
    assert "budget" not in s and "deferred" not in w and s["ok"] is True
    assert w["found"] == 15
    got = delivered_by_watch(tmp_path / "out")["W000"]
    assert_exactly_once(got, {int(p["id"]) for p in burst}, "out")
    assert_read_once(fake_x.served_ids)
    assert len(_alerts(tmp_path)) == 1


def test_the_monthly_budget_and_user_reads_count(tmp_path, fake_x, clock, bearer):
    cfg = _config(
        tmp_path,
        fake_x.url,
        "sqlite",
        x='monthly_budget_usd = 0.2\nbudget_notify = ["alerts"]',
    )
    fake_x.add_posts(make_posts(3, first_id=100, text=term(0)))
    run_cfg(cfg, clock)  # the first run reads 3 posts for its cursor: $0.015
    fake_x.add_posts(make_posts(40, first_id=1_000, text=term(0)))
    s = run_cfg(cfg, clock)
    # a full page with authors could cost $0.15: one more page fits in $0.20, then stop
    assert s["budget"] == "monthly limit reached"
    assert s["watches"]["W000"]["api_requests"] == 1
    assert _alerts(tmp_path)[0].startswith("X spending monthly limit reached: $0.115 of $0.20")


def test_state_show_shows_the_spend(tmp_path, fake_x, clock, bearer, capsys, monkeypatch):
    cfg = _config(tmp_path, fake_x.url, "sqlite")
    fake_x.add_posts(make_posts(3, first_id=100, text=term(0)))
    run_cfg(cfg, clock)
    monkeypatch.setattr(time, "time", clock.now)
    assert main(["state", "show", "--config", str(cfg)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["spend"]["day_usd"] == 0.015 and out["spend"]["daily_budget_usd"] == 0.2
    assert [w["watch"] for w in out["watches"]] == ["W000"]


def test_a_dry_run_writes_no_spend(tmp_path, fake_x, clock, bearer):
    cfg = _config(tmp_path, fake_x.url, "sqlite")
    fake_x.add_posts(make_posts(3, first_id=100, text=term(0)))
    run_cfg(cfg, clock, dry_run=True)
    settings = load_settings(cfg)
    store = open_store(settings)
    try:
        assert spend_report(store, settings.x, clock.now())["day_usd"] == 0
    finally:
        store.close()


def test_spend_adds_up_across_workers_and_runs(tmp_path, backend):
    cfg = _config(tmp_path, "http://127.0.0.1:9", backend)
    settings = load_settings(cfg)
    stores = [open_store(settings) for _ in range(2)]

    def add(store):
        for _ in range(25):
            store.add_spend(["D#2025-11-25", "M#2025-11"], 5_000)

    threads = [threading.Thread(target=add, args=(stores[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stores[0].spend(["D#2025-11-25", "M#2025-11"]) == {
        "D#2025-11-25": 1_000_000,
        "M#2025-11": 1_000_000,
    }
    for s in stores:
        s.close()


def test_the_alert_goes_out_once_even_from_overlapping_runs(tmp_path, backend):
    settings = load_settings(_config(tmp_path, "http://127.0.0.1:9", backend))
    stores = [open_store(settings) for _ in range(4)]
    won = [s.claim_alert("D#2025-11-25") for s in stores]
    assert won == [True, False, False, False]
    assert stores[0].claim_alert("D#2025-11-26")
    for s in stores:
        s.close()


def test_the_cli_run_exits_0_when_the_budget_stops_searching(
    tmp_path, fake_x, bearer, backend, capsys
):
    """Through ``mention-monitor run`` itself: the guard's stop is not a failure (exit 0), the
    summary line says so, and the mentions it did not read are read the next day."""
    cfg = _config(tmp_path, fake_x.url, backend)
    if backend == "dynamodb":
        open_store(load_settings(cfg)).close()  # `state init`: the table the CLI expects
    fake_x.add_posts(make_posts(3, first_id=100, text=term(0)))
    assert main(["run", "--config", str(cfg)]) == 0  # "latest": the cursor only
    fake_x.add_posts(make_posts(45, first_id=1_000, text=term(0)))
    capsys.readouterr()
    assert main(["run", "--config", str(cfg)]) == 0
    summary = summary_line(capsys.readouterr().out)
    assert summary["ok"] is True and summary["budget"] == "daily limit reached"
    assert summary["watches"]["W000"]["deferred"] == "budget"
    assert summary["watches"]["W000"]["found"] < 45
    assert len(_alerts(tmp_path)) == 1
