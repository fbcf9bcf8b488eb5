"""The fault suite with four workers on both backends: every invariant holds per watch while
other watches search, store and deliver at the same time."""

from __future__ import annotations

import threading
import time

import pytest

from mention_monitor.config import load_settings
from mention_monitor.notifiers import Notifier
from mention_monitor.state import StateStore
from tests.fakes.http import Reply
from tests.fakes.xapi import make_posts, server_error
from tests.invariants import Ledger, assert_exactly_once, assert_read_once
from tests.scale import (  # noqa: F401 - backend is a fixture
    backend,
    delivered_by_watch,
    multi_config,
    name,
    open_store,
    run_cfg,
    run_together,
    term,
)

__all__ = ["backend"]


def ok(fake_x):
    return lambda req: fake_x.default(req)


def ids_of(posts) -> set[int]:
    return {int(p["id"]) for p in posts}


X_FAULTS = [
    Reply(200, {}, delay=1.5),  # a timeout (timeout_seconds = 0.5)
    Reply(200, "{not json"),
    Reply(drop=True),
    server_error(502),
]


def test_transient_x_faults_on_four_watches_at_once(tmp_path, fake_x, clock, bearer, backend):
    expected = {}
    for i, fault in enumerate(X_FAULTS):
        posts = make_posts(30, first_id=1_000 * (i + 1), text=f"x {term(i)}")
        fake_x.add_posts(posts)
        expected[name(i)] = ids_of(posts)
        fake_x.then_for(term(i), ok(fake_x), fault)  # each watch's page 2 fails once
    cfg = multi_config(
        tmp_path, fake_x.url, 4, backend=backend, page_size=10, x="timeout_seconds = 0.5"
    )
    s = run_cfg(cfg, clock)
    assert s["ok"], s
    got = delivered_by_watch(tmp_path / "out")
    for i in range(4):
        w = s["watches"][name(i)]
        assert (w["found"], w["api_requests"]) == (30, 4)  # 3 pages + 1 retry
        assert_exactly_once(got[name(i)], expected[name(i)], name(i))
    assert_read_once(fake_x.served_ids)


def _check_forward(settings, ledgers: dict[str, Ledger]) -> None:
    """Every watch's cursors, read from a fresh store, only ever moved forward."""
    store = open_store(settings)
    try:
        for n, ledger in ledgers.items():
            ledger.check_cursors_forward(store, n)
    finally:
        store.close()


def test_pagination_failures_in_parallel_recover_reading_each_post_once(
    tmp_path, fake_x, clock, bearer, backend
):
    cfg = multi_config(tmp_path, fake_x.url, 6, backend=backend, page_size=10)
    settings = load_settings(cfg)
    ledgers = {name(i): Ledger() for i in range(6)}
    expected: dict[str, set[int]] = {name(i): set() for i in range(6)}

    for i in range(6):
        posts = make_posts(5, first_id=100_000 * (i + 1), text=f"a {term(i)}")
        fake_x.add_posts(posts)
        expected[name(i)] |= ids_of(posts)
    run_cfg(settings, clock)
    for i in range(6):
        posts = make_posts(57, first_id=100_000 * (i + 1) + 1_000, text=f"b {term(i)}")
        fake_x.add_posts(posts)
        expected[name(i)] |= ids_of(posts)
    # run 2: the even watches fail on page 3; run 3: they fail again in the gap
    for i in range(0, 6, 2):
        fake_x.then_for(term(i), ok(fake_x), ok(fake_x), *[server_error()] * 3)
    s = run_cfg(settings, clock)
    assert sorted(n for n, w in s["watches"].items() if w["failed"]) == ["W000", "W002", "W004"]
    _check_forward(settings, ledgers)
    for i in range(0, 6, 2):
        fake_x.then_for(term(i), ok(fake_x), *[server_error()] * 3)
    run_cfg(settings, clock)
    _check_forward(settings, ledgers)
    s = run_cfg(settings, clock)
    assert s["ok"], s
    _check_forward(settings, ledgers)
    got = delivered_by_watch(tmp_path / "out")
    for n, ids in expected.items():
        assert_exactly_once(got[n], ids, n)
    assert_read_once(fake_x.served_ids)


class _Killed(BaseException):
    """Stands for SIGKILL between a delivery and its cursor write."""


def test_kill_between_delivery_and_cursor_write_repeats_one_digest_only(
    tmp_path, fake_x, clock, bearer, backend, monkeypatch
):
    expected = {}
    for i in range(8):
        posts = make_posts(20, first_id=1_000 * (i + 1), text=f"k {term(i)}")
        fake_x.add_posts(posts)
        expected[name(i)] = ids_of(posts)
    cfg = multi_config(tmp_path, fake_x.url, 8, backend=backend)
    real = StateStore.advance_delivery

    def die_once(self, watch, notifier, cursor):
        if watch == "W002":
            monkeypatch.setattr(StateStore, "advance_delivery", real)
            raise _Killed()
        return real(self, watch, notifier, cursor)

    monkeypatch.setattr(StateStore, "advance_delivery", die_once)
    with pytest.raises(_Killed):
        run_cfg(cfg, clock)
    clock.advance(1000)  # the killed run's leases expire
    s = run_cfg(cfg, clock)
    assert s["ok"], s
    got = delivered_by_watch(tmp_path / "out")
    assert sorted(got["W002"]) == sorted(list(expected["W002"]) * 2)  # that one digest, twice
    for n, ids in expected.items():
        if n != "W002":
            assert_exactly_once(got[n], ids, n)
    s = run_cfg(cfg, clock)
    assert all(w["delivered"] == {"out": 0} for w in s["watches"].values())


def test_one_notifier_down_three_runs_while_watches_run_in_parallel(
    tmp_path, fake_x, clock, bearer, backend, register_notifier
):
    runs = {"n": 0}
    got: dict[str, list[int]] = {}
    lock = threading.Lock()

    class Down(Notifier):
        type_name = "down3-pool"

        def _deliver(self, digest):
            if runs["n"] < 3:
                raise RuntimeError("503 from the provider")
            with lock:
                got.setdefault(digest.watch, []).extend(m.id for m in digest.mentions)
            return self.accepted(digest.mentions)

    register_notifier("down3-pool", Down)
    cfg = multi_config(
        tmp_path,
        fake_x.url,
        6,
        backend=backend,
        notify='["out", "down"]',
        notifiers=f"""
            [notifiers.out]
            type = "file"
            directory = "{tmp_path / 'out'}"
            [notifiers.down]
            type = "down3-pool"
            max_mentions = 1000
        """,
    )
    settings = load_settings(cfg)
    expected: dict[str, set[int]] = {name(i): set() for i in range(6)}
    ledgers = {name(i): Ledger() for i in range(6)}
    for r in range(5):
        for i in range(6):
            posts = make_posts(11 + 3 * i, first_id=10**6 * (i + 1) + 1_000 * r, text=term(i))
            fake_x.add_posts(posts)
            expected[name(i)] |= ids_of(posts)
        run_cfg(settings, clock)
        runs["n"] += 1
        _check_forward(settings, ledgers)
        out = delivered_by_watch(tmp_path / "out")
        for n, ids in expected.items():
            assert_exactly_once(out[n], ids, f"out/{n}")
    for n, ids in expected.items():
        assert_exactly_once(got[n], ids, f"down/{n}")
    assert_read_once(fake_x.served_ids)


def test_two_overlapping_runs_each_watch_once(tmp_path, fake_x, clock, bearer, backend):
    expected = {}
    for i in range(8):
        posts = make_posts(40, first_id=1_000 * (i + 1), text=f"o {term(i)}")
        fake_x.add_posts(posts)
        expected[name(i)] = ids_of(posts)
    fake_x.on_search = lambda req: time.sleep(0.05)  # slow X, so the two runs overlap
    cfg = multi_config(tmp_path, fake_x.url, 8, backend=backend, page_size=10)
    settings = load_settings(cfg)
    summaries = run_together(settings, clock, lambda: open_store(settings))
    assert len(summaries) == 2
    for n in expected:
        worked = [s["watches"][n] for s in summaries if "skipped" not in s["watches"][n]]
        assert sum(w["found"] for w in worked) == 40, (n, summaries)
    got = delivered_by_watch(tmp_path / "out")
    for n, ids in expected.items():
        assert_exactly_once(got[n], ids, n)
    assert_read_once(fake_x.served_pairs)
