"""SQLite state for local runs and tests (the embedded default)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mention_monitor.errors import StateError
from mention_monitor.models import Mention
from mention_monitor.state.base import EXPIRED_KEPT_SECONDS, LEASE, Record, StateStore, dumps

_SCHEMA = """
CREATE TABLE IF NOT EXISTS control (
    watch TEXT NOT NULL, sk TEXT NOT NULL, cursor INTEGER, data TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (watch, sk)
);
CREATE TABLE IF NOT EXISTS outbox (
    watch TEXT NOT NULL, tweet_id INTEGER NOT NULL, body TEXT NOT NULL,
    expires_at INTEGER NOT NULL, PRIMARY KEY (watch, tweet_id)
);
CREATE TABLE IF NOT EXISTS memory (
    notifier TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (notifier, key)
);
CREATE TABLE IF NOT EXISTS authors (
    id TEXT PRIMARY KEY, body TEXT NOT NULL, fetched_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
"""


@dataclass
class _Result:
    """A statement's rows (all read, under the lock) and its row count."""

    rows: list[tuple[Any, ...]]
    rowcount: int

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


class SqliteStore(StateStore):
    """One file; every conditional write is a single SQL statement, so it is atomic.

    One connection serves every worker of a run: each statement runs, and its rows are read,
    under a lock (SQLite serialises writes anyway; X's latency, not the file, bounds a run).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    @property
    def conn(self) -> sqlite3.Connection:
        with self._lock:
            if self._conn is None:
                try:
                    if self.path != ":memory:":
                        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                    conn = sqlite3.connect(
                        self.path, timeout=30, isolation_level=None, check_same_thread=False
                    )
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.executescript(_SCHEMA)
                except (sqlite3.Error, OSError) as exc:
                    raise StateError(
                        f"state: cannot open SQLite file {self.path!r}: {exc}"
                    ) from None
                self._conn = conn
            return self._conn

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> _Result:
        with self._lock:
            try:
                cur = self.conn.execute(sql, args)
                return _Result(cur.fetchall(), cur.rowcount)
            except sqlite3.Error as exc:
                raise StateError(f"state: SQLite error: {exc}") from None

    def _batch(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        """One transaction of ``executemany``; how many rows it changed."""
        with self._lock:
            try:
                with self.conn:
                    self.conn.execute("BEGIN")
                    before = self.conn.total_changes
                    self.conn.executemany(sql, rows)
                    return self.conn.total_changes - before
            except sqlite3.Error as exc:
                raise StateError(f"state: SQLite error: {exc}") from None

    def init(self) -> str:
        self.conn  # noqa: B018 - opening creates the schema
        return f"SQLite state at {self.path}"

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _records(self, watch: str, prefix: str = "") -> list[Record]:
        rows = self._exec(
            "SELECT sk, cursor, data FROM control WHERE watch = ? AND substr(sk, 1, ?) = ?",
            (watch, len(prefix), prefix),
        )
        return [Record(sk, cursor, json.loads(data or "{}")) for sk, cursor, data in rows]

    def _put_forward(
        self, watch: str, sk: str, cursor: int, data: dict[str, Any], due: int | None = None
    ) -> bool:
        # The cursor never moves back (a slower run); with a due time, neither does that: a
        # slower run that sent an older period cannot mark the newer one unsent.
        due_check = ""
        if due is not None:
            data = {**data, "due": due}
            due_check = (
                " AND (json_extract(control.data, '$.due') IS NULL"
                " OR json_extract(control.data, '$.due') <= json_extract(excluded.data, '$.due'))"
            )
        cur = self._exec(
            "INSERT INTO control (watch, sk, cursor, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (watch, sk) DO UPDATE SET cursor = excluded.cursor, data = excluded.data "
            "WHERE (control.cursor IS NULL OR control.cursor <= excluded.cursor)" + due_check,
            (watch, sk, cursor, dumps(data)),
        )
        return cur.rowcount == 1

    def _put_replace(
        self, watch: str, sk: str, expected: int, cursor: int, data: dict[str, Any]
    ) -> bool:
        # Compare-and-set: only the writer that read version ``expected`` may replace it.
        cur = self._exec(
            "UPDATE control SET cursor = ?, data = ? WHERE watch = ? AND sk = ? AND cursor = ?",
            (cursor, dumps(data), watch, sk, expected),
        )
        return cur.rowcount == 1

    def _put_if_missing(self, watch: str, sk: str, cursor: int, data: dict[str, Any]) -> bool:
        cur = self._exec(
            "INSERT OR IGNORE INTO control (watch, sk, cursor, data) VALUES (?, ?, ?, ?)",
            (watch, sk, cursor, dumps(data)),
        )
        return cur.rowcount == 1

    def _add(self, watch: str, sk: str, amount: int) -> int:
        rows = self._exec(
            "INSERT INTO control (watch, sk, cursor, data) VALUES (?, ?, ?, '{}') "
            "ON CONFLICT (watch, sk) DO UPDATE SET cursor = COALESCE(control.cursor, 0) + "
            "excluded.cursor RETURNING cursor",
            (watch, sk, amount),
        ).rows
        return int(rows[0][0])

    def _delete(self, watch: str, sks: list[str] | None) -> int:
        if sks is None:
            n = self._exec("DELETE FROM control WHERE watch = ?", (watch,)).rowcount
            return n + self._exec("DELETE FROM outbox WHERE watch = ?", (watch,)).rowcount
        n = 0
        for sk in sks:
            n += self._exec("DELETE FROM control WHERE watch = ? AND sk = ?", (watch, sk)).rowcount
        return n

    def _put_outbox(self, watch: str, mentions: list[Mention], expires_at: int) -> int:
        return self._batch(
            "INSERT OR IGNORE INTO outbox (watch, tweet_id, body, expires_at) VALUES (?, ?, ?, ?)",
            [(watch, m.id, m.to_json(), expires_at) for m in mentions],
        )

    def _outbox_rows(
        self, watch: str, above: int, upto: int, now: int, limit: int
    ) -> tuple[list[tuple[Mention, bool]], int | None]:
        rows = self._exec(
            "SELECT tweet_id, body, expires_at FROM outbox WHERE watch = ? AND tweet_id > ? "
            "AND tweet_id <= ? ORDER BY tweet_id LIMIT ?",
            (watch, above, upto, limit),
        ).rows
        out = [(Mention.from_json(body), expires <= now) for _, body, expires in rows]
        return out, (int(rows[-1][0]) if len(rows) == limit else None)

    def _outbox_count(self, watch: str, now: int) -> int:
        rows = self._exec(
            "SELECT COUNT(*) FROM outbox WHERE watch = ? AND expires_at > ?", (watch, now)
        ).rows
        return int(rows[0][0])

    def _watches(self) -> list[str]:
        rows = self._exec(
            "SELECT DISTINCT watch FROM control UNION SELECT DISTINCT watch FROM outbox ORDER BY 1"
        )
        return [w for (w,) in rows]

    def purge_expired(self, now: int) -> int:
        self._exec("DELETE FROM authors WHERE expires_at <= ?", (now,))
        return self._exec(
            "DELETE FROM outbox WHERE expires_at <= ?", (now - EXPIRED_KEPT_SECONDS,)
        ).rowcount

    def _acquire(self, watch: str, owner: str, now: int, expires: int) -> bool:
        cur = self._exec(
            "INSERT INTO control (watch, sk, cursor, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (watch, sk) DO UPDATE SET cursor = excluded.cursor, data = excluded.data "
            "WHERE control.cursor <= ? OR json_extract(control.data, '$.owner') = ?",
            (watch, LEASE, expires, dumps({"owner": owner}), now, owner),
        )
        return cur.rowcount == 1

    def _renew(self, watch: str, owner: str, expires: int) -> bool:
        cur = self._exec(
            "UPDATE control SET cursor = ? "
            "WHERE watch = ? AND sk = ? AND json_extract(data, '$.owner') = ?",
            (expires, watch, LEASE, owner),
        )
        return cur.rowcount == 1

    def _release(self, watch: str, owner: str) -> None:
        self._exec(
            "DELETE FROM control WHERE watch = ? AND sk = ? AND json_extract(data, '$.owner') = ?",
            (watch, LEASE, owner),
        )

    # -- notifier memory -----------------------------------------------------------------
    def _mem_items(self, notifier: str) -> dict[str, str]:
        rows = self._exec("SELECT key, value FROM memory WHERE notifier = ?", (notifier,))
        return {k: v for k, v in rows}

    def _mem_get(self, notifier: str, key: str) -> str | None:
        row = self._exec(
            "SELECT value FROM memory WHERE notifier = ? AND key = ?", (notifier, key)
        ).fetchone()
        return None if row is None else str(row[0])

    def _mem_add(self, notifier: str, key: str, value: str) -> bool:
        # One statement: of two runs adding the same key, exactly one sees rowcount 1.
        cur = self._exec(
            "INSERT OR IGNORE INTO memory (notifier, key, value) VALUES (?, ?, ?)",
            (notifier, key, value),
        )
        return cur.rowcount == 1

    def _mem_put(self, notifier: str, key: str, value: str) -> None:
        self._exec(
            "INSERT INTO memory (notifier, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (notifier, key) DO UPDATE SET value = excluded.value",
            (notifier, key, value),
        )

    def _mem_remove(self, notifier: str, keys: list[str] | None) -> int:
        if keys is None:
            return self._exec("DELETE FROM memory WHERE notifier = ?", (notifier,)).rowcount
        return sum(
            self._exec(
                "DELETE FROM memory WHERE notifier = ? AND key = ?", (notifier, key)
            ).rowcount
            for key in keys
        )

    # -- authors -------------------------------------------------------------------------
    def _get_authors(self, ids: list[str]) -> dict[str, tuple[dict[str, Any], int]]:
        marks = ",".join("?" * len(ids))
        rows = self._exec(
            f"SELECT id, body, fetched_at FROM authors WHERE id IN ({marks})",
            tuple(ids),
        )
        return {str(i): (json.loads(body), int(at)) for i, body, at in rows}

    def _put_authors(self, users: list[dict[str, Any]], fetched_at: int, expires_at: int) -> None:
        self._batch(
            "INSERT OR REPLACE INTO authors (id, body, fetched_at, expires_at) VALUES (?, ?, ?, ?)",
            [(str(u["id"]), dumps(u), fetched_at, expires_at) for u in users],
        )
