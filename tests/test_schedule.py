"""Schedules: parsing, due times across daylight-saving changes, and their configuration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mention_monitor.cli import main
from mention_monitor.models import Mention
from mention_monitor.schedule import Schedule
from mention_monitor.state import DeliveryClock, make_store
from tests.conftest import basic_config


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "kind", "hour", "minute", "weekday"),
    [
        ("every run", "every run", 0, 0, 0),
        ("hourly", "hourly", 0, 0, 0),
        ("daily 09:00", "daily", 9, 0, 0),
        ("Daily  23:59", "daily", 23, 59, 0),
        ("weekly sun 02:30", "weekly", 2, 30, 6),
        ("weekly mon 00:00", "weekly", 0, 0, 0),
    ],
)
def test_parse(text, kind, hour, minute, weekday):
    s = Schedule.parse(text, "Europe/Berlin")
    assert (s.kind, s.hour, s.minute, s.weekday, s.timezone) == (
        kind, hour, minute, weekday, "Europe/Berlin"
    )


@pytest.mark.parametrize(
    "text", ["daily 9:00", "daily 24:00", "weekly 09:00", "weekly sunday 09:00", "every day", ""]
)
def test_parse_rejects(text):
    with pytest.raises(ValueError, match="must be 'every run'"):
        Schedule.parse(text)


# Local 02:30 does not exist in Berlin on 2026-03-29 and exists twice on 2026-10-25; in New
# York 02:30 does not exist on 2026-03-08 and 01:30 exists twice on 2026-11-01. Each day still
# has exactly one due time (a missing time lands after the gap, a double one is taken first).
@pytest.mark.parametrize(
    ("tz", "at", "expected_utc"),
    [
        ("Europe/Berlin", "02:30",
         [(2026, 3, 28, 1, 30), (2026, 3, 29, 1, 30), (2026, 3, 30, 0, 30)]),
        ("Europe/Berlin", "02:30",
         [(2026, 10, 24, 0, 30), (2026, 10, 25, 0, 30), (2026, 10, 26, 1, 30)]),
        ("America/New_York", "02:30",
         [(2026, 3, 7, 7, 30), (2026, 3, 8, 7, 30), (2026, 3, 9, 6, 30)]),
        ("America/New_York", "01:30",
         [(2026, 10, 31, 5, 30), (2026, 11, 1, 5, 30), (2026, 11, 2, 6, 30)]),
    ],
)
def test_daily_due_times_across_dst_changes(tz, at, expected_utc):
    plan = Schedule.parse(f"daily {at}", tz)
    dues = [utc(*e) for e in expected_utc]
    for due in dues:
        assert plan.last_due(due) == due
        assert plan.last_due(due - timedelta(seconds=1)) < due
        assert plan.last_due(due + timedelta(hours=20)) == due
    assert plan.next_due(dues[0]) == dues[1] and plan.next_due(dues[1]) == dues[2]
    # walking hour by hour over the three days finds each due time exactly once
    seen = []
    t = dues[0] - timedelta(hours=1)
    while t < dues[2] + timedelta(hours=2):
        due = plan.last_due(t)
        if not seen or seen[-1] != due:
            seen.append(due)
        t += timedelta(minutes=10)
    assert seen[1:] == dues


def test_weekly_and_hourly_due_times():
    plan = Schedule.parse("weekly mon 09:00", "America/New_York")
    # Monday 2026-11-02 09:00 EST = 14:00 UTC; the Monday before was EDT (13:00 UTC)
    assert plan.last_due(utc(2026, 11, 5, 0, 0)) == utc(2026, 11, 2, 14, 0)
    assert plan.last_due(utc(2026, 11, 2, 13, 59)) == utc(2026, 10, 26, 13, 0)
    assert plan.next_due(utc(2026, 10, 26, 13, 0)) == utc(2026, 11, 2, 14, 0)
    hourly = Schedule.parse("hourly", "Asia/Kolkata")  # UTC+05:30: local hours start at :30
    assert hourly.last_due(utc(2026, 1, 1, 10, 10)) == utc(2026, 1, 1, 9, 30)
    assert hourly.next_due(utc(2026, 1, 1, 10, 10)) == utc(2026, 1, 1, 10, 30)
    assert Schedule.parse("weekly mon 09:00").longest_period_seconds == 169 * 3600


def _config(tmp_path, notifier_extra: str) -> str:
    cfg = basic_config(
        tmp_path, "http://127.0.0.1:9",
        notifiers=f"""
            [notifiers.out]
            type = "file"
            directory = "{tmp_path / 'out'}"
            {notifier_extra}
        """,
    )
    return str(cfg)


@pytest.mark.parametrize(
    ("notifier_extra", "env", "message"),
    [
        ('schedule = "daily 9:00"', {}, "notifiers.out.schedule: Value error, must be 'every run'"),
        ('timezone = "Mars/Olympus"', {}, "notifiers.out.timezone: Value error, not an IANA"),
        ('schedule = "weekly mon 09:00"', {"STATE__OUTBOX_DAYS": "7"},
         "state.outbox_days: must be longer than the longest schedule (notifiers.out.schedule is "
         "'weekly mon 09:00'"),
        ('schedule = "daily 09:00"', {"STATE__OUTBOX_DAYS": "1"},
         "state.outbox_days: must be longer than the longest schedule"),
        ('sentiment = ["negative"]', {},
         "notifiers.out.sentiment: needs [sentiment] enabled = true"),
        ('sentiment = ["furious"]', {"SENTIMENT__ENABLED": "true"}, "notifiers.out.sentiment.0:"),
    ],
)
def test_schedule_config_errors_exit_2_naming_the_field(
    tmp_path, capsys, monkeypatch, notifier_extra, env, message
):
    for key, value in env.items():
        monkeypatch.setenv(f"MENTION_MONITOR_{key}", value)
    cfg = _config(tmp_path, notifier_extra)
    assert main(["check", "--config", cfg]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_weekly_schedule_with_a_longer_outbox_is_valid(tmp_path, capsys, bearer):
    cfg = _config(tmp_path, 'schedule = "weekly mon 09:00"\ntimezone = "Europe/Berlin"')
    assert main(["check", "--config", cfg]) == 0, capsys.readouterr().err


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request, tmp_path, moto_aws):
    s = make_store("sqlite", path=str(tmp_path / "s.db")) if request.param == "sqlite" else (
        make_store("dynamodb", table="mm-state")
    )
    s.init()
    yield s
    s.close()


def test_due_time_is_written_with_the_cursor_forward_only(store):
    assert store.init_delivery("w", "email", 10, DeliveryClock(due=1000, at=1100))
    st = store.load("w")
    assert st.deliveries["email"] == 10 and st.clocks["email"] == DeliveryClock(1000, 1100)
    # the next period, with its cursor
    assert store.advance_delivery("w", "email", 20, DeliveryClock(due=2000, at=2050))
    # a slower run that sent the older period cannot mark the newer one unsent ...
    assert not store.advance_delivery("w", "email", 20, DeliveryClock(due=1000, at=2100))
    # ... nor move the cursor back, even with a newer due time
    assert not store.advance_delivery("w", "email", 15, DeliveryClock(due=3000, at=3050))
    # a partial delivery keeps the period's due time and moves the cursor
    assert store.advance_delivery("w", "email", 25, DeliveryClock(due=2000, at=2050))
    st = store.load("w")
    assert st.deliveries["email"] == 25 and st.clocks["email"] == DeliveryClock(2000, 2050)


def test_spike_record_is_compare_and_set(store):
    assert store.save_spike("w", None, {"counted": 1})
    assert not store.save_spike("w", None, {"counted": 2})  # someone created it first
    assert store.load("w").spike == (1, {"counted": 1})
    assert store.save_spike("w", 1, {"counted": 3})
    assert not store.save_spike("w", 1, {"counted": 4})  # a second writer of version 2 loses
    assert store.load("w").spike == (2, {"counted": 3})
    store.store_mentions("w", [Mention(id=5, text="x")], expires_at=10**10)
    assert store.load("w").deliveries == {}  # the spike record is no delivery cursor
