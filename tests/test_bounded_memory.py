"""Bounded memory: each page is stored as it arrives (the cursor still moves only when the
query completes) and the outbox is read in chunks, so a burst's size does not set the peak."""

from __future__ import annotations

import gc
import tracemalloc

from mention_monitor.config import load_settings
from mention_monitor.notifiers import Notifier
from mention_monitor.state import StateStore, base, make_store
from tests.conftest import FakeClock, basic_config, run_monitor
from tests.fakes.xapi import FakeX, make_posts, server_error
from tests.scale import (
    backend,
    delivered_by_watch,
    multi_config,
    open_store,
    run_cfg,
    term,
)

__all__ = ["backend"]


def test_each_page_is_stored_as_it_arrives_and_the_cursor_waits_for_the_query(
    tmp_path, fake_x, clock, bearer, backend, monkeypatch
):
    fake_x.add_posts(make_posts(5, first_id=100, text=term(0)))
    cfg = multi_config(tmp_path, fake_x.url, 1, backend=backend, page_size=10)
    settings = load_settings(cfg)
    run_cfg(settings, clock)
    stored: list[int] = []
    real = StateStore.store_mentions

    def counting(self, watch, mentions, expires_at):
        stored.append(len(mentions))
        return real(self, watch, mentions, expires_at)

    monkeypatch.setattr(StateStore, "store_mentions", counting)
    fake_x.add_posts(make_posts(45, first_id=1_000, text=term(0)))
    ok = lambda r: fake_x.default(r)  # noqa: E731
    fake_x.then(ok, ok, ok, *[server_error()] * 3)  # page 4 fails for good
    s = run_cfg(settings, clock)
    assert s["ok"] is False and s["watches"]["W000"]["found"] == 30
    assert stored == [10, 10, 10]  # one write per page, as it arrived
    store = open_store(settings)
    try:
        state = store.load("W000")
        (query,) = state.queries.values()
        assert query.cursor == 104 and state.mark == 104  # the query did not complete
        assert (query.pending_until, query.pending_top) == (1_015, 1_044)
        assert store.show(0)[0]["outbox"] == 35
    finally:
        store.close()
    s = run_cfg(settings, clock)
    assert s["ok"] and s["watches"]["W000"]["found"] == 15 and stored[3:] == [10, 5]
    got = delivered_by_watch(tmp_path / "out")["W000"]
    assert sorted(got) == list(range(100, 105)) + list(range(1_000, 1_045))


def test_delivery_reads_the_outbox_in_chunks_once_for_every_notifier(
    tmp_path, fake_x, clock, bearer, backend, monkeypatch, register_notifier
):
    class Top(Notifier):
        type_name = "top-chunks"
        got: list[tuple[int, int]] = []

        def _deliver(self, digest):
            Top.got.append((digest.count, len(digest.mentions)))
            return self.accepted(digest.mentions)

    register_notifier("top-chunks", Top)
    fake_x.add_posts(make_posts(5, first_id=100, text=term(0)))
    cfg = multi_config(
        tmp_path,
        fake_x.url,
        1,
        backend=backend,
        notify='["a", "b"]',
        notifiers="""
            [notifiers.a]
            type = "top-chunks"
            [notifiers.b]
            type = "top-chunks"
            max_mentions = 7
        """,
    )
    run_cfg(cfg, clock)
    pages: list[int] = []
    store_type = type(open_store(load_settings(cfg)))
    real = store_type._outbox_rows

    def page(self, watch, above, upto, now, limit):
        got, after = real(self, watch, above, upto, now, limit)
        pages.append(len(got))
        return got, after

    monkeypatch.setattr(store_type, "_outbox_rows", page)
    monkeypatch.setattr(base, "OUTBOX_CHUNK", 50)
    fake_x.add_posts(make_posts(234, first_id=10_000, text=term(0)))
    s = run_cfg(cfg, clock)
    assert s["watches"]["W000"]["delivered"] == {"a": 234, "b": 234}
    assert pages == [50, 50, 50, 50, 34]  # one pass for both notifiers, 50 rows at a time
    assert Top.got[-2:] == [(234, 100), (234, 7)]


def _peak_of_a_burst(tmp_path, n: int) -> int:
    """Peak Python memory (tracemalloc) of one run over a burst of ``n`` new mentions."""
    tmp_path.mkdir()
    clock = FakeClock()
    x = FakeX(clock=clock, record=False).start()  # the fake keeps nothing that grows
    try:
        cfg = basic_config(
            tmp_path, x.url, first_run="latest",
            notifiers='[notifiers.out]\ntype = "console"\nstream = "stderr"\n',
        )
        settings = load_settings(cfg)
        store = open_store(settings)
        x.add_posts(make_posts(5, first_id=10))
        run_monitor(settings, store, clock)
        x.add_posts(make_posts(n, first_id=1_000))
        x.archive.matching({"query": "acme -is:retweet", "since_id": "14"})  # the fake's index
        gc.collect()
        tracemalloc.start()
        try:
            s = run_monitor(settings, store, clock)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        store.close()
        assert s["watches"]["Acme"]["found"] == n
        return peak
    finally:
        x.stop()


def test_a_burst_ten_times_larger_does_not_raise_the_peak_by_half(
    tmp_path, bearer, capsys, monkeypatch
):
    small = _peak_of_a_burst(tmp_path / "small", 1_000)
    large = _peak_of_a_burst(tmp_path / "large", 10_000)
    capsys.readouterr()  # the console digests
    assert large < 1.5 * small, (small, large)


def test_dynamodb_reads_the_outbox_only_in_chunks(tmp_path, fake_x, clock, bearer, moto_aws):
    """Every query of an outbox partition during a run asks for one chunk (``Limit``): no
    read loads a whole backlog, expired rows included."""
    import boto3

    from tests.fakes.aws import moto_for_threads

    moto_for_threads()
    client = boto3.client("dynamodb", region_name="us-east-1")
    queries: list[dict] = []
    client.meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **_: queries.append(dict(params))
    )
    cfg = multi_config(tmp_path, fake_x.url, 1, backend="dynamodb", page_size=100)
    settings = load_settings(cfg)
    store = make_store("dynamodb", table=settings.state.table, client=client)
    store.init()
    fake_x.add_posts(make_posts(5, first_id=100, text=term(0)))
    run_monitor(settings, store, clock)
    fake_x.add_posts(make_posts(1_234, first_id=10_000, text=term(0)))
    queries.clear()
    s = run_monitor(settings, store, clock)
    assert s["watches"]["W000"]["delivered"] == {"out": 1_234}
    outbox = [q for q in queries if q["ExpressionAttributeValues"][":pk"]["S"].startswith("O#")]
    assert len(outbox) == 3 and all(q["Limit"] == base.OUTBOX_CHUNK for q in outbox)
