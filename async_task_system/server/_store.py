"""The durable store: task and run records in SQLite (WAL), one connection behind a lock.

Every status change is written as it happens, so after a crash the file says what
finished (with its result) and what was still unfinished. ``open()`` marks those
unfinished records ``lost`` with a reason: their threads died with the process and
nothing re-runs them by itself (side effects may have happened; the caller decides).

One process writes a file: the store holds an OS lock on ``<db>.lock`` for its life, and
a second store on the same file is refused (``StoreLockedError``). Finished records are
kept up to a count and an age (``prune``); the space they held is given back to the disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._encoding import clean_text, to_json

__all__ = ["END", "FINAL", "LOST", "Store", "StoreLockedError"]

LOST = "lost"
END = "end"  # the kind of a record's last event (its final status and outcome)
FINAL = frozenset({"completed", "failed", "timeout", "cancelled", LOST})
_FINAL_SQL = ",".join(f"'{s}'" for s in sorted(FINAL))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    task_type TEXT NOT NULL,
    kind TEXT NOT NULL,
    description TEXT NOT NULL,
    parameters TEXT NOT NULL,
    priority INTEGER NOT NULL,
    timeout_seconds REAL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    result_encoding TEXT,
    error TEXT,
    resources TEXT
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status, seq);
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    prompt TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    final_answer TEXT,
    answer_encoding TEXT,
    subtasks TEXT NOT NULL DEFAULT '[]',
    token_usage TEXT,
    steps INTEGER,
    error TEXT
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_key ON events (key, seq);
"""

# Columns holding JSON text. The result columns arrive already encoded (see _encoding.encode_result).
_TASK_JSON = ("parameters", "result", "error", "resources")
_RUN_JSON = ("final_answer", "subtasks", "token_usage", "error")
_PRE_ENCODED = ("result", "final_answer")
_TASK_COLUMNS = ("id", "task_type", "kind", "description", "parameters", "priority", "timeout_seconds", "status",
                 "reason", "created_at", "started_at", "finished_at", "attempts", "result_encoding", "error",
                 "resources")


class StoreLockedError(RuntimeError):
    """Another process (or another ``Store`` in this one) already serves this database file."""


class Store:
    """Task and run records. Thread-safe; every write is committed at once."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock_file = None
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = _hold_lock(self.path)
        self._lock = threading.Lock()
        self._closed = False
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._prepare()
            self.boot = self._next_boot()
            self.recovered = self._mark_lost()
        except BaseException:
            self._release()
            raise

    # ------------------------------------------------------------------ startup

    def _prepare(self) -> None:
        fresh = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
        if self._db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            self._db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # pages of deleted records go back to the disk
            if not fresh:
                self._db.execute("VACUUM")  # an older file: switching needs one rebuild
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA journal_size_limit = 16777216")  # the WAL shrinks back after big writes
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(tasks)")}
        if "resources" not in columns:  # a file from before resources
            self._db.execute("ALTER TABLE tasks ADD COLUMN resources TEXT")

    def _next_boot(self) -> int:
        """A counter bumped on every open, in one transaction: the id prefix that keeps ids
        unique across restarts."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT value FROM meta WHERE key = 'boot'").fetchone()
                boot = int(row["value"]) + 1 if row else 1
                self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('boot', ?)", (str(boot),))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return boot

    def _mark_lost(self) -> int:
        now = time.time()
        with self._lock:
            count = 0
            for table in ("tasks", "runs"):
                self._db.execute(  # the last event of each: a stream of it ends
                    f"INSERT INTO events (key, kind, data) SELECT id, '{END}', json_object('id', id, 'time', ?, "
                    f"'status', '{LOST}', 'reason', 'the server stopped while this was ' || status) "
                    f"FROM {table} WHERE status NOT IN ({_FINAL_SQL})", (now,))
                cur = self._db.execute(
                    f"UPDATE {table} SET reason = 'the server stopped while this was ' || status || "
                    f"'; nothing re-runs it: submit it again if you still need it', "
                    f"status = ?, finished_at = ? WHERE status NOT IN ({_FINAL_SQL})",
                    (LOST, now),
                )
                count += cur.rowcount
            return count

    # ------------------------------------------------------------------ tasks

    def insert_task(self, record: dict[str, Any]) -> None:
        self._insert("tasks", record, _TASK_JSON)

    def update_task(self, task_id: str, **fields: Any) -> None:
        """Write ``fields`` unless the record is already final (a final record never changes)."""
        self._update("tasks", task_id, fields, _TASK_JSON)

    def get_task(self, task_id: str, inline_bytes: int | None = None) -> dict[str, Any] | None:
        """The record; a result over ``inline_bytes`` is left out (``result_bytes`` says its size)."""
        with self._lock:
            row = self._db.execute(f"SELECT {_task_select(inline_bytes)} FROM tasks WHERE id = ?",
                                   (task_id,)).fetchone()
        return None if row is None else _task_record(row)

    def get_result(self, task_id: str) -> tuple[str, str | None, str | None] | None:
        """``(status, result JSON text, encoding)``, or None if the id is unknown."""
        with self._lock:
            row = self._db.execute("SELECT status, result, result_encoding FROM tasks WHERE id = ?",
                                   (task_id,)).fetchone()
        return None if row is None else (row["status"], row["result"], row["result_encoding"])

    def list_tasks(self, status: str | None, limit: int, offset: int, *, max_bytes: int = 1_000_000,
                   inline_bytes: int | None = None) -> tuple[list[dict[str, Any]], int]:
        """Newest first, at most ``limit`` records and about ``max_bytes`` of them (at least one);
        ``(page, total matching)``. Results over ``inline_bytes`` are left out."""
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        page: list[dict[str, Any]] = []
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM tasks {where}", args).fetchone()[0]
            cursor = self._db.execute(
                f"SELECT {_task_select(inline_bytes)}, length(CAST(parameters AS BLOB)) + "
                f"length(CAST(description AS BLOB)) + coalesce(length(CAST(error AS BLOB)), 0) + "
                f"length(CAST(reason AS BLOB)) + 400 AS size "
                f"FROM tasks {where} ORDER BY seq DESC LIMIT ? OFFSET ?", (*args, limit, offset))
            used = 0
            for row in cursor:  # row by row: a page never reads more than it returns
                size = row["size"] + (len(row["result"]) if row["result"] is not None else 0)
                if page and used + size > max_bytes:
                    break
                used += size
                page.append(_task_record(row))
            cursor.close()
        return page, total

    # ------------------------------------------------------------------ runs

    def insert_run(self, record: dict[str, Any]) -> None:
        self._insert("runs", record, _RUN_JSON)

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Write ``fields`` unless the record is already final."""
        self._update("runs", run_id, fields, _RUN_JSON)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else _decode(row, _RUN_JSON)

    # ------------------------------------------------------------------ events

    def add_event(self, key: str, kind: str, data_json: str) -> int:
        """Append an event (``data_json``: JSON text) to the log of task or run ``key``; its sequence number."""
        with self._lock:
            if self._closed:
                return 0
            return self._db.execute("INSERT INTO events (key, kind, data) VALUES (?, ?, ?)",
                                    (key, kind, clean_text(data_json))).lastrowid

    def events_after(self, key: str, after: int, limit: int) -> tuple[list[tuple[int, str, str]], bool]:
        """Up to ``limit`` events of ``key`` after sequence number ``after``, oldest first, as
        ``(seq, kind, data JSON)``; and whether the log is over (its end event is at or before the last)."""
        with self._lock:
            rows = self._db.execute("SELECT seq, kind, data FROM events WHERE key = ? AND seq > ? ORDER BY seq "
                                    "LIMIT ?", (key, after, limit)).fetchall()
            if any(row["kind"] == END for row in rows):
                return [tuple(r) for r in rows[:next(i for i, r in enumerate(rows) if r["kind"] == END) + 1]], True
            ended = not rows and self._db.execute("SELECT 1 FROM events WHERE key = ? AND kind = ? AND seq <= ?",
                                                  (key, END, after)).fetchone() is not None
        return [tuple(r) for r in rows], ended

    # ------------------------------------------------------------------ retention

    def prune(self, keep: int | None, max_age_seconds: float | None, now: float | None = None) -> int:
        """Delete finished records beyond the newest ``keep`` (per table) or older than
        ``max_age_seconds``, and give the freed pages back to the disk. Returns how many went."""
        now = time.time() if now is None else now
        removed = 0
        with self._lock:
            if self._closed:
                return 0
            for table in ("tasks", "runs"):
                if max_age_seconds is not None:
                    removed += self._db.execute(
                        f"DELETE FROM {table} WHERE status IN ({_FINAL_SQL}) AND finished_at < ?",
                        (now - max_age_seconds,)).rowcount
                if keep is not None:  # everything finished at or before the (keep+1)-th newest finished
                    removed += self._db.execute(
                        f"DELETE FROM {table} WHERE status IN ({_FINAL_SQL}) AND seq <= coalesce(("
                        f"SELECT seq FROM {table} WHERE status IN ({_FINAL_SQL}) ORDER BY seq DESC "
                        f"LIMIT 1 OFFSET ?), -1)", (keep,)).rowcount
            if removed:  # their events go with them
                self._db.execute("DELETE FROM events WHERE key NOT IN (SELECT id FROM tasks) AND "
                                 "key NOT IN (SELECT id FROM runs)")
                free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
                if free > 256:  # over 1 MB free (4 KB pages): worth a write
                    self._db.execute("PRAGMA incremental_vacuum")
                    with contextlib.suppress(sqlite3.OperationalError):  # a reader holds the WAL: later
                        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    # ------------------------------------------------------------------ plumbing

    def _insert(self, table: str, record: dict[str, Any], json_cols: Iterable[str]) -> None:
        row = _encode_fields(record, json_cols)
        cols = ",".join(row)
        with self._lock:
            self._db.execute(f"INSERT INTO {table} ({cols}) VALUES ({','.join('?' * len(row))})",
                             tuple(row.values()))

    def _update(self, table: str, key: str, fields: dict[str, Any], json_cols: Iterable[str]) -> None:
        values = _encode_fields(fields, json_cols)
        sets = ",".join(f"{k} = ?" for k in values)
        with self._lock:
            if self._closed:
                return
            self._db.execute(f"UPDATE {table} SET {sets} WHERE id = ? AND status NOT IN ({_FINAL_SQL})",
                             (*values.values(), key))

    def close(self) -> None:
        """Close the file and its lock; later writes are dropped (late reports of threads that
        outlive the server)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
        self._release()

    def _release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing the descriptor drops the flock
            self._lock_file = None


def _hold_lock(db_path: str) -> Any:
    """An exclusive ``flock`` on ``<db>.lock``, held while the returned file is open."""
    lock_path = f"{db_path}.lock"
    handle = open(lock_path, "a+")  # noqa: SIM115 - kept open for the store's life
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise StoreLockedError(
            f"{db_path} is already served by another process (pid {holder}, lock {lock_path}): one server "
            "per database file, or the two would mark each other's tasks lost and drop results. Stop the "
            "other server, or give this one its own --db / db_path") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _task_select(inline_bytes: int | None) -> str:
    """The task columns; the result only when it is at most ``inline_bytes`` long."""
    size = "length(CAST(result AS BLOB))"
    result = "result" if inline_bytes is None else f"CASE WHEN {size} <= {int(inline_bytes)} THEN result END"
    return f"{','.join(_TASK_COLUMNS)}, {result} AS result, {size} AS result_bytes"


def _task_record(row: sqlite3.Row) -> dict[str, Any]:
    record = _decode(row, _TASK_JSON)
    record.pop("size", None)
    return record


def _encode_fields(fields: dict[str, Any], json_cols: Iterable[str]) -> dict[str, Any]:
    """Column values: JSON columns as JSON text, every text storable as UTF-8."""
    out = {}
    for key, value in fields.items():
        if key in json_cols and key not in _PRE_ENCODED:
            value = to_json(value)
        elif isinstance(value, str):
            value = clean_text(value)
        out[key] = value
    return out


def _decode(row: sqlite3.Row, json_cols: Iterable[str]) -> dict[str, Any]:
    record = dict(row)
    record.pop("seq", None)
    for key in json_cols:
        if record.get(key) is not None:
            record[key] = json.loads(record[key])
    return record
