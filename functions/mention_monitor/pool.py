"""Watches in a bounded pool of workers, stalest first, so none is starved by the budget."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from mention_monitor.config import Watch
from mention_monitor.results import WatchResult
from mention_monitor.state import StateStore
from mention_monitor.state.base import Searched

T = TypeVar("T")
R = TypeVar("R")

#: Deferral reasons that count towards ``max_staleness_minutes`` (a spending budget is the
#: operator's own choice and never fails a run).
STALE_REASONS = ("time budget", "rate limit")


def order_watches(watches: list[Watch], searched: Mapping[str, Searched]) -> list[Watch]:
    """Stalest first: never searched completely (longest waiting first), then by the time of
    the last complete search; the configured order breaks ties."""

    def key(item: tuple[int, Watch]) -> tuple[int, int, int]:
        index, watch = item
        s = searched.get(watch.name)
        if s is None:
            return (0, 0, index)
        return (1 if s.complete else 0, s.at, index)

    return [w for _, w in sorted(enumerate(watches), key=key)]


def run_pool(
    items: list[T],
    work: Callable[[T], R],
    left_out: Callable[[T], R],
    *,
    workers: int,
    may_start: Callable[[], bool],
) -> list[R]:
    """``work(item)`` for each item in order on up to ``workers`` threads.

    An item starts only while ``may_start()`` holds; once it does not, it and every item
    after it get ``left_out(item)``. Results come back in the items' order. An exception
    in one worker stops new items from starting and is raised once the others are done.
    """
    queue = deque(enumerate(items))
    results: dict[int, R] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                index, item = queue.popleft()
                go = not stop.is_set() and may_start()
                if not go:
                    stop.set()
            if not go:
                results[index] = left_out(item)
                continue
            try:
                results[index] = work(item)
            except BaseException:
                stop.set()
                raise

    n = max(1, min(workers, len(items)))
    if n == 1:
        worker()
    else:
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="watch") as pool:
            futures = [pool.submit(worker) for _ in range(n)]
        for future in futures:
            future.result()
    return [results[i] for i in range(len(items)) if i in results]


def check_staleness(
    results: Mapping[str, WatchResult],
    searched: Mapping[str, Searched],
    store: StateStore,
    now: int,
    max_minutes: float,
    *,
    dry_run: bool,
) -> None:
    """A watch left out for longer than ``max_minutes`` since its last complete search (or,
    never searched, since it was first left out) fails the run, naming the watch."""
    for name, res in results.items():
        if res.deferred not in STALE_REASONS:
            continue
        seen = searched.get(name)
        if seen is None:
            if not dry_run:
                store.note_deferred(name, now)
            continue
        age = now - seen.at
        if age > max_minutes * 60:
            res.failed["stale"] = (
                f"watch {name!r} not searched completely for {age // 60} minutes "
                f"(max_staleness_minutes = {max_minutes:g})"
            )
