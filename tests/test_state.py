"""Both stores behave the same: forward-only conditional cursors, outbox once, leases."""

from __future__ import annotations

import boto3
import pytest

from mention_monitor.models import Mention
from mention_monitor.state import QueryState, make_store
from mention_monitor.state.dynamodb import DynamoStore

BIG = 2**63 - 1  # the largest 64-bit tweet ID


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request, tmp_path, moto_aws):
    if request.param == "sqlite":
        s = make_store("sqlite", path=str(tmp_path / "s.db"))
    else:
        s = make_store("dynamodb", table="mm-state")
    s.init()
    yield s
    s.close()


def m(i: int) -> Mention:
    return Mention(id=i, text=f"t{i}", author_username="u")


def test_cursors_move_forward_only(store):
    assert store.advance_delivery("w", "slack", 1000)
    assert not store.advance_delivery("w", "slack", 999)  # a slower run cannot move it back
    assert store.advance_delivery("w", "slack", BIG)
    assert store.load("w").deliveries == {"slack": BIG}
    assert store.advance_mark("w", 10) and not store.advance_mark("w", 9)
    assert store.load("w").mark == 10


def test_query_state_round_trip_and_forward_only(store):
    qs = QueryState(cursor=999, cursor_time="2026-11-25T00:00:00Z", query="acme")
    assert store.save_query("w", "k", qs)
    assert not store.save_query("w", "k", QueryState(cursor=998, query="acme"))
    qs2 = QueryState(cursor=999, query="acme", pending_until=1500, pending_top=2000)
    assert store.save_query("w", "k", qs2)  # same cursor, progress recorded
    got = store.load("w").queries["k"]
    assert (got.cursor, got.pending_until, got.pending_top) == (999, 1500, 2000)
    assert store.save_query("w", "new", QueryState(started_at="2026-11-25T00:00:00Z"))
    assert store.load("w").queries["new"].cursor is None


def test_init_delivery_only_once(store):
    assert store.init_delivery("w", "email", 5)
    assert not store.init_delivery("w", "email", 0)
    assert store.load("w").deliveries["email"] == 5


def test_outbox_stores_once_and_orders_numerically(store):
    assert store.store_mentions("w", [m(999), m(1000), m(BIG)], expires_at=100) == 3
    assert store.store_mentions("w", [m(1000), m(1001)], expires_at=100) == 1
    assert [x.id for x in store.pending("w", 0, BIG, now=50)] == [999, 1000, 1001, BIG]
    assert [x.id for x in store.pending("w", 999, 1001, now=50)] == [1000, 1001]
    assert store.pending("w", 0, BIG, now=100) == []  # expired


def test_leases(store):
    assert store.acquire_lease("w", "a", now=100, ttl=60)
    assert not store.acquire_lease("w", "b", now=120, ttl=60)
    assert store.acquire_lease("w", "b", now=161, ttl=60)  # a died: its lease expired
    store.release_lease("w", "a")  # not a's anymore: no effect
    assert not store.acquire_lease("w", "c", now=170, ttl=60)
    store.release_lease("w", "b")
    assert store.acquire_lease("w", "c", now=171, ttl=60)


def test_reset_and_show(store):
    store.store_mentions("w", [m(1)], expires_at=10**10)
    store.advance_delivery("w", "a", 1)
    store.advance_delivery("w", "b", 1)
    store.advance_mark("w", 1)
    shown = store.show(now=0)
    assert shown[0]["watch"] == "w" and shown[0]["outbox"] == 1
    assert shown[0]["delivery"] == {"a": "1", "b": "1"}
    assert store.reset("w", "a") == 1
    assert store.load("w").deliveries == {"b": 1}
    store.reset("w")
    assert store.load("w").mark is None and store.show(now=0) == []


def test_dynamodb_ids_are_numbers(moto_aws):
    s = DynamoStore("t2")
    s.init()
    s.advance_delivery("w", "n", BIG)
    s.store_mentions("w", [m(BIG)], expires_at=10**10)
    items = boto3.client("dynamodb").scan(TableName="t2")["Items"]
    cursor = next(i for i in items if i["sk"]["S"] == "D#n")
    assert cursor["cursor"] == {"N": str(BIG)}
    outbox = next(i for i in items if i["pk"]["S"] == "O#w")
    assert outbox["tweet_id"] == {"N": str(BIG)} and "expires_at" in outbox


def test_dynamodb_never_creates_tables_during_a_run(moto_aws):
    s = DynamoStore("missing")
    from mention_monitor.errors import StateError

    with pytest.raises(StateError, match="ResourceNotFoundException"):
        s.load("w")
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []


def test_state_init_unreachable_is_a_clean_error(monkeypatch):
    from mention_monitor.errors import StateError

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(StateError, match="DynamoDB unreachable"):
        DynamoStore("t").init()
