"""Scheduled notifiers over weeks of simulated runs (the injected clock): exactly one digest per
period, late and missed runs catch up, overlapping runs never send twice, and daylight-saving
changes neither skip nor repeat a day."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from time import sleep
from typing import ClassVar
from zoneinfo import ZoneInfo

import pytest

from mention_monitor.config import load_settings
from mention_monitor.errors import DeliveryError
from mention_monitor.models import Digest
from mention_monitor.notifiers import DeliveryResult, Notifier, NotifierOptions
from mention_monitor.state import StateStore, make_store
from tests.conftest import basic_config, run_monitor
from tests.fakes.twilio import FakeTwilio
from tests.fakes.xapi import make_posts, server_error
from tests.invariants import Ledger, assert_exactly_once, assert_read_once
from tests.scale import run_together


class Recorder(Notifier[NotifierOptions]):
    """Records every digest with the (fake) time it was sent; fails while its name is down."""

    type_name = "recorder"
    sent: ClassVar[dict[str, list[tuple[int, Digest]]]] = {}
    down: ClassVar[set[str]] = set()

    delay: ClassVar[float] = 0.0  # seconds each send takes (overlapping runs)

    def _deliver(self, digest: Digest) -> DeliveryResult:
        if self.name in Recorder.down:
            raise DeliveryError("provider down")
        if Recorder.delay:
            sleep(Recorder.delay)
        Recorder.sent.setdefault(self.name, []).append((int(self.services.clock.now()), digest))
        return self.accepted(digest.mentions)


@pytest.fixture
def recorder(register_notifier):
    Recorder.sent, Recorder.down, Recorder.delay = {}, set(), 0.0
    register_notifier("recorder", Recorder)
    yield Recorder
    Recorder.delay = 0.0


NOTIFIERS = {
    # name: (schedule, timezone): 02:30 falls in Berlin's DST gap and overlap; in New York the
    # gap is at 02:30 and the overlap at 01:30.
    "berlin_daily": ("daily 02:30", "Europe/Berlin"),
    "ny_daily": ("daily 01:30", "America/New_York"),
    "berlin_weekly": ("weekly sun 02:30", "Europe/Berlin"),
    "ny_weekly": ("weekly sun 02:30", "America/New_York"),
}


def _config(tmp_path, fake_x, names=NOTIFIERS, send_empty=True):
    tables = "\n".join(
        f"""
        [notifiers.{name}]
        type = "recorder"
        schedule = "{schedule}"
        timezone = "{tz}"
        send_empty = {"true" if send_empty else "false"}
        """
        for name, (schedule, tz) in names.items()
    )
    notify = "[" + ", ".join(f'"{n}"' for n in [*names, "now"]) + "]"
    tables += '\n[notifiers.now]\ntype = "recorder"\n'
    return basic_config(tmp_path, fake_x.url, notify=notify, notifiers=tables, first_run="latest")


def _dues(schedule: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    """Due times the plain way: one local date (or Sunday) after another, each one's wall time
    in ``tz`` (first occurrence if doubled, after the gap if missing)."""
    kind, *rest = schedule.split()
    hh, mm = map(int, rest[-1].split(":"))
    zone = ZoneInfo(tz)
    day: date = (start - timedelta(days=8)).date()
    out = []
    while day <= end.date() + timedelta(days=1):
        if kind == "daily" or day.weekday() == 6:
            due = datetime.combine(day, time(hh, mm), zone).astimezone(UTC)
            if start < due <= end:
                out.append(due)
        day += timedelta(days=1)
    return out


def _expected_sends(dues: list[datetime], runs: list[tuple[int, bool]]) -> list[int]:
    """The first run at or after each due time at which the notifier was up (periods whose
    runs all came after the next due time merge into one digest)."""
    sends: list[int] = []
    for due in dues:
        t = next((r for r, up in runs if r >= due.timestamp() and up), None)
        if t is not None and (not sends or sends[-1] != t):
            sends.append(t)
    return sends


@pytest.mark.parametrize("start", [datetime(2026, 3, 1, 0, 7, tzinfo=UTC),
                                   datetime(2026, 10, 10, 0, 7, tzinfo=UTC)],
                         ids=["spring", "autumn"])
def test_thirty_days_of_runs_one_digest_per_period(tmp_path, fake_x, clock, bearer, recorder, start):
    settings = load_settings(_config(tmp_path, fake_x))
    store = make_store("sqlite", path=":memory:")  # weeks of runs in seconds
    ledger = Ledger()
    clock.t = start.timestamp()
    end = start + timedelta(days=30)
    posts_until = end - timedelta(days=8)  # the weekly notifiers deliver everything by the end
    next_id, expected = 1_000, set()
    runs: dict[str, list[tuple[int, bool]]] = {n: [] for n in NOTIFIERS}
    hour = 0
    while clock.now() < end.timestamp():  # a run every two hours, at minute 7
        day, at = divmod(hour, 24)
        hour += 2
        now = datetime.fromtimestamp(clock.now(), UTC)
        # posts every sixth hour, none on days 3 and 17 (quiet days)
        if hour > 2 and now < posts_until and at % 6 == 0 and day not in (3, 17):
            created = (now - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
            posts = make_posts(2, first_id=next_id, created_at=created)
            fake_x.add_posts(posts)
            expected |= {int(p["id"]) for p in posts}
            next_id += 10
        missed = day == 5 and 0 <= at < 12  # the scheduler missed 12 runs
        late = day == 12 and 0 <= at < 9  # a late run: nothing between 00:07 and 09:07 UTC
        held = day == 8 and at in (0, 2, 4)  # overlapping: another run holds the lease
        down = day in (20, 21) and at < 16  # berlin_daily's provider is down at its due time
        Recorder.down = {"berlin_daily"} if down else set()
        if held:
            assert store.acquire_lease("Acme", "someone-else", int(clock.now()), 60)
        if not (missed or late):
            summary = run_monitor(settings, store, clock)
            skipped = "skipped" in summary["watches"]["Acme"]
            assert skipped == held, summary
            for name in NOTIFIERS:
                runs[name].append((int(clock.now()), not skipped and not (down and name == "berlin_daily")))
            sent = [n for n in NOTIFIERS if summary["watches"]["Acme"]["delivered"].get(n)]
            if sent or any(n in summary["watches"]["Acme"]["failed"] for n in NOTIFIERS):
                # an overlapping second run in the same period sends nothing more
                again = run_monitor(settings, store, clock)
                assert all(again["watches"]["Acme"]["delivered"][n] == 0 for n in NOTIFIERS)
            ledger.check_cursors_forward(store, "Acme")
        if held:
            store.release_lease("Acme", "someone-else")
        clock.t += 7200
    store.close()

    first_run = runs["berlin_daily"][0][0]
    for name, (schedule, tz) in NOTIFIERS.items():
        got = recorder.sent.get(name, [])
        times = [t for t, _ in got]
        dues = _dues(schedule, tz, datetime.fromtimestamp(first_run, UTC), end)
        assert times == _expected_sends(dues, runs[name]), name
        # never two digests in one period: each send time follows a different due time
        periods = [max(d for d in dues if d.timestamp() <= t) for t in times]
        assert len(set(periods)) == len(periods), name
        # every mention exactly once, across digests (send_empty notes carry none)
        ids = [m.id for _, d in got for m in d.mentions]
        assert_exactly_once(ids, expected, name)
        for _, d in got:
            if d.mentions:
                assert d.period is not None and d.period.total == d.count
                assert sum(n for _, n in d.period.buckets) == d.count
            else:
                assert d.headline.startswith("No new mentions of Acme since "), d.headline
    # the daily notifiers sent one digest per local day (quiet days as notes), the DST days
    # included, except where a missed/late run or the outage merged two days into one
    for name in ("berlin_daily", "ny_daily"):
        tz = ZoneInfo(NOTIFIERS[name][1])
        days = Counter(
            datetime.fromtimestamp(t, UTC).astimezone(tz).date() for t, _ in recorder.sent[name]
        )
        assert max(days.values()) == 1, name
        assert len(days) >= 27, (name, len(days))
        quiet = [d for _, d in recorder.sent[name] if not d.mentions]
        assert len(quiet) >= 1, name  # the quiet days (3 and 17) read differently
    assert_exactly_once(
        [m.id for _, d in recorder.sent["now"] for m in d.mentions], expected, "now"
    )
    assert_read_once(fake_x.served_ids)


def test_send_empty_sends_a_note_on_a_quiet_day_and_nothing_without_it(
    tmp_path, fake_x, clock, bearer, recorder
):
    names = {"quiet_note": ("daily 09:00", "Europe/Berlin")}
    settings = load_settings(_config(tmp_path, fake_x, names))
    other = {"silent": ("daily 09:00", "Europe/Berlin")}
    (tmp_path / "b").mkdir()
    settings_silent = load_settings(_config(tmp_path / "b", fake_x, other, send_empty=False))
    store = make_store("sqlite", path=settings.state.path)
    store2 = make_store("sqlite", path=settings_silent.state.path)
    clock.t = datetime(2026, 11, 23, 12, 0, tzinfo=UTC).timestamp()  # Monday 13:00 in Berlin
    for day in range(3):
        clock.t += 86400 if day else 0
        run_monitor(settings, store, clock)
        run_monitor(settings_silent, store2, clock)
    # Tuesday 13:00 and Wednesday 13:00: each quiet day's digest went out once, as a note
    (t1, d1), (t2, d2) = recorder.sent["quiet_note"]
    assert d1.headline == "No new mentions of Acme since Mon 23 Nov 13:00 CET"
    assert d2.headline == "No new mentions of Acme since Tue 24 Nov 13:00 CET"
    assert d1.mentions == () and t2 - t1 == 86400
    assert "silent" not in recorder.sent
    clock.t += 1800
    s = run_monitor(settings, store, clock)  # same period: nothing more
    assert s["watches"]["Acme"]["delivered"]["quiet_note"] == 0
    assert len(recorder.sent["quiet_note"]) == 2
    assert s["watches"]["Acme"]["waiting"]["quiet_note"] == "2026-11-26T08:00:00+00:00"
    # Thursday's due run cannot read X: it does not claim a quiet day; the next run does
    clock.t += 86400 - 1800
    fake_x.then(*[server_error(503)] * 3)
    s = run_monitor(settings, store, clock)
    assert "search" in s["watches"]["Acme"]["failed"] and len(recorder.sent["quiet_note"]) == 2
    clock.t += 900
    run_monitor(settings, store, clock)
    assert recorder.sent["quiet_note"][-1][1].headline == (
        "No new mentions of Acme since Wed 25 Nov 13:00 CET"
    )
    store.close()
    store2.close()


def test_a_notifier_down_at_its_due_time_catches_up_without_sending_twice(
    tmp_path, fake_x, clock, bearer, recorder
):
    names = {"daily": ("daily 09:00", "UTC")}
    settings = load_settings(_config(tmp_path, fake_x, names, send_empty=False))
    store = make_store("sqlite", path=settings.state.path)
    clock.t = datetime(2026, 11, 23, 8, 0, tzinfo=UTC).timestamp()
    run_monitor(settings, store, clock)  # first run: remembers where X is
    fake_x.add_posts(make_posts(5, first_id=500, created_at="2026-11-23T08:30:00Z"))
    clock.t += 3600  # 09:00: due, but the provider is down
    Recorder.down = {"daily"}
    s = run_monitor(settings, store, clock)
    assert s["watches"]["Acme"]["failed"] == {"daily": "provider down"}
    assert store.load("Acme").deliveries["daily"] < 500  # neither cursor nor due moved
    fake_x.add_posts(make_posts(3, first_id=600, created_at="2026-11-23T09:10:00Z"))
    clock.t += 900
    Recorder.down = set()
    s = run_monitor(settings, store, clock)  # 09:15: up again, the period goes out now
    assert s["watches"]["Acme"]["delivered"]["daily"] == 8
    for _ in range(4):  # the rest of the period: nothing more
        clock.t += 900
        s = run_monitor(settings, store, clock)
        assert s["watches"]["Acme"]["delivered"]["daily"] == 0
        assert s["watches"]["Acme"]["waiting"]["daily"] == "2026-11-24T09:00:00+00:00"
    assert [len(d.mentions) for _, d in recorder.sent["daily"]] == [8]
    assert recorder.sent["daily"][0][0] == datetime(2026, 11, 23, 9, 15, tzinfo=UTC).timestamp()
    store.close()


def test_a_digest_cut_short_keeps_its_period_due_and_sends_the_rest_next_run(
    tmp_path, fake_x, clock, bearer, register_notifier
):
    class Half(Notifier[NotifierOptions]):
        type_name = "half"
        got: ClassVar[list[list[int]]] = []

        def _deliver(self, digest: Digest) -> DeliveryResult:
            if len(Half.got) == 0 and digest.count > 1:
                half = list(digest.mentions[: digest.count // 2])
                Half.got.append([m.id for m in half])
                result = self.accepted(half)
                result.error = "failed half way"
                return result
            Half.got.append([m.id for m in digest.mentions])
            return self.accepted(digest.mentions)

    register_notifier("half", Half)
    cfg = basic_config(
        tmp_path, fake_x.url, notify='["h"]', first_run="latest",
        notifiers='[notifiers.h]\ntype = "half"\nschedule = "daily 09:00"\n',
    )
    settings = load_settings(cfg)
    store = make_store("sqlite", path=settings.state.path)
    clock.t = datetime(2026, 11, 23, 8, 0, tzinfo=UTC).timestamp()
    run_monitor(settings, store, clock)
    fake_x.add_posts(make_posts(6, first_id=100))
    clock.t += 3600 + 60
    run_monitor(settings, store, clock)  # 09:01: half of it accepted
    clock.t += 900
    run_monitor(settings, store, clock)  # 09:16: the rest, same period
    clock.t += 900
    run_monitor(settings, store, clock)  # 09:31: nothing
    assert Half.got == [[100, 101, 102], [103, 104, 105]]
    store.close()


def test_a_digest_some_numbers_took_ends_its_period_and_is_not_called_quiet_later(
    tmp_path, fake_x, clock, bearer, monkeypatch
):
    """An SMS digest one number took (the other opted out) moved the cursor over the period:
    the period is sent, so a later run in it sends no "No new mentions ..." note."""
    twilio = FakeTwilio().start()
    for key, value in twilio.secrets().items():
        monkeypatch.setenv(key, value)
    twilio.opted_out = {"+15551230001"}
    cfg = basic_config(
        tmp_path, fake_x.url, notify='["sms"]', first_run="latest",
        notifiers=f"""
            [notifiers.sms]
            type = "sms-twilio"
            schedule = "daily 09:00"
            send_empty = true
            from_number = "+15550009999"
            phone_numbers = ["+15551230001", "+15551230002"]
            api_base = "{twilio.url}"
            backoff_seconds = 0
        """,
    )
    settings = load_settings(cfg)
    store = make_store("sqlite", path=settings.state.path)
    try:
        clock.t = datetime(2026, 11, 23, 8, 0, tzinfo=UTC).timestamp()
        run_monitor(settings, store, clock)
        fake_x.add_posts(make_posts(3, first_id=100, created_at="2026-11-23T08:30:00Z"))
        clock.t += 3600 + 60
        s = run_monitor(settings, store, clock)  # 09:01: one number takes it
        assert s["watches"]["Acme"]["delivered"] == {"sms": 3}
        assert "+1…0001: recipient opted out" in s["watches"]["Acme"]["failed"]["sms"]
        for _ in range(3):  # the rest of the day: the period was sent
            clock.t += 900
            s = run_monitor(settings, store, clock)
            assert s["ok"] and s["watches"]["Acme"]["delivered"] == {"sms": 0}
            assert s["watches"]["Acme"]["waiting"] == {"sms": "2026-11-24T09:00:00+00:00"}
        # one text, the period's digest, to the number that can receive it; no note after it
        assert [(f["To"], f["Body"].split(".")[0]) for f in twilio.sent] == [
            ("+15551230002", "3 new mentions of Acme (peak 3 at 08:30)")
        ]
        assert twilio.attempts("+15551230001") == 1
    finally:
        twilio.stop()
        store.close()


def test_file_names_carry_the_runs_clock_not_the_machines(tmp_path, fake_x, clock, bearer):
    """Simulated days write files named for the simulated time (the injected clock)."""
    cfg = basic_config(
        tmp_path, fake_x.url, notify='["out"]', first_run="latest",
        notifiers=f"""
            [notifiers.out]
            type = "file"
            directory = "{tmp_path / 'out'}"
            schedule = "daily 09:00"
            send_empty = true
        """,
    )
    settings = load_settings(cfg)
    store = make_store("sqlite", path=settings.state.path)
    clock.t = datetime(2026, 11, 23, 8, 0, tzinfo=UTC).timestamp()
    run_monitor(settings, store, clock)
    fake_x.add_posts(make_posts(2, first_id=100, created_at="2026-11-23T08:30:00Z"))
    for _ in range(2):
        clock.t += 86400
        run_monitor(settings, store, clock)
    store.close()
    assert sorted(p.name for p in (tmp_path / "out").glob("*.json")) == [
        "Acme-20261124T080000Z-100-101.json",
        "Acme-20261125T080000Z-empty.json",
    ]


def _backend_store(tmp_path, backend: str) -> StateStore:
    """A new store object on the test's one database (SQLite file or moto DynamoDB table)."""
    if backend == "sqlite":
        return make_store("sqlite", path=str(tmp_path / "schedules.db"))
    return make_store("dynamodb", table="mm-schedules")


@pytest.mark.parametrize("backend", ["sqlite", "dynamodb"])
def test_hourly_digests_once_per_clock_hour_on_both_backends(
    tmp_path, fake_x, clock, bearer, recorder, moto_aws, backend
):
    """``schedule = "hourly"`` in real runs: a run every 20 minutes for 8 hours, new posts on
    every run; one digest in each clock hour, at the first run at or after the hour, with every
    mention once; a skipped hour (no runs) merges into the next digest; a second run in the same
    hour sends nothing."""
    settings = load_settings(_config(tmp_path, fake_x, {"hourly": ("hourly", "UTC")}))
    store = _backend_store(tmp_path, backend)
    store.init()
    start = datetime(2026, 11, 24, 10, 10, tzinfo=UTC)
    clock.t = start.timestamp()
    run_monitor(settings, store, clock)  # "latest": the cursors
    expected: set[int] = set()
    next_id, run_times = 1_000, []
    added: dict[int, set[int]] = {}
    for k in range(1, 25):  # 10:30 .. 18:10, every 20 minutes
        clock.t = start.timestamp() + 1200 * k
        hour = datetime.fromtimestamp(clock.t, UTC).hour
        if hour == 13:
            continue  # the scheduler missed the whole 13:00 hour
        created = datetime.fromtimestamp(clock.t - 60, UTC).isoformat().replace("+00:00", "Z")
        posts = make_posts(2, first_id=next_id, created_at=created)
        fake_x.add_posts(posts)
        expected |= {int(p["id"]) for p in posts}
        added[int(clock.t)] = {int(p["id"]) for p in posts}
        next_id += 10
        summary = run_monitor(settings, store, clock)
        assert summary["ok"], summary
        run_times.append(int(clock.t))
        again = run_monitor(settings, store, clock)  # an overlapping run: nothing twice
        assert again["watches"]["Acme"]["delivered"]["hourly"] == 0
    store.close()

    sent = recorder.sent["hourly"]
    times = [t for t, _ in sent]
    # the first run at or after each hour from 11:00 to 18:00 (13:00's due is met at 14:10)
    hours = [
        datetime(2026, 11, 24, h, 0, tzinfo=UTC).timestamp() for h in range(11, 19) if h != 13
    ]
    assert times == [next(t for t in run_times if t >= h) for h in hours]
    assert len({datetime.fromtimestamp(t, UTC).hour for t in times}) == len(times)
    # each digest holds exactly what the runs since the previous digest found, each post once
    assert_exactly_once([m.id for _, d in sent for m in d.mentions], expected, "hourly")
    prev = 0
    for t, d in sent:
        assert {m.id for m in d.mentions} == {i for r, ids in added.items() if prev < r <= t
                                              for i in ids}
        prev = t
    assert_exactly_once(
        [m.id for _, d in recorder.sent["now"] for m in d.mentions], expected, "now"
    )


@pytest.mark.parametrize("backend", ["sqlite", "dynamodb"])
def test_truly_concurrent_runs_at_the_due_time_send_one_digest(
    tmp_path, fake_x, clock, bearer, recorder, moto_aws, backend
):
    """Two processes' runs at the same moment, five days in a row, around a daily 09:00 notifier
    whose send takes 0.3 s: one digest a day, every mention once, whichever run wins the watch."""
    from tests.fakes.aws import moto_for_threads

    moto_for_threads()
    settings = load_settings(_config(tmp_path, fake_x, {"daily": ("daily 09:00", "UTC")}))

    def new_store() -> StateStore:
        return _backend_store(tmp_path, backend)

    first = new_store()
    first.init()
    clock.t = datetime(2026, 11, 23, 8, 0, tzinfo=UTC).timestamp()
    run_monitor(settings, first, clock)  # "latest": the cursors
    first.close()
    Recorder.delay = 0.3
    expected: set[int] = set()
    summaries: list[dict] = []
    for day in range(5):
        for minute in (5, 35):  # two rounds after 09:00: the second must send nothing
            clock.t = datetime(2026, 11, 23 + day, 9, minute, tzinfo=UTC).timestamp()
            posts = make_posts(3, first_id=1_000 + 100 * day + minute)
            fake_x.add_posts(posts)
            expected |= {int(p["id"]) for p in posts}
            summaries += run_together(settings, clock, new_store)
    assert len(summaries) == 20
    worked = [s for s in summaries if "skipped" not in s["watches"]["Acme"]]
    assert worked and all(s["ok"] for s in summaries)
    # the runs really overlapped: in most rounds one of the two found the watch held
    assert len(summaries) - len(worked) >= 5, summaries
    sent = recorder.sent["daily"]
    days = [datetime.fromtimestamp(t, UTC).date() for t, _ in sent]
    assert days == [date(2026, 11, 23 + d) for d in range(5)]  # one digest a day
    # each day's digest holds what reached the outbox by its send, each post once overall; the
    # 09:35 posts wait for the next day's digest (the last day's are still pending)
    delivered = [m.id for _, d in sent for m in d.mentions]
    last_day = {1_000 + 100 * 4 + 35 + i for i in range(3)}
    assert_exactly_once(delivered, expected - last_day, "daily")
    assert_exactly_once(
        [m.id for _, d in recorder.sent["now"] for m in d.mentions], expected, "now"
    )
    assert_read_once(fake_x.served_ids)
