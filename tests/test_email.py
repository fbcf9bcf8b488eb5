"""email-smtp against a local aiosmtpd server; email-ses through moto."""

from __future__ import annotations

import email
import email.policy
import re
from typing import Any

import boto3
import pytest

from mention_monitor.config import load_settings
from mention_monitor.errors import ConfigError
from mention_monitor.notifiers.email import (
    SesEmailNotifier,
    SesEmailOptions,
    SmtpEmailNotifier,
    SmtpEmailOptions,
)
from mention_monitor.secrets import EnvSecrets
from mention_monitor.services import Services
from tests.conftest import FakeClock, toml_config
from tests.fakes.smtp import FakeSmtp
from mention_monitor.models import Digest
from tests.samples import EMOJI, HOSTILE, LONG, RTL, hostile_digest, many, mention


def smtp_notifier(port: int, env: dict[str, str] | None = None, **kw: Any) -> SmtpEmailNotifier:
    opts = SmtpEmailOptions(
        type="email-smtp",
        host="127.0.0.1",
        port=port,
        security="none",
        sender="monitor@example.com",
        recipients=["a@example.com", "b@example.com"],
        **kw,
    )
    return SmtpEmailNotifier("mail", opts, EnvSecrets(env or {}), Services(clock=FakeClock()))


def parts(msg: email.message.EmailMessage) -> tuple[str, str]:
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_smtp_sends_one_multipart_digest():
    with FakeSmtp() as server:
        result = smtp_notifier(server.port).send(hostile_digest())
    assert result.ok and result.delivered == 4 and result.delivered_through == 1003
    assert len(server.messages) == 1
    got = server.messages[0]
    assert got.mail_from == "monitor@example.com"
    assert got.rcpt_tos == ["a@example.com", "b@example.com"]
    msg = got.message
    assert msg["Subject"] == "4 new mentions of Acme"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    text, html = parts(msg)
    # text: verbatim, the count and every post link
    assert HOSTILE in text and RTL in text
    assert "4 new mentions of Acme" in text
    assert all(f"https://x.com/user{i}/status/{1000 + i}" in text for i in range(4))
    # html: nothing hostile survives as markup
    assert "<script" not in html and "<!channel>" not in html and "<b>Evil" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&amp;amp;" in html  # the literal "&amp;" in the post is shown as typed
    assert "&lt;!here&gt; &lt;b&gt;Evil&lt;/b&gt;" in html
    # a link's visible text is its own address: "<url|x.com>" cannot disguise one
    for href, label in re.findall(r'<a href="([^"]*)"[^>]*>([^<]*)</a>', html):
        assert label.startswith("@") or label == "View post" or label == href
    assert ">x.com</a>" not in html
    assert re.search(r"<img|<script|<iframe|<link|@import", html) is None
    assert 'href="https://x.com/user0"' in html  # @username linked to the profile
    assert "100 followers" in html and "2026-11-24 18:10 UTC" in html
    assert "likes" in html and "reposts" in html
    # the 4,000-character post keeps its line breaks, cut at 2,000 characters like Slack's
    assert html.count("<br>") == 19 and LONG.splitlines()[0] in html
    lines = [line for line in text.splitlines() if line.startswith("  acme x")]
    assert len(lines) == 20 and lines[-1] == "  " + LONG[1919:1999] + "…"


def test_smtp_login_when_secrets_set():
    env = {
        "MENTION_MONITOR_SECRET_SMTP_USER": "mailer",
        "MENTION_MONITOR_SECRET_SMTP_PASS": "s3cret-pass",
    }
    with FakeSmtp(credentials=("mailer", "s3cret-pass")) as server:
        n = smtp_notifier(
            server.port,
            env,
            username_secret="smtp_user",
            password_secret="smtp_pass",
            allow_insecure_login=True,  # the test server offers no TLS
        )
        assert n.options.secret_keys() == ["smtp_user", "smtp_pass"]
        result = n.send(many(3))
    assert result.ok and server.logins == ["mailer"] and len(server.messages) == 1


def test_smtp_wrong_password_reports_without_the_secret():
    env = {
        "MENTION_MONITOR_SECRET_SMTP_USER": "mailer",
        "MENTION_MONITOR_SECRET_SMTP_PASS": "wrong-pass-123",
    }
    with FakeSmtp(credentials=("mailer", "s3cret-pass")) as server:
        result = smtp_notifier(
            server.port,
            env,
            username_secret="smtp_user",
            password_secret="smtp_pass",
            allow_insecure_login=True,  # the test server offers no TLS
        ).send(many(3))
    assert not result.ok and result.delivered_through is None
    assert "login" in (result.error or "") and "wrong-pass-123" not in (result.error or "")
    assert server.messages == [] and server.failed_logins >= 1


def test_smtp_no_login_without_secrets():
    with FakeSmtp() as server:
        n = smtp_notifier(server.port)
        assert n.options.secret_keys() == []
        assert n.send(many(1)).ok
    assert server.logins == [] and server.messages[0].message["Subject"] == "1 new mention of Acme"


def test_smtp_unreachable_server_is_a_failure_not_a_crash():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = smtp_notifier(port).send(many(2))
    assert not result.ok and "cannot reach SMTP server" in (result.error or "")


def test_above_max_mentions_most_followed_first_with_link_to_search():
    with FakeSmtp() as server:
        smtp_notifier(server.port, max_mentions=5).send(many(12))
    text, html = parts(server.messages[0].message)
    assert server.messages[0].message["Subject"] == "12 new mentions of Acme"
    shown = [int(x) for x in re.findall(r"/status/(\d+)", text)]
    assert shown == [1011, 1010, 1009, 1008, 1007]  # followers grow with i
    assert "7 more" in text and "https://x.com/search?q=acme&f=live" in text
    assert "7 more mentions" in html and 'href="https://x.com/search?q=acme&amp;f=live"' in html


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('sender = "not an address"\nrecipients = ["a@example.com"]', "notifiers.mail.sender"),
        ('sender = "m@example.com"\nrecipients = []', "notifiers.mail.recipients"),
        (
            'sender = "m@example.com"\nrecipients = ["a@example.com"]\nusername_secret = "u"',
            "notifiers.mail",
        ),
        (
            'sender = "m@example.com"\nrecipients = ["x@y.z\\nBcc: e@evil.example"]',
            "notifiers.mail.recipients",
        ),
    ],
)
def test_smtp_config_errors_name_the_field(tmp_path, body, field):
    cfg = toml_config(
        tmp_path,
        """
        [[watches]]
        name = "Acme"
        terms = ["acme"]
        notify = ["mail"]

        [notifiers.mail]
        type = "email-smtp"
        host = "127.0.0.1"
        """
        + body.replace("\n", "\n        ")
        + "\n",
    )
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert field in str(err.value)


# -- SES (moto) ------------------------------------------------------------------------------
def ses_sent() -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def ses_notifier(client: Any = None) -> SesEmailNotifier:
    opts = SesEmailOptions(
        type="email-ses", sender="monitor@example.com", recipients=["a@example.com"]
    )
    services = Services(clock=FakeClock())
    if client is not None:
        services = Services(clock=FakeClock(), aws_client=lambda name, **kw: client)
    return SesEmailNotifier("ses", opts, EnvSecrets({}), services)


def test_ses_sends_multipart_raw_message(moto_aws):
    boto3.client("sesv2").create_email_identity(EmailIdentity="monitor@example.com")
    n = ses_notifier()
    assert n._ses is None  # created lazily, on first send
    result = n.send(hostile_digest())
    assert result.ok and result.delivered == 4 and result.details["message_id"]
    sent = ses_sent()
    assert len(sent) == 1
    assert sent[0].source == "monitor@example.com" and set(sent[0].destinations) == {
        "a@example.com"
    }
    msg = email.message_from_string(sent[0].raw_data, policy=email.policy.default)
    assert msg["Subject"] == "4 new mentions of Acme"
    text, html = parts(msg)  # type: ignore[arg-type]
    assert HOSTILE in text and "<script>" not in html and "&lt;script&gt;" in html


def test_ses_refusal_is_reported(moto_aws):
    # the sender identity is not verified: SES (moto) rejects the message
    result = ses_notifier().send(many(2))
    assert not result.ok and result.delivered_through is None
    assert "SES refused the digest: MessageRejected" in (result.error or "")
    assert ses_sent() == []


def test_ses_uses_an_injected_client():
    calls: list[dict[str, Any]] = []

    class Stub:
        def send_email(self, **kw: Any) -> dict[str, str]:
            calls.append(kw)
            return {"MessageId": "m-1"}

    result = ses_notifier(Stub()).send(Digest_one())
    assert result.ok and calls[0]["FromEmailAddress"] == "monitor@example.com"
    assert calls[0]["Destination"] == {"ToAddresses": ["a@example.com"]}
    assert b"multipart/alternative" in calls[0]["Content"]["Raw"]["Data"]


def Digest_one():
    from mention_monitor.notifiers import Digest

    return Digest("Acme", (mention(0),))


# -- email as the RFC says (issue 9, item 9; issue 12, item 7) ----------------------------------
def test_ses_raw_message_has_crlf_line_endings_and_7bit_parts():
    calls: list[dict[str, Any]] = []

    class Stub:
        def send_email(self, **kw: Any) -> dict[str, str]:
            calls.append(kw)
            return {"MessageId": "m-1"}

    assert ses_notifier(Stub()).send(hostile_digest()).ok
    raw: bytes = calls[0]["Content"]["Raw"]["Data"]
    assert raw.count(b"\n") == raw.count(b"\r\n") > 50 and b"\r\r" not in raw
    assert raw.isascii() and max(len(line) for line in raw.split(b"\r\n")) <= 78
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert [p["Content-Transfer-Encoding"] for p in msg.iter_parts()] == [
        "quoted-printable",
        "quoted-printable",
    ]
    text, html = parts(msg)  # type: ignore[arg-type]
    assert HOSTILE in text and RTL in text and EMOJI in text and "🚀🔥" in html


def test_smtp_server_without_8bitmime_gets_only_7bit_data():
    short_lines = Digest("Acme", (mention(1, EMOJI), mention(2, RTL, author_name="محمد")))
    with FakeSmtp(eight_bit_mime=False) as server:
        result = smtp_notifier(server.port).send(short_lines)
    assert result.ok
    got = server.messages[0]
    assert got.raw.isascii() and "BODY=8BITMIME" not in got.mail_options
    text, _ = parts(got.message)
    assert RTL in text and EMOJI in text


def test_a_digest_too_big_shows_the_most_followed_authors_that_fit_and_counts_the_rest():
    class SmallLimit(SmtpEmailNotifier):
        max_message_bytes = 60_000

    opts = SmtpEmailOptions(type="email-smtp", host="127.0.0.1", sender="m@example.com",
                            recipients=["a@example.com"])
    n = SmallLimit("mail", opts, EnvSecrets({}), Services(clock=FakeClock()))
    digest = Digest("Acme", tuple(mention(i, "acme é " * 400) for i in range(40)))
    msg = n.build_message(digest)
    assert len(msg.as_bytes()) <= 60_000
    text, html = (part.replace("\r\n", "\n") for part in parts(msg))
    shown = [int(x) for x in re.findall(r"/status/(\d+)", text)]
    assert 5 <= len(shown) < 40
    assert shown == list(range(1039, 1039 - len(shown), -1))  # the most-followed first
    more = 40 - len(shown)
    note = f"Showing the {len(shown)} most-followed authors; {more} more mentions on X"
    assert f"{note}:\n" in text and f"{note}: <a href=" in html
    assert msg["Subject"] == "40 new mentions of Acme"


@pytest.mark.parametrize(("value", "ok"), [(1000, True), (1001, False), (0, False)])
def test_max_mentions_has_an_upper_bound(tmp_path, value, ok):
    cfg = toml_config(
        tmp_path,
        f"""
        [[watches]]
        name = "Acme"
        terms = ["acme"]
        notify = ["mail"]

        [notifiers.mail]
        type = "email-ses"
        sender = "m@example.com"
        recipients = ["a@example.com"]
        max_mentions = {value}
        """,
    )
    if ok:
        assert load_settings(cfg).notifier_options("mail").max_mentions == value  # type: ignore[attr-defined]
        return
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "notifiers.mail.max_mentions" in str(err.value)
