"""The durable store: task and run records in SQLite (WAL), one connection behind a lock.

Every status change is written as it happens, so after a crash the file says what
finished (with its result) and what was still unfinished. ``open()`` marks those
unfinished records ``lost`` with a reason: their threads died with the process and
nothing re-runs them by itself (side effects may have happened; the caller decides).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["FINAL", "LOST", "Store", "encode_result"]

LOST = "lost"
FINAL = frozenset({"completed", "failed", "timeout", "cancelled", LOST})

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
    error TEXT
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
"""

_TASK_JSON = ("parameters", "result", "error")
_RUN_JSON = ("final_answer", "subtasks", "token_usage", "error")


def encode_result(value: Any, max_bytes: int) -> tuple[str, str]:
    """``(json_text, encoding)``: the value itself if it is JSON (``"json"``), else its
    ``repr()`` as a JSON string (``"repr"``); either cut to ``max_bytes`` (``"truncated"``)."""
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        encoding = "json"
    except (TypeError, ValueError):
        text = json.dumps(_safe_repr(value), ensure_ascii=False)
        encoding = "repr"
    if len(text.encode()) > max_bytes:
        shown = (text if encoding == "json" else json.loads(text))[: max_bytes // 4]
        text = json.dumps(f"{shown}... [cut: the result was over {max_bytes} bytes]", ensure_ascii=False)
        encoding = "truncated"
    return text, encoding


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not lose the record
        return f"<unrepresentable {type(value).__name__}: {exc!r}>"


def _dumps(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, allow_nan=False, default=_safe_repr)


class Store:
    """Task and run records. Thread-safe; every write is committed at once."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._closed = False
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.boot = self._next_boot()
        self.recovered = self._mark_lost()

    # ------------------------------------------------------------------ startup

    def _next_boot(self) -> int:
        """A counter bumped on every open: the id prefix that keeps ids unique across restarts."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'boot'").fetchone()
            boot = int(row["value"]) + 1 if row else 1
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('boot', ?)", (str(boot),))
            return boot

    def _mark_lost(self) -> int:
        now = time.time()
        final = tuple(FINAL)
        marks = ",".join("?" * len(final))
        with self._lock:
            count = 0
            for table in ("tasks", "runs"):
                cur = self._db.execute(
                    f"UPDATE {table} SET reason = 'the server stopped while this was ' || status || "
                    f"'; nothing re-runs it: submit it again if you still need it', "
                    f"status = ?, finished_at = ? WHERE status NOT IN ({marks})",
                    (LOST, now, *final),
                )
                count += cur.rowcount
            return count

    # ------------------------------------------------------------------ tasks

    def insert_task(self, record: dict[str, Any]) -> None:
        row = dict(record)
        for key in _TASK_JSON:
            if key in row and key != "result":
                row[key] = _dumps(row[key])
        cols = ",".join(row)
        with self._lock:
            self._db.execute(f"INSERT INTO tasks ({cols}) VALUES ({','.join('?' * len(row))})", tuple(row.values()))

    def update_task(self, task_id: str, **fields: Any) -> None:
        """Write ``fields`` unless the record is already final (a final record never changes)."""
        self._update("tasks", task_id, fields, _TASK_JSON)

    def get_task(self, task_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return None if row is None else _decode(row, _TASK_JSON)

    def list_tasks(self, status: str | None, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Newest first; ``(page, total matching)``."""
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM tasks {where}", args).fetchone()[0]
            rows = self._db.execute(
                f"SELECT * FROM tasks {where} ORDER BY seq DESC LIMIT ? OFFSET ?", (*args, limit, offset)
            ).fetchall()
        return [_decode(row, _TASK_JSON) for row in rows], total

    # ------------------------------------------------------------------ runs

    def insert_run(self, record: dict[str, Any]) -> None:
        row = {k: (_dumps(v) if k in _RUN_JSON and k != "final_answer" else v) for k, v in record.items()}
        cols = ",".join(row)
        with self._lock:
            self._db.execute(f"INSERT INTO runs ({cols}) VALUES ({','.join('?' * len(row))})", tuple(row.values()))

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Write ``fields`` unless the record is already final."""
        self._update("runs", run_id, fields, _RUN_JSON)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else _decode(row, _RUN_JSON)

    # ------------------------------------------------------------------ plumbing

    def _update(self, table: str, key: str, fields: dict[str, Any], json_cols: Iterable[str]) -> None:
        values = {k: (_dumps(v) if k in json_cols and k not in ("result", "final_answer") else v)
                  for k, v in fields.items()}
        sets = ",".join(f"{k} = ?" for k in values)
        final_states = tuple(FINAL)
        guard = f" AND status NOT IN ({','.join('?' * len(final_states))})"
        with self._lock:
            if self._closed:
                return
            self._db.execute(
                f"UPDATE {table} SET {sets} WHERE id = ?{guard}", (*values.values(), key, *final_states)
            )

    def close(self) -> None:
        """Close the file; later writes are dropped (late reports of threads that outlive the server)."""
        with self._lock:
            self._closed = True
            self._db.close()


def _decode(row: sqlite3.Row, json_cols: Iterable[str]) -> dict[str, Any]:
    record = dict(row)
    record.pop("seq", None)
    for key in json_cols:
        if record.get(key) is not None:
            record[key] = json.loads(record[key])
    return record
