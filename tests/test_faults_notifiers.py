"""Fault injection on the notifier side: Slack down for three runs, SMTP refusing, Slack 404."""

from __future__ import annotations

from mention_monitor.config import load_settings
from mention_monitor.state import make_store
from tests.conftest import basic_config, run_monitor
from tests.fakes.http import Reply
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSmtp
from tests.fakes.xapi import make_posts
from tests.invariants import Ledger, assert_exactly_once, assert_read_once

WEBHOOK_SECRET = "slack_webhook_url"


def _config(tmp_path, x_url, smtp_port):
    return basic_config(
        tmp_path, x_url, page_size=50, notify='["email", "slack"]',
        notifiers=f"""
            [notifiers.email]
            type = "email-smtp"
            host = "127.0.0.1"
            port = {smtp_port}
            security = "none"
            sender = "monitor@example.com"
            recipients = ["team@example.com"]
            max_mentions = 1000
            [notifiers.slack]
            type = "slack"
            max_mentions = 1000
            max_retries = 1
            backoff_seconds = 0
        """,
    )


def _run(settings, clock):
    store = make_store("sqlite", path=settings.state.path)
    return run_monitor(settings, store, clock), store


def test_slack_down_three_runs_while_email_works(tmp_path, fake_x, clock, bearer, monkeypatch):
    slack = FakeSlack().start()
    monkeypatch.setenv("MENTION_MONITOR_SECRET_SLACK_WEBHOOK_URL", slack.webhook_url)
    ledger = Ledger()
    expected: set[int] = set()
    with FakeSmtp() as smtp:
        settings = load_settings(_config(tmp_path, fake_x.url, smtp.port))
        for i in range(5):
            posts = make_posts(23, first_id=1_000 * (i + 1))
            fake_x.add_posts(posts)
            expected |= {int(p["id"]) for p in posts}
            if i < 3:
                slack.then(*[Reply(503, "service_unavailable")] * 10)
            s, store = _run(settings, clock)
            slack.script.clear()
            w = s["watches"]["Acme"]
            if i < 3:
                assert "slack" in w["failed"] and "email" not in w["failed"]
                assert slack.url not in w["failed"]["slack"]
                assert "XXXXsecretXXXX" not in w["failed"]["slack"]
            else:
                assert w["failed"] == {}
            ledger.check_cursors_forward(store, "Acme")
            store.close()
            assert_exactly_once(smtp.tweet_ids, expected, "email")
        assert len(smtp.messages) == 5  # one digest per run
    assert_exactly_once(slack.tweet_ids, expected, "slack")
    assert_read_once(fake_x.served_ids)
    slack.stop()


def test_smtp_refusing_for_one_run(tmp_path, fake_x, clock, bearer, monkeypatch):
    slack = FakeSlack().start()
    monkeypatch.setenv("MENTION_MONITOR_SECRET_SLACK_WEBHOOK_URL", slack.webhook_url)
    fake_x.add_posts(make_posts(10, first_id=100))
    with FakeSmtp() as smtp:
        port = smtp.port
        settings = load_settings(_config(tmp_path, fake_x.url, port))
    # the SMTP server is gone: connection refused
    s, store = _run(settings, clock)
    store.close()
    w = s["watches"]["Acme"]
    assert s["ok"] is False and "email" in w["failed"] and w["delivered"]["slack"] == 10
    fake_x.add_posts(make_posts(5, first_id=500))
    smtp2 = FakeSmtp()
    smtp2.port = port
    from aiosmtpd.controller import Controller

    smtp2.controller = Controller(smtp2, hostname="127.0.0.1", port=port)
    smtp2.controller.start()
    try:
        s, store = _run(settings, clock)
        store.close()
        assert s["ok"], s
        assert_exactly_once(smtp2.tweet_ids, set(range(100, 110)) | set(range(500, 505)), "email")
        assert len(smtp2.messages) == 1
    finally:
        smtp2.controller.stop()
    assert_exactly_once(slack.tweet_ids, set(range(100, 110)) | set(range(500, 505)), "slack")
    slack.stop()


def test_slack_404_fails_at_once_with_slack_text(tmp_path, fake_x, clock, bearer, monkeypatch):
    slack = FakeSlack().start()
    monkeypatch.setenv("MENTION_MONITOR_SECRET_SLACK_WEBHOOK_URL", slack.webhook_url)
    fake_x.add_posts(make_posts(3, first_id=100))
    slack.then(Reply(404, "channel_not_found"))
    with FakeSmtp() as smtp:
        settings = load_settings(_config(tmp_path, fake_x.url, smtp.port))
        s, store = _run(settings, clock)
        store.close()
    reason = s["watches"]["Acme"]["failed"]["slack"]
    assert "channel_not_found" in reason and "XXXXsecretXXXX" not in reason
    assert len(slack.received) == 1  # no retry for a 4xx
    slack.stop()
