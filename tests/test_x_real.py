"""Real X: recorded post lists through a whole ``mention-monitor run``, and every recorded X
error body served by the fake X drives its documented behaviour."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest

from mention_monitor.cli import main
from mention_monitor.config import load_settings
from mention_monitor.notifiers.slack import mrkdwn
from mention_monitor.state import make_store
from tests.conftest import (
    FakeClock,
    basic_config,
    delivered_ids,
    run_monitor,
    summary_line,
    toml_config,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSmtp
from tests.fakes.twilio import FakeTwilio
from tests.fakes.xapi import FIELDS_PARAMS, FakeX, make_posts, real_reply, unknown_fields
from tests.test_xparse import POST_LISTS, REAL, as_typed

ENTITY_TERMS = ("&amp;", "&lt;", "&gt;")


def build_replay_dir(dest: Path) -> tuple[dict[int, str], set[int]]:
    """Every recorded post list as a replay page, plus both synthetic long posts (the
    ``note_tweet`` one under its own ID). Returns each post's expected text and the IDs of
    the posts the 'Entities' watch matches."""
    dest.mkdir()
    expected: dict[int, str] = {}
    entities: set[int] = set()
    for path in POST_LISTS:
        body = json.loads(path.read_text("utf-8"))["body"]
        (dest / path.name).write_text(json.dumps(body), "utf-8")
        for post in body["data"]:
            expected[int(post["id"])] = as_typed(post["text"])
            if any(t in post["text"] for t in ENTITY_TERMS):
                entities.add(int(post["id"]))
    long_posts = (("note_post", "1861000000000000001"), ("note_tweet", "1861000000000000002"))
    for name, post_id in long_posts:
        body = json.loads((REAL / f"synthetic-longpost-{name}.json").read_text("utf-8"))
        body["data"][0]["id"] = post_id
        body["data"][0]["edit_history_tweet_ids"] = [post_id]
        (dest / f"longpost-{name}.json").write_text(json.dumps(body), "utf-8")
        expected[int(post_id)] = body["data"][0][name]["text"]
        entities.add(int(post_id))
    return expected, entities


def test_recorded_posts_reach_every_notifier_as_typed_and_whole(
    tmp_path, monkeypatch, capsys
):
    """The tweepy recordings that list posts, replayed through ``mention-monitor run``: each
    notifier gets each text as its author typed it (X's entities decoded once, then escaped
    once for Slack and HTML) and long posts whole."""
    expected, entity_ids = build_replay_dir(tmp_path / "recorded")
    assert len(expected) == 342 and len(entity_ids) == 12
    long_text = expected[1861000000000000002]
    slack, twilio = FakeSlack().start(), FakeTwilio().start()
    monkeypatch.setenv("MENTION_MONITOR_SECRET_SLACK_WEBHOOK_URL", slack.webhook_url)
    for key, value in twilio.secrets().items():
        monkeypatch.setenv(key, value)
    try:
        with FakeSmtp() as smtp:
            cfg = toml_config(
                tmp_path,
                f"""
                [x]
                source = "replay"
                replay_dir = "{tmp_path / 'recorded'}"
                [state]
                path = "{tmp_path / 'state.db'}"
                [[watches]]
                name = "All"
                terms = ["e", "a", "o", "t"]
                include_retweets = true
                first_run = "backfill"
                backfill_limit = 10000
                notify = ["files"]
                [[watches]]
                name = "Entities"
                terms = ["&amp;", "&lt;", "&gt;", "outage"]
                include_retweets = true
                first_run = "backfill"
                notify = ["console", "slack", "email", "sms"]
                [notifiers.files]
                type = "file"
                directory = "{tmp_path / 'out'}"
                [notifiers.console]
                type = "console"
                [notifiers.slack]
                type = "slack"
                [notifiers.email]
                type = "email-smtp"
                host = "127.0.0.1"
                port = {smtp.port}
                security = "none"
                sender = "monitor@example.com"
                recipients = ["team@example.com"]
                [notifiers.sms]
                type = "sms-twilio"
                from_number = "+15550009999"
                phone_numbers = ["+15551230001"]
                api_base = "{twilio.url}"
                max_segments = 10
                """,
            )
            code = main(["run", "--config", str(cfg)])
    finally:
        slack.stop()
        twilio.stop()
    out = capsys.readouterr().out
    summary = summary_line(out)
    assert code == 0, summary
    assert summary["watches"]["All"]["found"] == 342
    assert summary["watches"]["Entities"]["delivered"] == {
        "console": 12, "slack": 12, "email": 12, "sms": 12
    }

    # File: every post once, its text exactly as typed, long posts whole.
    got: dict[int, str] = {}
    for path in sorted((tmp_path / "out").glob("*.json")):
        for m in json.loads(path.read_text("utf-8"))["mentions"]:
            assert int(m["id"]) not in got
            got[int(m["id"])] = m["text"]
    assert got == expected

    entity_texts = [expected[i] for i in sorted(entity_ids)]
    assert "NYC < London (weather this week)" in entity_texts
    assert all(x not in t for t in entity_texts for x in ENTITY_TERMS)  # none typed literally

    # Console: as typed.
    for text in entity_texts:
        assert text.split("\n")[0] in out
    assert long_text in out
    assert not any(x in out for x in ENTITY_TERMS)

    # Slack: escaped exactly once (and mrkdwn formatting such as "_" made inert).
    blocks = "\n".join(b["text"]["text"] for p in slack.payloads for b in p["blocks"])
    assert "NYC &lt; London (weather this week)" in blocks
    for text in entity_texts:
        assert mrkdwn(text.split("\n")[0]) in blocks
    assert "&amp;amp;" not in blocks and "&amp;lt;" not in blocks and "&amp;gt;" not in blocks
    assert mrkdwn(long_text) in blocks

    # Email: the text part as typed, the HTML part escaped once.
    (msg,) = smtp.messages
    plain = msg.message.get_body(("plain",)).get_content()
    page = msg.message.get_body(("html",)).get_content()
    for text in entity_texts:
        assert text.split("\n")[0] in plain
    assert long_text in plain and html.escape(long_text, quote=False) in page
    assert "NYC &lt; London (weather this week)" in page
    assert not any(x in plain for x in ENTITY_TERMS)
    assert "&amp;amp;" not in page and "&amp;lt;" not in page and "&amp;gt;" not in page

    # SMS: the top mention (the newest on a tie) is the long post, whole.
    (sms,) = twilio.sent
    assert long_text in sms["Body"]


# -- every recorded error, served by the fake X with its exact body and status ------------------
def run(cfg: Path, clock: FakeClock) -> tuple[dict[str, Any], dict[str, Any]]:
    settings = load_settings(cfg)
    store = make_store("sqlite", path=settings.state.path)
    try:
        summary = run_monitor(settings, store, clock)
        return summary, {w.name: store.load(w.name) for w in settings.watches}
    finally:
        store.close()


def two_watches(tmp_path: Path, url: str) -> Path:
    """'Acme' (terms acme) and 'Beta' (terms beta), file notifiers out/ and out2/."""
    cfg = basic_config(tmp_path, url)
    cfg.write_text(
        cfg.read_text()
        + """
[[watches]]
name = "Beta"
terms = ["beta"]
first_run = "backfill"
notify = ["out2"]
""",
        "utf-8",
    )
    return cfg


def seeded(tmp_path: Path, fake_x: FakeX, clock: FakeClock) -> Path:
    """Two watches after a first run (5 posts each, delivered), and 3 new posts each."""
    fake_x.add_posts(make_posts(5, first_id=100, text="acme"))
    fake_x.add_posts(make_posts(5, first_id=200, text="beta"))
    cfg = two_watches(tmp_path, fake_x.url)
    s, _ = run(cfg, clock)
    assert s["ok"], s
    fake_x.add_posts(make_posts(3, first_id=300, text="acme"))
    fake_x.add_posts(make_posts(3, first_id=400, text="beta"))
    return cfg


def cursors(states: dict[str, Any]) -> dict[str, list[int | None]]:
    return {w: sorted(q.cursor for q in st.queries.values()) for w, st in states.items()}


BEFORE = {"Acme": [104], "Beta": [204]}
AFTER = {"Acme": [302], "Beta": [402]}


def test_error_400_bad_query(tmp_path, fake_x, clock, bearer):
    """X's message, not its generic detail; the other watch goes on (see test_x_source for
    the same query answered this way on every run)."""
    cfg = seeded(tmp_path, fake_x, clock)
    fake_x.then_for("acme", real_reply("400_bad_query"))
    s, states = run(cfg, clock)
    assert s["watches"]["Acme"]["failed"] == {
        "search": "X rejected the request (HTTP 400): There were errors processing your "
        "request: Operator '-' is not a valid operator (at position 6) (query 'acme -is:retweet')"
    }
    assert s["watches"]["Acme"]["api_requests"] == 1
    assert s["watches"]["Beta"] == s["watches"]["Beta"] | {"found": 3, "failed": {}}
    assert cursors(states) == {"Acme": [104], "Beta": [402]}


def test_error_400_id_with_time(tmp_path, fake_x, clock, bearer):
    """Reported with X's message; it names since_id but is no old cursor (no fallback)."""
    cfg = seeded(tmp_path, fake_x, clock)
    fake_x.then_for("acme", real_reply("400_id_with_time"))
    s, states = run(cfg, clock)
    acme = s["watches"]["Acme"]
    assert acme["failed"]["search"].startswith(
        "X rejected the request (HTTP 400): Invalid use of 'since_id' or 'until_id' in "
        "conjunction with 'start_time' or 'end_time'."
    )
    assert acme["api_requests"] == 1 and "warnings" not in acme
    assert cursors(states) == {"Acme": [104], "Beta": [402]}


def test_error_400_since_id_too_old(tmp_path, fake_x, clock, bearer):
    cfg = seeded(tmp_path, fake_x, clock)
    fake_x.then_for("acme", real_reply("400_since_id_too_old"))
    s, states = run(cfg, clock)
    acme = s["watches"]["Acme"]
    assert s["ok"] and acme["found"] == 3 and acme["api_requests"] == 2
    assert any("older than X's 7-day window" in w for w in acme["warnings"])
    # Acme's two requests of this run: the refused one, then the retry (the watches run in
    # parallel, so Beta's request may come before, between or after them)
    refused, retry = [r.query for r in fake_x.searches if "acme" in r.query["query"]][-2:]
    assert refused["since_id"] == "104" and "start_time" not in refused
    assert "since_id" not in retry and "start_time" in retry
    assert cursors(states) == AFTER


def test_error_400_unknown_param(tmp_path, clock, bearer):
    """X does not know post.fields: the same request again with tweet.fields, at once, and
    tweet.fields for the rest of the process."""
    fake_x = FakeX(fields="tweet").start()
    try:
        fake_x.add_posts(make_posts(5, first_id=100, text="acme"))
        cfg = basic_config(tmp_path, fake_x.url)
        fake_x.then(real_reply("400_unknown_param"))
        s, _ = run(cfg, clock)
        assert s["ok"] and s["watches"]["Acme"]["found"] == 5
        first, second = fake_x.searches
        assert first.query["post.fields"] == "created_at,lang,public_metrics,note_post,author_id"
        assert second.query["tweet.fields"] == "created_at,lang,public_metrics,note_tweet,author_id"
        assert "post.fields" not in second.query and clock.sleeps == []
        fake_x.add_posts(make_posts(2, first_id=300, text="acme"))
        s, _ = run(cfg, clock)
        assert s["watches"]["Acme"]["api_requests"] == 1 and s["watches"]["Acme"]["found"] == 2
        assert "tweet.fields" in fake_x.searches[-1].query
    finally:
        fake_x.stop()
    assert fake_x.violations == []


def test_error_400_unknown_field_value_switches_the_spelling_too(tmp_path, clock, bearer):
    """X knows the name post.fields but not the value note_post (its long-post field is
    note_tweet): X's 400 names a field value, in errors/400_unknown_param.json's shape. The
    client switches to tweet.fields at once, as for an unknown parameter, and keeps it."""
    fake_x = FakeX(fields="tweet").start()
    try:
        fake_x.add_posts(make_posts(5, first_id=100, text="acme"))
        cfg = basic_config(tmp_path, fake_x.url)
        sent = "created_at,lang,public_metrics,note_post,author_id"
        refused = unknown_fields(
            "post.fields", sent, {"post.fields": FIELDS_PARAMS["tweet"]["tweet.fields"]}
        )
        assert refused is not None
        assert refused.body["errors"][0]["message"].startswith(
            "The `post.fields` query parameter value [note_post] is not one of ["
        )
        fake_x.then(refused)
        s, states = run(cfg, clock)
        assert s["ok"] and s["watches"]["Acme"]["found"] == 5, s
        assert s["watches"]["Acme"]["api_requests"] == 2 and clock.sleeps == []
        first, second = fake_x.searches
        assert first.query["post.fields"] == sent
        assert second.query["tweet.fields"] == "created_at,lang,public_metrics,note_tweet,author_id"
        assert "post.fields" not in second.query
        assert cursors(states) == {"Acme": [104]}
        fake_x.add_posts(make_posts(2, first_id=300, text="acme"))
        s, _ = run(cfg, clock)
        assert s["watches"]["Acme"]["api_requests"] == 1 and s["watches"]["Acme"]["found"] == 2
        assert "tweet.fields" in fake_x.searches[-1].query
    finally:
        fake_x.stop()
    assert fake_x.violations == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("401", "HTTP 401 from X: Unauthorized"),
        (
            "403_client_forbidden",
            "HTTP 403 from X: Client Forbidden: When authenticating requests to the Twitter "
            "API v2 endpoints, you must use keys and tokens from a Twitter developer App that "
            "is attached to a Project.",
        ),
    ],
)
def test_error_401_and_403_are_not_retried(tmp_path, fake_x, clock, bearer, name, reason):
    cfg = seeded(tmp_path, fake_x, clock)
    fake_x.then_for("acme", real_reply(name))
    s, states = run(cfg, clock)
    assert s["watches"]["Acme"]["failed"] == {"search": reason}
    assert s["watches"]["Acme"]["api_requests"] == 1
    assert cursors(states) == {"Acme": [104], "Beta": [402]}


@pytest.mark.parametrize(
    ("name", "summary"),
    [("402_credits", "X credits depleted"), ("429_usage_cap", "X usage cap reached (Monthly)")],
)
def test_error_spending_cap_stops_every_search_of_the_run(
    tmp_path, fake_x, clock, bearer, name, summary
):
    cfg = seeded(tmp_path, fake_x, clock)
    before = len(fake_x.searches)
    cap = real_reply(name, reset=clock.now() + 600)
    fake_x.then(cap)
    s, states = run(cfg, clock)
    assert s["ok"] is False and clock.sleeps == []  # no wait for x-rate-limit-reset
    for watch in ("Acme", "Beta"):
        assert s["watches"][watch]["failed"] == {"search": summary}
    assert len(fake_x.searches) == before + 1  # one request for the whole run
    assert cursors(states) == BEFORE
    fake_x.then(cap)  # the next run tries one request again
    s, states = run(cfg, clock)
    assert len(fake_x.searches) == before + 2 and cursors(states) == BEFORE
    s, states = run(cfg, clock)  # the cap is lifted
    assert s["ok"] and cursors(states) == AFTER
    assert sorted(delivered_ids(tmp_path / "out")) == [*range(100, 105), *range(300, 303)]


@pytest.mark.parametrize(
    ("name", "status", "wait"),
    [("429_rate", None, 31.0), ("429_docs_example", 429, 60.0), ("503", None, None)],
)
def test_error_rate_limits_and_5xx_are_waited_out(
    tmp_path, fake_x, clock, bearer, name, status, wait
):
    """A rate limit waits for the reset (or a minute when X gives none); 503 is retried."""
    cfg = seeded(tmp_path, fake_x, clock)
    fake_x.then_for("acme", real_reply(name, status=status, reset=clock.now() + 30))
    s, states = run(cfg, clock)
    assert s["ok"] and s["watches"]["Acme"]["found"] == 3
    assert s["watches"]["Acme"]["api_requests"] == 2
    assert clock.sleeps == ([wait] if wait else [0.0])
    assert cursors(states) == AFTER


def test_every_recorded_error_has_a_test():
    here = Path(__file__).read_text("utf-8")
    for path in sorted((REAL / "errors").glob("*.json")):
        assert f'"{path.stem}"' in here, path.name
