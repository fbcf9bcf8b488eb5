"""Spike alerts: hourly counts, the median baseline, the threshold, the cooldown, and an alert
that reaches even a daily-scheduled notifier without moving its digest cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest

from mention_monitor.config import SpikeSettings, load_settings
from mention_monitor.models import Digest, Mention
from mention_monitor.notifiers import DeliveryResult, Notifier, NotifierOptions
from mention_monitor.spikes import SpikeStats, check, headline
from mention_monitor.state import make_store
from tests.conftest import basic_config, run_monitor
from tests.fakes.xapi import make_posts

START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
NEGATIVE = "acme is down again, terrible service, worst outage ever"


class Rec(Notifier[NotifierOptions]):
    type_name = "rec"
    sent: ClassVar[dict[str, list[tuple[int, Digest]]]] = {}

    def _deliver(self, digest: Digest) -> DeliveryResult:
        Rec.sent.setdefault(self.name, []).append((int(self.services.clock.now()), digest))
        return self.accepted(digest.mentions)


class Sim:
    """One watch with spike alerts; each ``hour(n)`` adds n posts created in the hour, then
    runs at the end of that hour (on the hour, so windows are whole buckets)."""

    def __init__(self, tmp_path, fake_x, clock, *, sentiment=True, spike="") -> None:
        cfg = basic_config(
            tmp_path, fake_x.url, notify='["daily", "now"]', first_run="latest",
            extra="[sentiment]\nenabled = true\n" if sentiment else "",
            extra_watch=f'[watches.spike]\nnotify = ["pager", "daily"]\n{spike}',
            notifiers="""
                [notifiers.pager]
                type = "rec"
                [notifiers.daily]
                type = "rec"
                schedule = "daily 09:00"
                [notifiers.now]
                type = "rec"
            """,
        )
        self.settings = load_settings(cfg)
        self.store = make_store("sqlite", path=":memory:")
        self.fake_x, self.clock = fake_x, clock
        self.next_id = 10_000
        self.posts: dict[int, list[dict]] = {}
        clock.t = START.timestamp()
        run_monitor(self.settings, self.store, clock)  # first run: history starts here

    def hour(self, n: int, *, negative: int = 0) -> dict:
        start = datetime.fromtimestamp(self.clock.now(), UTC)
        created = (start + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
        posts = make_posts(n - negative, first_id=self.next_id, created_at=created)
        posts += make_posts(negative, first_id=self.next_id + n, created_at=created, text=NEGATIVE)
        for i, p in enumerate(posts[-negative:] if negative else []):
            p["public_metrics"]["like_count"] = 1000 + i  # the most engaged ones
        self.next_id += 2 * n + 10
        if posts:
            self.fake_x.add_posts(posts)
        self.posts[int(self.clock.now())] = posts
        self.clock.t += 3600
        return run_monitor(self.settings, self.store, self.clock)["watches"]["Acme"]


@pytest.fixture
def rec(register_notifier):
    Rec.sent = {}
    register_notifier("rec", Rec)
    return Rec


def test_no_alert_without_a_day_of_history(tmp_path, fake_x, clock, bearer, rec):
    sim = Sim(tmp_path, fake_x, clock)
    assert sim.hour(500).get("spike") is None  # a burst in the first hour
    for _ in range(21):
        assert "spike" not in sim.hour(10)
    assert "spike" not in sim.hour(300)  # 23 hours of history: still no baseline
    assert "pager" not in rec.sent
    assert sim.hour(300)["spike"]["usual"] == 10  # a day of history: now there is one
    sim.store.close()


def test_flat_baseline_then_burst_alerts_once_through_the_cooldown_then_again(
    tmp_path, fake_x, clock, bearer, rec
):
    sim = Sim(tmp_path, fake_x, clock)
    for _ in range(48):  # two flat days
        assert "spike" not in sim.hour(10)
    cursor = sim.store.load("Acme").deliveries["daily"]
    daily_digests = [d for _, d in rec.sent.get("daily", []) if d.kind == "digest"]

    burst = sim.hour(240, negative=60)
    assert burst["spike"] == {"count": 240, "usual": 10, "alerted": ["pager", "daily"]}
    assert burst["delivered"]["now"] == 240
    (t, alert), = rec.sent["pager"]
    assert alert.kind == "spike"
    assert alert.headline == "Spike: 240 mentions of Acme in the last hour (usual: 10)"
    assert alert.spike is not None and alert.spike.negative_share == 25
    # the three most-engaged posts of the window, most engaged first
    window_posts = sim.posts[t - 3600]

    def engagement(p: dict) -> int:
        return sum(p["public_metrics"][k] for k in ("like_count", "repost_count", "reply_count",
                                                    "quote_count"))

    top = sorted(window_posts, key=lambda p: (-engagement(p), int(p["id"])))[:3]
    assert [m.id for m in alert.mentions] == [int(p["id"]) for p in top]
    assert [(m.sentiment, m.like_count >= 1050) for m in alert.mentions] == [("negative", True)] * 3
    # the daily notifier got the alert, but no digest, and its cursor did not move
    assert [d.kind for _, d in rec.sent["daily"]][len(daily_digests):] == ["spike"]
    assert sim.store.load("Acme").deliveries["daily"] == cursor

    for _ in range(2):  # the burst goes on: silence through the 180-minute cooldown
        still = sim.hour(240)
        assert still["spike"]["alerted"] == [] and still["spike"]["count"] == 240
    for _ in range(3):
        assert "spike" not in sim.hour(10)
    again = sim.hour(300)  # a second burst after the cooldown alerts again
    assert again["spike"]["alerted"] == ["pager", "daily"]
    assert [h.headline for _, h in rec.sent["pager"]] == [
        "Spike: 240 mentions of Acme in the last hour (usual: 10)",
        "Spike: 300 mentions of Acme in the last hour (usual: 10)",
    ]
    sim.store.close()


def test_below_min_mentions_is_no_spike_and_factor_applies(tmp_path, fake_x, clock, bearer, rec):
    sim = Sim(tmp_path, fake_x, clock, sentiment=False, spike="min_mentions = 20\nfactor = 3.0")
    for _ in range(30):
        sim.hour(2)
    assert "spike" not in sim.hour(19)  # 19 >= 3 x 2 but below min_mentions
    out = sim.hour(20)
    assert out["spike"] == {"count": 20, "usual": 2, "alerted": ["pager", "daily"]}
    assert rec.sent["pager"][0][1].spike.negative_share is None  # sentiment is off
    sim.store.close()


def test_window_counts_partial_hours_by_their_share():
    now = int(START.timestamp()) + 10 * 3600 + 15 * 60  # 10:15
    hour = int(START.timestamp()) + 9 * 3600
    stats = SpikeStats(since=0, hours={hour: [60, 6, 60], hour + 3600: [30, 0, 30]})
    # the last 60 minutes: 09:15..10:15 = 45 minutes of 09:00 (60 * 45/60) + all of 10:00
    assert stats.window(now - 3600, now, now) == (75.0, 4.5, 75.0)
    # 10:00 is observed for 15 minutes only: those 15 minutes hold all 30 of its mentions
    assert stats.window(now - 900, now, now)[0] == 30.0


def test_baseline_is_the_median_of_the_previous_windows_within_history():
    day0 = int(START.timestamp())
    counts = [10] * 40 + [100] * 10  # 50 hours: a noisy stretch does not move the median
    stats = SpikeStats(since=day0, hours={day0 + i * 3600: [n, 0, 0] for i, n in enumerate(counts)})
    now = day0 + 51 * 3600
    assert stats.baseline(3600, now) == 10
    assert stats.baseline(3600, day0 + 23 * 3600) is None  # less than a day of history
    cfg = SpikeSettings(notify=["x"])
    assert check(cfg, stats, now, sentiment_on=False) is None
    stats.hours[day0 + 50 * 3600] = [35, 0, 0]
    info = check(cfg, stats, now, sentiment_on=False)
    assert info is not None and headline("Acme", info) == (
        "Spike: 35 mentions of Acme in the last hour (usual: 10)"
    )
    assert headline("Acme", type(info)(1, 0, 120)) == (
        "Spike: 1 mention of Acme in the last 2 hours (usual: 0)"
    )


def test_each_post_counts_once_and_old_buckets_go():
    stats = SpikeStats(since=0)
    now = int(START.timestamp())
    m = [Mention(id=i, text="x", created_at="2026-11-22T23:10:00Z") for i in (5, 6, 7)]
    assert stats.add(m, now) == 3
    assert stats.add(m, now) == 0  # found again by a run that died before its cursor write
    assert stats.hours == {now - 3600: [3, 0, 0]}
    stats.prune(now + 15 * 86400, 3600)
    assert stats.hours == {} and stats.top == {}
