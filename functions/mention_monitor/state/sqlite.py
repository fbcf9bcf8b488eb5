"""SQLite state for local runs and tests (the embedded default)."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from mention_monitor.errors import StateError
from mention_monitor.models import Mention
from mention_monitor.state.base import LEASE, Record, StateStore, dumps

_SCHEMA = """
CREATE TABLE IF NOT EXISTS control (
    watch TEXT NOT NULL, sk TEXT NOT NULL, cursor INTEGER, data TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (watch, sk)
);
CREATE TABLE IF NOT EXISTS outbox (
    watch TEXT NOT NULL, tweet_id INTEGER NOT NULL, body TEXT NOT NULL,
    expires_at INTEGER NOT NULL, PRIMARY KEY (watch, tweet_id)
);
CREATE TABLE IF NOT EXISTS authors (
    id TEXT PRIMARY KEY, body TEXT NOT NULL, fetched_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
"""

Rows = list[tuple[Any, ...]]


class SqliteStore(StateStore):
    """One file; every conditional write is a single SQL statement, so it is atomic.

    One connection serves every thread of a run's worker pool: each statement runs, and its
    rows are read, under a lock (SQLite serialises writes anyway; X's latency, not the file,
    bounds a run).
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

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> tuple[Rows, int]:
        """Execute one statement; its rows (all read) and its row count."""
        with self._lock:
            try:
                cur = self.conn.execute(sql, args)
                return cur.fetchall(), cur.rowcount
            except sqlite3.Error as exc:
                raise StateError(f"state: SQLite error: {exc}") from None

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> Rows:
        return self._run(sql, args)[0]

    def _count(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        return self._run(sql, args)[1]

    def init(self) -> str:
        self.conn  # noqa: B018 - opening creates the schema
        return f"SQLite state at {self.path}"

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _records(self, watch: str, prefix: str = "") -> list[Record]:
        rows = self._rows(
            "SELECT sk, cursor, data FROM control WHERE watch = ? AND substr(sk, 1, ?) = ?",
            (watch, len(prefix), prefix),
        )
        return [Record(sk, cursor, json.loads(data or "{}")) for sk, cursor, data in rows]

    def _put_forward(self, watch: str, sk: str, cursor: int, data: dict[str, Any]) -> bool:
        return 1 == self._count(
            "INSERT INTO control (watch, sk, cursor, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (watch, sk) DO UPDATE SET cursor = excluded.cursor, data = excluded.data "
            "WHERE control.cursor IS NULL OR control.cursor <= excluded.cursor",
            (watch, sk, cursor, dumps(data)),
        )

    def _put_if_missing(self, watch: str, sk: str, cursor: int, data: dict[str, Any]) -> bool:
        return 1 == self._count(
            "INSERT OR IGNORE INTO control (watch, sk, cursor, data) VALUES (?, ?, ?, ?)",
            (watch, sk, cursor, dumps(data)),
        )

    def _add(self, watch: str, sk: str, amount: int) -> int:
        rows = self._rows(
            "INSERT INTO control (watch, sk, cursor, data) VALUES (?, ?, ?, '{}') "
            "ON CONFLICT (watch, sk) DO UPDATE SET cursor = COALESCE(control.cursor, 0) + "
            "excluded.cursor RETURNING cursor",
            (watch, sk, amount),
        )
        return int(rows[0][0])

    def _delete(self, watch: str, sks: list[str] | None) -> int:
        if sks is None:
            n = self._count("DELETE FROM control WHERE watch = ?", (watch,))
            return n + self._count("DELETE FROM outbox WHERE watch = ?", (watch,))
        return sum(
            self._count("DELETE FROM control WHERE watch = ? AND sk = ?", (watch, sk))
            for sk in sks
        )

    def _put_outbox(self, watch: str, mentions: list[Mention], expires_at: int) -> int:
        with self._lock:
            try:
                with self.conn:  # one transaction for the batch
                    self.conn.execute("BEGIN")
                    before = self.conn.total_changes
                    self.conn.executemany(
                        "INSERT OR IGNORE INTO outbox (watch, tweet_id, body, expires_at) "
                        "VALUES (?, ?, ?, ?)",
                        [(watch, m.id, m.to_json(), expires_at) for m in mentions],
                    )
                    return self.conn.total_changes - before
            except sqlite3.Error as exc:
                raise StateError(f"state: SQLite error: {exc}") from None

    def _outbox_page(
        self, watch: str, above: int, upto: int, now: int, limit: int
    ) -> tuple[list[Mention], int | None]:
        rows = self._rows(
            "SELECT tweet_id, body, expires_at FROM outbox WHERE watch = ? AND tweet_id > ? "
            "AND tweet_id <= ? ORDER BY tweet_id LIMIT ?",
            (watch, above, upto, limit),
        )
        page = [Mention.from_json(body) for _, body, expires in rows if expires > now]
        return page, (int(rows[-1][0]) if len(rows) == limit else None)

    def _outbox_count(self, watch: str, now: int) -> int:
        rows = self._rows(
            "SELECT COUNT(*) FROM outbox WHERE watch = ? AND expires_at > ?", (watch, now)
        )
        return int(rows[0][0])

    def _watches(self) -> list[str]:
        rows = self._rows(
            "SELECT DISTINCT watch FROM control UNION SELECT DISTINCT watch FROM outbox ORDER BY 1"
        )
        return [w for (w,) in rows]

    def purge_expired(self, now: int) -> int:
        self._count("DELETE FROM authors WHERE expires_at <= ?", (now,))
        return self._count("DELETE FROM outbox WHERE expires_at <= ?", (now,))

    def _acquire(self, watch: str, owner: str, now: int, expires: int) -> bool:
        return 1 == self._count(
            "INSERT INTO control (watch, sk, cursor, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (watch, sk) DO UPDATE SET cursor = excluded.cursor, data = excluded.data "
            "WHERE control.cursor <= ? OR json_extract(control.data, '$.owner') = ?",
            (watch, LEASE, expires, dumps({"owner": owner}), now, owner),
        )

    def _release(self, watch: str, owner: str) -> None:
        self._count(
            "DELETE FROM control WHERE watch = ? AND sk = ? AND json_extract(data, '$.owner') = ?",
            (watch, LEASE, owner),
        )

    def _get_authors(self, ids: list[str]) -> dict[str, tuple[dict[str, Any], int]]:
        marks = ",".join("?" * len(ids))
        rows = self._rows(
            f"SELECT id, body, fetched_at FROM authors WHERE id IN ({marks})",
            tuple(ids),
        )
        return {str(i): (json.loads(body), int(at)) for i, body, at in rows}

    def _put_authors(self, users: list[dict[str, Any]], fetched_at: int, expires_at: int) -> None:
        with self._lock:
            try:
                with self.conn:
                    self.conn.execute("BEGIN")
                    self.conn.executemany(
                        "INSERT OR REPLACE INTO authors (id, body, fetched_at, expires_at) "
                        "VALUES (?, ?, ?, ?)",
                        [(str(u["id"]), dumps(u), fetched_at, expires_at) for u in users],
                    )
            except sqlite3.Error as exc:
                raise StateError(f"state: SQLite error: {exc}") from None
