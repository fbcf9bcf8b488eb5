"""Soak: 200 consecutive runs with seeded random faults; the invariants hold after each run."""

from __future__ import annotations

import random

import pytest

from mention_monitor.config import load_settings
from mention_monitor.notifiers import Notifier
from mention_monitor.state import make_store
from tests.conftest import basic_config, delivered_ids, run_monitor
from tests.fakes.http import Reply
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSmtp
from tests.fakes.xapi import make_posts, rate_limited, server_error
from tests.invariants import Ledger, assert_exactly_once, assert_read_once

RUNS = 200
SEED = 20261125


class Chaos(Notifier):
    """A notifier that fails at random (seeded), sometimes half way through a digest."""

    type_name = "chaos"
    rng = random.Random(SEED)
    got: list[int] = []

    def _deliver(self, digest):
        roll = Chaos.rng.random()
        if roll < 0.2:
            raise RuntimeError("provider down")
        if roll < 0.3 and digest.count > 1:  # partial: the first half accepted
            half = list(digest.mentions[: digest.count // 2])
            Chaos.got.extend(m.id for m in half)
            result = self.accepted(half)
            result.error = "failed half way"
            return result
        Chaos.got.extend(m.id for m in digest.mentions)
        return self.accepted(digest.mentions)


class FlakySmtp(FakeSmtp):
    """Refuses a message (451) when ``refuse`` is set."""

    refuse = False

    async def handle_DATA(self, server, session, envelope):  # type: ignore[override]
        if self.refuse:
            return "451 4.3.0 try again later"
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.soak
def test_soak_200_runs_with_random_faults(
    tmp_path, fake_x, clock, bearer, monkeypatch, register_notifier
):
    slack = FakeSlack().start()
    monkeypatch.setenv("MENTION_MONITOR_SECRET_SLACK_WEBHOOK_URL", slack.webhook_url)
    smtp = FlakySmtp().__enter__()
    try:
        register_notifier("chaos", Chaos)
        _soak(tmp_path, fake_x, clock, slack, smtp)
    finally:
        smtp.__exit__(None, None, None)
        slack.stop()


def _soak(tmp_path, fake_x, clock, slack, smtp):
    rng = random.Random(SEED)
    Chaos.rng = random.Random(SEED + 1)
    Chaos.got = []
    cfg = basic_config(
        tmp_path, fake_x.url, page_size=10, notify='["out", "chaos", "slack", "email"]',
        notifiers=f"""
            [notifiers.out]
            type = "file"
            directory = "{tmp_path / 'out'}"
            [notifiers.chaos]
            type = "chaos"
            [notifiers.slack]
            type = "slack"
            max_retries = 1
            backoff_seconds = 0
            [notifiers.email]
            type = "email-smtp"
            host = "127.0.0.1"
            port = {smtp.port}
            security = "none"
            sender = "m@example.com"
            recipients = ["t@example.com"]
            max_mentions = 1000
        """,
    )
    text = cfg.read_text().replace(
        'terms = ["acme"]', 'terms = ["acmecorporation", "betacorporation"]'
    ).replace("backoff_seconds = 0", "backoff_seconds = 0\nmax_query_length = 40", 1)
    cfg.write_text(text)
    settings = load_settings(cfg)
    store = make_store("sqlite", path=settings.state.path)
    ledger = Ledger()
    expected: set[int] = set()
    next_id = 1_000
    ok = lambda r: fake_x.default(r)  # noqa: E731
    faults = [
        lambda: server_error(rng.choice([500, 502, 503, 504])),
        lambda: Reply(200, "{truncated"),
        lambda: rate_limited(clock.now() + rng.choice([5, 100_000])),
        lambda: Reply(drop=True),
    ]
    failures: dict[str, int] = {}
    for i in range(RUNS):
        burst = rng.choice([0, 0, 1, 3, 12, 25])
        for _ in range(burst):
            term = rng.choice(["acmecorporation", "betacorporation", "acmecorporation betacorporation"])
            posts = make_posts(1, first_id=next_id, text=term)
            next_id += rng.randint(1, 5_000)
            fake_x.add_posts(posts)
            expected.add(int(posts[0]["id"]))
        script = [ok if rng.random() < 0.8 else rng.choice(faults)() for _ in range(rng.randint(0, 6))]
        fake_x.script.clear()
        fake_x.then(*script)
        slack.script.clear()
        slack.then(*[
            rng.choice([
                Reply(200, "ok"), Reply(200, "ok"), Reply(200, "ok"),
                Reply(500, "rollup_error"), Reply(429, "rate_limited", {"Retry-After": "1"}),
                Reply(404, "channel_not_found"),
            ])
            for _ in range(rng.randint(0, 4))
        ])
        smtp.refuse = rng.random() < 0.15
        clock.advance(900)
        summary = run_monitor(settings, store, clock
        )
        for key in summary["watches"]["Acme"]["failed"]:
            failures[key] = failures.get(key, 0) + 1
        ledger.check_cursors_forward(store, "Acme")
        # nothing delivered twice, nothing delivered that does not exist
        seen = (
            ("out", delivered_ids(tmp_path / "out")), ("chaos", Chaos.got),
            ("slack", slack.tweet_ids), ("email", smtp.tweet_ids),
        )
        for who, ids in seen:
            assert len(ids) == len(set(ids)), f"run {i}: {who} got a duplicate"
            assert set(ids) <= expected, f"run {i}: {who} got an unknown mention"
        assert_read_once(fake_x.served_pairs)
    # the faults really happened, in both the source and the notifiers
    assert failures.get("search", 0) >= 5 and failures.get("chaos", 0) >= 20, failures
    assert failures.get("slack", 0) >= 5 and failures.get("email", 0) >= 5, failures
    # recovery: quiet runs with no faults deliver every backlog
    fake_x.script.clear()
    slack.script.clear()
    smtp.refuse = False
    Chaos.rng = random.Random(0)
    Chaos.rng.random = lambda: 0.99  # type: ignore[method-assign]
    for _ in range(3):
        clock.advance(900)
        run_monitor(settings, store, clock)
    store.close()
    assert_exactly_once(delivered_ids(tmp_path / "out"), expected, "out")
    assert_exactly_once(Chaos.got, expected, "chaos")
    assert_exactly_once(slack.tweet_ids, expected, "slack")
    assert_exactly_once(smtp.tweet_ids, expected, "email")
    assert_read_once(fake_x.served_pairs)
