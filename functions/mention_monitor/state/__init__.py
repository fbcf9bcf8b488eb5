"""Cursor, outbox and lease storage: one interface, SQLite and DynamoDB backends."""

from mention_monitor.state.base import (
    DeliveryClock,
    QueryState,
    RunState,
    StateStore,
    WatchState,
)

__all__ = ["DeliveryClock", "QueryState", "RunState", "StateStore", "WatchState", "make_store"]


def make_store(
    backend: str, *, path: str = "", table: str = "", client: object = None
) -> StateStore:
    """The configured backend; nothing connects to AWS until first use."""
    if backend == "dynamodb":
        from mention_monitor.state.dynamodb import DynamoStore

        return DynamoStore(table, client=client)
    from mention_monitor.state.sqlite import SqliteStore

    return SqliteStore(path)
