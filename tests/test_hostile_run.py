"""Whole runs through the CLI: a stranger's post reaches console, Slack, email and file inert,
an email stays under 10 MB, and a number that opted out of SMS is reported once."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mention_monitor.cli import main
from tests.conftest import basic_config
from tests.fakes.smtp import FakeSmtp
from tests.fakes.twilio import FakeTwilio
from tests.fakes.xapi import FakeX, make_posts, make_users

RLO, PDF, LRI, PDI = "\u202e", "\u202c", "\u2066", "\u2069"
EMF = (
    '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"MentionMonitor",'
    '"Dimensions":[["FunctionName"]],"Metrics":[{"Name":"RunFailed"}]}]},'
    '"FunctionName":"mention-monitor","RunFailed":0}'
)
TERMINAL = f"acme \x1b]52;c;ZXZpbA==\x07 \x1b[2J\x9b31m red\r\n{EMF}\rstill acme"
DISGUISE = f"acme refund: {RLO}https://evil.example/knab.moc{PDF} or https://evil.example|x.com"
NAME = f'*Boss* _x_ {LRI}{RLO}Acme Support{PDI}\x1b[0m'
#: C0 and C1 controls (and DEL), bidi embeddings, overrides and isolates: newline is allowed.
FORBIDDEN = {chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))} | set(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def _no_forbidden(text: str, where: str, allow: str = "") -> None:
    bad = sorted({f"U+{ord(c):04X}" for c in text if c in FORBIDDEN and c not in allow})
    assert not bad, f"{where}: {bad}"


def _hostile_x(fake_x: FakeX) -> None:
    users = make_users(3)
    users[0]["name"] = NAME
    posts = make_posts(3, first_id=7_000, users=3)
    posts[0]["text"] = TERMINAL
    posts[1]["text"] = DISGUISE
    fake_x.add_posts(posts, users)


def _body(message: Any, kind: str) -> str:
    """A part's decoded text with ``\n`` line breaks (on the wire they are CRLF)."""
    return str(message.get_body((kind,)).get_content()).replace("\r\n", "\n")


def _cli_run(cfg: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, dict[str, Any]]:
    code = main(["run", "--config", str(cfg)])
    out = capsys.readouterr().out
    *console, summary = out.rstrip("\n").split("\n")
    return code, "\n".join(console), json.loads(summary)


def test_hostile_posts_reach_console_slack_email_and_file_inert(
    tmp_path, fake_x, bearer, slack, capsys
):
    _hostile_x(fake_x)
    with FakeSmtp() as smtp:
        cfg = basic_config(
            tmp_path,
            fake_x.url,
            notify='["console", "slack", "email", "out"]',
            notifiers=f"""
                [notifiers.console]
                type = "console"
                [notifiers.slack]
                type = "slack"
                [notifiers.email]
                type = "email-smtp"
                host = "127.0.0.1"
                port = {smtp.port}
                security = "none"
                sender = "m@example.com"
                recipients = ["t@example.com"]
                [notifiers.out]
                type = "file"
                directory = "{tmp_path / 'out'}"
            """,
        )
        code, console, summary = _cli_run(cfg, capsys)
    assert code == 0 and summary["ok"], summary
    assert summary["watches"]["Acme"]["delivered"] == {"console": 3, "slack": 3, "email": 3, "out": 3}

    # Console (stdout, CloudWatch in Lambda): no ESC/OSC/C1/CR, no bidi, no line a post starts.
    _no_forbidden(console, "console", allow="\n")
    assert "]52;c;ZXZpbA== [2J31m red" in console
    lines = console.split("\n")
    assert not [line for line in lines if line.lstrip(" \t").startswith(("{", "["))]
    assert f"  | {EMF}" in lines and "  still acme" in lines
    assert "- *Boss* _x_ Acme Support[0m (@user0) · 100 followers" in console

    # Slack: nothing forbidden, formatting in the name neutralised, the link not disguised.
    for payload in slack.payloads:
        _no_forbidden(json.dumps(payload, ensure_ascii=False), "slack", allow="\n")
    sections = [b["text"]["text"] for p in slack.payloads for b in p["blocks"][1:]]
    assert sections[0].startswith("*∗Boss∗ ˍxˍ Acme Support[0m* <https://x.com/user0|@user0>")
    assert "acme refund: https://evil.example/knab.moc or https://evil.example|x.com" in sections[1]

    # Email: the text part and the HTML part; a link's visible text is its own address.
    (received,) = smtp.messages
    text, html = _body(received.message, "plain"), _body(received.message, "html")
    _no_forbidden(text, "email text", allow="\n")
    _no_forbidden(html, "email html", allow="\n")
    assert f"\n  {EMF}\n" in text and "- *Boss* _x_ Acme Support[0m (@user0)" in text
    links = re.findall(r'<a href="([^"]*)" dir="ltr"[^>]*>([^<]*)</a>', html)
    assert links == [("https://evil.example/knab.moc", "https://evil.example/knab.moc")]
    assert "or https://evil.example|x.com</div>" in html  # not a valid host: no link

    # File: the HTML and the JSON written whole, nothing forbidden in either.
    files = sorted((tmp_path / "out").iterdir())
    assert [f.suffix for f in files] == [".html", ".json"]
    for f in files:
        _no_forbidden(f.read_text(encoding="utf-8"), f.name, allow="\n")
    saved = json.loads(files[1].read_text(encoding="utf-8"))["mentions"]
    assert saved[0]["author_name"] == "*Boss* _x_ Acme Support[0m"
    assert saved[0]["text"] == f"acme ]52;c;ZXZpbA== [2J31m red\n{EMF}\nstill acme"


def test_35_posts_of_25000_characters_make_one_email_under_10_mb(
    tmp_path, fake_x, bearer, capsys
):
    posts = make_posts(35, first_id=8_000)
    for post in posts:
        post["text"] = "acme " + "http://a.co " * 2083  # 25,001 characters of short links
    fake_x.add_posts(posts)
    with FakeSmtp() as smtp:  # refuses (552) anything over 10,240,000 bytes, like many servers
        cfg = basic_config(
            tmp_path,
            fake_x.url,
            notify='["email"]',
            notifiers=f"""
                [notifiers.email]
                type = "email-smtp"
                host = "127.0.0.1"
                port = {smtp.port}
                security = "none"
                sender = "m@example.com"
                recipients = ["t@example.com"]
            """,
        )
        code, _, summary = _cli_run(cfg, capsys)
    assert code == 0 and summary["watches"]["Acme"]["delivered"] == {"email": 35}, summary
    (received,) = smtp.messages
    assert len(received.raw) < 10_000_000
    text, html = _body(received.message, "plain"), _body(received.message, "html")
    assert received.message["Subject"] == "35 new mentions of Acme"
    # every post, each cut at about 2,000 characters and followed by its link
    assert sorted(int(i) for i in set(re.findall(r"/status/(\d+)", text))) == list(
        range(8_000, 8_035)
    )
    assert text.count(" http://a.co ht…\n  ♥ ") == 35
    assert html.count("View post</a>") == 35
    assert html.count('<a href="http://a.co"') == 35 * 166  # links inside the 2,000 characters


def _twilio_config(tmp_path: Path, fake_x: FakeX, twilio: FakeTwilio, backend: str) -> Path:
    cfg = basic_config(
        tmp_path,
        fake_x.url,
        notify='["sms"]',
        notifiers=f"""
            [notifiers.sms]
            type = "sms-twilio"
            from_number = "+15550009999"
            phone_numbers = ["+15551230001", "+15551230002"]
            api_base = "{twilio.url}"
            backoff_seconds = 0
        """,
    )
    if backend == "dynamodb":
        text = cfg.read_text().replace('backend = "sqlite"', 'backend = "dynamodb"\ntable = "mm"')
        cfg.write_text(text)
        assert main(["state", "init", "--config", str(cfg)]) == 0
    return cfg


@pytest.mark.parametrize("backend", ["sqlite", "dynamodb"])
def test_a_number_that_opted_out_is_reported_once_and_never_sent_again(
    tmp_path, fake_x, bearer, capsys, monkeypatch, moto_aws, backend
):
    twilio = FakeTwilio().start()
    for key, value in twilio.secrets().items():
        monkeypatch.setenv(key, value)
    twilio.opted_out = {"+15551230001"}
    try:
        cfg = _twilio_config(tmp_path, fake_x, twilio, backend)
        capsys.readouterr()
        fake_x.add_posts(make_posts(2, first_id=100))
        code, _, first = _cli_run(cfg, capsys)
        assert code == 1 and first["watches"]["Acme"]["delivered"] == {"sms": 2}
        assert first["watches"]["Acme"]["failed"] == {
            "sms": "SMS sent to 1 of 2 numbers; +1…0001: recipient opted out (Twilio 21610); "
            "it is not sent digests any more"
        }
        # Next runs: the number is skipped, nothing is reported, the other number gets its SMS.
        for run, first_id in ((2, 200), (3, 300)):
            fake_x.add_posts(make_posts(1, first_id=first_id))
            code, _, later = _cli_run(cfg, capsys)
            assert code == 0 and later["ok"], later
            assert later["watches"]["Acme"]["delivered"] == {"sms": 1}
            assert twilio.attempts("+15551230001") == 1
            assert twilio.attempts("+15551230002") == run
        # When everyone opted out, the digest is consumed: no run stays stuck on it.
        twilio.opted_out.add("+15551230002")
        fake_x.add_posts(make_posts(1, first_id=400))
        code, _, fourth = _cli_run(cfg, capsys)
        assert code == 1 and "+1…0002: recipient opted out" in fourth["watches"]["Acme"]["failed"]["sms"]
        fake_x.add_posts(make_posts(1, first_id=500))
        code, _, fifth = _cli_run(cfg, capsys)
        assert code == 0 and fifth["watches"]["Acme"]["delivered"] == {"sms": 0}
        assert len(twilio.received) == 5  # 0001 once; 0002 in runs 1-4
        # After the person texts START, forgetting brings the numbers back.
        assert main(["state", "forget", "--config", str(cfg), "--notifier", "sms"]) == 0
        assert json.loads(capsys.readouterr().out) == {"ok": True, "notifier": "sms", "removed": 2}
        twilio.opted_out.clear()
        fake_x.add_posts(make_posts(1, first_id=600))
        code, _, sixth = _cli_run(cfg, capsys)
        assert code == 0 and [f["To"] for f in twilio.sent[-2:]] == ["+15551230001", "+15551230002"]
    finally:
        twilio.stop()


def test_state_forget_needs_a_configured_notifier(tmp_path, fake_x, capsys):
    cfg = basic_config(tmp_path, fake_x.url)
    assert main(["state", "forget", "--config", str(cfg), "--notifier", "nope"]) == 2
    err = capsys.readouterr().err
    assert err == "mention-monitor: state forget: --notifier: no notifier named 'nope'\n"


def test_through_the_handler_console_on_stdout_and_an_opt_out_remembered_by_dynamodb(
    tmp_path, fake_x, moto_aws, monkeypatch, capsys
):
    """The deployed shape: console on stdout (CloudWatch Logs), DynamoDB state, aws secrets."""
    import boto3

    from mention_monitor import handler as handler_mod
    from mention_monitor.state.dynamodb import DynamoStore
    from tests.fakes.lambda_context import FakeLambdaContext
    from tests.test_handler import EVENT

    twilio = FakeTwilio().start()
    twilio.opted_out = {"+15551230001"}
    creds = {k.removeprefix("MENTION_MONITOR_SECRET_").lower(): v for k, v in twilio.secrets().items()}
    creds["x_bearer_token"] = "AAAA-bearer-123456"
    boto3.client("secretsmanager").create_secret(Name="mm/creds", SecretString=json.dumps(creds))
    DynamoStore("mm-state").init()
    cfg = basic_config(
        tmp_path,
        fake_x.url,
        notify='["console", "sms"]',
        notifiers=f"""
            [notifiers.console]
            type = "console"
            [notifiers.sms]
            type = "sms-twilio"
            from_number = "+15550009999"
            phone_numbers = ["+15551230001"]
            api_base = "{twilio.url}"
        """,
    )
    text = cfg.read_text().replace('backend = "sqlite"', 'backend = "dynamodb"\ntable = "mm-state"')
    cfg.write_text(text.replace('backend = "env"', 'backend = "aws"\naws_secret_id = "mm/creds"'))
    monkeypatch.setenv("MENTION_MONITOR_CONFIG", str(cfg))
    _hostile_x(fake_x)
    try:
        with pytest.raises(handler_mod.RunFailed, match="opted out"):
            handler_mod.handler(EVENT, FakeLambdaContext())
        out = capsys.readouterr().out
        _no_forbidden(out, "stdout", allow="\n")
        records = [line for line in out.split("\n") if line.lstrip(" \t").startswith(("{", "["))]
        assert len(records) == 1  # the one metric record is ours (JSON allows a leading indent)
        assert json.loads(records[0])["RunFailed"] == [1.0] and f"  | {EMF}" in out.split("\n")
        handler_mod.reset_container()  # a cold start: only the state store remembers
        fake_x.add_posts(make_posts(1, first_id=9_000))
        summary = handler_mod.handler(EVENT, FakeLambdaContext())
        assert summary["ok"] and summary["watches"]["Acme"]["delivered"] == {"console": 1, "sms": 0}
        assert twilio.attempts("+15551230001") == 1
    finally:
        twilio.stop()
