"""Query building and splitting."""

from __future__ import annotations

import pytest

from mention_monitor.config import Watch
from mention_monitor.errors import ConfigError
from mention_monitor.query import build_queries, query_key, quote_term


def W(**kw):
    kw.setdefault("name", "Acme")
    kw.setdefault("terms", ["acme"])
    return Watch(**kw)


@pytest.mark.parametrize(
    ("watch", "expected"),
    [
        (W(), "acme -is:retweet"),
        (W(terms=["acme", "acme cloud"]), '(acme OR "acme cloud") -is:retweet'),
        (W(include_retweets=True), "acme"),
        (W(exclude_authors=["@acme", "acme_support"]), "acme -is:retweet -from:acme -from:acme_support"),
        (W(exclude_terms=["jobs", "road runner"]), 'acme -is:retweet -jobs -"road runner"'),
        (W(languages=["en"]), "acme lang:en -is:retweet"),
        (W(languages=["en", "DE"]), "acme (lang:en OR lang:de) -is:retweet"),
        (W(terms=["#acme", '"acme inc"']), '(#acme OR "acme inc") -is:retweet'),
    ],
)
def test_single_query(watch, expected):
    assert build_queries(watch, 512) == [expected]


def test_split_into_fewest_queries_each_within_limit():
    terms = [f"brandterm{i:02d}" for i in range(40)]  # 11 chars each
    watch = W(terms=terms, exclude_authors=["acme"])
    queries = build_queries(watch, 128)
    assert all(len(q) <= 128 for q in queries)
    # every term exactly once across the queries
    found = [t for q in queries for t in terms if f"{t} " in q or f"{t})" in q]
    assert sorted(found) == sorted(terms)
    # a lower bound: total term text cannot fit in fewer queries
    suffix = " -is:retweet -from:acme"
    per_query = (128 - len(suffix) - 2 + 4) // (11 + 4)
    assert len(queries) == -(-40 // per_query)
    assert all(q.endswith(suffix) for q in queries)


def test_duplicate_terms_collapse():
    assert build_queries(W(terms=["Acme", "acme"]), 512) == ["Acme -is:retweet"]


def test_term_that_cannot_fit_is_a_config_error():
    with pytest.raises(ConfigError, match="watches.3.terms"):
        build_queries(W(terms=["x" * 600]), 512, index=3)


def test_quote_and_key():
    assert quote_term("acme cloud") == '"acme cloud"'
    assert quote_term("acme") == "acme"
    assert query_key("a") == query_key("a") != query_key("b")
