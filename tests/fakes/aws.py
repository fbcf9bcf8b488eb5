"""A moto server on 127.0.0.1 for tests that need AWS across processes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto on a free local port; yield its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server._server.server_port}"
    finally:
        server.stop()


_fast = threading.Lock()
_patched = False


def moto_for_threads() -> None:
    """Make in-process moto's DynamoDB safe and quick for a run's worker threads. Tests only.

    - moto's backend is not thread-safe (a transaction deep-copies a table while another
      worker writes to it): each request's work in moto runs under one lock (DynamoDB itself
      is thread-safe; botocore's side still runs in parallel).
    - moto deep-copies the whole table for every action of a TransactWriteItems, to roll back
      on failure, so a test that stores thousands of mentions spends its time copying. The
      puts we send replace items rather than change them, so a shallow copy of the item maps,
      taken once per call, rolls back the same way.
    """
    global _patched
    with _fast:
        if _patched:
            return
        _patched = True
    import copy as real_copy
    from collections import defaultdict
    from typing import Any

    import moto.dynamodb.models as mdm
    import moto.dynamodb.responses as mdr
    from moto.dynamodb.models.table import Table

    lock = threading.RLock()
    handle = mdr.DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with lock:
            return handle(self)

    mdr.DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    original = mdm.DynamoDBBackend.transact_write_items

    class _Snapshots:
        def __init__(self) -> None:
            self.taken: dict[int, Any] = {}

        def deepcopy(self, obj: Any, memo: Any = None) -> Any:
            if not isinstance(obj, Table):
                return real_copy.deepcopy(obj, memo)
            if id(obj) not in self.taken:
                snap = real_copy.copy(obj)
                if obj.range_key_attr:
                    snap.items = defaultdict(dict, {h: dict(r) for h, r in obj.items.items()})
                else:
                    snap.items = defaultdict(dict, obj.items)
                self.taken[id(obj)] = snap
            return self.taken[id(obj)]

        def __getattr__(self, name: str) -> Any:
            return getattr(real_copy, name)

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        with lock:
            mdm.copy = _Snapshots()  # type: ignore[assignment]
            try:
                return original(self, transact_items)
            finally:
                mdm.copy = real_copy

    mdm.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
