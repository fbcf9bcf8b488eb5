"""slack against a local fake webhook: exact payloads, splitting, pacing, retries, escaping."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from mention_monitor.logs import SECRETS
from mention_monitor.models import Digest
from mention_monitor.notifiers.slack import SlackNotifier, SlackOptions, escape
from mention_monitor.secrets import EnvSecrets
from mention_monitor.services import Services
from tests.conftest import FakeClock
from tests.fakes.http import Reply
from tests.fakes.slack import FakeSlack, rate_limited
from tests.fakes.slack import payload_ids as mention_ids
from tests.samples import HOSTILE, hostile_digest, many, mention

# Slack control sequences: a raw "<" in text is how every one of them starts.
CONTROL = re.compile(r"<(!|@|#)")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


def notifier(slack: FakeSlack, clock: FakeClock | None = None, **kw: Any) -> SlackNotifier:
    env = {"MENTION_MONITOR_SECRET_SLACK_WEBHOOK_URL": slack.webhook_url}
    opts = SlackOptions(type="slack", backoff_seconds=0, **kw)
    return SlackNotifier("slack", opts, EnvSecrets(env), Services(clock=clock or FakeClock()))


def test_escape_is_exactly_three_characters():
    assert escape("a & b < c > d \" ' * _ ~ `") == "a &amp; b &lt; c &gt; d \" ' * _ ~ `"
    assert escape("&amp;") == "&amp;amp;"


def test_exact_payload_for_one_mention(slack):
    result = notifier(slack).send(Digest("Acme", (mention(0),)))
    assert result.ok and result.delivered == 1 and result.delivered_through == 1000
    assert slack.payloads == [
        {
            "text": "1 new mention of Acme",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "1 new mention of Acme"}},
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": "*User 0* <https://x.com/user0|@user0> · 100 followers · "
                        "2026-11-24 18:10 UTC\nI love acme\n"
                        "♥ 0 likes · ⟲ 0 reposts · <https://x.com/user0/status/1000|View post>",
                    },
                },
            ],
            "unfurl_links": False,
            "unfurl_media": False,
        }
    ]
    for key in ("link_names", "parse"):
        assert key not in slack.payloads[0]


def test_hostile_text_and_names_are_inert(slack):
    assert notifier(slack).send(hostile_digest()).ok
    (payload,) = slack.payloads
    texts = [b["text"]["text"] for b in payload["blocks"][1:]]
    assert texts[0].startswith("*&lt;!here&gt; &lt;b&gt;Evil&lt;/b&gt; &amp;amp;*")
    assert escape(HOSTILE) in texts[0]
    assert "&lt;!channel&gt; &lt;script&gt;alert(1)&lt;/script&gt; &amp;amp; " in texts[0]
    for text in texts:
        assert not CONTROL.search(text)
        # the only raw "<...>" left are our own links to x.com
        for link in re.findall(r"<([^>]*)>", text):
            assert link.startswith("https://x.com/"), link
        assert len(text.encode("utf-16-le")) // 2 <= 3000
    assert "🚀🔥" in texts[1] and "أحب منتجات Acme" in texts[2] and "*محمد*" in texts[2]
    assert texts[3].endswith("<https://x.com/user3/status/1003|View post>")
    assert "…" in texts[3]  # the 4,000-character post was cut to fit 3,000


def test_120_mentions_in_three_paced_messages_each_once(slack):
    clock = FakeClock()
    result = notifier(slack, clock, max_mentions=120).send(many(120))
    assert result.ok and result.delivered == 120 and result.delivered_through == 1119
    payloads = slack.payloads
    assert len(payloads) == 3
    assert [len(p["blocks"]) for p in payloads] == [50, 50, 23]
    ids = [i for p in payloads for i in mention_ids(p)]
    assert ids == list(range(1000, 1120))  # every mention once, in order
    assert [p["blocks"][0]["text"]["text"] for p in payloads] == [
        "120 new mentions of Acme (1/3)",
        "120 new mentions of Acme (2/3)",
        "120 new mentions of Acme (3/3)",
    ]
    assert clock.sleeps == [1.0, 1.0]


def test_429_waits_for_retry_after_then_succeeds(slack):
    clock = FakeClock()
    slack.then(rate_limited(7))
    result = notifier(slack, clock).send(many(3))
    assert result.ok and result.delivered == 3
    assert len(slack.received) == 2 and len(slack.payloads) == 1
    assert clock.sleeps == [7.0]


def test_500_retried_then_success(slack):
    slack.then(Reply(500, "rollup_error"), Reply(503, ""))
    result = notifier(slack, max_retries=3).send(many(3))
    assert result.ok and len(slack.received) == 3


def test_500_until_retries_run_out_fails_and_moves_nothing(slack):
    slack.then(*[Reply(500, "rollup_error")] * 3)
    result = notifier(slack, max_retries=2).send(many(3))
    assert not result.ok and result.delivered == 0 and result.delivered_through is None
    assert "after 3 attempts" in (result.error or "") and "rollup_error" in (result.error or "")
    assert len(slack.received) == 3


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, "invalid_payload"),
        (403, "invalid_token"),
        (404, "channel_not_found"),
        (410, "channel_is_archived"),
    ],
)
def test_4xx_fails_at_once_with_slacks_reason_not_the_url(slack, status, body):
    slack.then(Reply(status, body))
    n = notifier(slack)
    result = n.send(many(3))
    assert not result.ok and result.delivered_through is None
    assert body in (result.error or "")
    assert "XXXXsecretXXXX" not in (result.error or "") and slack.url not in (result.error or "")
    assert len(slack.received) == 1


def test_connection_error_never_shows_the_url():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/T1/B1/topsecretpath"
    SECRETS.clear()
    n = SlackNotifier(
        "slack",
        SlackOptions(type="slack", max_retries=1, backoff_seconds=0),
        EnvSecrets({"MENTION_MONITOR_SECRET_SLACK_WEBHOOK_URL": url}),
        Services(clock=FakeClock()),
    )
    result = n.send(many(2))
    assert not result.ok and "ConnectionError" in (result.error or "")
    assert "topsecretpath" not in (result.error or "") and str(port) not in (result.error or "")


def test_failure_half_way_counts_only_accepted_messages(slack):
    slack.then(Reply(200, "ok"), Reply(404, "channel_not_found"))
    result = notifier(slack, max_mentions=120).send(many(120))
    assert not result.ok
    assert result.delivered == 49 and result.delivered_through == 1048  # end of message 1
    assert "channel_not_found" in (result.error or "") and "message 2 of 3" in (result.error or "")
    assert len(slack.payloads) == 1


def test_preview_is_the_payloads_without_a_secret():
    class NoSecrets(EnvSecrets):
        def get(self, key: str) -> str:
            raise AssertionError("preview must not read secrets")

    opts = SlackOptions(type="slack", max_mentions=60)
    n = SlackNotifier("slack", opts, NoSecrets({}), Services(clock=FakeClock()))
    preview = n.preview(many(60))
    payloads = json.loads(preview.content)
    assert preview.media_type == "application/json" and len(payloads) == 2
    assert [i for p in payloads for i in mention_ids(p)] == list(range(1000, 1060))


def test_by_default_at_most_50_mentions_the_most_followed_and_how_many_more(slack):
    """A backlog of 120: 50 shown (most-followed authors), the rest counted with the link."""
    result = notifier(slack, FakeClock()).send(many(120))
    assert result.ok and result.delivered == 50
    first = slack.payloads[0]
    assert first["blocks"][0]["text"]["text"] == "120 new mentions of Acme (1/2)"
    assert first["blocks"][1]["text"]["text"] == (
        "Showing the 50 most-followed authors; 70 more mentions on X: "
        "<https://x.com/search?q=acme&f=live|see them all on X>"
    )
    ids = [i for p in slack.payloads for i in mention_ids(p)]
    assert ids == list(range(1070, 1120))  # followers grow with the ID: the top 50, in order


def test_a_run_bounded_digest_says_how_many_more(slack):
    digest = Digest("Acme", many(3).mentions, "https://x.com/search?q=acme&f=live", total=1234)
    assert notifier(slack, FakeClock()).send(digest).ok
    (payload,) = slack.payloads
    assert payload["blocks"][0]["text"]["text"] == "1234 new mentions of Acme"
    assert "1231 more mentions" in payload["blocks"][1]["text"]["text"]
    assert mention_ids(payload) == [1000, 1001, 1002]
def _block_chars(payload: dict[str, Any]) -> int:
    return sum(len(b["text"]["text"]) for b in payload["blocks"])


def test_each_message_holds_at_most_12000_characters_in_its_blocks(slack):
    # Ten posts of 2,900 characters: one message of ~29,000 is refused (msg_blocks_too_long).
    digest = Digest("Acme", tuple(mention(i, "acme " + "y" * 2895) for i in range(10)))
    clock = FakeClock()
    result = notifier(slack, clock).send(digest)
    assert result.ok and result.delivered == 10, result.error
    payloads = slack.payloads
    assert [len(p["blocks"]) for p in payloads] == [6, 6]  # a header and five posts each
    assert all(_block_chars(p) <= 12_000 for p in payloads)
    assert slack.tweet_ids == list(range(1000, 1010)) and clock.sleeps == [1.0]
    section = payloads[0]["blocks"][1]["text"]["text"]
    # each post cut at 2,000 characters, as in email; the link to the whole post follows
    assert "\nacme " + "y" * 1994 + "…\n♥ 0 likes" in section


def test_escaping_never_pushes_a_message_over_12000_characters(slack):
    digest = Digest("Acme", tuple(mention(i, "&<>" * 700) for i in range(8)))  # 5x when escaped
    assert notifier(slack).send(digest).ok
    assert [len(p["blocks"]) for p in slack.payloads] == [4, 4, 3]  # sections of ~3,000
    assert all(_block_chars(p) <= 12_000 for p in slack.payloads)
    assert slack.tweet_ids == list(range(1000, 1008))


def test_mrkdwn_formatting_in_names_and_text_is_neutralised(slack):
    m = mention(
        0, "*free* money _now_ ~gone~ `rm`\n> quoted https://ex.example/a_b*c*",
        author_name="*Boss* _x_", author_username="a_b_",
    )
    assert notifier(slack).send(Digest("Acme", (m,))).ok
    text = slack.payloads[0]["blocks"][1]["text"]["text"]
    assert text == (
        "*∗Boss∗ ˍxˍ* <https://x.com/a_b_|@aˍbˍ> · 100 followers · 2026-11-24 18:10 UTC\n"
        "∗free∗ money ˍnowˍ ∼gone∼ ˋrmˋ\n"
        "\u00ad&gt; quoted https://ex.example/a_b*c*\n"
        "♥ 0 likes · ⟲ 0 reposts · <https://x.com/a_b_/status/1000|View post>"
    )
