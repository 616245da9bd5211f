"""The registry's queryable index: the ``model_versions`` table, in an SQLite file.

The version folders are the truth; the index is a copy of them that can be
queried (and rebuilt from them at any time). Every write here happens with
the registry lock held, so SQLite's own locking only ever meets readers.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .. import _json
from .._fs import atomic_path
from ..errors import RegistryCorruptError, RegistryError, RegistryLockTimeout

__all__ = ["INDEX_FILE", "IndexRow", "Row", "SqliteIndex", "make_row"]

INDEX_FILE: Final = "index.db"
_SCHEMA_VERSION: Final = 1
_SCHEMA: Final = """
CREATE TABLE model_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    model_type TEXT NOT NULL,
    version INTEGER NOT NULL,
    path TEXT NOT NULL,
    created_at TEXT NOT NULL,
    metrics_summary TEXT,
    UNIQUE (key, version)
);
CREATE INDEX model_versions_key ON model_versions (key);
"""
_COLUMNS: Final = ["id", "key", "model_type", "version", "path", "created_at", "metrics_summary"]

#: (key, model_type, version, path, created_at, metrics_summary as JSON text or None)
Row = tuple[str, str, int, str, str, "str | None"]


@dataclass(frozen=True)
class IndexRow:
    """One row of the ``model_versions`` table."""

    id: int
    key: str
    model_type: str
    version: int
    path: str  # relative to the registry root, e.g. "product/P001_all/mlstm/v2"
    created_at: str
    metrics_summary: dict[str, Any] | None


def summary_json(summary: object) -> str | None:
    """The ``metrics_summary`` column: compact JSON of a dict, else NULL."""
    if not isinstance(summary, Mapping):
        return None
    return _json.dumps(dict(summary), coerce=True).decode("utf-8")


def make_row(key: str, number: int, created_at: str, summary: object) -> Row:
    """The index row of version ``number`` of ``key``."""
    return (key, key.rsplit("/", 1)[-1], number, f"{key}/v{number}", created_at,
            summary_json(summary))  # fmt: skip


def _summary_or_none(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        obj = _json.loads(text)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _insert(conn: sqlite3.Connection, row: Row) -> None:
    conn.execute(
        "INSERT INTO model_versions (key, model_type, version, path, created_at, metrics_summary) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        row,
    )


class SqliteIndex:
    """``index.db`` beside ``versions.json``.

    :param path: the database file.
    :param timeout: seconds SQLite waits for a reader to finish.
    :param repair_hint: the sentence that tells the user how to rebuild it.
    """

    def __init__(self, path: Path, timeout: float, repair_hint: str) -> None:
        self.path = path
        self.timeout = timeout
        self.repair_hint = repair_hint

    def exists(self) -> bool:
        return self.path.exists()

    def corrupt(self, e: Exception) -> RegistryError:
        """The curvelog error for a database error ``e``."""
        if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
            # A long reader, not damage: SQLite's own busy timeout ran out.
            return RegistryLockTimeout(str(self.path), self.timeout)
        return RegistryCorruptError(
            f"{self.path}: the index is damaged ({e}); {self.repair_hint}", path=str(self.path)
        )

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        (ver,) = conn.execute("PRAGMA user_version").fetchone()
        if ver != _SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"unknown index schema version {ver}")
        cols = [r[1] for r in conn.execute("PRAGMA table_info(model_versions)")]
        if cols[: len(_COLUMNS)] != _COLUMNS:
            raise sqlite3.DatabaseError("table model_versions is missing or has other columns")

    def build(self, rows: Sequence[Row]) -> None:
        """Write a complete index to a temporary file and rename it over the index."""
        with atomic_path(self.path) as tmp:  # .index.db.*.tmp: cleared with the staging area
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                # A private file until the rename: only the inserts need a transaction (speed).
                conn.executescript(_SCHEMA)
                conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
                conn.execute("BEGIN")
                for row in rows:
                    _insert(conn, row)
                conn.execute("COMMIT")
            finally:
                conn.close()
            # A journal left by a crashed writer belongs to the old file; SQLite would
            # replay it into the new one.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}-journal")

    @contextlib.contextmanager
    def writing(self) -> Iterator[_Writer]:
        """One write transaction (the registry lock is held by the caller).

        The transaction commits when the block ends without an error and
        rolls back otherwise, so work done inside the block (a rename) and the
        rows it records succeed or fail together.
        """
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.DatabaseError as e:
            raise self.corrupt(e) from None
        try:
            self._check_schema(conn)
            conn.execute("BEGIN IMMEDIATE")
            yield _Writer(conn)
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            raise self.corrupt(e) from None
        finally:
            if conn.in_transaction:
                conn.rollback()
            conn.close()

    def check(self) -> None:
        """Raise the curvelog error for an unusable index (before a number is taken)."""
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            try:
                self._check_schema(conn)
            finally:
                conn.close()
        except sqlite3.DatabaseError as e:
            raise self.corrupt(e) from None

    def rows(self) -> list[IndexRow]:
        """Every row, ordered by key and version."""
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout)
            try:
                self._check_schema(conn)
                found = conn.execute(
                    f"SELECT {', '.join(_COLUMNS)} FROM model_versions ORDER BY key, version"
                ).fetchall()
            finally:
                conn.close()
        except sqlite3.DatabaseError as e:
            raise self.corrupt(e) from None
        return [IndexRow(r[0], r[1], r[2], r[3], r[4], r[5], _summary_or_none(r[6])) for r in found]

    def max_versions(self) -> dict[str, int]:
        """The highest version per key the index knows; {} if it cannot be read."""
        out: dict[str, int] = {}
        if not self.path.exists():
            return out
        with contextlib.suppress(sqlite3.DatabaseError):
            conn = sqlite3.connect(self.path, timeout=self.timeout)
            try:
                for k, m in conn.execute(
                    "SELECT key, MAX(version) FROM model_versions GROUP BY key"
                ):
                    if isinstance(k, str) and isinstance(m, int):
                        out[k] = m
            finally:
                conn.close()
        return out


class _Writer:
    """The statements of one write transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def sync_key(self, key: str, folders: Sequence[int], row_for: Any) -> None:
        """Make the rows of ``key`` match its folders (repairs a crash's leftovers).

        ``row_for(key, number)`` builds the row of a folder the index lacks.
        """
        have = {
            r[0]
            for r in self._conn.execute("SELECT version FROM model_versions WHERE key=?", (key,))
        }
        want = set(folders)
        for n in sorted(have - want):
            self._conn.execute("DELETE FROM model_versions WHERE key=? AND version=?", (key, n))
        for n in sorted(want - have):
            _insert(self._conn, row_for(key, n))

    def insert(self, row: Row) -> None:
        _insert(self._conn, row)

    def set_summary(self, key: str, number: int, summary: object) -> None:
        self._conn.execute(
            "UPDATE model_versions SET metrics_summary=? WHERE key=? AND version=?",
            (summary_json(summary), key, number),
        )
