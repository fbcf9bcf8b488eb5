"""Watches in a bounded pool: at most max_concurrent_watches at once, stalest first, left-out
watches deferred (and failed only past max_staleness_minutes), none starved."""

from __future__ import annotations

import threading
import time

import pytest

from mention_monitor.config import load_settings
from tests.fakes.xapi import make_posts
from tests.scale import backend, multi_config, name, run_cfg, term  # noqa: F401 - fixture

__all__ = ["backend"]


def _searched(fake_x, since: int = 0) -> list[str]:
    """Watch names in the order their searches reached X (from request ``since`` on)."""
    out = []
    for req in fake_x.searches[since:]:
        q = req.query["query"]
        out.append("W" + q[len("brand") : len("brand") + 3])
    return out


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_at_most_max_concurrent_watches_search_at_once(tmp_path, fake_x, clock, bearer, workers):
    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow(req):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.15)
        with lock:
            state["now"] -= 1

    fake_x.on_search = slow
    cfg = multi_config(tmp_path, fake_x.url, 8, top=f"max_concurrent_watches = {workers}")
    started = time.monotonic()
    s = run_cfg(cfg, clock)
    wall = time.monotonic() - started
    assert s["ok"] and len(fake_x.searches) == 8
    assert state["max"] == workers
    assert wall < 8 * 0.15 / workers + 0.6  # the pool overlaps X's latency


def test_left_out_watches_are_deferred_and_go_first_next_run(tmp_path, fake_x, clock, bearer):
    """One worker, each search costs 1 s of a 10 s budget: 9 watches a run, stalest first."""
    fake_x.on_search = lambda req: clock.advance(1)
    cfg = multi_config(
        tmp_path, fake_x.url, 20, top="time_budget_seconds = 10\nmax_concurrent_watches = 1"
    )
    names = [name(i) for i in range(20)]
    s = run_cfg(cfg, clock)
    assert s["ok"] is True
    assert _searched(fake_x) == names[:9]
    for n in names[9:]:
        assert s["watches"][n] == {**s["watches"][n], "deferred": "time budget", "failed": {}}
        assert s["watches"][n]["api_requests"] == 0
    assert all("deferred" not in s["watches"][n] for n in names[:9])

    clock.advance(900)
    seen = len(fake_x.searches)
    s = run_cfg(cfg, clock)
    assert s["ok"] is True
    assert _searched(fake_x, seen) == names[9:18]  # the ones left out go first

    clock.advance(900)
    seen = len(fake_x.searches)
    run_cfg(cfg, clock)
    assert _searched(fake_x, seen) == names[18:] + names[:7]  # then the stalest of the rest


def test_a_watch_left_out_past_max_staleness_fails_the_run_naming_it(
    tmp_path, fake_x, clock, bearer
):
    fake_x.on_search = lambda req: clock.advance(1)
    cfg = multi_config(
        tmp_path,
        fake_x.url,
        4,
        top="time_budget_seconds = 2\nmax_concurrent_watches = 1\nmax_staleness_minutes = 10",
    )
    s = run_cfg(cfg, clock)  # budget for two: W002 and W003 left out for the first time
    assert s["ok"] is True and s["watches"]["W003"]["deferred"] == "time budget"
    clock.advance(300)  # five minutes later W002 and W003 go first, W000 and W001 wait
    s = run_cfg(cfg, clock)
    assert s["ok"] is True and s["watches"]["W000"]["deferred"] == "time budget"
    assert _searched(fake_x)[-2:] == ["W002", "W003"]
    clock.advance(500)  # W001 was searched 13 minutes ago, W002 and W003 8 minutes ago
    fake_x.on_search = lambda req: clock.advance(3)  # now the budget covers only one watch
    s = run_cfg(cfg, clock)
    assert s["ok"] is False
    assert _searched(fake_x)[-1] == "W000"
    assert s["watches"]["W001"]["failed"] == {
        "stale": "watch 'W001' not searched completely for 13 minutes "
        "(max_staleness_minutes = 10)"
    }
    assert s["watches"]["W001"]["deferred"] == "time budget"
    for n in ("W002", "W003"):
        assert s["watches"][n]["deferred"] == "time budget" and s["watches"][n]["failed"] == {}


def test_starvation_50_watches_a_budget_for_10_every_watch_within_5_runs(
    tmp_path, fake_x, clock, bearer, backend
):
    """The issue's scenario: four workers, each search costs 1 s of a 10.5 s budget."""
    fake_x.on_search = lambda req: clock.advance(1)
    cfg = multi_config(tmp_path, fake_x.url, 50, backend=backend, top="time_budget_seconds = 10.5")
    settings = load_settings(cfg)
    searched: set[str] = set()
    for run in range(5):
        seen = len(fake_x.searches)
        s = run_cfg(settings, clock)
        assert s["ok"] is True, s
        now = set(_searched(fake_x, seen))
        assert 10 <= len(now) <= 13, (run, len(now))
        for n, w in s["watches"].items():
            assert (n in now) == ("deferred" not in w), (run, n, w)
            if n not in now:
                assert w["deferred"] == "time budget"
        searched |= now
        clock.advance(300)
    assert searched == {name(i) for i in range(50)}


def test_staleness_is_kept_in_state_for_the_next_process(tmp_path, fake_x, clock, bearer, backend):
    fake_x.on_search = lambda req: clock.advance(1)
    cfg = multi_config(
        tmp_path,
        fake_x.url,
        3,
        backend=backend,
        top="time_budget_seconds = 2\nmax_concurrent_watches = 1",
    )
    run_cfg(cfg, clock)
    from tests.scale import open_store

    store = open_store(load_settings(cfg))
    try:
        searched = store.searched()
        shown = {w["watch"]: w.get("last_searched") for w in store.show(int(clock.now()))}
    finally:
        store.close()
    assert searched["W000"].complete and searched["W001"].complete
    assert not searched["W002"].complete  # left out before it was ever searched
    assert set(searched) == {"W000", "W001", "W002"}
    assert shown["W000"] == searched["W000"].at


def test_new_mentions_of_many_watches_in_parallel_each_once(tmp_path, fake_x, clock, bearer, backend):
    for i in range(12):
        fake_x.add_posts(make_posts(25 + i, first_id=10_000 * (i + 1), text=f"new {term(i)}"))
    cfg = multi_config(tmp_path, fake_x.url, 12, backend=backend, page_size=10)
    s = run_cfg(cfg, clock)
    assert s["ok"], s
    from tests.scale import delivered_by_watch

    got = delivered_by_watch(tmp_path / "out")
    for i in range(12):
        w = s["watches"][name(i)]
        assert w["found"] == 25 + i and w["api_requests"] == (25 + i + 9) // 10
        assert sorted(got[name(i)]) == list(range(10_000 * (i + 1), 10_000 * (i + 1) + 25 + i))
    assert len(fake_x.served_ids) == len(set(fake_x.served_ids))


def test_the_pool_defaults_are_four_workers_and_sixty_minutes(tmp_path):
    """The issue's defaults: ``max_concurrent_watches = 4`` and ``max_staleness_minutes = 60``
    when the config says nothing; either can be set."""
    settings = load_settings(multi_config(tmp_path, "http://127.0.0.1:9", 1))
    assert (settings.max_concurrent_watches, settings.max_staleness_minutes) == (4, 60)
    (tmp_path / "b").mkdir()
    cfg = multi_config(
        tmp_path / "b", "http://127.0.0.1:9", 1,
        top="max_concurrent_watches = 16\nmax_staleness_minutes = 15",
    )
    settings = load_settings(cfg)
    assert (settings.max_concurrent_watches, settings.max_staleness_minutes) == (16, 15)
