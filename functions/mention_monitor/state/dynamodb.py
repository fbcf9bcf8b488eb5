"""DynamoDB state: one table (pk, sk), IDs as numbers, conditional forward-only writes."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from typing import Any

from mention_monitor import aws
from mention_monitor.errors import StateError
from mention_monitor.models import Mention
from mention_monitor.state.base import EXPIRED_KEPT_SECONDS, LEASE, Record, StateStore, dumps

#: ``expires_at`` is the table's TTL attribute: DynamoDB deletes a row some time after it.
#: ``until`` is when a mention leaves the outbox; TTL is set EXPIRED_KEPT_SECONDS later.
PK, SK, TTL_ATTR, UNTIL = "pk", "sk", "expires_at", "until"
KEY_SCHEMA = [{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}]
ATTRIBUTES = [
    {"AttributeName": PK, "AttributeType": "S"},
    {"AttributeName": SK, "AttributeType": "S"},
]
ID_WIDTH = 20  # 2**64 has 20 digits: zero-padded sort keys order like the integers
TRANSACT_MAX = 100  # actions per TransactWriteItems


def _control_pk(watch: str) -> str:
    return f"W#{watch}"


def _outbox_pk(watch: str) -> str:
    return f"O#{watch}"


def _memory_pk(notifier: str) -> str:
    return f"N#{notifier}"


#: Partitions that belong to a watch (N#: a notifier's memory, U#: a cached author).
WATCH_PREFIXES = ("W#", "O#")


def _author_pk(user_id: str) -> str:
    return f"U#{user_id}"


AUTHOR_SK = "U"
BATCH_GET_MAX, BATCH_WRITE_MAX = 100, 25


def _id_sk(tweet_id: int) -> str:
    return f"{tweet_id:0{ID_WIDTH}d}"


def _until(item: dict[str, Any]) -> int:
    """When an outbox item expires (rows written before ``until`` existed: their TTL)."""
    attr = item.get(UNTIL) or item.get(TTL_ATTR) or {"N": "0"}
    return int(Decimal(attr["N"]))


class DynamoStore(StateStore):
    """Low-level client calls only (no resource layer: a leaner cold start)."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        # A boto3 client is thread-safe once built; building one is not: once, under a lock.
        with self._lock:
            if self._client is None:
                self._client = aws.client("dynamodb", max_attempts=5)
            return self._client

    def _call(self, op: str, **kwargs: Any) -> Any:
        with aws.aws_errors(
            StateError,
            f"state: DynamoDB {op} on {self.table!r} failed",
            "state: DynamoDB unreachable",
            passthrough=("ConditionalCheckFailedException",),
        ):
            return getattr(self.client, op)(TableName=self.table, **kwargs)

    def _conditional(self, op: str, **kwargs: Any) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._call(op, **kwargs)
        except ClientError:  # only ConditionalCheckFailedException gets here
            return False
        return True

    def init(self) -> str:
        from botocore.exceptions import ClientError

        try:
            with aws.aws_errors(
                StateError,
                f"state: cannot create table {self.table!r}",
                "state: DynamoDB unreachable",
                passthrough=("ResourceInUseException",),
            ):
                self.client.create_table(
                    TableName=self.table,
                    KeySchema=KEY_SCHEMA,
                    AttributeDefinitions=ATTRIBUTES,
                    BillingMode="PAY_PER_REQUEST",
                )
                self.client.get_waiter("table_exists").wait(TableName=self.table)
                self.client.update_time_to_live(
                    TableName=self.table,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTR},
                )
        except ClientError:  # only ResourceInUseException gets here
            return f"DynamoDB table {self.table} already exists"
        return f"DynamoDB table {self.table} created"

    # -- control records -----------------------------------------------------------------
    def _query_all(self, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            resp = self._call("query", **kwargs)
            items.extend(resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def _records(self, watch: str, prefix: str = "") -> list[Record]:
        values: dict[str, Any] = {":pk": {"S": _control_pk(watch)}}
        condition = "pk = :pk"
        if prefix:
            condition += " AND begins_with(sk, :p)"
            values[":p"] = {"S": prefix}
        items = self._query_all(
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ConsistentRead=True,
        )
        out = []
        for item in items:
            cursor = int(item["cursor"]["N"]) if "cursor" in item else None
            data = json.loads(item["data"]["S"]) if "data" in item else {}
            out.append(Record(item[SK]["S"], cursor, data))
        return out

    def _item(
        self, watch: str, sk: str, cursor: int | None, data: dict[str, Any]
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            PK: {"S": _control_pk(watch)},
            SK: {"S": sk},
            "data": {"S": dumps(data)},
        }
        if cursor is not None:
            item["cursor"] = {"N": str(cursor)}
        return item

    def _put_forward(
        self, watch: str, sk: str, cursor: int, data: dict[str, Any], due: int | None = None
    ) -> bool:
        # A slower run never moves a cursor back: it finds the cursor already past its own.
        if due is None:
            return self._conditional(
                "put_item",
                Item=self._item(watch, sk, cursor, data),
                ConditionExpression=(
                    "attribute_not_exists(pk) OR attribute_not_exists(#c) OR #c <= :c"
                ),
                ExpressionAttributeNames={"#c": "cursor"},
                ExpressionAttributeValues={":c": {"N": str(cursor)}},
            )
        # A scheduled notifier's due time moves with its cursor, in the same write and only
        # forward: a run that sent an older period cannot mark the newer one unsent.
        item = self._item(watch, sk, cursor, {**data, "due": due})
        item["due"] = {"N": str(due)}
        return self._conditional(
            "put_item",
            Item=item,
            ConditionExpression=(
                "attribute_not_exists(pk) OR ((attribute_not_exists(#c) OR #c <= :c)"
                " AND (attribute_not_exists(#d) OR #d <= :d))"
            ),
            ExpressionAttributeNames={"#c": "cursor", "#d": "due"},
            ExpressionAttributeValues={":c": {"N": str(cursor)}, ":d": {"N": str(due)}},
        )

    def _put_replace(
        self, watch: str, sk: str, expected: int, cursor: int, data: dict[str, Any]
    ) -> bool:
        # Compare-and-set: two runs that read the same version cannot both write the next one.
        return self._conditional(
            "put_item",
            Item=self._item(watch, sk, cursor, data),
            ConditionExpression="#c = :old",
            ExpressionAttributeNames={"#c": "cursor"},
            ExpressionAttributeValues={":old": {"N": str(expected)}},
        )

    def _put_if_missing(self, watch: str, sk: str, cursor: int, data: dict[str, Any]) -> bool:
        return self._conditional(
            "put_item",
            Item=self._item(watch, sk, cursor, data),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def _add(self, watch: str, sk: str, amount: int) -> int:
        # ADD is atomic: concurrent workers and overlapping runs all count.
        resp = self._call(
            "update_item",
            Key={PK: {"S": _control_pk(watch)}, SK: {"S": sk}},
            UpdateExpression="ADD #c :a",
            ExpressionAttributeNames={"#c": "cursor"},
            ExpressionAttributeValues={":a": {"N": str(amount)}},
            ReturnValues="UPDATED_NEW",
        )
        return int(resp["Attributes"]["cursor"]["N"])

    def _delete(self, watch: str, sks: list[str] | None) -> int:
        keys: list[dict[str, Any]]
        if sks is None:
            keys = []
            for pk in (_control_pk(watch), _outbox_pk(watch)):
                keys.extend(
                    {PK: i[PK], SK: i[SK]}
                    for i in self._query_all(
                        KeyConditionExpression="pk = :pk",
                        ExpressionAttributeValues={":pk": {"S": pk}},
                        ProjectionExpression="pk, sk",
                    )
                )
        else:
            keys = [{PK: {"S": _control_pk(watch)}, SK: {"S": sk}} for sk in sks]
        n = 0
        for key in keys:
            resp = self._call("delete_item", Key=key, ReturnValues="ALL_OLD")
            n += 1 if resp.get("Attributes") else 0
        return n

    # -- outbox --------------------------------------------------------------------------
    def _outbox_put(self, watch: str, m: Mention, expires_at: int) -> dict[str, Any]:
        return {
            "Item": {
                PK: {"S": _outbox_pk(watch)},
                SK: {"S": _id_sk(m.id)},
                "tweet_id": {"N": str(m.id)},
                "body": {"S": m.to_json()},
                UNTIL: {"N": str(expires_at)},
                TTL_ATTR: {"N": str(expires_at + EXPIRED_KEPT_SECONDS)},
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }

    def _put_outbox(self, watch: str, mentions: list[Mention], expires_at: int) -> int:
        new = 0
        for i in range(0, len(mentions), TRANSACT_MAX):
            new += self._put_outbox_chunk(watch, mentions[i : i + TRANSACT_MAX], expires_at)
        return new

    def _put_outbox_one_by_one(self, watch: str, mentions: list[Mention], expires_at: int) -> int:
        return sum(
            self._conditional("put_item", **self._outbox_put(watch, m, expires_at))
            for m in mentions
        )

    def _put_outbox_chunk(self, watch: str, mentions: list[Mention], expires_at: int) -> int:
        """Up to 100 conditional puts in one ``TransactWriteItems`` (one round trip, not 100).

        A transaction is all or nothing: when it is cancelled because some mentions are
        already stored, those are left out and the rest is tried again. Any other reason
        (a conflicting transaction, throttling) falls back to one conditional put each.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        pending = list(mentions)
        while len(pending) > 1:
            try:
                self.client.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": self.table, **self._outbox_put(watch, m, expires_at)}}
                        for m in pending
                    ]
                )
                return len(pending)  # the ones left out were stored before
            except ClientError as exc:
                code = aws.error_code(exc)
                if code != "TransactionCanceledException":
                    raise StateError(
                        f"state: DynamoDB transact_write_items on {self.table!r} failed: {code}"
                    ) from None
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
                stored = {i for i, r in enumerate(reasons) if r == "ConditionalCheckFailed"}
                if len(reasons) != len(pending) or not stored or any(
                    r not in ("None", "ConditionalCheckFailed", None) for r in reasons
                ):
                    return self._put_outbox_one_by_one(watch, pending, expires_at)
                pending = [m for i, m in enumerate(pending) if i not in stored]
            except BotoCoreError as exc:
                raise StateError(f"state: DynamoDB unreachable: {type(exc).__name__}") from None
        return self._put_outbox_one_by_one(watch, pending, expires_at)

    def _outbox_rows(
        self, watch: str, above: int, upto: int, now: int, limit: int
    ) -> tuple[list[tuple[Mention, bool]], int | None]:
        resp = self._call(
            "query",
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":pk": {"S": _outbox_pk(watch)},
                ":lo": {"S": _id_sk(above + 1)},
                ":hi": {"S": _id_sk(upto)},
            },
            ConsistentRead=True,
            Limit=limit,
        )
        items = resp.get("Items", [])
        rows = [(Mention.from_json(i["body"]["S"]), _until(i) <= now) for i in items]
        more = "LastEvaluatedKey" in resp and items
        return rows, (int(items[-1]["tweet_id"]["N"]) if more else None)

    def _outbox_count(self, watch: str, now: int) -> int:
        items = self._query_all(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": _outbox_pk(watch)}},
            ProjectionExpression="#u, #t",
            ExpressionAttributeNames={"#u": UNTIL, "#t": TTL_ATTR},
        )
        return sum(1 for i in items if _until(i) > now)

    def _watches(self) -> list[str]:
        names: set[str] = set()
        kwargs: dict[str, Any] = {"ProjectionExpression": "pk"}
        while True:
            resp = self._call("scan", **kwargs)
            for item in resp.get("Items", []):
                pk = item[PK]["S"]
                if pk.startswith(WATCH_PREFIXES):
                    names.add(pk[2:])
            if "LastEvaluatedKey" not in resp:
                return sorted(names)
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    # -- lease ---------------------------------------------------------------------------
    def _acquire(self, watch: str, owner: str, now: int, expires: int) -> bool:
        return self._conditional(
            "put_item",
            Item={
                PK: {"S": _control_pk(watch)},
                SK: {"S": LEASE},
                "owner": {"S": owner},
                "lease_until": {"N": str(expires)},
            },
            ConditionExpression="attribute_not_exists(pk) OR lease_until <= :now OR #o = :me",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":now": {"N": str(now)}, ":me": {"S": owner}},
        )

    def _renew(self, watch: str, owner: str, expires: int) -> bool:
        # Timeline: this run took the lease, then ran long; if another run has taken it since
        # (owner overwritten) or taken and released it (item gone), the condition fails and
        # this run must not send: the other run loaded the delivery cursors after ours.
        return self._conditional(
            "update_item",
            Key={PK: {"S": _control_pk(watch)}, SK: {"S": LEASE}},
            UpdateExpression="SET lease_until = :until",
            ConditionExpression="#o = :me",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":me": {"S": owner}, ":until": {"N": str(expires)}},
        )

    def _release(self, watch: str, owner: str) -> None:
        self._conditional(
            "delete_item",
            Key={PK: {"S": _control_pk(watch)}, SK: {"S": LEASE}},
            ConditionExpression="#o = :me",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":me": {"S": owner}},
        )

    # -- notifier memory -----------------------------------------------------------------
    def _mem_key(self, notifier: str, key: str) -> dict[str, Any]:
        return {PK: {"S": _memory_pk(notifier)}, SK: {"S": key}}

    def _mem_items(self, notifier: str) -> dict[str, str]:
        items = self._query_all(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": _memory_pk(notifier)}},
            ConsistentRead=True,
        )
        return {i[SK]["S"]: i["value"]["S"] for i in items}

    def _mem_get(self, notifier: str, key: str) -> str | None:
        resp = self._call("get_item", Key=self._mem_key(notifier, key), ConsistentRead=True)
        item = resp.get("Item")
        return None if item is None else str(item["value"]["S"])

    def _mem_add(self, notifier: str, key: str, value: str) -> bool:
        # Two runs learning the same fact at once: the condition lets exactly one write it, and
        # only that one reports it.
        return self._conditional(
            "put_item",
            Item={**self._mem_key(notifier, key), "value": {"S": value}},
            ConditionExpression="attribute_not_exists(pk)",
        )

    def _mem_put(self, notifier: str, key: str, value: str) -> None:
        self._call("put_item", Item={**self._mem_key(notifier, key), "value": {"S": value}})

    def _mem_remove(self, notifier: str, keys: list[str] | None) -> int:
        if keys is None:
            keys = list(self._mem_items(notifier))
        n = 0
        for key in keys:
            resp = self._call(
                "delete_item", Key=self._mem_key(notifier, key), ReturnValues="ALL_OLD"
            )
            n += 1 if resp.get("Attributes") else 0
        return n

    # -- authors -------------------------------------------------------------------------
    def _get_authors(self, ids: list[str]) -> dict[str, tuple[dict[str, Any], int]]:
        out: dict[str, tuple[dict[str, Any], int]] = {}
        for i in range(0, len(ids), BATCH_GET_MAX):
            chunk = ids[i : i + BATCH_GET_MAX]
            keys = [{PK: {"S": _author_pk(a)}, SK: {"S": AUTHOR_SK}} for a in chunk]
            request: dict[str, Any] = {self.table: {"Keys": keys}}
            for _ in range(5):  # unprocessed keys (throttling) are tried again, then skipped
                with aws.aws_errors(
                    StateError,
                    f"state: DynamoDB batch_get_item on {self.table!r} failed",
                    "state: DynamoDB unreachable",
                ):
                    resp = self.client.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self.table, []):
                    user = json.loads(item["body"]["S"])
                    out[str(user.get("id"))] = (user, int(item["fetched_at"]["N"]))
                request = resp.get("UnprocessedKeys") or {}
                if not request:
                    break
        return out

    def _put_authors(self, users: list[dict[str, Any]], fetched_at: int, expires_at: int) -> None:
        for i in range(0, len(users), BATCH_WRITE_MAX):
            puts = [
                {
                    "PutRequest": {
                        "Item": {
                            PK: {"S": _author_pk(str(u["id"]))},
                            SK: {"S": AUTHOR_SK},
                            "body": {"S": dumps(u)},
                            "fetched_at": {"N": str(fetched_at)},
                            TTL_ATTR: {"N": str(expires_at)},  # DynamoDB deletes it later
                        }
                    }
                }
                for u in users[i : i + BATCH_WRITE_MAX]
            ]
            request: dict[str, Any] = {self.table: puts}
            for _ in range(5):
                with aws.aws_errors(
                    StateError,
                    f"state: DynamoDB batch_write_item on {self.table!r} failed",
                    "state: DynamoDB unreachable",
                ):
                    resp = self.client.batch_write_item(RequestItems=request)
                request = resp.get("UnprocessedItems") or {}
                if not request:
                    break
