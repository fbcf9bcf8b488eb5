"""End-to-end runs against the fake X API: pagination, cursors, outbox and backlogs."""

from __future__ import annotations

from pathlib import Path

from mention_monitor.config import load_settings
from mention_monitor.notifiers import Notifier, NotifierOptions
from mention_monitor.state import make_store
from tests.conftest import FakeClock, basic_config, delivered_ids, run_monitor
from tests.fakes.xapi import FakeX, make_posts, rate_limited, server_error


def run(cfg: Path, clock: FakeClock, **kw):
    settings = load_settings(cfg)
    store = make_store("sqlite", path=settings.state.path)
    try:
        return run_monitor(settings, store, clock, **kw)
    finally:
        store.close()


def test_250_mentions_three_requests_then_one(tmp_path, fake_x: FakeX, clock, bearer):
    fake_x.add_posts(make_posts(250, first_id=10_000))
    cfg = basic_config(tmp_path, fake_x.url)
    s = run(cfg, clock)
    w = s["watches"]["Acme"]
    assert s["ok"] is True
    assert (w["found"], w["api_requests"], w["posts_read"]) == (250, 3, 250)
    assert w["delivered"] == {"out": 250}
    assert sorted(delivered_ids(tmp_path / "out")) == list(range(10_000, 10_250))
    assert len(fake_x.searches) == 3
    assert all(r.query["max_results"] == "100" for r in fake_x.searches)
    assert fake_x.searches[0].headers["authorization"] == f"Bearer {bearer}"

    s2 = run(cfg, clock)
    w2 = s2["watches"]["Acme"]
    assert (w2["found"], w2["api_requests"], w2["delivered"]) == (0, 1, {"out": 0})
    assert fake_x.searches[-1].query["since_id"] == "10249"
    assert len(list((tmp_path / "out").glob("*.json"))) == 1  # nothing sent when nothing is new


def test_ids_crossing_a_digit_boundary_compare_as_integers(tmp_path, fake_x, clock, bearer):
    fake_x.add_posts(make_posts(3, first_id=998))  # 998, 999, 1000
    cfg = basic_config(tmp_path, fake_x.url)
    run(cfg, clock)
    fake_x.add_posts(make_posts(2, first_id=1001))
    s = run(cfg, clock)
    assert s["watches"]["Acme"]["found"] == 2
    assert fake_x.searches[-1].query["since_id"] == "1000"
    assert sorted(delivered_ids(tmp_path / "out")) == [998, 999, 1000, 1001, 1002]


def test_failing_notifier_gets_backlog_from_outbox_without_new_x_requests(
    tmp_path, fake_x, clock, bearer, register_notifier
):
    calls = {"n": 0}

    class Flaky(Notifier):
        type_name = "flaky"
        Options = NotifierOptions
        got: list[int] = []

        def _deliver(self, digest):
            calls["n"] += 1
            if calls["n"] <= 3:
                raise RuntimeError("down")
            Flaky.got.extend(m.id for m in digest.mentions)
            return self.accepted(digest.mentions)

    register_notifier("flaky", Flaky)
    cfg = basic_config(
        tmp_path,
        fake_x.url,
        notify='["out", "flaky"]',
        notifiers=f"""
            [notifiers.out]
            type = "file"
            directory = "{tmp_path / 'out'}"
            [notifiers.flaky]
            type = "flaky"
            max_mentions = 1000
        """,
    )
    fake_x.add_posts(make_posts(150, first_id=5_000))
    for i in range(5):
        if i in (1, 2):
            fake_x.add_posts(make_posts(20, first_id=6_000 + 100 * i))
        s = run(cfg, clock)
        w = s["watches"]["Acme"]
        if i < 3:
            assert s["ok"] is False and "flaky" in w["failed"]
        else:
            assert s["ok"] is True and w["failed"] == {}
    expected = list(range(5_000, 5_150)) + list(range(6_100, 6_120)) + list(range(6_200, 6_220))
    assert sorted(delivered_ids(tmp_path / "out")) == expected
    assert sorted(Flaky.got) == expected
    # X was asked for each post exactly once.
    assert sorted(fake_x.served_ids) == expected


def test_429_waits_for_reset_within_budget(tmp_path, fake_x, clock, bearer):
    fake_x.add_posts(make_posts(120, first_id=100))
    fake_x.then(rate_limited(clock.now() + 30))
    cfg = basic_config(tmp_path, fake_x.url)
    s = run(cfg, clock)
    w = s["watches"]["Acme"]
    assert s["ok"] and w["found"] == 120
    assert clock.sleeps and 30 <= clock.sleeps[0] <= 32
    assert w["api_requests"] == 3  # the 429, then two pages


def test_429_beyond_budget_stops_query_and_moves_nothing(tmp_path, fake_x, clock, bearer):
    fake_x.add_posts(make_posts(120, first_id=100))
    cfg = basic_config(tmp_path, fake_x.url)
    run(cfg, clock)
    fake_x.add_posts(make_posts(5, first_id=500))
    fake_x.then(rate_limited(clock.now() + 10_000))
    s = run(cfg, clock)
    assert s["ok"] is False
    assert "rate limited" in s["watches"]["Acme"]["failed"]["search"]
    assert clock.sleeps == []
    s = run(cfg, clock)
    assert s["ok"] and s["watches"]["Acme"]["found"] == 5
    assert fake_x.searches[-1].query["since_id"] == "219"


def test_5xx_then_success_is_retried(tmp_path, fake_x, clock, bearer):
    fake_x.add_posts(make_posts(10, first_id=100))
    fake_x.then(server_error(503), server_error(500))
    s = run(basic_config(tmp_path, fake_x.url), clock)
    assert s["ok"] and s["watches"]["Acme"]["found"] == 10
    assert s["watches"]["Acme"]["api_requests"] == 3


def test_query_failing_midway_moves_no_cursor_and_resumes_with_until_id(
    tmp_path, fake_x, clock, bearer
):
    fake_x.add_posts(make_posts(10, first_id=100))
    cfg = basic_config(tmp_path, fake_x.url, page_size=10)
    run(cfg, clock)
    fake_x.add_posts(make_posts(35, first_id=1_000))
    # first page fine, second page fails all retries (3 attempts)
    fake_x.then(lambda req: fake_x.default(req), server_error(), server_error(), server_error())
    s = run(cfg, clock)
    assert s["ok"] is False and "search" in s["watches"]["Acme"]["failed"]
    assert delivered_ids(tmp_path / "out") == list(range(100, 110))  # nothing new delivered
    s = run(cfg, clock)
    assert s["ok"] is True
    # the gap was read with until_id, then the top with since_id
    assert any("until_id" in r.query for r in fake_x.searches)
    assert sorted(delivered_ids(tmp_path / "out")) == list(range(100, 110)) + list(range(1_000, 1_035))
    assert sorted(fake_x.served_ids) == sorted(set(fake_x.served_ids))  # each post read once


def test_first_run_latest_sends_nothing_then_new_ones(tmp_path, fake_x, clock, bearer):
    fake_x.add_posts(make_posts(50, first_id=100))
    cfg = basic_config(tmp_path, fake_x.url, first_run="latest")
    s = run(cfg, clock)
    assert s["watches"]["Acme"]["found"] == 0 and s["watches"]["Acme"]["delivered"] == {"out": 0}
    assert fake_x.searches[0].query["max_results"] == "10"
    fake_x.add_posts(make_posts(3, first_id=1_000))
    s = run(cfg, clock)
    assert s["watches"]["Acme"]["found"] == 3
    assert delivered_ids(tmp_path / "out") == [1000, 1001, 1002]


def test_dry_run_moves_nothing(tmp_path, fake_x, clock, bearer):
    fake_x.add_posts(make_posts(5, first_id=100))
    cfg = basic_config(tmp_path, fake_x.url)
    s = run(cfg, clock, dry_run=True)
    assert s["watches"]["Acme"]["would_deliver"] == {"out": 5}
    assert delivered_ids(tmp_path / "out") == []
    s = run(cfg, clock)
    assert s["watches"]["Acme"]["found"] == 5


def test_dedupe_across_queries(tmp_path, fake_x, clock, bearer):
    posts = make_posts(5, first_id=100, text="acmecorporation and betacorporation together")
    posts += make_posts(3, first_id=200, text="only betacorporation here")
    fake_x.add_posts(posts)
    cfg = basic_config(
        tmp_path, fake_x.url,
        extra='',
        extra_watch='',
    )
    text = cfg.read_text().replace(
        'terms = ["acme"]', 'terms = ["acmecorporation", "betacorporation"]'
    )
    text = text.replace("backoff_seconds = 0", "backoff_seconds = 0\nmax_query_length = 40")
    cfg.write_text(text)
    s = run(cfg, clock)
    w = s["watches"]["Acme"]
    assert w["api_requests"] == 2  # two queries
    assert w["posts_read"] == 5 + 8 and w["found"] == 8
    assert sorted(delivered_ids(tmp_path / "out")) == [100, 101, 102, 103, 104, 200, 201, 202]


def test_cursor_older_than_seven_days_falls_back_to_window(tmp_path, fake_x, clock, bearer):
    from datetime import UTC, datetime, timedelta

    old = datetime.fromtimestamp(clock.now(), UTC) - timedelta(days=1)
    fake_x.add_posts(make_posts(5, first_id=100, created_at=old.strftime("%Y-%m-%dT%H:%M:%S.000Z")))
    cfg = basic_config(tmp_path, fake_x.url)
    run(cfg, clock)
    clock.advance(8 * 86400)  # the monitor was off for eight days
    recent = datetime.fromtimestamp(clock.now(), UTC) - timedelta(hours=1)
    fake_x.add_posts(make_posts(4, first_id=900, created_at=recent.strftime("%Y-%m-%dT%H:%M:%S.000Z")))
    s = run(cfg, clock)
    w = s["watches"]["Acme"]
    assert s["ok"] and w["found"] == 4
    assert any("mentions may be missing" in x for x in w["warnings"])
    last = fake_x.searches[-1].query
    assert "since_id" not in last and "start_time" in last


def test_x_400_for_old_since_id_falls_back(tmp_path, fake_x, clock, bearer):
    from tests.fakes.xapi import since_id_too_old

    fake_x.add_posts(make_posts(5, first_id=100))
    cfg = basic_config(tmp_path, fake_x.url)
    run(cfg, clock)
    fake_x.add_posts(make_posts(2, first_id=300))
    fake_x.then(since_id_too_old("104"))
    s = run(cfg, clock)
    w = s["watches"]["Acme"]
    assert s["ok"] and w["found"] == 2
    assert any("7-day window" in x for x in w["warnings"])


def test_oauth1_signs_requests(tmp_path, fake_x, clock, monkeypatch):
    for k in ("X_CONSUMER_KEY", "X_CONSUMER_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET"):
        monkeypatch.setenv(f"MENTION_MONITOR_SECRET_{k}", f"value-of-{k.lower()}")
    fake_x.add_posts(make_posts(3, first_id=100))
    cfg = basic_config(tmp_path, fake_x.url)
    cfg.write_text(cfg.read_text().replace("[x]\n", '[x]\nauth = "oauth1"\n'))
    s = run(cfg, clock)
    assert s["ok"]
    auth = fake_x.searches[0].headers["authorization"]
    assert auth.startswith("OAuth ") and 'oauth_consumer_key="value-of-x_consumer_key"' in auth
    assert "oauth_signature=" in auth and "value-of-x_consumer_secret" not in auth


def test_overlapping_run_skips_watch_held_by_lease(tmp_path, fake_x, clock, bearer):
    from mention_monitor.state import make_store as ms

    fake_x.add_posts(make_posts(3, first_id=100))
    cfg = basic_config(tmp_path, fake_x.url)
    settings = load_settings(cfg)
    other = ms("sqlite", path=settings.state.path)
    assert other.acquire_lease("Acme", "someone-else", int(clock.now()), 900)
    s = run(cfg, clock)
    assert s["ok"] is True
    assert s["watches"]["Acme"]["skipped"]
    assert fake_x.searches == []
    clock.advance(901)  # the other run died: its lease expires
    s = run(cfg, clock)
    assert s["watches"]["Acme"]["found"] == 3
    other.close()


def test_routing_rules_filter_per_notifier(tmp_path, fake_x, clock, bearer):
    fake_x.add_posts(make_posts(10, first_id=100, users=5))  # followers 100..500
    fake_x.add_posts(make_posts(1, first_id=200, text="acme OUTAGE again", users=1))
    cfg = basic_config(
        tmp_path, fake_x.url, notify='["out", "out2"]',
        notifiers=f"""
            [notifiers.out]
            type = "file"
            directory = "{tmp_path / 'out'}"
            [notifiers.out2]
            type = "file"
            directory = "{tmp_path / 'out2'}"
            min_author_followers = 500
            keywords_any = ["outage"]
        """,
    )
    s = run(cfg, clock)
    assert s["watches"]["Acme"]["delivered"] == {"out": 11, "out2": 3}
    assert sorted(delivered_ids(tmp_path / "out2")) == [104, 109, 200]
    s = run(cfg, clock)  # filtered mentions are handled, not retried
    assert s["watches"]["Acme"]["delivered"] == {"out": 0, "out2": 0}


def test_failed_query_holds_back_only_what_it_could_have_missed(tmp_path, fake_x, clock, bearer):
    """Query B fails: A's newer mentions wait (B may still have older unread ones), then all
    arrive exactly once when B recovers."""
    fake_x.add_posts(make_posts(3, first_id=100, text="acmecorporation"))
    fake_x.add_posts(make_posts(3, first_id=200, text="betacorporation"))
    cfg = basic_config(tmp_path, fake_x.url)
    text = cfg.read_text().replace(
        'terms = ["acme"]', 'terms = ["acmecorporation", "betacorporation"]'
    ).replace("backoff_seconds = 0", "backoff_seconds = 0\nmax_query_length = 40")
    cfg.write_text(text)
    run(cfg, clock)
    assert sorted(delivered_ids(tmp_path / "out")) == [100, 101, 102, 200, 201, 202]
    fake_x.add_posts(make_posts(2, first_id=300, text="betacorporation"))
    fake_x.add_posts(make_posts(2, first_id=400, text="acmecorporation"))
    # first query (acme...) answers; the second fails every attempt
    fake_x.then(lambda req: fake_x.default(req), server_error(), server_error(), server_error())
    s = run(cfg, clock)
    assert s["ok"] is False and "search" in s["watches"]["Acme"]["failed"]
    assert s["watches"]["Acme"]["found"] == 2  # A's two, stored once
    assert s["watches"]["Acme"]["delivered"] == {"out": 0}  # held: B's cursor is 202
    s = run(cfg, clock)
    assert s["ok"] and s["watches"]["Acme"]["delivered"] == {"out": 4}
    ids = delivered_ids(tmp_path / "out")
    assert sorted(ids) == [100, 101, 102, 200, 201, 202, 300, 301, 400, 401]
    assert len(ids) == len(set(ids))
