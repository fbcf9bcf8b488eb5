"""A quiet run rewrites no unchanged cursor (one DynamoDB write and round trip less per query)."""

from __future__ import annotations

from mention_monitor.config import load_settings
from mention_monitor.state.sqlite import SqliteStore
from tests.conftest import basic_config, run_monitor
from tests.fakes.xapi import FakeX, make_posts


class CountingStore(SqliteStore):
    saves = 0

    def save_query(self, watch, key, state):
        CountingStore.saves += 1
        return super().save_query(watch, key, state)


def test_quiet_run_saves_no_query_cursor(tmp_path, fake_x: FakeX, clock, bearer):
    fake_x.add_posts(make_posts(30, first_id=5_000))
    settings = load_settings(basic_config(tmp_path, fake_x.url))

    def run():
        store = CountingStore(settings.state.path)
        try:
            return run_monitor(settings, store, clock)["watches"]["Acme"]
        finally:
            store.close()

    assert run()["found"] == 30
    assert CountingStore.saves == 1
    quiet = run()
    assert (quiet["found"], quiet["api_requests"]) == (0, 1)
    assert CountingStore.saves == 1  # nothing changed, nothing written
    fake_x.add_posts(make_posts(3, first_id=6_000))
    assert run()["found"] == 3
    assert CountingStore.saves == 2
    assert fake_x.searches[-1].query["since_id"] == "5029"
