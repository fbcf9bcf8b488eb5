"""The parser: X's JSON to mentions, as X really sends it (recordings) and as it never should."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mention_monitor.errors import MalformedPage
from mention_monitor.models import Mention
from mention_monitor.notifiers.text import valid_unicode
from mention_monitor.xparse import (
    MAX_ID,
    decode_entities,
    error_messages,
    is_old_since_id,
    parse_page,
    parse_post,
)

REAL = Path(__file__).parent / "data" / "real" / "x"


def post_lists() -> list[Path]:
    """Every recorded answer that lists posts (``data`` a list of posts; DM events are not)."""
    out = []
    for path in sorted((REAL / "tweepy").glob("*.json")):
        rec = json.loads(path.read_text("utf-8"))
        body = rec["body"]
        if (
            isinstance(body, dict)
            and isinstance(body.get("data"), list)
            and body["data"]
            and "text" in body["data"][0]
            and "/dm_" not in rec["uri"]
        ):
            out.append(path)
    return out


POST_LISTS = post_lists()


def as_typed(x_text: str) -> str:
    """What the author typed, computed independently of the parser: X escapes exactly &, <, >
    (so ``&amp;`` is undone last)."""
    return x_text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_the_recordings_hold_post_lists_and_entities():
    assert len(POST_LISTS) == 20
    names = {p.name for p in POST_LISTS}
    searches = {f"test_{c}_search_recent_tweets__0.json" for c in ("client", "asyncclient")}
    assert searches <= names
    texts = [p["text"] for f in POST_LISTS for p in json.loads(f.read_text())["body"]["data"]]
    assert sum("&amp;" in t for t in texts) >= 4 and sum("&lt;" in t for t in texts) >= 2


@pytest.mark.parametrize("path", POST_LISTS, ids=lambda p: p.stem)
def test_every_recorded_post_list_parses_with_entities_decoded_once(path):
    body = json.loads(path.read_text("utf-8"))["body"]
    page = parse_page(json.loads(json.dumps(body)))
    assert page.malformed == [] and page.warnings == []
    assert page.posts == len(body["data"])
    assert [m.id for m in page.mentions] == [int(p["id"]) for p in body["data"]]
    assert [m.text for m in page.mentions] == [as_typed(p["text"]) for p in body["data"]]
    assert page.next_token == (body.get("meta") or {}).get("next_token")


def test_recorded_entities_read_as_typed():
    body = json.loads((REAL / "tweepy" / "test_client_get_home_timeline__0.json").read_text())
    texts = {m.id: m.text for m in parse_page(body["body"]).mentions}
    assert texts[1577678849445355527] == "NYC < London (weather this week)"
    assert texts[1577470977516400640].startswith(
        "Nice post from @suhemparack about Twitter API support for edited Tweets -> https://"
    )
    assert "@snowman & I are testing" in texts[1578095129495482369]


@pytest.mark.parametrize(
    ("x_sent", "typed"),
    [
        ("a &amp; b", "a & b"),
        ("&lt;!channel&gt;", "<!channel>"),
        ("I typed &amp;amp; literally", "I typed &amp; literally"),
        ("&amp;lt;b&amp;gt;", "&lt;b&gt;"),
        ("&quot;quoted&quot; &#39; &nbsp;", "&quot;quoted&quot; &#39; &nbsp;"),  # not X's doing
        ("&amp", "&amp"),
    ],
)
def test_entities_are_decoded_exactly_once(x_sent, typed):
    assert decode_entities(x_sent) == typed
    assert parse_post({"id": "5", "text": x_sent}, {}).text == typed


@pytest.mark.parametrize("name", ["note_post", "note_tweet"])
def test_long_posts_use_the_full_text(name):
    body = json.loads((REAL / f"synthetic-longpost-{name}.json").read_text())
    post = body["data"][0]
    (m,) = parse_page(body).mentions
    assert post["text"].endswith("\u2026") and len(post["text"]) < len(post[name]["text"])
    assert m.text == post[name]["text"]
    assert m.author_username == "a"


def test_long_post_text_is_decoded_too():
    m = parse_post({"id": "5", "text": "cut\u2026", "note_tweet": {"text": "R&amp;D &lt;3"}}, {})
    assert m.text == "R&D <3"


def test_lone_surrogates_become_replacement_characters():
    post = {"id": "7", "text": "acme \ud83d broken \udc00", "author_id": "1"}
    users = {"1": {"id": "1", "username": "u\ud800", "name": "\udfffEvil"}}
    m = parse_post(post, users)
    assert m.text == "acme \ufffd broken \ufffd"
    assert (m.author_username, m.author_name) == ("u\ufffd", "\ufffdEvil")
    m.to_json().encode("utf-8")  # what the outbox writes
    assert parse_post({"id": "8", "text": "ok \ud83d\ude00"}, {}).text == "ok \U0001f600"


MALFORMED = [
    ({"id": str(2**63), "text": "acme"}, "'9223372036854775808'"),
    ({"id": "\u00b2", "text": "acme"}, "'\u00b2'"),
    ({"id": "\u0663", "text": "acme"}, "'\u0663'"),  # int() reads Arabic-Indic digits
    ({"id": 12, "text": "acme"}, "12"),
    ({"id": "0", "text": "acme"}, "'0'"),
    ({"id": "12", "text": "acme", "public_metrics": [1, 2]}, "'12'"),
    ({"id": "12", "text": "acme", "public_metrics": {"like_count": "9"}}, "'12'"),
    ({"id": "12", "text": "acme", "public_metrics": {"like_count": True}}, "'12'"),
    ({"id": "12", "text": "acme", "public_metrics": {"like_count": -1}}, "'12'"),
    ({"id": "12", "text": ["acme"]}, "'12'"),
    ({"id": "12"}, "'12'"),
    ({"id": "12", "text": "acme", "note_tweet": "long"}, "'12'"),
    ({"id": "12", "text": "acme", "lang": 5}, "'12'"),
    ({"id": "12", "text": "acme", "author_id": "1"}, "'12'"),  # its author: followers "lots"
]


@pytest.mark.parametrize(("post", "shown"), MALFORMED)
def test_a_malformed_post_is_skipped_and_named(post, shown):
    users = [{"id": "1", "username": "u", "public_metrics": {"followers_count": "lots"}}]
    body = {"data": [post, {"id": "99", "text": "fine"}], "includes": {"users": users}}
    page = parse_page(body)
    assert [m.id for m in page.mentions] == [99]
    assert len(page.malformed) == 1 and page.posts == 2
    assert page.malformed[0].startswith(f"X sent a malformed post (id {shown}): ")


def test_malformed_errors_and_includes_fields_keep_the_posts():
    body = {"data": [{"id": "3", "text": "a"}], "errors": 5, "includes": {"users": {"x": 1}}}
    page = parse_page(body)
    assert [m.id for m in page.mentions] == [3]
    assert len(page.warnings) == 2 and "errors field" in page.warnings[0]


@pytest.mark.parametrize(
    "body",
    [[], "page", {"data": {"id": "1"}}, {"data": [], "meta": []}, {"meta": {"next_token": 5}}],
)
def test_a_page_that_cannot_be_read_fails(body):
    with pytest.raises(MalformedPage):
        parse_page(body)


def test_ids_move_with_posts_received_never_with_meta():
    body = {
        "data": [{"id": "104", "text": "a"}, {"id": "\u00b2", "text": "b"}, {"id": "101", "x": 1}],
        "meta": {"newest_id": str(10**18), "oldest_id": "1", "result_count": 3},
    }
    page = parse_page(body)
    assert page.ids == [104, 101] and [m.id for m in page.mentions] == [104]


def test_error_messages_are_xs_own_words():
    bad_query = json.loads((REAL / "errors" / "400_bad_query.json").read_text())["body"]
    assert error_messages(bad_query) == [
        "There were errors processing your request: Operator '-' is not a valid operator "
        "(at position 6)"
    ]
    assert error_messages({"title": "Unauthorized", "detail": "Unauthorized"}) == ["Unauthorized"]
    assert error_messages("nope") == []


@pytest.mark.parametrize(
    ("name", "old"),
    [
        ("400_since_id_too_old", True),
        ("400_id_with_time", False),
        ("400_unknown_param", False),
        ("400_bad_query", False),
    ],
)
def test_only_xs_old_cursor_message_means_the_cursor_is_too_old(name, old):
    body = json.loads((REAL / "errors" / f"{name}.json").read_text())["body"]
    assert is_old_since_id(body) is old


# -- properties -------------------------------------------------------------------------------
SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
HOSTILE_TEXT = st.lists(
    st.one_of(st.text(max_size=20), SURROGATES, st.sampled_from(["&amp;", "&lt;", "&gt;", "&"])),
    max_size=10,
).map("".join)
JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    HOSTILE_TEXT,
)
ANY_JSON = st.recursive(
    JSON_SCALAR,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
ID = st.one_of(
    st.integers(min_value=1, max_value=MAX_ID).map(str),
    st.sampled_from([str(2**63), "\u00b2", "0", "-5", " 7", "12a", "\u0663", ""]),
    ANY_JSON,
)
METRICS = st.one_of(
    ANY_JSON,
    st.dictionaries(
        st.sampled_from(["like_count", "repost_count", "retweet_count", "reply_count",
                         "quote_count", "followers_count"]),
        st.one_of(st.integers(min_value=0, max_value=10**12), ANY_JSON),
        max_size=4,
    ),
)


@st.composite
def posts(draw: Any) -> Any:
    fields = {
        "id": ID,
        "text": st.one_of(HOSTILE_TEXT, ANY_JSON),
        "author_id": st.one_of(st.sampled_from(["1", "2"]), ANY_JSON),
        "created_at": st.one_of(st.just("2026-11-24T18:10:00.000Z"), ANY_JSON),
        "lang": st.one_of(st.just("en"), ANY_JSON),
        "public_metrics": METRICS,
        "note_tweet": st.one_of(st.fixed_dictionaries({"text": HOSTILE_TEXT}), ANY_JSON),
    }
    post = {k: draw(v) for k, v in fields.items() if draw(st.booleans()) or k in ("id", "text")}
    return draw(st.one_of(st.just(post), ANY_JSON)) if draw(st.integers(0, 9)) == 0 else post


USERS = st.lists(
    st.fixed_dictionaries(
        {"id": st.sampled_from(["1", "2"])},
        optional={"username": HOSTILE_TEXT | ANY_JSON, "name": HOSTILE_TEXT | ANY_JSON,
                  "public_metrics": METRICS},
    ),
    max_size=2,
)
PROPS = settings(
    max_examples=200, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _sound(m: Mention) -> None:
    assert 0 < m.id <= MAX_ID
    for text in (m.text, m.author_name, m.author_username, m.created_at, m.lang, m.author_id):
        assert isinstance(text, str)
        text.encode("utf-8")  # no lone surrogate survives
    for n in (m.author_followers, m.like_count, m.repost_count, m.reply_count, m.quote_count):
        assert type(n) is int and n >= 0
    Mention.from_json(m.to_json())


@PROPS
@given(st.lists(posts(), max_size=6), USERS, st.one_of(st.none(), ANY_JSON))
def test_any_page_of_posts_parses_or_names_what_it_skipped(data, users, errors):
    body = {"data": data, "includes": {"users": users}, "meta": {"result_count": len(data)}}
    if errors is not None:
        body["errors"] = errors
    page = parse_page(json.loads(json.dumps(body)))  # as it arrives: JSON on the wire
    assert len(page.mentions) + len(page.malformed) == page.posts == len(data)
    for m in page.mentions:
        _sound(m)
    assert all(w.startswith("X sent a malformed post (id ") for w in page.malformed)
    assert set(page.ids) >= {m.id for m in page.mentions}


@PROPS
@given(HOSTILE_TEXT, HOSTILE_TEXT)
def test_any_text_is_cleaned_and_decoded_once(text, name):
    m = parse_post({"id": "1", "text": text, "author_id": "1"}, {"1": {"id": "1", "name": name}})
    _sound(m)
    assert m.text == as_typed(valid_unicode(text))
    assert m.author_name == valid_unicode(name)  # names are not entity-escaped by X
