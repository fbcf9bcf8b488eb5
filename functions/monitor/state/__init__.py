"""Cursor, outbox and lease storage: one interface, SQLite and DynamoDB backends."""

from functions.monitor.state.base import QueryState, StateStore, WatchState

__all__ = ["QueryState", "StateStore", "WatchState", "make_store"]


def make_store(
    backend: str, *, path: str = "", table: str = "", client: object = None
) -> StateStore:
    """The configured backend; nothing connects to AWS until first use."""
    if backend == "dynamodb":
        from functions.monitor.state.dynamodb import DynamoStore

        return DynamoStore(table, client=client)
    from functions.monitor.state.sqlite import SqliteStore

    return SqliteStore(path)
