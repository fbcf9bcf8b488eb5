"""DynamoDB outbox writes: conditional puts batched into transactions, each mention once."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from mention_monitor.models import Mention
from mention_monitor.state.dynamodb import DynamoStore


def mentions(ids) -> list[Mention]:
    return [Mention(id=i, text=f"acme {i}") for i in ids]


class CountingClient:
    """Wraps a boto3 client, counting calls by operation; can fail transactions on demand."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: dict[str, int] = {}
        self.fail_transactions_with: str | None = None

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            if name == "transact_write_items" and self.fail_transactions_with:
                n = len(kwargs["TransactItems"])
                raise ClientError(
                    {
                        "Error": {"Code": "TransactionCanceledException", "Message": "x"},
                        "CancellationReasons": [{"Code": self.fail_transactions_with}] * n,
                    },
                    "TransactWriteItems",
                )
            return attr(*args, **kwargs)

        return call


@pytest.fixture
def store(moto_aws) -> tuple[DynamoStore, CountingClient]:
    import boto3

    client = CountingClient(boto3.client("dynamodb", region_name="us-east-1"))
    s = DynamoStore("mm-test", client=client)
    s.init()
    client.calls.clear()
    return s, client


def test_new_mentions_go_in_transactions_of_100(store):
    s, client = store
    assert s.store_mentions("Acme", mentions(range(1000, 1250)), 2_000_000_000) == 250
    assert client.calls == {"transact_write_items": 3}
    assert [m.id for m in s.pending("Acme", 0, 10**6, 0)] == list(range(1000, 1250))


def test_already_stored_mentions_are_not_counted_or_written_twice(store):
    s, client = store
    s.store_mentions("Acme", mentions(range(1000, 1150)), 2_000_000_000)
    client.calls.clear()
    # chunk 1: all 100 stored before; chunk 2: 50 stored, 50 new; chunk 3: 50 new
    assert s.store_mentions("Acme", mentions(range(1000, 1250)), 2_000_000_000) == 100
    assert client.calls == {"transact_write_items": 4}  # 1 + (cancelled, retried) 2 + 1
    assert s.store_mentions("Acme", mentions(range(1000, 1250)), 2_000_000_000) == 0
    assert len(s.pending("Acme", 0, 10**6, 0)) == 250
    assert s.show(0)[0]["outbox"] == 250


def test_single_mention_uses_a_plain_conditional_put(store):
    s, client = store
    assert s.store_mentions("Acme", mentions([7]), 2_000_000_000) == 1
    assert s.store_mentions("Acme", mentions([7]), 2_000_000_000) == 0
    assert client.calls == {"put_item": 2}


def test_a_conflicting_transaction_falls_back_to_one_put_per_mention(store):
    s, client = store
    s.store_mentions("Acme", mentions([1001, 1003]), 2_000_000_000)
    client.fail_transactions_with = "TransactionConflict"
    client.calls.clear()
    assert s.store_mentions("Acme", mentions(range(1000, 1010)), 2_000_000_000) == 8
    assert client.calls["put_item"] == 10
    assert len(s.pending("Acme", 0, 10**6, 0)) == 10
