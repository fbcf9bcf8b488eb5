"""What X sends and what the run does with it, through the CLI on both state backends: bounds
X accepts, rejected queries, malformed posts and pages, cursors from posts received, paging
X cannot be trusted with, long posts and the fields parameter's two spellings."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mention_monitor.cli import main
from mention_monitor.config import load_settings
from mention_monitor.state import WatchState
from mention_monitor.state.dynamodb import DynamoStore
from mention_monitor.wiring import state_store
from tests.conftest import basic_config, delivered_ids, summary_line
from tests.fakes.http import Received, Reply
from tests.fakes.xapi import FakeX, make_posts, real_reply, server_error, x_escape

TABLE = "mm-state"


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "dynamodb":
        request.getfixturevalue("moto_aws")
        DynamoStore(TABLE).init()
    return str(request.param)


def config(tmp_path: Path, url: str, backend: str, **kw: Any) -> Path:
    cfg = basic_config(tmp_path, url, **kw)
    if backend == "dynamodb":
        dynamo = f'backend = "dynamodb"\ntable = "{TABLE}"'
        cfg.write_text(re.sub(r'backend = "sqlite"\npath = "[^"]*"', dynamo, cfg.read_text()))
    return cfg


def add_watch(cfg: Path, name: str, terms: str, notify: str = '["out2"]') -> None:
    cfg.write_text(
        cfg.read_text()
        + f'\n[[watches]]\nname = "{name}"\nterms = {terms}\n'
        + f'first_run = "backfill"\nnotify = {notify}\n'
    )


def two_queries(cfg: Path) -> None:
    """Watch Acme searches 'acmecorporation' and 'betacorporation' in two queries."""
    cfg.write_text(
        cfg.read_text()
        .replace('terms = ["acme"]', 'terms = ["acmecorporation", "betacorporation"]')
        .replace("backoff_seconds = 0", "backoff_seconds = 0\nmax_query_length = 40")
    )


def cli_run(cfg: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["run", "--config", str(cfg)])
    out = capsys.readouterr().out
    return code, summary_line(out)


def state(cfg: Path, watch: str = "Acme") -> WatchState:
    store = state_store(load_settings(cfg))
    try:
        return store.load(watch)
    finally:
        store.close()


def cursors(cfg: Path, watch: str = "Acme") -> list[int | None]:
    return sorted(q.cursor or 0 for q in state(cfg, watch).queries.values())


def answer(fake_x: FakeX, change: Callable[[dict[str, Any]], None]) -> Callable[[Received], Reply]:
    """The fake's own answer to a request, changed by ``change`` (its body, in place)."""

    def reply(req: Received) -> Reply:
        r = fake_x.default(req)
        change(r.body)
        return r

    return reply


# -- issue 9.4: X never gets an ID bound together with a time bound ------------------------------
@pytest.mark.parametrize("first_run", ["latest", "backfill"])
def test_gap_after_a_first_run_that_found_nothing_resumes_without_a_time_bound(
    tmp_path, fake_x, bearer, backend, capsys, first_run
):
    cfg = config(tmp_path, fake_x.url, backend, page_size=10, first_run=first_run)
    assert cli_run(cfg, capsys)[0] == 0  # nothing matches yet: the query starts from now
    assert state(cfg).queries and next(iter(state(cfg).queries.values())).started_at
    fake_x.add_posts(make_posts(25, first_id=1_000))
    fake_x.then(fake_x.default, *[server_error()] * 3)  # page 2 fails every attempt
    code, s = cli_run(cfg, capsys)
    assert code == 1 and s["watches"]["Acme"]["found"] == 10
    assert delivered_ids(tmp_path / "out") == []  # the gap below is unread: held back
    code, s = cli_run(cfg, capsys)
    assert code == 0, s
    gap = fake_x.searches[-2].query
    assert gap["until_id"] == "1015" and "start_time" not in gap and "since_id" not in gap
    assert sorted(delivered_ids(tmp_path / "out")) == list(range(1_000, 1_025))
    for r in fake_x.searches:
        bounds = {k for k in r.query if k in ("since_id", "until_id", "start_time", "end_time")}
        assert not ({"since_id", "until_id"} & bounds and {"start_time", "end_time"} & bounds)


# -- issue 9.5: a query X rejects is reported every run and holds no one back -------------------
def test_rejected_query_is_reported_every_run_and_holds_back_nothing(
    tmp_path, fake_x, bearer, backend, capsys
):
    fake_x.add_posts(make_posts(3, first_id=100, text="acmecorporation"))
    cfg = config(tmp_path, fake_x.url, backend)
    two_queries(cfg)
    default = fake_x.default

    def broken_beta(req: Received) -> Reply:
        if "betacorporation" in req.query.get("query", ""):
            return real_reply("400_bad_query")
        return default(req)

    fake_x.default = broken_beta  # type: ignore[method-assign]
    message = (
        "X rejected the request (HTTP 400): There were errors processing your request: "
        "Operator '-' is not a valid operator (at position 6) "
        "(query 'betacorporation -is:retweet')"
    )
    for run, first_id in enumerate((100, 200, 300)):
        if run:
            fake_x.add_posts(make_posts(2, first_id=first_id, text="acmecorporation"))
        code, s = cli_run(cfg, capsys)
        assert code == 1
        assert s["watches"]["Acme"]["failed"] == {"search": message}
        assert s["watches"]["Acme"]["delivered"] == {"out": 3 if run == 0 else 2}
    assert sorted(delivered_ids(tmp_path / "out")) == [100, 101, 102, 200, 201, 300, 301]

    assert main(["check", "--config", str(cfg)]) == 1
    checked = json.loads(capsys.readouterr().out)
    assert checked["ok"] is False
    queries = checked["watches"]["Acme"]
    assert [q.get("rejected") for q in queries] == [None, message]

    fake_x.default = default  # type: ignore[method-assign]  # the query works again
    fake_x.add_posts(make_posts(2, first_id=400, text="betacorporation"))
    code, s = cli_run(cfg, capsys)
    assert code == 0 and s["watches"]["Acme"]["found"] == 2
    assert main(["check", "--config", str(cfg)]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert checked["ok"] is True
    assert [set(q) for q in checked["watches"]["Acme"]] == [{"query", "length"}] * 2


# -- issue 12.1: lone surrogates ----------------------------------------------------------------
def test_lone_surrogates_are_replaced_and_every_writer_works(
    tmp_path, fake_x, bearer, backend, capsys
):
    from tests.fakes.smtp import FakeSmtp

    users = [{"id": "9100", "username": "evil", "name": "Evil \udc00 Name",
              "public_metrics": {"followers_count": 5}}]
    posts = make_posts(3, first_id=100, text="acme \ud83d broken")
    posts[1]["author_id"] = "9100"
    fake_x.add_posts(posts, users)
    fake_x.add_posts(make_posts(2, first_id=200, text="acme fine"))
    with FakeSmtp() as smtp:
        cfg = config(
            tmp_path, fake_x.url, backend, notify='["out", "console", "email"]',
            notifiers=f"""
                [notifiers.out]
                type = "file"
                directory = "{tmp_path / 'out'}"
                [notifiers.console]
                type = "console"
                [notifiers.email]
                type = "email-smtp"
                host = "127.0.0.1"
                port = {smtp.port}
                security = "none"
                sender = "monitor@example.com"
                recipients = ["team@example.com"]
            """,
        )
        code = main(["run", "--config", str(cfg)])
        out = capsys.readouterr().out
    s = summary_line(out)
    assert code == 0 and s["watches"]["Acme"]["delivered"] == {"out": 5, "console": 5, "email": 5}
    (json_file,) = (tmp_path / "out").glob("*.json")
    assert json_file.with_suffix(".html").stat().st_size > 0
    mentions = json.loads(json_file.read_text())["mentions"]
    texts = {m["id"]: (m["text"], m["author_name"]) for m in mentions}
    assert texts["101"] == ("acme \ufffd broken #1", "Evil \ufffd Name")
    assert "acme \ufffd broken #0" in out and "Evil \ufffd Name" in out
    plain = smtp.messages[0].message.get_body(("plain",)).get_content()
    assert "acme \ufffd broken #2" in plain and "Evil \ufffd Name" in plain
    assert cursors(cfg) == [201]


# -- issue 12.2: malformed posts and pages -------------------------------------------------------
def test_malformed_posts_are_skipped_named_and_counted(tmp_path, fake_x, bearer, backend, capsys):
    fake_x.add_posts(make_posts(5, first_id=100))
    fake_x.add_posts(make_posts(2, first_id=500, text="beta"))
    bad_user = {"id": "9200", "username": "lots", "public_metrics": {"followers_count": "lots"}}

    def malformed(body: dict[str, Any]) -> None:
        body["data"] += [
            {"id": str(2**63), "text": "acme overflow"},
            {"id": "\u00b2", "text": "acme superscript"},
            {"id": "105", "text": "acme metrics", "public_metrics": [1, 2]},
            {"id": "106", "text": "acme follower", "author_id": "9200"},
        ]
        body["includes"]["users"].append(bad_user)
        body["errors"] = 5

    fake_x.then_for("acme", answer(fake_x, malformed))  # Beta searches at the same time
    cfg = config(tmp_path, fake_x.url, backend)
    # The page's own includes.users: X expands each post's author.
    cfg.write_text(cfg.read_text().replace("[x]\n", '[x]\nauthors = "expand"\n', 1))
    add_watch(cfg, "Beta", '["beta"]')
    code, s = cli_run(cfg, capsys)
    acme = s["watches"]["Acme"]
    assert code == 0 and s["ok"] is True
    assert (acme["found"], acme["malformed"], acme["posts_read"]) == (5, 4, 9)
    assert [w.split(":")[0] for w in acme["warnings"]] == [
        "X sent a malformed post (id '9223372036854775808')",
        "X sent a malformed post (id '\u00b2')",
        "X sent a malformed post (id '105')",
        "X sent a malformed post (id '106')",
        "X sent an errors field that is not a list; ignored",
    ]
    assert "malformed" not in s["watches"]["Beta"] and s["watches"]["Beta"]["found"] == 2
    assert sorted(delivered_ids(tmp_path / "out")) == list(range(100, 105))
    assert cursors(cfg) == [106]  # the highest ID received, readable or not


def test_a_page_that_cannot_be_read_fails_that_query_only(
    tmp_path, fake_x, bearer, backend, capsys
):
    fake_x.add_posts(make_posts(3, first_id=100))
    fake_x.add_posts(make_posts(2, first_id=500, text="beta"))
    cfg = config(tmp_path, fake_x.url, backend)
    add_watch(cfg, "Beta", '["beta"]')
    page = {"data": {"id": "100", "text": "acme"}, "meta": {"result_count": 1}}
    fake_x.then_for("acme", Reply(200, page))  # Beta searches at the same time
    code, s = cli_run(cfg, capsys)
    assert code == 1
    assert s["watches"]["Acme"]["failed"] == {"search": "X sent a page whose data is not a list"}
    assert s["watches"]["Beta"]["found"] == 2 and s["watches"]["Beta"]["failed"] == {}
    assert cursors(cfg) == [0]
    code, s = cli_run(cfg, capsys)
    assert code == 0 and sorted(delivered_ids(tmp_path / "out")) == [100, 101, 102]


# -- issue 12.3: trust what X returned -----------------------------------------------------------
def test_cursor_moves_to_the_highest_post_received_not_to_meta(
    tmp_path, fake_x, bearer, backend, capsys
):
    fake_x.add_posts(make_posts(5, first_id=100))
    fake_x.then(answer(fake_x, lambda b: b["meta"].update(newest_id=str(10**18))))
    cfg = config(tmp_path, fake_x.url, backend)
    assert cli_run(cfg, capsys)[0] == 0
    assert cursors(cfg) == [104]
    fake_x.add_posts(make_posts(2, first_id=200))
    code, s = cli_run(cfg, capsys)
    assert code == 0 and s["watches"]["Acme"]["found"] == 2
    assert fake_x.searches[-1].query["since_id"] == "104"


def test_a_200_with_only_errors_is_a_failed_search(tmp_path, fake_x, bearer, backend, capsys):
    fake_x.add_posts(make_posts(5, first_id=100))
    cfg = config(tmp_path, fake_x.url, backend)
    cli_run(cfg, capsys)
    fake_x.add_posts(make_posts(2, first_id=200))
    only_errors = {
        "errors": [{
            "title": "Not Found Error",
            "detail": "Could not find tweet with ids: [200].",
            "type": "https://api.x.com/2/problems/resource-not-found",
        }],
        "meta": {"result_count": 0},
    }
    fake_x.then(Reply(200, only_errors))
    code, s = cli_run(cfg, capsys)
    assert code == 1 and s["ok"] is False
    assert s["watches"]["Acme"]["failed"] == {
        "search": "X answered with errors only: Could not find tweet with ids: [200]."
    }
    assert cursors(cfg) == [104]
    assert cli_run(cfg, capsys)[0] == 0 and cursors(cfg) == [201]


# -- issue 12.4: paging that never ends -----------------------------------------------------------
def _looping(fake_x: FakeX, token: str, times: int) -> None:
    """Page 1 as X would, then ``times`` pages that all hand back the same ``token``."""
    fake_x.then(
        answer(fake_x, lambda b: b["meta"].update(next_token=token)),
        *[answer(fake_x, lambda b: b["meta"].update(next_token=token))] * times,
    )


@pytest.mark.parametrize("first", [False, True], ids=["later-run", "first-backfill-run"])
def test_a_repeated_next_token_fails_the_query_and_moves_nothing(
    tmp_path, fake_x, bearer, backend, capsys, first
):
    from mention_monitor.replay import encode_token

    cfg = config(tmp_path, fake_x.url, backend, page_size=10)
    if not first:
        fake_x.add_posts(make_posts(5, first_id=100))
        cli_run(cfg, capsys)
    fake_x.add_posts(make_posts(40, first_id=1_000))
    before = len(fake_x.searches)
    _looping(fake_x, encode_token(1_030), times=30)
    code, s = cli_run(cfg, capsys)
    fake_x.script.clear()
    assert code == 1
    assert s["watches"]["Acme"]["failed"] == {
        "search": "X repeated a next_token; query 'acme -is:retweet' stopped, nothing moved"
    }
    assert len(fake_x.searches) - before == 2  # the page that repeated the token, no more
    # The two pages read are stored as they arrived (issue 10), but nothing is delivered
    # and no cursor moves: the next run reads them again (each stored once).
    assert s["watches"]["Acme"]["found"] == 20 and s["watches"]["Acme"]["delivered"] == {"out": 0}
    assert cursors(cfg) == ([0] if first else [104])
    assert state(cfg).queries and all(
        q.pending_until is None for q in state(cfg).queries.values()
    )
    code, s = cli_run(cfg, capsys)  # X behaves again: every post once
    assert code == 0
    expected = list(range(1_000, 1_040)) if first else [*range(100, 105), *range(1_000, 1_040)]
    assert sorted(delivered_ids(tmp_path / "out")) == expected


def test_more_pages_than_posts_fails_the_query(tmp_path, fake_x, bearer, backend, capsys):
    fake_x.add_posts(make_posts(5, first_id=100))
    cfg = config(tmp_path, fake_x.url, backend)
    cli_run(cfg, capsys)
    page = {"data": make_posts(1, first_id=300), "meta": {"result_count": 1, "next_token": "a1"}}
    empty = {"meta": {"result_count": 0, "next_token": "a2"}}
    fake_x.then(Reply(200, page), *[Reply(200, empty)] * 20)
    code, s = cli_run(cfg, capsys)
    fake_x.script.clear()
    assert code == 1 and s["watches"]["Acme"]["api_requests"] == 2
    assert s["watches"]["Acme"]["failed"]["search"].startswith("X sent more pages than posts;")
    assert cursors(cfg) == [104] and s["watches"]["Acme"]["delivered"] == {"out": 0}


# -- issue 9.2 and 9.3: long posts, and either spelling of the fields parameter -----------------
LONG = "Acme Cloud outage write-up. " + "We saw elevated errors for 42 minutes. " * 8
TAIL = "Customers will get a refund & a report <soon>."


@pytest.fixture
def tweet_x() -> Iterator[FakeX]:
    server = FakeX(fields="tweet").start()
    yield server
    server.stop()
    assert not server.violations, server.violations


@pytest.mark.parametrize("spelling", ["post", "tweet"])
def test_happy_path_with_either_spelling_and_long_posts(
    tmp_path, fake_x, tweet_x, bearer, backend, capsys, spelling
):
    """``fields_style = "auto"`` against an X that only knows one spelling: pages, cursors,
    long posts whole in routing and digests, each post read once; the spelling is learned."""
    x = fake_x if spelling == "post" else tweet_x
    posts = make_posts(250, first_id=10_000)
    for p in posts[::50]:
        p["text"] = x_escape(LONG[:270]) + "\u2026"
        p["note_post"] = {"text": x_escape(LONG + TAIL)}
    x.add_posts(posts)
    cfg = config(
        tmp_path, x.url, backend, notify='["out", "out2"]',
        notifiers=f"""
            [notifiers.out]
            type = "file"
            directory = "{tmp_path / 'out'}"
            [notifiers.out2]
            type = "file"
            directory = "{tmp_path / 'out2'}"
            keywords_any = ["refund"]
        """,
    )
    code, s = cli_run(cfg, capsys)
    retry = 1 if spelling == "tweet" else 0
    assert code == 0 and s["watches"]["Acme"]["api_requests"] == 3 + retry
    assert s["watches"]["Acme"]["delivered"] == {"out": 250, "out2": 5}
    name, note = f"{spelling}.fields", f"note_{spelling}"
    # authors = "cache" (the default): the author_id field, no expansion (issue 10)
    assert x.searches[-1].query[name] == f"created_at,lang,public_metrics,{note},author_id"
    x.add_posts(make_posts(3, first_id=20_000))
    code, s = cli_run(cfg, capsys)  # the same process: the learned spelling, at once
    assert code == 0 and s["watches"]["Acme"]["api_requests"] == 1
    assert x.searches[-1].query["since_id"] == "10249"
    assert sorted(x.served_ids) == sorted(set(x.served_ids)) and len(x.served_ids) == 253
    urgent = [
        m for f in sorted((tmp_path / "out2").glob("*.json"))
        for m in json.loads(f.read_text())["mentions"]
    ]
    assert [int(m["id"]) for m in urgent] == [10_000, 10_050, 10_100, 10_150, 10_200]
    assert all(m["text"] == LONG + TAIL for m in urgent)


@pytest.mark.parametrize(
    ("style", "ok"), [("tweet", True), ("post", False)]
)
def test_a_pinned_spelling_is_used_as_it_is(tmp_path, tweet_x, bearer, capsys, style, ok):
    tweet_x.add_posts(make_posts(5, first_id=100))
    cfg = basic_config(tmp_path, tweet_x.url)
    cfg.write_text(cfg.read_text().replace("[x]\n", f'[x]\nfields_style = "{style}"\n'))
    code, s = cli_run(cfg, capsys)
    assert len(tweet_x.searches) == 1 and (code == 0) is ok
    if not ok:
        assert s["watches"]["Acme"]["failed"]["search"].startswith(
            "X refused post.fields: [post.fields] is not one of [query,"
        )
        assert s["watches"]["Acme"]["failed"]["search"].endswith(
            '(try [x] fields_style = "auto")'
        )
