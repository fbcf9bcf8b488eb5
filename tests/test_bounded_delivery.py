"""Bounded delivery: every notifier has max_mentions (Slack 50, email 100, SMS one); a digest
shows the most-followed, says how many more with the search link, and the delivery cursor moves
over the whole digest, so a run's delivery time does not grow with the backlog."""

from __future__ import annotations

import pytest

from mention_monitor.config import load_settings
from mention_monitor.errors import ConfigError
from tests.conftest import basic_config
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSmtp
from tests.fakes.xapi import make_posts, make_users
from tests.test_run import run


def _config(tmp_path, x_url, smtp_port):
    return basic_config(
        tmp_path,
        x_url,
        first_run="latest",
        notify='["slack", "email"]',
        notifiers=f"""
            [notifiers.slack]
            type = "slack"
            [notifiers.email]
            type = "email-smtp"
            host = "127.0.0.1"
            port = {smtp_port}
            security = "none"
            sender = "monitor@example.com"
            recipients = ["team@example.com"]
        """,
    )


@pytest.mark.parametrize("backlog", [500, 5_000])
def test_a_backlog_of_any_size_is_one_bounded_digest(
    tmp_path, fake_x, clock, bearer, monkeypatch, backlog
):
    users = make_users(50)
    slack = FakeSlack().start()
    monkeypatch.setenv("MENTION_MONITOR_SECRET_SLACK_WEBHOOK_URL", slack.webhook_url)
    try:
        with FakeSmtp() as smtp:
            cfg = _config(tmp_path, fake_x.url, smtp.port)
            fake_x.add_posts(make_posts(3, first_id=10, users=50), users)
            run(cfg, clock)
            fake_x.add_posts(make_posts(backlog, first_id=100_000, users=50), users)
            s = run(cfg, clock)
            w = s["watches"]["Acme"]
            assert s["ok"] and w["delivered"] == {"slack": backlog, "email": backlog}
            assert len(slack.payloads) == 2 and len(slack.tweet_ids) == 50
            assert clock.sleeps == [1.0]  # one pause between two messages, whatever the backlog
            first = slack.payloads[0]["blocks"]
            assert first[0]["text"]["text"] == f"{backlog} new mentions of Acme (1/2)"
            assert first[1]["text"]["text"].startswith(
                f"Showing the 50 most-followed authors; {backlog - 50} more mentions on X: "
                "<https://x.com/search?q="
            )
            # the 50 most-followed: the authors with the most followers, newest first on a tie
            top = sorted(
                range(100_000, 100_000 + backlog), key=lambda i: (-((i - 100_000) % 50), -i)
            )[:50]
            assert sorted(slack.tweet_ids) == sorted(top)
            (msg,) = smtp.messages
            assert msg.message["Subject"] == f"{backlog} new mentions of Acme"
            assert len(msg.tweet_ids) == 100
            text = msg.message.get_body(("plain",)).get_content()
            assert f"Showing the 100 most-followed authors; {backlog - 100} more mentions on X:" in text

            s = run(cfg, clock)  # the cursors moved over the whole digest
            assert s["watches"]["Acme"]["delivered"] == {"slack": 0, "email": 0}
            assert len(slack.payloads) == 2 and len(smtp.messages) == 1
    finally:
        slack.stop()


def test_sms_reads_only_the_top_mention_and_reports_the_count(tmp_path, fake_x, clock, bearer, moto_aws):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    cfg = basic_config(
        tmp_path,
        fake_x.url,
        notify='["sms"]',
        notifiers='[notifiers.sms]\ntype = "sms-sns"\nphone_numbers = ["+15551230001"]\n',
    )
    fake_x.add_posts(make_posts(300, first_id=1_000))
    s = run(cfg, clock)
    assert s["watches"]["Acme"]["delivered"] == {"sms": 300}
    (sms,) = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values()
    assert sms[1].startswith("300 new mentions of Acme. Top: User 4 (@user4, 500 followers)")


@pytest.mark.parametrize(("notifier", "default"), [
    ('type = "slack"', 50),
    ('type = "email-ses"\nsender = "a@example.com"\nrecipients = ["b@example.com"]', 100),
    ('type = "sms-sns"\nphone_numbers = ["+15551230001"]', 1),
    ('type = "console"', 100),
])
def test_every_notifier_has_max_mentions(tmp_path, notifier, default):
    cfg = basic_config(tmp_path, "http://127.0.0.1:9", notifiers=f"[notifiers.out]\n{notifier}\n")
    assert load_settings(cfg).notifier_options("out").max_mentions == default
    cfg.write_text(cfg.read_text() + "max_mentions = 0\n")
    with pytest.raises(ConfigError, match=r"notifiers\.out\.max_mentions"):
        load_settings(cfg)
