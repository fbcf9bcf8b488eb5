"""Acceptance: one run, 120 new mentions, delivered by email (SMTP), Slack and SMS (SNS)."""

from __future__ import annotations

import re

from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from mention_monitor.notifiers.sms import segments
from tests.conftest import basic_config
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSmtp
from tests.fakes.xapi import make_posts, x_escape
from tests.test_run import run

HOSTILE = "acme <!channel> <script>alert(1)</script> &amp; <https://evil.example|x.com>"
NUMBERS = ["+15551230001", "+447700900123"]


def test_120_mentions_by_email_slack_and_sms(
    tmp_path, fake_x, clock, bearer, moto_aws, monkeypatch
):
    posts = make_posts(120, first_id=50_000)
    posts[57]["text"] = x_escape(HOSTILE)  # as X sends what its author typed
    fake_x.add_posts(posts)
    slack = FakeSlack().start()
    monkeypatch.setenv("MENTION_MONITOR_SECRET_SLACK_WEBHOOK_URL", slack.webhook_url)
    try:
        with FakeSmtp() as smtp:
            cfg = basic_config(
                tmp_path,
                fake_x.url,
                notify='["email", "slack", "sms"]',
                notifiers=f"""
                    [notifiers.email]
                    type = "email-smtp"
                    host = "127.0.0.1"
                    port = {smtp.port}
                    security = "none"
                    sender = "monitor@example.com"
                    recipients = ["team@example.com"]
                    max_mentions = 200

                    [notifiers.slack]
                    type = "slack"
                    max_mentions = 200

                    [notifiers.sms]
                    type = "sms-sns"
                    phone_numbers = {NUMBERS!r}
                """.replace("'", '"'),
            )
            summary = run(cfg, clock)
    finally:
        slack.stop()
    ids = list(range(50_000, 50_120))
    watch = summary["watches"]["Acme"]
    assert summary["ok"] is True, summary
    assert watch["found"] == 120
    assert watch["delivered"] == {"email": 120, "slack": 120, "sms": 120}

    # Email: one message, the count in the subject, all 120 listed, no live tag.
    assert len(smtp.messages) == 1
    msg = smtp.messages[0].message
    assert msg["Subject"] == "120 new mentions of Acme"
    html_part, text_part = msg.get_body(("html",)), msg.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html = html_part.get_content()
    assert sorted(int(i) for i in set(re.findall(r"/status/(\d+)", html))) == ids
    assert html.count("View post</a>") == 120
    assert "<script" not in html and "<!channel>" not in html
    assert "&lt;!channel&gt; &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE in text_part.get_content()  # plain text shows it verbatim, inertly

    # Slack: every mention exactly once, messages of at most 50 blocks, nothing unescaped.
    payloads = slack.payloads
    assert len(payloads) >= 3 and all(len(p["blocks"]) <= 50 for p in payloads)
    assert slack.tweet_ids == ids
    for p in payloads:
        assert p["unfurl_links"] is False and "link_names" not in p and "parse" not in p
        for b in p["blocks"]:
            text = b["text"]["text"]
            assert not re.search(r"<[!@#]", text) and "<script" not in text
            assert all(link.startswith("https://x.com/") for link in re.findall(r"<([^>]*)>", text))
            assert len(text) <= 3000
    assert any(
        "&lt;!channel&gt; &lt;script&gt;" in b["text"]["text"]
        for p in payloads
        for b in p["blocks"]
    )

    # SMS: each number gets exactly one text within one segment.
    sent = list(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values())
    assert sorted(n for n, _ in sent) == sorted(NUMBERS)
    for _, body in sent:
        info = segments(body)
        assert info.segments == 1
        assert info.units <= (160 if info.encoding == "GSM-7" else 70)
        assert body.startswith("120 new mentions of Acme.")

    # A second run finds nothing new and sends nothing anywhere.
    summary = run(cfg, clock)
    assert summary["watches"]["Acme"]["found"] == 0
    assert (
        len(smtp.messages) == 1
        and len(slack.payloads) == len(payloads)
        and len(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages) == 2
    )
