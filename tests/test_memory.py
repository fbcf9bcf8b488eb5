"""Notifier memory: one behaviour in this process, in SQLite and in DynamoDB."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from mention_monitor.notifiers import Memory, Services
from mention_monitor.services import LocalMemory
from mention_monitor.state import make_store
from mention_monitor.state.dynamodb import DynamoStore


@pytest.fixture(params=["local", "sqlite", "dynamodb"])
def memories(request, tmp_path, moto_aws):
    """A factory of memories by notifier name, and a second one on the same storage."""
    if request.param == "local":
        services = Services()
        yield services.memory, services.memory
        return
    if request.param == "sqlite":
        a = make_store("sqlite", path=str(tmp_path / "s.db"))
        b = make_store("sqlite", path=str(tmp_path / "s.db"))  # another run, same file
    else:
        a = make_store("dynamodb", table="mm-state")
        b = make_store("dynamodb", table="mm-state")
    a.init()
    yield a.memory, b.memory
    a.close()
    b.close()


def test_add_is_conditional_put_and_remove_are_idempotent(memories):
    mine, other_run = memories
    sms, sms_again, slack = mine("sms"), other_run("sms"), mine("slack")
    assert sms.get("opted-out:+15551230001") is None and sms.items() == {}
    assert sms.add("opted-out:+15551230001", '{"reason":"21610"}') is True
    # Another run learning the same fact does not write it again, and knows it was not first.
    assert sms_again.add("opted-out:+15551230001", "other") is False
    assert sms_again.get("opted-out:+15551230001") == '{"reason":"21610"}'
    assert slack.get("opted-out:+15551230001") is None  # each notifier has its own memory
    sms.put("k", "v1")
    sms.put("k", "v1")
    sms_again.put("k", "v2")
    assert sms.items() == {"opted-out:+15551230001": '{"reason":"21610"}', "k": "v2"}
    assert sms.remove("k") is True and sms_again.remove("k") is False
    assert sms.items() == {"opted-out:+15551230001": '{"reason":"21610"}'}


def test_keys_and_values_are_bounded(memories):
    memory: Memory = memories[0]("sms")
    for key, value in (("", "v"), ("k" * 201, "v"), ("k", "v" * 4001)):
        with pytest.raises(ValueError):
            memory.add(key, value)
        with pytest.raises(ValueError):
            memory.put(key, value)
    assert memory.add("k" * 200, "v" * 4000) and memory.get("k" * 200) == "v" * 4000


@pytest.mark.parametrize("backend", ["sqlite", "dynamodb"])
def test_memory_is_not_a_watch_and_forget_clears_one_notifier(backend, tmp_path, moto_aws):
    store = make_store(backend, path=str(tmp_path / "s.db"), table="mm-state")
    store.init()
    store.advance_mark("Acme", 5)
    store.memory("sms").add("a", "1")
    store.memory("sms").add("b", "2")
    store.memory("slack").add("a", "1")
    assert [w["watch"] for w in store.show(0)] == ["Acme"]
    store.reset("Acme")  # forgetting a watch keeps what the notifiers learnt
    assert store.memory("sms").items() == {"a": "1", "b": "2"}
    assert store.forget("sms") == 2 and store.forget("sms") == 0
    assert store.memory("sms").items() == {} and store.memory("slack").items() == {"a": "1"}
    store.close()


def test_dynamodb_memory_items_and_their_conditions(moto_aws):
    ddb = boto3.client("dynamodb")
    calls: list[tuple[str, dict[str, Any]]] = []

    class Recording:
        def __getattr__(self, op: str) -> Any:
            def call(**kw: Any) -> Any:
                calls.append((op, kw))
                return getattr(ddb, op)(**kw)

            return call

    DynamoStore("mm-state", client=ddb).init()
    store = DynamoStore("mm-state", client=Recording())
    assert store.memory("sms").add("opted-out:+15551230001", "x")
    assert not store.memory("sms").add("opted-out:+15551230001", "y")
    assert [c for c in calls if c[0] == "put_item"][0] == (
        "put_item",
        {
            "TableName": "mm-state",
            "Item": {"pk": {"S": "N#sms"}, "sk": {"S": "opted-out:+15551230001"}, "value": {"S": "x"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        },
    )
    item = ddb.get_item(
        TableName="mm-state", Key={"pk": {"S": "N#sms"}, "sk": {"S": "opted-out:+15551230001"}}
    )["Item"]
    assert item == {"pk": {"S": "N#sms"}, "sk": {"S": "opted-out:+15551230001"}, "value": {"S": "x"}}
    assert "expires_at" not in item  # kept until forgotten, never expired by TTL


def test_local_memory_is_per_services_object():
    a, b = Services(), Services()
    a.memory("sms").add("k", "v")
    assert a.memory("sms").get("k") == "v" and b.memory("sms").get("k") is None
    assert isinstance(a.memory("sms"), LocalMemory)
