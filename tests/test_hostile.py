"""Property tests: whatever a stranger writes, every renderer stays inert and within limits."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mention_monitor.models import Digest, Mention
from mention_monitor.notifiers.email import SmtpEmailNotifier
from mention_monitor.notifiers.render import render_html, render_text
from mention_monitor.notifiers.slack import SlackNotifier
from mention_monitor.notifiers.sms import compose_sms, segments
from mention_monitor.secrets import EnvSecrets

#: What no renderer may pass on: C0/C1 controls (newline and tab aside) and bidi controls.
FORBIDDEN = frozenset(
    {chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))} - {"\n", "\t"}
) | frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
LONE_SURROGATES = ["\ud83d", "\ude80", "\ud800", "\udfff"]
NASTY = st.sampled_from(
    [
        "<!channel>", "<!here>", "<!everyone>", "<@U123ABC>", "<#C123|general>",
        "<!subteam^S123>", "<https://evil.example|x.com>", "<script>alert(1)</script>",
        "&amp;", "&lt;b&gt;", "<img src=x onerror=alert(1)>", "\"'><svg onload=1>",
        "https://example.com/a?b=1&c=<2>", "javascript:alert(1)", "\u202eevil\u202c",
        "مرحبا", "🚀🔥👍🏽", "{}[]~^|\\€", "\n\r\n", "\x00", "*bold* _it_ ~s~ `code`",
        "\x1b]52;c;ZXZpbA==\x07", "\x1b[2J", "\x9b31m", "\r", "\u2028", "\x85",
        '\n{"_aws":{"CloudWatchMetrics":[]}}', "\u202ehttps://evil.example/knab.moc",
        "\u2066\u2067\u2068\u2069\u202a\u202b\u202d", "\ud83d", "\ude80x",
    ]
)
#: Single hostile code points, so shrinking finds the one that gets through.
HOSTILE_CHAR = st.sampled_from(sorted(FORBIDDEN) + LONE_SURROGATES)
PIECE = st.one_of(NASTY, st.text(max_size=60), st.lists(HOSTILE_CHAR, max_size=4).map("".join))
TEXT = st.lists(PIECE, max_size=12).map("".join) | st.text(min_size=3000, max_size=4200)
NAME = st.one_of(NASTY, st.text(max_size=50), st.lists(PIECE, max_size=3).map("".join))
USERNAME = st.one_of(
    st.from_regex(r"[A-Za-z0-9_]{1,15}", fullmatch=True), st.text(max_size=20), NAME
)


@st.composite
def mentions(draw) -> Mention:
    return Mention(
        id=draw(st.integers(min_value=1, max_value=2**63 - 1)),
        text=draw(TEXT),
        created_at=draw(st.sampled_from(["", "2026-11-24T18:10:00.000Z", "garbage<b>"])),
        author_username=draw(USERNAME),
        author_name=draw(NAME),
        author_followers=draw(st.integers(min_value=0, max_value=10**9)),
        like_count=draw(st.integers(min_value=0, max_value=10**7)),
        repost_count=draw(st.integers(min_value=0, max_value=10**7)),
    )


@st.composite
def digests(draw) -> Digest:
    ms = draw(st.lists(mentions(), min_size=1, max_size=8, unique_by=lambda m: m.id))
    return Digest("Acme", tuple(sorted(ms, key=lambda m: m.id)), "https://x.com/search?q=acme")


@st.composite
def scheduled_digests(draw) -> Digest:
    """A scheduled digest: its period summary names strangers and quotes their posts too."""
    from mention_monitor.models import AuthorCount, PeriodSummary

    digest = draw(digests())
    authors = tuple(
        AuthorCount(draw(USERNAME), draw(NAME), draw(st.integers(0, 10**7)), draw(st.integers(1, 9)))
        for _ in range(draw(st.integers(0, 3)))
    )
    period = PeriodSummary(
        start="2026-11-23", end="2026-11-24", unit="day",
        buckets=(("11-23", 1), ("11-24", digest.count)), total=digest.count + 1,
        top_authors=authors, top_posts=digest.mentions[:3],
        sentiment=draw(st.sampled_from([(), (("negative", 1), ("unknown", 2))])),
    )
    return Digest(digest.watch, digest.mentions, digest.search_url, period=period)


def assert_inert(out: str, where: str, allow: str = "\n\t") -> None:
    """``out`` encodes as UTF-8 (no lone surrogate) and holds no control or bidi character."""
    out.encode("utf-8")
    bad = sorted({f"U+{ord(c):04X}" for c in out if c in FORBIDDEN and c not in allow})
    assert not bad, f"{where} passes on {bad}"


# Deterministic (CI must not flake), and large on purpose: 4,000-character posts are a case.
FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

OUR_LINK = re.compile(r"<https://x\.com/[^|<>\s]*\|[^<>]*>")


def _slack():
    from mention_monitor.notifiers.slack import SlackOptions

    return SlackNotifier("slack", SlackOptions(type="slack"), EnvSecrets({}))


@FAST
@given(digests())
def test_slack_payload_never_carries_a_live_control_sequence(digest):
    for mentions_in_msg, payload in _slack().payloads(digest):
        assert len(payload["blocks"]) <= 50
        assert payload["unfurl_links"] is False and "link_names" not in payload
        assert "parse" not in payload
        for block in payload["blocks"][1:]:
            text = block["text"]["text"]
            assert len(text.encode("utf-16-le")) // 2 <= 3000
            rest = OUR_LINK.sub("", text)
            assert "<" not in rest and ">" not in rest, text
            assert re.fullmatch(r"(?:[^&]|&amp;|&lt;|&gt;)*", rest, re.S), text
        assert "<" not in payload["text"] and ">" not in payload["text"]
        assert sum(len(b["text"]["text"]) for b in payload["blocks"]) <= 12_000
        assert_inert(json.dumps(payload, ensure_ascii=False), "slack", allow="")
        for block in payload["blocks"][1:]:
            name_part = block["text"]["text"].split("* <", 1)[0].split("* · ", 1)[0][1:]
            assert not set(name_part) & set("*_~`"), name_part  # no formatting in names
    carried = [m.id for ms, _ in _slack().payloads(digest) for m in ms]
    assert carried == [m.id for m in digest.mentions]  # every mention once, in order


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def html_tags(doc: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every start tag of ``doc`` with its attributes, in order."""
    p = _Tags()
    p.feed(doc)
    return p.tags


ALLOWED = {"html", "head", "meta", "title", "body", "table", "tr", "td", "div", "strong", "a",
           "span", "br", "p", "b", "small", "img", "bdi"}


@FAST
@given(digests(), st.integers(min_value=1, max_value=10))
def test_email_html_never_contains_a_tag_from_tweet_text(digest, limit):
    benign = Digest(
        digest.watch,
        tuple(
            Mention(id=m.id, text="x", author_username="u", author_name="n") for m in digest.mentions
        ),
        digest.search_url,
    )
    doc = render_html(digest, limit)
    assert_inert(doc, "html", allow="\n")
    got = [t for t, _ in html_tags(doc) if t not in ("a", "br")]
    want = [t for t, _ in html_tags(render_html(benign, limit)) if t not in ("a", "br")]
    assert got == want  # the only structure is ours
    for tag, attrs in html_tags(doc):
        assert tag in ALLOWED and tag not in ("script", "img", "iframe", "svg")
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        if tag == "a":
            assert (attrs.get("href") or "").startswith(("https://", "http://"))
    for href, label in re.findall(r'<a href="([^"]*)" dir="ltr"[^>]*>([^<]*)</a>', doc):
        assert href == label  # a link made from a post shows its own address
    assert_inert(render_text(digest, limit), "text")


@FAST
@given(digests())
def test_email_message_builds_for_any_text(digest):
    from mention_monitor.notifiers.email import SmtpEmailOptions

    opts = SmtpEmailOptions(type="email-smtp", host="127.0.0.1", sender="a@example.com",
                       recipients=["b@example.com"])
    msg = SmtpEmailNotifier("email", opts, EnvSecrets({})).build_message(digest)
    assert msg["Subject"].startswith(f"{digest.count} new mention")
    assert msg.is_multipart()
    raw = msg.as_bytes()
    assert raw.isascii() and raw.count(b"\n") == raw.count(b"\r\n")
    for kind in ("plain", "html"):
        part = msg.get_body((kind,))
        assert part is not None
        assert_inert(part.get_content(), f"email {kind}", allow="\r\n\t")


@FAST
@given(digests(), st.integers(min_value=1, max_value=4))
def test_sms_stays_inside_its_segment_budget(digest, max_segments):
    text = compose_sms(digest, max_segments)
    info = segments(text)
    assert 1 <= info.segments <= max_segments, (text, info)
    assert str(digest.count) in text
    assert_inert(text, "sms", allow="")


@FAST
@given(digests())
def test_console_output_is_inert_and_no_post_line_starts_a_line(digest):
    import io
    from contextlib import redirect_stdout

    from mention_monitor.notifiers.console import ConsoleNotifier, ConsoleOptions

    out = io.StringIO()
    with redirect_stdout(out):
        result = ConsoleNotifier("console", ConsoleOptions(type="console"), EnvSecrets({})).send(
            digest
        )
    assert result.ok and result.delivered == digest.count
    text = out.getvalue()
    assert_inert(text, "console")
    rule, subject_line, blank, *body, last = text.split("\n")[:-1] or [""] * 5
    assert rule == last == "=" * 72 and subject_line.startswith(f"{digest.count} new mention")
    assert blank == ""
    for line in body:  # only our own lines start at the margin
        assert line == "" or line.startswith(("- ", "  ")), repr(line)
        # and none reads as JSON (an EMF record), indent or not
        assert not line.lstrip(" \t").startswith(("{", "[")), repr(line)


@FAST
@given(digests())
def test_file_notifier_writes_both_files_whole_for_any_text(digest):
    import tempfile
    from pathlib import Path

    from mention_monitor.notifiers.file import FileNotifier, FileOptions

    with tempfile.TemporaryDirectory() as tmp:
        opts = FileOptions(type="file", directory=tmp)
        result = FileNotifier("file", opts, EnvSecrets({})).send(digest)
        assert result.ok, result.error
        files = sorted(Path(tmp).iterdir())
        assert [f.suffix for f in files] == [".html", ".json"]
        for f in files:
            assert_inert(f.read_text(encoding="utf-8"), f.suffix, allow="\n\t")
        saved = json.loads(files[1].read_text(encoding="utf-8"))
        assert [int(m["id"]) for m in saved["mentions"]] == [m.id for m in digest.mentions]


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(["page_size", "max_query_length", "auth", "api_base", "max_retries"]),
        st.one_of(st.integers(-5, 10**6), st.text(max_size=10), st.booleans(), st.floats()),
        max_size=3,
    ),
    st.one_of(st.lists(st.text(max_size=8), max_size=3), st.integers(), st.text(max_size=5)),
)
def test_any_config_value_is_accepted_or_one_line_exit_2(tmp_path_factory, x_values, terms):
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from mention_monitor.cli import main

    path = tmp_path_factory.mktemp("cfg") / "monitor.toml"
    lines = ["[x]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in x_values.items() if v == v]  # skip NaN
    lines += ["[[watches]]", 'name = "A"', f"terms = {json.dumps(terms)}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        code = main(["check", "--config", str(path)])
    if code != 0:
        assert code == 2
        assert len(err.getvalue().strip().splitlines()) == 1, err.getvalue()
        assert "Traceback" not in err.getvalue()


@FAST
@given(scheduled_digests())
def test_period_summaries_are_inert_in_every_renderer(digest):
    import io
    from contextlib import redirect_stdout

    from mention_monitor.notifiers.console import ConsoleNotifier, ConsoleOptions
    from mention_monitor.notifiers.email import SmtpEmailOptions
    from tests.fakes.slack import _texts, limits_violation

    out = io.StringIO()
    with redirect_stdout(out):
        assert ConsoleNotifier("c", ConsoleOptions(type="console"), EnvSecrets({})).send(digest).ok
    assert_inert(out.getvalue(), "console")
    assert all(not line.startswith("{") for line in out.getvalue().split("\n"))
    assert_inert(render_html(digest), "html", allow="\n")
    opts = SmtpEmailOptions(type="email-smtp", host="127.0.0.1", sender="a@example.com",
                            recipients=["b@example.com"])
    assert SmtpEmailNotifier("email", opts, EnvSecrets({})).build_message(digest).as_bytes().isascii()
    for _, payload in _slack().payloads(digest):
        assert limits_violation(payload) is None
        assert_inert(json.dumps(payload, ensure_ascii=False), "slack", allow="")
        for block in payload["blocks"][1:]:
            for text, _ in _texts(block):
                rest = OUR_LINK.sub("", text)
                assert "<" not in rest and ">" not in rest, text
                assert re.fullmatch(r"(?:[^&]|&amp;|&lt;|&gt;)*", rest, re.S), text
    assert_inert(compose_sms(digest, 2), "sms", allow="")
