"""What every renderer shows of a stranger's text: cleaned once, links honest, counts in words."""

from __future__ import annotations

import re

import pytest

from mention_monitor.models import Digest
from mention_monitor.notifiers import clean_digest, clean_mention
from mention_monitor.notifiers.render import linkify_html, render_html, render_text
from mention_monitor.notifiers.text import (
    BIDI_CONTROLS,
    CONTROLS,
    clean_line,
    clean_text,
    cut,
    linkable,
    plural,
)
from tests.samples import mention

RLO = "\u202e"  # right-to-left override


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("plain\ttext\nnext", "plain\ttext\nnext"),
        ("a\r\nb\rc\u2028d\u2029e\x85f", "a\nb\nc\nd\ne\nf"),
        ("\x1b]52;c;ZXZpbA==\x07copied", "]52;c;ZXZpbA==copied"),  # OSC 52 clipboard write
        ("\x1b[2J\x9b31mred\x00\x7f", "[2J31mred"),  # ESC/CSI (C0 and C1), NUL, DEL
        (f"pay {RLO}moc.knab\u202c and \u2066x\u2069 \u202a\u202b\u202d\u2067\u2068", "pay moc.knab and x "),
        ("lone \ud83d surrogate \udc00", "lone \ufffd surrogate \ufffd"),
        ("\ud83d\ude80 pair", "🚀 pair"),  # a split pair is joined, not replaced
        ("مرحبا \u200f 🚀🔥👍🏽", "مرحبا \u200f 🚀🔥👍🏽"),  # marks, emoji, RTL text stay
    ],
)
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean
    assert clean_text(clean) == clean  # idempotent


def test_every_control_but_newline_and_tab_and_every_bidi_control_is_removed():
    every = "".join(chr(c) for c in range(0x00, 0xA0)) + "".join(sorted(BIDI_CONTROLS))
    cleaned = clean_text(every)
    assert not (set(cleaned) & (CONTROLS | BIDI_CONTROLS))
    assert "\n" in cleaned and "\t" in cleaned
    assert {chr(c) for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0))} - {"\n", "\t"} == CONTROLS
    assert {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))} == BIDI_CONTROLS


def test_names_are_one_cut_line():
    assert clean_line(" Ada\n\tLovelace\u202e \x1b ") == "Ada Lovelace"
    assert clean_line("x" * 300, 100) == "x" * 99 + "…"
    assert cut("abcdef", 6) == "abcdef" and cut("abc def", 5) == "abc…"


def test_clean_mention_and_digest():
    m = mention(1, f"a{RLO}b\x1bc\ud800", author_name="*Bold*\n{x}", author_username=f"u{RLO}1")
    c = clean_mention(m)
    assert (c.id, c.text, c.author_name, c.author_username) == (1001, "abc\ufffd", "*Bold* {x}", "u1")
    d = clean_digest(Digest(f"Ac{RLO}me\r\n", (m,)))
    assert d.watch == "Acme" and d.mentions == (c,)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://x.com/acme/status/1", True),
        ("http://example.org/a?b=1&c=2#f", True),
        ("https://sub.example.co.uk:8443/", True),
        ("https://münchen.example/", True),  # IDNA
        ("http://192.0.2.10/x", True),
        ("https://evil.example|x.com", False),  # "|" is not in a host name
        ("https://bank.example@evil.example/", False),  # a user part disguises the host
        ("https://localhost/", False),  # no top-level domain
        ("https://-bad.example/", False),
        ("https://bad-.example/", False),
        ("https://a..example/", False),
        ("https://example.123/", False),
        ("https://[::1]/", False),
        ("https://example.com:99999/", False),
        ("https://example.com:port/", False),
        ("javascript:alert(1)", False),
        ("https://" + "a" * 64 + ".example/", False),
    ],
)
def test_only_urls_with_a_valid_host_are_linkable(url, ok):
    assert linkable(url) is ok


def test_html_links_show_their_own_address_and_stay_left_to_right():
    html = linkify_html("see https://evil.example|x.com and https://ok.example/a, or http://localhost/")
    assert re.findall(r"<a [^>]*>[^<]*</a>", html) == [
        '<a href="https://ok.example/a" dir="ltr" rel="noopener noreferrer nofollow" '
        'style="color:#1d9bf0;text-decoration:none;word-break:break-all">https://ok.example/a</a>'
    ]
    assert "see https://evil.example|x.com and " in html and "http://localhost/" in html


def test_a_bidi_override_cannot_disguise_a_link_in_html():
    # U+202E before the URL makes "https://evil.example/knab" read as a bank's address.
    text = f"Your bank: {RLO}https://evil.example/knab.moc{RLO}"
    doc = render_html(Digest("Acme", (mention(1, text, author_name=f"Bank{RLO} Support"),)))
    assert not set(doc) & BIDI_CONTROLS
    links = re.findall(r'<a href="([^"]*)" dir="ltr"[^>]*>([^<]*)</a>', doc)
    assert links == [("https://evil.example/knab.moc", "https://evil.example/knab.moc")]
    assert "<bdi>Bank Support</bdi>" in doc


@pytest.mark.parametrize(
    ("count", "noun", "shown", "text"),
    [(0, "like", None, "0 likes"), (1, "like", None, "1 like"), (2, "repost", None, "2 reposts"),
     (1, "follower", "1", "1 follower"), (12_300, "follower", "12.3K", "12.3K followers")],
)
def test_plural(count, noun, shown, text):
    assert plural(count, noun, shown) == text


def test_counts_are_pluralised_in_text_and_html():
    one = mention(1, author_followers=1, like_count=1, repost_count=1)
    text = render_text(Digest("Acme", (one,)))
    assert text == (
        "1 new mention of Acme\n\n"
        "- User 1 (@user1) · 1 follower · 2026-11-24 18:10 UTC\n"
        "  I love acme\n"
        "  ♥ 1 like  ⟲ 1 repost  https://x.com/user1/status/1001\n"
    )
    doc = render_html(Digest("Acme", (one,)))
    assert "1 follower ·" in doc and "♥ 1 like &nbsp; ⟲ 1 repost &nbsp;" in doc
    two = mention(2, author_followers=2, like_count=2, repost_count=0)
    assert "2 followers" in render_text(Digest("Acme", (two,)))
    assert "♥ 2 likes  ⟲ 0 reposts" in render_text(Digest("Acme", (two,)))


def test_plain_text_indents_every_line_of_a_mention():
    post = '{"_aws":{"CloudWatchMetrics":[]}}\n{"level":"ERROR"}\n\n  {'
    text = render_text(Digest("Acme", (mention(1, post, author_name='{"_aws":1}'),)))
    assert text.splitlines() == [
        "1 new mention of Acme",
        "",
        '- {"_aws":1} (@user1) · 200 followers · 2026-11-24 18:10 UTC',
        '  {"_aws":{"CloudWatchMetrics":[]}}',
        '  {"level":"ERROR"}',
        "  ",
        "    {",
        "  ♥ 1 like  ⟲ 1 repost  https://x.com/user1/status/1001",
    ]
