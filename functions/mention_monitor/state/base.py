"""The store interface: public cursor/outbox/lease/memory operations over backend primitives."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mention_monitor.models import Mention
from mention_monitor.services import Memory, check_memory_entry

# Control-record sort keys inside a watch.
QUERY_PREFIX = "Q#"
DELIVERY_PREFIX = "D#"
MARK = "MARK"
LEASE = "LEASE"
SPIKE = "SPIKE"
#: Expired outbox rows stay this long (unseen by delivery) before they are deleted, so that a
#: notifier that was down past ``outbox_days`` is told what it lost instead of losing it silently.
EXPIRED_KEPT_SECONDS = 7 * 86400

#: The pseudo-watch that holds run-wide records; watch names are never empty.
META = ""
SEARCHED_PREFIX = "S#"  # S#<watch>: when the watch was last searched completely
SPEND_PREFIX = "$#"  # $#D#2026-11-25, $#M#2026-11: X spend in micro-dollars
ALERT_PREFIX = "!#"  # !#D#2026-11-25: the budget alert of that period went out
RATE = "RATE"  # X's recent-search rate limit as last seen
OUTBOX_CHUNK = 500  # outbox rows per read during delivery


@dataclass
class QueryState:
    """Search progress of one query.

    ``cursor``: every matching post with an ID <= cursor is in the outbox.
    ``pending_until``/``pending_top``: a later range [until, top] is stored too, but the gap
    (cursor, until) is still to be read (resumed with ``until_id``).
    ``started_at``: the query began with no posts at all; search from this time.
    ``rejected``: X's message when it last refused the query itself (400), else empty.
    """

    cursor: int | None = None
    cursor_time: str = ""
    query: str = ""
    pending_until: int | None = None
    pending_top: int | None = None
    pending_top_time: str = ""
    started_at: str = ""
    rejected: str = ""

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cursor_time": self.cursor_time,
            "query": self.query,
            "pending_until": self.pending_until,
            "pending_top": self.pending_top,
            "pending_top_time": self.pending_top_time,
            "started_at": self.started_at,
        }
        if self.rejected:
            out["rejected"] = self.rejected
        return out

    @classmethod
    def from_record(cls, cursor: int | None, data: dict[str, Any]) -> QueryState:
        def _int(v: Any) -> int | None:
            return int(v) if v not in (None, "") else None

        return cls(
            cursor=cursor if cursor is not None and cursor >= 0 else None,
            cursor_time=str(data.get("cursor_time") or ""),
            query=str(data.get("query") or ""),
            pending_until=_int(data.get("pending_until")),
            pending_top=_int(data.get("pending_top")),
            pending_top_time=str(data.get("pending_top_time") or ""),
            started_at=str(data.get("started_at") or ""),
            rejected=str(data.get("rejected") or ""),
        )


@dataclass(frozen=True)
class DeliveryClock:
    """A scheduled notifier's clock, kept with its delivery cursor: ``due`` is the due time
    (epoch seconds) of the last period it was sent, ``at`` when that happened."""

    due: int | None = None
    at: int | None = None

    def data(self) -> dict[str, Any]:
        return {k: v for k, v in (("due", self.due), ("at", self.at)) if v is not None}


@dataclass
class WatchState:
    """Everything the run needs to know about one watch before it starts."""

    queries: dict[str, QueryState] = field(default_factory=dict)
    mark: int | None = None
    deliveries: dict[str, int] = field(default_factory=dict)
    clocks: dict[str, DeliveryClock] = field(default_factory=dict)
    #: Spike statistics: (version, data) of the watch's SPIKE record, if there is one.
    spike: tuple[int, dict[str, Any]] | None = None


@dataclass(frozen=True)
class Searched:
    """When a watch was last searched completely (``complete``), or, for a watch never
    searched completely, when it was first left out."""

    at: int
    complete: bool


@dataclass(frozen=True)
class RateState:
    """X's recent-search rate limit as the last run saw it (``reset`` in epoch seconds)."""

    limit: int
    remaining: int
    reset: int


@dataclass
class RunState:
    """What a run reads of the run-wide records before it starts (one read)."""

    searched: dict[str, Searched] = field(default_factory=dict)
    rate: RateState | None = None
    spend: dict[str, int] = field(default_factory=dict)


@dataclass
class Record:
    """A control record as the backends store it: a key, an integer cursor, a JSON blob."""

    sk: str
    cursor: int | None
    data: dict[str, Any]


class StateStore(ABC):
    """Public operations are written once here; backends implement the ``_`` primitives.

    All cursor writes are conditional and forward-only: a slower, overlapping run can never
    move a cursor back, and a failed condition means someone else got there first.
    """

    # -- backend primitives --------------------------------------------------------------
    @abstractmethod
    def _records(self, watch: str, prefix: str = "") -> list[Record]:
        """The watch's control records (those whose key starts with ``prefix``)."""

    @abstractmethod
    def _put_forward(
        self, watch: str, sk: str, cursor: int, data: dict[str, Any], due: int | None = None
    ) -> bool:
        """Write if the record is missing or its cursor is <= ``cursor``; with ``due``, also
        only if the record has no due time or one <= ``due`` (``due`` is kept in ``data``)."""

    @abstractmethod
    def _put_replace(
        self, watch: str, sk: str, expected: int, cursor: int, data: dict[str, Any]
    ) -> bool:
        """Write only if the record exists with exactly the cursor ``expected``."""

    @abstractmethod
    def _put_if_missing(self, watch: str, sk: str, cursor: int, data: dict[str, Any]) -> bool: ...

    @abstractmethod
    def _add(self, watch: str, sk: str, amount: int) -> int:
        """Add ``amount`` to the record's cursor atomically (0 when missing); the new value."""

    @abstractmethod
    def _delete(self, watch: str, sks: list[str] | None) -> int:
        """Delete the given control records (all of the watch's, outbox too, when None)."""

    @abstractmethod
    def _put_outbox(self, watch: str, mentions: list[Mention], expires_at: int) -> int:
        """Store mentions not yet stored; return how many were new."""

    @abstractmethod
    def _outbox_rows(
        self, watch: str, above: int, upto: int, now: int, limit: int
    ) -> tuple[list[tuple[Mention, bool]], int | None]:
        """Outbox rows with above < id <= upto, ascending, at most ``limit``, each with whether
        it expired (expired rows are kept a while, see :data:`EXPIRED_KEPT_SECONDS`); and the
        ID to go on above (``None`` when the range is exhausted)."""

    @abstractmethod
    def _outbox_count(self, watch: str, now: int) -> int: ...

    @abstractmethod
    def _watches(self) -> list[str]: ...

    @abstractmethod
    def _acquire(self, watch: str, owner: str, now: int, expires: int) -> bool: ...

    @abstractmethod
    def _renew(self, watch: str, owner: str, expires: int) -> bool:
        """Set the lease's expiry if ``owner`` still holds it (expired or not); else False."""

    @abstractmethod
    def _release(self, watch: str, owner: str) -> None: ...

    @abstractmethod
    def _get_authors(self, ids: list[str]) -> dict[str, tuple[dict[str, Any], int]]:
        """Cached X user objects by ID, each with the time it was fetched."""

    @abstractmethod
    def _put_authors(self, users: list[dict[str, Any]], fetched_at: int, expires_at: int) -> None:
        """Cache X user objects (replacing older copies)."""
    # Notifier memory: (notifier, key) -> value, outside every watch.
    @abstractmethod
    def _mem_items(self, notifier: str) -> dict[str, str]: ...

    @abstractmethod
    def _mem_get(self, notifier: str, key: str) -> str | None: ...

    @abstractmethod
    def _mem_add(self, notifier: str, key: str, value: str) -> bool:
        """Write only if the key is absent; True if this call wrote it."""

    @abstractmethod
    def _mem_put(self, notifier: str, key: str, value: str) -> None: ...

    @abstractmethod
    def _mem_remove(self, notifier: str, keys: list[str] | None) -> int:
        """Delete the given keys (all of the notifier's when None); return how many were there."""

    # -- public API ----------------------------------------------------------------------
    def load(self, watch: str) -> WatchState:
        state = WatchState()
        for rec in self._records(watch):
            if rec.sk.startswith(QUERY_PREFIX):
                state.queries[rec.sk[len(QUERY_PREFIX) :]] = QueryState.from_record(
                    rec.cursor, rec.data
                )
            elif rec.sk.startswith(DELIVERY_PREFIX) and rec.cursor is not None:
                name = rec.sk[len(DELIVERY_PREFIX) :]
                state.deliveries[name] = rec.cursor
                state.clocks[name] = DeliveryClock(
                    _int(rec.data.get("due")), _int(rec.data.get("at"))
                )
            elif rec.sk == MARK:
                state.mark = rec.cursor
            elif rec.sk == SPIKE and rec.cursor is not None:
                state.spike = (rec.cursor, rec.data)
        return state

    def save_query(self, watch: str, key: str, state: QueryState) -> bool:
        """Record search progress; the cursor never moves back."""
        sk = QUERY_PREFIX + key
        if state.cursor is None:
            return self._put_if_missing(watch, sk, -1, state.data()) or self._put_forward(
                watch, sk, -1, state.data()
            )
        return self._put_forward(watch, sk, state.cursor, state.data())

    def advance_mark(self, watch: str, mark: int) -> bool:
        """Everything <= ``mark`` is in the outbox (the minimum over the watch's queries)."""
        return self._put_forward(watch, MARK, mark, {})

    def init_delivery(
        self, watch: str, notifier: str, cursor: int, clock: DeliveryClock | None = None
    ) -> bool:
        """Give a new notifier its starting point (only if it has none)."""
        data = clock.data() if clock else {}
        return self._put_if_missing(watch, DELIVERY_PREFIX + notifier, cursor, data)

    def advance_delivery(
        self, watch: str, notifier: str, cursor: int, clock: DeliveryClock | None = None
    ) -> bool:
        """Notifier accepted everything <= ``cursor``; forward only.

        A scheduled notifier's ``clock`` is written in the same conditional write: the due
        time moves forward only, so a slower run can neither move the cursor back nor make
        a period that was sent look unsent.
        """
        if clock is None or clock.due is None:
            return self._put_forward(watch, DELIVERY_PREFIX + notifier, cursor, {})
        return self._put_forward(
            watch, DELIVERY_PREFIX + notifier, cursor, clock.data(), due=clock.due
        )

    def save_spike(
        self, watch: str, version: int | None, data: dict[str, Any]
    ) -> bool:
        """Replace the watch's spike statistics if nobody wrote them since ``version`` was read
        (``None``: there were none). The new version is ``version + 1``."""
        if version is None:
            return self._put_if_missing(watch, SPIKE, 1, data)
        return self._put_replace(watch, SPIKE, version, version + 1, data)

    def store_mentions(self, watch: str, mentions: list[Mention], expires_at: int) -> int:
        unique = {m.id: m for m in mentions}
        return self._put_outbox(watch, list(unique.values()), expires_at) if unique else 0

    def iter_rows(
        self, watch: str, above: int, upto: int, now: int, chunk: int | None = None
    ) -> Iterator[list[tuple[Mention, bool]]]:
        """Outbox rows in (above, upto], ascending, in chunks (bounded memory), each with
        whether it expired before it was delivered."""
        after: int | None = above
        while after is not None and after < upto:
            rows, after = self._outbox_rows(watch, after, upto, now, chunk or OUTBOX_CHUNK)
            if rows:
                yield rows

    def iter_pending(
        self, watch: str, above: int, upto: int, now: int, chunk: int | None = None
    ) -> Iterator[list[Mention]]:
        """Unexpired outbox mentions in (above, upto], in ascending chunks."""
        for rows in self.iter_rows(watch, above, upto, now, chunk):
            page = [m for m, expired in rows if not expired]
            if page:
                yield page

    def pending(self, watch: str, above: int, upto: int, now: int) -> list[Mention]:
        return [m for page in self.iter_pending(watch, above, upto, now) for m in page]

    def acquire_lease(self, watch: str, owner: str, now: int, ttl: int) -> bool:
        return self._acquire(watch, owner, now, now + ttl)

    def renew_lease(self, watch: str, owner: str, now: int, ttl: int) -> bool:
        """Extend ``owner``'s lease to ``now + ttl``; False when another run has taken it since
        (taking a lease overwrites its owner, and a finished run deletes it)."""
        return self._renew(watch, owner, now + ttl)

    def release_lease(self, watch: str, owner: str) -> None:
        self._release(watch, owner)

    # -- run-wide records: staleness, spend, alerts, rate limit ------------------------
    def run_state(self, periods: list[str]) -> RunState:
        """Staleness of every watch, X's rate limit and the spend of ``periods``: one read."""
        out = RunState(spend=dict.fromkeys(periods, 0))
        for rec in self._records(META):
            if rec.cursor is None:
                continue
            if rec.sk.startswith(SEARCHED_PREFIX):
                complete = bool(rec.data.get("complete"))
                out.searched[rec.sk[len(SEARCHED_PREFIX) :]] = Searched(rec.cursor, complete)
            elif rec.sk.startswith(SPEND_PREFIX) and rec.sk[len(SPEND_PREFIX) :] in out.spend:
                out.spend[rec.sk[len(SPEND_PREFIX) :]] = rec.cursor
            elif rec.sk == RATE:
                limit, remaining = rec.data.get("limit", 0), rec.data.get("remaining", 0)
                out.rate = RateState(int(limit), int(remaining), rec.cursor)
        return out

    def searched(self) -> dict[str, Searched]:
        """When each watch was last searched completely (or first left out)."""
        return {
            rec.sk[len(SEARCHED_PREFIX) :]: Searched(rec.cursor, bool(rec.data.get("complete")))
            for rec in self._records(META, SEARCHED_PREFIX)
            if rec.cursor is not None
        }

    def mark_searched(self, watch: str, at: int) -> bool:
        """The watch's searches all completed at ``at``; forward only."""
        return self._put_forward(META, SEARCHED_PREFIX + watch, at, {"complete": True})

    def note_deferred(self, watch: str, at: int) -> bool:
        """A watch never searched completely was left out at ``at`` (only the first time)."""
        return self._put_if_missing(META, SEARCHED_PREFIX + watch, at, {"complete": False})

    def spend(self, periods: list[str]) -> dict[str, int]:
        """Micro-dollars spent in each period key (``D#2026-11-25``, ``M#2026-11``)."""
        found = {
            rec.sk[len(SPEND_PREFIX) :]: int(rec.cursor or 0)
            for rec in self._records(META, SPEND_PREFIX)
        }
        return {p: found.get(p, 0) for p in periods}

    def add_spend(self, periods: list[str], micro_usd: int) -> dict[str, int]:
        """Add to each period's spend atomically; the new totals."""
        return {p: self._add(META, SPEND_PREFIX + p, micro_usd) for p in periods}

    def claim_alert(self, period: str) -> bool:
        """True for the one caller that may send the budget alert of ``period``."""
        return self._put_if_missing(META, ALERT_PREFIX + period, 0, {})

    def save_rate_state(self, rate: RateState) -> None:
        self._put_forward(
            META, RATE, rate.reset, {"limit": rate.limit, "remaining": rate.remaining}
        )

    def get_authors(self, ids: list[str]) -> dict[str, tuple[dict[str, Any], int]]:
        """Cached X user objects with their fetch times (100 IDs at most per call)."""
        return self._get_authors(ids) if ids else {}

    def put_authors(self, users: list[dict[str, Any]], fetched_at: int, expires_at: int) -> None:
        if users:
            self._put_authors(users, fetched_at, expires_at)
    def expired(self, watch: str, above: int, upto: int, now: int) -> list[Mention]:
        """Mentions in (above, upto] that expired from the outbox (never delivered by whoever
        is at ``above``), ascending: rows are kept :data:`EXPIRED_KEPT_SECONDS` past expiry."""
        rows = self.iter_rows(watch, above, upto, now)
        return [m for chunk in rows for m, expired in chunk if expired]

    def memory(self, notifier: str) -> Memory:
        """``notifier``'s key/value memory in this store (see :class:`~services.Memory`)."""
        return NotifierMemory(self, notifier)

    def forget(self, notifier: str) -> int:
        """Clear everything ``notifier`` remembers; return how many keys there were."""
        return self._mem_remove(notifier, None)

    def reset(self, watch: str, notifier: str | None = None) -> int:
        """Forget a notifier's delivery cursor, or everything about a watch."""
        if notifier is not None:
            return self._delete(watch, [DELIVERY_PREFIX + notifier])
        return self._delete(watch, None)

    def show(self, now: int) -> list[dict[str, Any]]:
        """Cursors and outbox sizes of every watch, for ``state show``."""
        out = []
        searched = self.searched()
        for watch in self._watches():
            if watch == META:
                continue
            st = self.load(watch)
            out.append(
                {
                    "watch": watch,
                    "mark": _s(st.mark),
                    "queries": {
                        k: {
                            "query": q.query,
                            "cursor": _s(q.cursor),
                            "cursor_time": q.cursor_time,
                            "pending": [_s(q.pending_until), _s(q.pending_top)]
                            if q.pending_until is not None
                            else None,
                            **({"rejected": q.rejected} if q.rejected else {}),
                        }
                        for k, q in st.queries.items()
                    },
                    "delivery": {n: _s(c) for n, c in st.deliveries.items()},
                    "outbox": self._outbox_count(watch, now),
                }
            )
            if watch in searched and searched[watch].complete:
                out[-1]["last_searched"] = searched[watch].at
        return out

    def purge_expired(self, now: int) -> int:
        """Delete outbox rows expired more than :data:`EXPIRED_KEPT_SECONDS` ago; return how
        many. Reads already skip expired rows, so a backend whose database deletes rows itself
        (DynamoDB TTL, set that much later) keeps this no-op."""
        return 0

    def init(self) -> str:
        """Create the storage (tables) for local or test use; return a description."""
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release connections."""


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float | str) and str(value) != "" else None


def _s(value: int | None) -> str | None:
    """IDs as strings in JSON output, so JavaScript readers do not round them."""
    return None if value is None else str(value)


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


class NotifierMemory:
    """:class:`~mention_monitor.services.Memory` for one notifier, kept in a :class:`StateStore`."""

    def __init__(self, store: StateStore, notifier: str) -> None:
        self._store = store
        self._notifier = notifier

    def get(self, key: str) -> str | None:
        return self._store._mem_get(self._notifier, key)

    def items(self) -> dict[str, str]:
        return self._store._mem_items(self._notifier)

    def add(self, key: str, value: str) -> bool:
        check_memory_entry(key, value)
        return self._store._mem_add(self._notifier, key, value)

    def put(self, key: str, value: str) -> None:
        check_memory_entry(key, value)
        self._store._mem_put(self._notifier, key, value)

    def remove(self, key: str) -> bool:
        return self._store._mem_remove(self._notifier, [key]) > 0
