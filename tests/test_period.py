"""Period summaries and the other message kinds (spike alerts, quiet-period notes) in every
medium: the HTML chart is inert and valid, the text chart is block characters, Slack gets the
same numbers as fields."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import html5lib
import pytest

from mention_monitor.models import Digest, Mention, SpikeInfo
from mention_monitor.notifiers.console import ConsoleNotifier, ConsoleOptions
from mention_monitor.notifiers.email import SmtpEmailNotifier, SmtpEmailOptions
from mention_monitor.notifiers.file import FileNotifier, FileOptions
from mention_monitor.notifiers.render import render_html, render_text
from mention_monitor.notifiers.slack import SlackNotifier, SlackOptions
from mention_monitor.notifiers.sms import SnsSmsNotifier, SnsSmsOptions, compose_sms, segments
from mention_monitor.notifiers.summary import bar_line
from mention_monitor.period import summarize
from mention_monitor.secrets import EnvSecrets
from tests.test_hostile import html_tags

HOSTILE = [
    '<script>alert(1)</script>',
    '"><img src=x onerror=alert(1)>',
    "</td></tr></table><iframe src=//evil.example>",
    "<!-- ",
    "<style>body{background:url(//evil.example/x)}</style>",
    "&lt;b&gt; <!channel> ' \" `",
]


def _mentions(texts: list[str], start: datetime) -> tuple[Mention, ...]:
    return tuple(
        Mention(
            id=100 + i,
            text=t,
            created_at=(start + timedelta(minutes=37 * i)).isoformat().replace("+00:00", "Z"),
            author_id=str(i % 4),
            author_username=f"user{i % 4}",
            author_name=HOSTILE[i % len(HOSTILE)],
            author_followers=1000 * (i % 4),
            like_count=i,
            repost_count=i % 3,
            lang="en",
            sentiment=("negative", "neutral", "positive", "unknown")[i % 4],
        )
        for i, t in enumerate(texts)
    )


START = datetime(2026, 10, 24, 7, 0, tzinfo=UTC)  # Sat 09:00 CEST; Berlin falls back that night
END = datetime(2026, 10, 25, 8, 5, tzinfo=UTC)  # Sun 09:05 CET


def test_summary_numbers_over_a_dst_day():
    ms = _mentions([f"post {i}" for i in range(40)], START)
    p = summarize(ms, START, END, "Europe/Berlin")
    assert p.unit == "hour" and p.start == "Sat 24 Oct 09:00 CEST" and p.end == "Sun 25 Oct 09:05 CET"
    labels = [label for label, _ in p.buckets]
    assert len(labels) == 26  # 25 hours in that day, plus the 09:00 hour the run falls in
    assert labels.count("02:00") == 2 and labels[0] == "09:00" and labels[-1] == "09:00"
    assert sum(n for _, n in p.buckets) == p.total == 40
    assert [a.username for a in p.top_authors] == ["user3", "user2", "user1"]
    assert [a.mentions for a in p.top_authors] == [10, 10, 10]
    assert [m.id for m in p.top_posts] == [138, 139, 137]  # most likes + reposts: 40, 39, 38
    assert p.sentiment == (("negative", 10), ("neutral", 10), ("positive", 10), ("unknown", 10))
    assert (p.share("negative"), p.share("neutral"), p.share("positive")) == (33, 33, 33)
    week = summarize(ms, START - timedelta(days=6), END, "Europe/Berlin")
    assert week.unit == "day" and len(week.buckets) == 8
    assert week.buckets[-2:] == (("Sat 24", 25), ("Sun 25", 15))  # local days, not UTC days


def test_text_chart_is_one_line_of_block_characters():
    assert bar_line([0, 1, 2, 8, 4]) == "▁▂▃█▅"
    assert bar_line([0, 0]) == "▁▁"
    ms = _mentions([f"post {i}" for i in range(40)], START)
    text = render_text(Digest("Acme", ms, period=summarize(ms, START, END, "Europe/Berlin")))
    chart = next(line for line in text.splitlines() if line.startswith("09:00 ") and "▁" in line)
    assert re.fullmatch(r"09:00 [▁▂▃▄▅▆▇█]{26} 09:00", chart)
    assert "Mentions per hour (peak " in text
    assert "Sentiment: 33% negative · 33% neutral · 33% positive (10 not scored" in text


@pytest.mark.parametrize("hostile", HOSTILE)
def test_html_chart_is_inert_for_hostile_text_and_valid_html(hostile):
    ms = _mentions([f"{hostile} acme {i}" for i in range(30)], START)
    benign = tuple(Mention(**{**_asdict(m), "text": "x", "author_name": "n"}) for m in ms)
    doc = render_html(Digest("Acme", ms, period=summarize(ms, START, END, "Europe/Berlin")))
    ref = render_html(Digest("Acme", benign, period=summarize(benign, START, END, "Europe/Berlin")))
    # valid HTML: the HTML5 parser in strict mode finds no parse error
    html5lib.HTMLParser(strict=True).parse(doc)
    # the only structure is ours: the same tags as for harmless text
    assert [t for t, _ in html_tags(doc) if t not in ("a", "br")] == [
        t for t, _ in html_tags(ref) if t not in ("a", "br")
    ]
    for tag, attrs in html_tags(doc):
        assert tag not in ("script", "img", "iframe", "style", "svg", "link"), tag
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        assert "url(" not in (attrs.get("style") or "")
    assert "<script" not in doc and "<iframe" not in doc
    # the chart: one row per hour, bars as table cells with inline widths, no images
    bars = re.findall(
        r'<table role="presentation" width="(\d+)%" cellpadding="0" cellspacing="0" '
        r'style="width:(\d+)%;border-collapse:collapse"><tr><td height="12" bgcolor', doc
    )
    assert len(bars) == len([1 for _, n in summarize(ms, START, END, "Europe/Berlin").buckets if n])
    assert all(a == b and 1 <= int(a) <= 100 for a, b in bars) and ("100", "100") in bars


def _asdict(m: Mention) -> dict:
    return {f: getattr(m, f) for f in m.__dataclass_fields__}


def test_slack_gets_the_same_numbers_as_block_kit_fields():
    ms = _mentions([f"post {i}" for i in range(40)], START)
    period = summarize(ms, START, END, "Europe/Berlin")
    slack = SlackNotifier("s", SlackOptions(type="slack"), EnvSecrets({}))
    (payload,) = [p for _, p in slack.payloads(Digest("Acme", ms, period=period))]
    fields = payload["blocks"][1]["fields"]
    texts = [f["text"] for f in fields]
    label, peak = period.peak
    assert texts[0] == "*Mentions*\n40"
    assert texts[1] == f"*Peak hour*\n{label}: {peak}"
    assert texts[2] == "*Sentiment*\n33% negative · 33% neutral · 33% positive (10 not scored: not English)"
    assert texts[3].startswith("*Most-followed authors*\n") and "(@user3, 3K)" in texts[3]
    assert "<https://x.com/user3/status/139|@user3>: ♥ 39 ⟲ 0" in texts[4]
    assert "&lt;!--" in texts[3] and "<" not in texts[3].replace("<https://", "")
    chart = payload["blocks"][2]["text"]["text"]
    assert re.search(r"`09:00 [▁▂▃▄▅▆▇█]{26} 09:00`", chart)
    carried = [m.id for ms_, _ in slack.payloads(Digest("Acme", ms, period=period)) for m in ms_]
    assert carried == [m.id for m in ms] and len(payload["blocks"]) == 3 + 40


QUIET = Digest("Acme", (), headline="No new mentions of Acme since Mon 23 Nov 09:00 CET")
ALERT_POSTS = (
    Mention(id=7, text="acme is down <!channel>", author_username="big", author_followers=10**6,
            like_count=900, sentiment="negative"),
    Mention(id=5, text="acme outage", author_username="mid", like_count=50, sentiment="negative"),
)
ALERT = Digest(
    "Acme", ALERT_POSTS, kind="spike",
    headline="Spike: 240 mentions of Acme in the last hour (usual: 12)",
    spike=SpikeInfo(240, 12, 60, negative_share=40),
)


def test_quiet_note_and_spike_alert_in_every_built_in_notifier(tmp_path, capsys):
    email = SmtpEmailNotifier(
        "e", SmtpEmailOptions(type="email-smtp", host="h", sender="a@example.com",
                              recipients=["b@example.com"]), EnvSecrets({}))
    assert email.build_message(QUIET)["Subject"] == QUIET.headline
    msg = email.build_message(ALERT)
    assert msg["Subject"] == ALERT.headline
    html5lib.HTMLParser(strict=True).parse(msg.get_body(("html",)).get_content())
    assert "Negative: 40% of the scored mentions" in msg.get_body(("plain",)).get_content()

    slack = SlackNotifier("s", SlackOptions(type="slack"), EnvSecrets({}))
    (quiet,) = [p for _, p in slack.payloads(QUIET)]
    assert quiet["blocks"] == [{"type": "header", "text": {"type": "plain_text",
                                                           "text": QUIET.headline}}]
    (alert,) = [p for _, p in slack.payloads(ALERT)]
    assert alert["blocks"][0]["text"]["text"] == ALERT.headline
    assert alert["blocks"][1]["type"] == "context"
    assert [b["text"]["text"].split("\n")[1] for b in alert["blocks"][2:]] == [
        "acme is down &lt;!channel&gt;", "acme outage"  # most engaged first, escaped
    ]

    sms = compose_sms(ALERT, 1)
    assert sms.startswith("Spike: 240 mentions of Acme in the last hour (usual: 12). Negative: 40%.")
    assert "x.com/i/status/7" in sms and segments(sms).segments == 1
    assert compose_sms(QUIET, 1) == QUIET.headline + "."
    sns = SnsSmsNotifier("m", SnsSmsOptions(type="sms-sns", phone_numbers=["+14155550100"]),
                         EnvSecrets({}))
    assert sns.preview(ALERT).content.startswith("Spike: 240")

    files = FileNotifier("f", FileOptions(type="file", directory=str(tmp_path)), EnvSecrets({}))
    assert files.send(QUIET).ok and files.send(ALERT).ok
    payloads = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    kinds = sorted((p["kind"], p["subject"], p["count"]) for p in payloads)
    assert kinds == [("digest", QUIET.headline, 0), ("spike", ALERT.headline, 2)]
    spike = next(p for p in payloads if p["kind"] == "spike")
    assert spike["spike"] == {"count": 240, "usual": 12, "window_minutes": 60,
                              "negative_share": 40}
    assert sorted(p.name.rsplit("-", 1)[1] for p in tmp_path.glob("*.html")) == [
        "empty.html", "spike.html"
    ]
    console = ConsoleNotifier("c", ConsoleOptions(type="console"), EnvSecrets({}))
    assert console.send(QUIET).ok
    assert QUIET.headline in capsys.readouterr().out
    # an empty digest without a headline is still never sent
    assert console.send(Digest("Acme", ())).delivered_through is None
    assert capsys.readouterr().out == ""


def test_a_plugin_gets_spike_alerts_through_its_deliver_with_the_headline(register_notifier):
    from mention_monitor.notifiers import DeliveryResult, Notifier, NotifierOptions

    got: list[tuple[str, str, int]] = []

    class Pager(Notifier[NotifierOptions]):
        type_name = "pager-test"

        def _deliver(self, digest: Digest) -> DeliveryResult:
            from mention_monitor.notifiers.render import subject

            got.append((digest.kind, subject(digest), digest.count))
            return self.accepted(digest.mentions)

    p = Pager("p", NotifierOptions(type="pager-test"), EnvSecrets({}))
    assert p.send(ALERT).ok and p.send(QUIET).ok
    assert got == [("spike", ALERT.headline, 2), ("digest", QUIET.headline, 0)]
