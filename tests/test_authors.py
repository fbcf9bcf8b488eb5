"""Authors read once: search asks for author_id only, GET /2/users (100 ids a request) for
authors not cached, kept author_ttl_days; a failed lookup still delivers; expand and none."""

from __future__ import annotations

import pytest

from mention_monitor.config import load_settings
from mention_monitor.errors import ConfigError
from mention_monitor.xsource import USERS_PATH
from tests.conftest import basic_config, delivered_ids
from tests.fakes.http import Reply
from tests.fakes.xapi import make_posts, make_users, server_error, users_response_violations
from tests.scale import (  # noqa: F401 - backend is a fixture
    backend,
    delivered_by_watch,
    multi_config,
    run_cfg,
    term,
)

__all__ = ["backend"]


def _file_mentions(directory):
    import json

    out = []
    for path in sorted(directory.glob("*.json")):
        out.extend(json.loads(path.read_text())["mentions"])
    return out


def test_search_asks_for_author_ids_and_authors_are_looked_up_once(
    tmp_path, fake_x, clock, bearer, backend
):
    cfg = multi_config(tmp_path, fake_x.url, 1, backend=backend)
    fake_x.add_posts(make_posts(30, first_id=1_000, text=term(0), users=5))
    s = run_cfg(cfg, clock)
    w = s["watches"]["W000"]
    search = fake_x.searches[0].query
    assert "expansions" not in search and "user.fields" not in search
    assert search["post.fields"].split(",")[-1] == "author_id"
    (lookup,) = fake_x.lookups
    assert sorted(lookup.query["ids"].split(",")) == [str(9000 + i) for i in range(5)]
    assert lookup.query["user.fields"] == "name,public_metrics,username"
    assert (w["users_read"], w["user_requests"], w["posts_read"]) == (5, 1, 30)
    assert w["cost_usd"] == round(30 * 0.005 + 5 * 0.010, 4)
    first = _file_mentions(tmp_path / "out")[0]
    assert (first["author_username"], first["author_followers"]) == ("user0", 100)

    # Next run (a new process): the same authors come from the state store, not from X.
    fake_x.add_posts(make_posts(12, first_id=5_000, text=term(0), users=5))
    s = run_cfg(cfg, clock)
    w = s["watches"]["W000"]
    assert len(fake_x.lookups) == 1 and w["users_read"] == 0 and "user_requests" not in w
    assert w["cost_usd"] == round(12 * 0.005, 4)
    assert all(m["author_username"] for m in _file_mentions(tmp_path / "out"))
    assert len(fake_x.users_served) == 5  # X was asked for each author once

    # Older than author_ttl_days (7): read again.
    clock.advance(8 * 86400)
    fake_x.add_posts(make_posts(3, first_id=9_000, text=term(0), users=5))
    s = run_cfg(cfg, clock)
    assert s["watches"]["W000"]["users_read"] == 3 and len(fake_x.lookups) == 2


def test_dynamodb_keeps_authors_in_the_state_table_with_a_ttl(
    tmp_path, fake_x, clock, bearer, moto_aws
):
    """Issue 10.5: on DynamoDB the cache is items of the existing table that DynamoDB's TTL
    (``expires_at``, the attribute template.yaml enables) removes author_ttl_days after the
    lookup, so authors seen once do not stay forever."""
    import boto3

    cfg = multi_config(tmp_path, fake_x.url, 1, backend="dynamodb", x="author_ttl_days = 3")
    settings = load_settings(cfg)
    fake_x.add_posts(make_posts(6, first_id=1_000, text=term(0), users=3))
    s = run_cfg(settings, clock)
    assert s["watches"]["W000"]["users_read"] == 3
    client = boto3.client("dynamodb", region_name="us-east-1")
    items = client.scan(TableName=settings.state.table)["Items"]
    authors = sorted((i for i in items if i["sk"]["S"] == "U"), key=lambda i: i["pk"]["S"])
    assert [i["pk"]["S"] for i in authors] == ["U#9000", "U#9001", "U#9002"]
    for item in authors:
        fetched = int(item["fetched_at"]["N"])
        assert fetched <= int(clock.now())
        assert int(item["expires_at"]["N"]) == fetched + 3 * 86400


def test_at_most_100_ids_per_lookup_and_answers_agree_with_the_users_spec(
    tmp_path, fake_x, clock, bearer
):
    users = make_users(250)
    fake_x.add_posts(make_posts(250, first_id=1_000, text=term(0), users=250), users)
    cfg = multi_config(tmp_path, fake_x.url, 1)
    s = run_cfg(cfg, clock)
    w = s["watches"]["W000"]
    assert (w["users_read"], w["user_requests"]) == (250, 3)
    assert sorted(len(r.query["ids"].split(",")) for r in fake_x.lookups) == [50, 100, 100]
    body = fake_x.archive.lookup({"ids": "9000,123"})
    assert users_response_violations(body) == []
    assert body["errors"][0]["detail"] == "Could not find user with ids: [123]."


def test_a_failed_lookup_still_stores_and_delivers_the_mention(tmp_path, fake_x, clock, bearer):
    fake_x.users_then(*[server_error(503)] * 3)  # every attempt of the first lookup fails
    fake_x.add_posts(make_posts(4, first_id=1_000, text=term(0), users=2))
    cfg = multi_config(tmp_path, fake_x.url, 1)
    s = run_cfg(cfg, clock)
    w = s["watches"]["W000"]
    assert s["ok"] is True and w["found"] == 4 and w["delivered"] == {"out": 4}
    assert w["users_read"] == 0 and w["user_requests"] == 3
    assert any(x.startswith("author lookup failed (HTTP 503") for x in w["warnings"])
    got = _file_mentions(tmp_path / "out")
    assert [(m["author_id"], m["author_username"]) for m in got] == [
        ("9000", ""), ("9001", ""), ("9000", ""), ("9001", "")
    ]
    html = next((tmp_path / "out").glob("*.html")).read_text()
    assert "author 9000" in html and "https://x.com/i/status/1000" in html
    # Not remembered as a failure: the next run looks them up.
    fake_x.add_posts(make_posts(1, first_id=2_000, text=term(0), users=2))
    s = run_cfg(cfg, clock)
    assert s["watches"]["W000"]["users_read"] == 1


def test_the_user_lookup_limit_is_a_budget_too(tmp_path, fake_x, clock, bearer):
    fake_x.windows[USERS_PATH].limit = 1  # one lookup in this window
    cfg = multi_config(tmp_path, fake_x.url, 2, top="max_concurrent_watches = 1")
    fake_x.add_posts(make_posts(2, first_id=1_000, text=term(0), users=1))  # author 9000
    posts = make_posts(2, first_id=2_000, text=term(1), users=1)
    for p in posts:
        p["author_id"] = "9001"
    fake_x.add_posts(posts)
    s = run_cfg(cfg, clock)
    assert fake_x.throttled == 0 and len(fake_x.lookups) == 1
    w = s["watches"]["W001"]
    assert w["delivered"] == {"out": 2} and "user_requests" not in w
    assert any("user lookup rate limit is used up" in x for x in w["warnings"])


def test_expand_is_todays_behaviour(tmp_path, fake_x, clock, bearer):
    cfg = multi_config(tmp_path, fake_x.url, 1, x='authors = "expand"', page_size=10)
    fake_x.add_posts(make_posts(25, first_id=1_000, text=term(0), users=5))
    s = run_cfg(cfg, clock)
    w = s["watches"]["W000"]
    q = fake_x.searches[0].query
    assert q["expansions"] == "author_id" and q["user.fields"] == "name,public_metrics,username"
    assert fake_x.lookups == [] and w["users_read"] == 15  # five authors on each of 3 pages
    assert _file_mentions(tmp_path / "out")[0]["author_username"] == "user0"


def test_none_reads_no_authors_and_digests_show_the_id_and_link(tmp_path, fake_x, clock, bearer):
    cfg = multi_config(tmp_path, fake_x.url, 1, x='authors = "none"')
    fake_x.add_posts(make_posts(3, first_id=1_000, text=term(0), users=1))
    s = run_cfg(cfg, clock)
    w = s["watches"]["W000"]
    assert "expansions" not in fake_x.searches[0].query and fake_x.lookups == []
    assert w["users_read"] == 0 and w["cost_usd"] == 0.015
    html = next((tmp_path / "out").glob("*.html")).read_text()
    assert "author 9000" in html and 'href="https://x.com/i/status/1002"' in html


def test_none_with_a_follower_rule_is_a_config_error(tmp_path):
    cfg = basic_config(tmp_path, "http://127.0.0.1:9", extra="")
    text = cfg.read_text().replace("[x]\n", '[x]\nauthors = "none"\n')
    cfg.write_text(text.replace('directory = "', 'min_author_followers = 1000\ndirectory = "', 1))
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert str(err.value).startswith("config: notifiers.out.min_author_followers: needs author")
    cfg.write_text(text)
    assert load_settings(cfg).x.authors == "none"


def test_expand_and_cache_deliver_the_same_digest(tmp_path, fake_x, clock, bearer):
    fake_x.add_posts(make_posts(20, first_id=1_000, users=5))
    for mode in ("expand", "cache"):
        d = tmp_path / mode
        d.mkdir()
        cfg = basic_config(d, fake_x.url)
        cfg.write_text(cfg.read_text().replace("[x]\n", f'[x]\nauthors = "{mode}"\n'))
        from tests.test_run import run

        assert run(cfg, clock)["ok"]
    assert delivered_ids(tmp_path / "expand" / "out") == delivered_ids(tmp_path / "cache" / "out")
    strip = lambda ms: [{k: v for k, v in m.items()} for m in ms]  # noqa: E731
    assert strip(_file_mentions(tmp_path / "expand" / "out")) == strip(
        _file_mentions(tmp_path / "cache" / "out")
    )


def test_a_lookup_answered_without_data_keeps_the_mentions(tmp_path, fake_x, clock, bearer):
    fake_x.users_then(Reply(200, {"errors": [{"title": "Not Found Error"}]}))
    fake_x.add_posts(make_posts(2, first_id=1_000, text=term(0), users=1))
    s = run_cfg(multi_config(tmp_path, fake_x.url, 1), clock)
    assert s["watches"]["W000"]["delivered"] == {"out": 2}
    assert s["watches"]["W000"]["users_read"] == 0
