"""The PostgreSQL index's tables: their definitions, one row's values, the row statements.

Split from `_postgres` (connections, schema checks, locks) so each stays short.
``version`` is a bigint (the seed's ``v2`` is ``'v' || version``) so that
``max(version)`` and ordering work; ``created_at`` is a ``timestamptz``;
``metrics_summary`` and ``bundle`` are ``jsonb``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from ._index import Row, summary_json

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "DDL",
    "INSERT",
    "MARKER_FILE",
    "SCHEMA_VERSION",
    "TABLES",
    "Writer",
    "bundle_text",
    "display_url",
    "is_postgres_url",
    "jsonb_text",
    "widen_versions",
    "first_line",
    "iso",
    "model_identifier",
    "row_params",
]

SCHEMA_VERSION: Final = 1
#: in the registry root: the id of the registry whose index is in PostgreSQL
MARKER_FILE: Final = "index.postgresql"
TABLES: Final = ("curvelog_schema", "registry_keys", "model_versions")

DDL: Final = (
    """CREATE TABLE IF NOT EXISTS curvelog_schema (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        schema_version integer NOT NULL,
        registry_id text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS registry_keys (
        key text PRIMARY KEY,
        last_version bigint NOT NULL CHECK (last_version >= 0))""",
    """CREATE TABLE IF NOT EXISTS model_versions (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        key text NOT NULL,
        model_identifier text NOT NULL,
        model_type text NOT NULL,
        version bigint NOT NULL CHECK (version > 0),
        model_path text NOT NULL,
        created_at timestamptz NOT NULL,
        metrics_summary jsonb,
        bundle jsonb,
        UNIQUE (key, version))""",
)
#: the version columns, bigint like MAX_VERSION (SQLite's INTEGER); tables made by curvelog
#: before had integer ones, which rebuild-index widens (`widen_versions`)
VERSION_COLUMNS: Final = (("registry_keys", "last_version"), ("model_versions", "version"))
INSERT: Final = (
    "INSERT INTO model_versions (key, model_identifier, model_type, version, model_path, "
    "created_at, metrics_summary, bundle) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb)"
)


def is_postgres_url(index: str) -> bool:
    return index.startswith(("postgresql://", "postgres://"))


def display_url(url: str) -> str:
    """``url`` without its password, for messages.

    The user part ends at the last ``@`` before the query, not at the first
    ``/``: a password typed raw (``pg:S3c/ret@host``, where it should be
    percent-encoded) is hidden whole too."""
    scheme, sep, rest = url.partition("://")
    if sep:
        where, q, query = rest.partition("?")
        user, at, host = where.rpartition("@")
        if at and ":" in user:
            where = user.split(":", 1)[0] + ":***@" + host
        url = scheme + sep + where + q + query
    return re.sub(r"(password=)[^&\s]*", r"\1***", url)


def first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def jsonb_text(data: bytes | str | None) -> str | None:
    """JSON text for a jsonb column; NULL when absent or not storable: jsonb refuses
    \\u0000, which a metric name or a string in the bundle may hold (SQLite stores it)."""
    if data is None:
        return None
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None if "\\u0000" in data else data


def bundle_text(data: bytes | None) -> str | None:
    """curves.json as jsonb text (see `jsonb_text`)."""
    return jsonb_text(data)


def widen_versions(conn: psycopg.Connection[Any]) -> None:
    """Make integer version columns (tables of an older curvelog) bigint (rebuild-index)."""
    for table, column in VERSION_COLUMNS:
        found = conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = %s AND column_name = %s",
            (table, column),
        ).fetchone()
        if found is not None and found[0] == "integer":
            conn.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE bigint")


def model_identifier(key: str) -> str:
    """The seed's ``model_identifier``: mode and scope, ``product_P001_all``."""
    head = key.rsplit("/", 1)[0] if "/" in key else key
    return head.replace("/", "_")


def row_params(row: Row, bundle: str | None) -> tuple[Any, ...]:
    key, model_type, number, path, created_at, summary = row
    summary = jsonb_text(summary)
    return (key, model_identifier(key), model_type, number, path, created_at, summary, bundle)


class Writer:
    """The statements of one registry write, in the transaction of `PostgresIndex.locked`."""

    def __init__(
        self, conn: psycopg.Connection[Any], read_bundle: Callable[[str], str | None]
    ) -> None:
        self._conn = conn
        self._read_bundle = read_bundle  # a version folder's curves.json, as jsonb text

    def versions(self, key: str) -> list[int]:
        found = self._conn.execute(
            "SELECT version FROM model_versions WHERE key = %s ORDER BY version", (key,)
        ).fetchall()
        return [int(r[0]) for r in found]

    def sync_key(
        self, key: str, folders: Sequence[int], row_for: Any, indexed: Sequence[int] | None = None
    ) -> None:
        """Make the rows of ``key`` match its folders (repairs a crash's leftovers).

        ``indexed``: the key's versions in the table, if the caller just read them.
        """
        have = set(self.versions(key) if indexed is None else indexed)
        want = set(folders)
        gone = sorted(have - want)
        if gone:
            self._conn.execute(
                "DELETE FROM model_versions WHERE key = %s AND version = ANY(%s)", (key, gone)
            )
        for n in sorted(want - have):
            self.insert(row_for(key, n), self._read_bundle(f"{key}/v{n}"))

    def insert(self, row: Row, bundle: str | None = None) -> None:
        self._conn.execute(INSERT, row_params(row, bundle))

    def set_counter(self, key: str, number: int) -> None:
        self._conn.execute(
            "UPDATE registry_keys SET last_version = greatest(last_version, %s) WHERE key = %s",
            (number, key),
        )

    def set_summary(self, key: str, number: int, summary: object) -> None:
        """The summary, and the bundle as the folder now holds it."""
        self._conn.execute(
            "UPDATE model_versions SET metrics_summary = %s::jsonb, bundle = %s::jsonb "
            "WHERE key = %s AND version = %s",
            (jsonb_text(summary_json(summary)), self._read_bundle(f"{key}/v{number}"), key, number),
        )
