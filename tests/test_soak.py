"""Soak: 200 consecutive runs (100 on DynamoDB) of four watches, four workers, with seeded
random faults; the invariants hold after each run."""

from __future__ import annotations

import random
import re

import pytest

from mention_monitor.config import load_settings
from mention_monitor.notifiers import Notifier
from tests.conftest import basic_config, delivered_ids, run_monitor
from tests.fakes.http import Reply
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSmtp
from tests.fakes.xapi import make_posts, rate_limited, server_error
from tests.invariants import Ledger, assert_exactly_once, assert_read_once
from tests.scale import backend, open_store  # noqa: F401 - backend is a fixture

#: Consecutive runs per backend: moto's in-process DynamoDB costs ~5 ms of CPU a call, so
#: its soak is shorter (four watches a run keep it at twice the single-watch soak's runs).
RUNS = {"sqlite": 200, "dynamodb": 100}
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


WATCHES = "abcd"  # watch k searches acmecorporation{k} and betacorporation{k}


@pytest.mark.soak
def test_soak_200_runs_with_random_faults(
    tmp_path, fake_x, clock, bearer, monkeypatch, register_notifier, backend
):
    slack = FakeSlack().start()
    monkeypatch.setenv("MENTION_MONITOR_SECRET_SLACK_WEBHOOK_URL", slack.webhook_url)
    smtp = FlakySmtp().__enter__()
    try:
        register_notifier("chaos", Chaos)
        _soak(tmp_path, fake_x, clock, slack, smtp, backend)
    finally:
        smtp.__exit__(None, None, None)
        slack.stop()


def _watches(text: str, backend: str) -> str:
    """The config with four watches of two queries each, on ``backend``."""
    head, watch = text.split("[[watches]]\n", 1)
    watch, notifiers = watch.split("\n[notifiers.", 1)
    out = head
    for k in WATCHES:
        out += "[[watches]]\n" + watch.replace('name = "Acme"', f'name = "W-{k}"').replace(
            'terms = ["acme"]', f'terms = ["acmecorporation{k}", "betacorporation{k}"]'
        ) + "\n"
    if backend == "dynamodb":
        out = re.sub(
            r'backend = "sqlite"\s+path = "[^"]*"', 'backend = "dynamodb"\ntable = "mm-scale"', out
        )
    return out + "\n[notifiers." + notifiers


def _soak(tmp_path, fake_x, clock, slack, smtp, backend):
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
            max_mentions = 100000
            [notifiers.slack]
            type = "slack"
            max_mentions = 100000
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
        "backoff_seconds = 0", "backoff_seconds = 0\nmax_query_length = 40", 1
    )
    cfg.write_text(_watches(text, backend))
    settings = load_settings(cfg)
    assert settings.max_concurrent_watches == 4 and len(settings.watches) == 4
    assert settings.state.backend == backend
    store = open_store(settings)
    ledgers = {w.name: Ledger() for w in settings.watches}
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
    for i in range(RUNS[backend]):
        burst = rng.choice([0, 0, 1, 3, 12, 25])
        for _ in range(burst):
            k = rng.choice(WATCHES)
            term = rng.choice(["acmecorporation", "betacorporation", "acmecorporation betacorporation"])
            term = " ".join(t + k for t in term.split())
            posts = make_posts(1, first_id=next_id, text=term)
            next_id += rng.randint(1, 5_000)
            fake_x.add_posts(posts)
            expected.add(int(posts[0]["id"]))
        fake_x.query_scripts.clear()
        for k in WATCHES:  # each watch's own requests meet its faults, in order
            script = [
                ok if rng.random() < 0.8 else rng.choice(faults)()
                for _ in range(rng.randint(0, 6))
            ]
            fake_x.then_for(f"corporation{k}", *script)
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
        for w in summary["watches"].values():
            for key in w["failed"]:
                failures[key] = failures.get(key, 0) + 1
        for watch, ledger in ledgers.items():
            ledger.check_cursors_forward(store, watch)
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
    fake_x.query_scripts.clear()
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
