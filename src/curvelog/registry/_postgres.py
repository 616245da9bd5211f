"""The registry's index in PostgreSQL, for registries that several machines share.

A team whose training machines share one registry folder over a network
filesystem cannot use the SQLite index (SQLite must not be shared over NFS) nor
rely on ``flock``. With ``Registry(root, index="postgresql://...")`` the
``model_versions`` table lives in PostgreSQL and the database decides version
numbers: every registry write runs in one transaction that holds the key's row
of ``registry_keys`` (``SELECT ... FOR UPDATE``); `_pgalloc` does the
allocation itself. The folders stay the truth, as with SQLite.

Tables (in the first schema of the connection's ``search_path``)::

    curvelog_schema  one row: schema_version, registry_id (the id in <root>/index.postgresql)
    registry_keys    key -> last_version, the highest number ever handed out; its row is the
                     key's lock
    model_versions   id, key, model_identifier, model_type, version, model_path, created_at,
                     metrics_summary (jsonb), bundle (jsonb: the whole curves.json)

``index.postgresql`` in the registry folder holds the registry's id: it ties
the folder to its database (a registry folder and a database indexing another
folder are refused) and tells a process without the URL that the SQLite index
must not be used here. psycopg (the ``[postgres]`` extra) is imported lazily.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .. import _json
from .._fs import atomic_write_bytes
from ..errors import RegistryError, RegistryIndexError, RegistryLockTimeout
from ._index import IndexRow, Row
from ._pgschema import (
    DDL,
    INSERT,
    MARKER_FILE,
    SCHEMA_VERSION,
    TABLES,
    Writer,
    bundle_text,
    display_url,
    first_line,
    is_postgres_url,
    iso,
    row_params,
    widen_versions,
)

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresIndex", "make_index"]

#: advisory lock class (first int4) of curvelog's locks; the second int4 says which
_LOCK_CLASS: Final = 0x6375_7276  # "curv"
_LOCK_VERSIONS_JSON: Final = 1
_LOCK_CREATE: Final = 2
#: a connection unused for longer is pinged before use (the server may have restarted)
_PING_AFTER_S: Final = 1.0
#: the server ends a session idle inside a transaction this long (a frozen holder)
_IDLE_IN_TRANSACTION: Final = "300s"


class PostgresIndex:
    """``model_versions`` in PostgreSQL; what `SqliteIndex` offers, plus the key locks.

    :param url: a ``postgresql://`` URL (libpq's parameters in its query string).
    :param root: the registry folder (rows' bundles are read from it).
    :param timeout: seconds to wait for a lock held by another writer.
    :param repair_hint: the sentence that tells the user how to rebuild the index.
    """

    def __init__(self, url: str, root: Path, timeout: float, repair_hint: str) -> None:
        self.url = url
        self.root = root
        self.timeout = timeout
        self.repair_hint = repair_hint
        self.display = display_url(url)
        self._local = threading.local()
        #: (pid, connection) of every connection made, closed when the index goes away
        self._made: list[tuple[int, Any]] = []
        weakref.finalize(self, _close_own, self._made)

    def __str__(self) -> str:
        return self.display

    # ------------------------------------------------------------------ connections

    def _error(self, e: Exception, what: str = "") -> RegistryError:
        """The curvelog error for a psycopg error ``e`` (``what``: the lock waited for)."""
        import psycopg

        if isinstance(e, psycopg.errors.LockNotAvailable):
            where = f"{self.display} ({what or 'a registry lock'})"
            return RegistryLockTimeout(where, self.timeout)
        if isinstance(e, psycopg.OperationalError):
            return RegistryIndexError(self.display, f"cannot use the database ({self._why(e)})")
        if isinstance(e, psycopg.errors.NumericValueOutOfRange):
            return RegistryIndexError(
                self.display,
                f"a version number does not fit the index's columns ({self._why(e)}): "
                "tables made by an older curvelog hold versions up to 2147483647 and "
                f"rebuild-index widens them; {self.repair_hint}",
            )
        if isinstance(e, (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn)):
            return RegistryIndexError(
                self.display,
                f"the index tables are missing or have other columns ({self._why(e)}); "
                + self.repair_hint,
            )
        return RegistryIndexError(self.display, f"database error ({self._why(e)})")

    def _why(self, e: Exception) -> str:
        """The first line of a psycopg error, which may quote the URL: never its password."""
        return display_url(first_line(e).replace(self.url, self.display))

    def _connection(self) -> psycopg.Connection[Any]:
        """This thread's connection, made or checked; never one inherited through fork."""
        try:
            import psycopg
        except ImportError:
            raise RegistryIndexError(
                self.display,
                "a PostgreSQL index needs psycopg: pip install 'curvelog[postgres]'",
            ) from None
        loc = self._local
        conn: psycopg.Connection[Any] | None = getattr(loc, "conn", None)
        if conn is not None and getattr(loc, "pid", None) != os.getpid():
            # Closing the parent's connection from a child would end the parent's
            # session: keep it referenced, never use it.
            _INHERITED.append(conn)
            conn = None
        if conn is not None and (conn.broken or conn.closed):
            conn = None
        if conn is not None and time.monotonic() - loc.used > _PING_AFTER_S:
            try:
                conn.execute("SELECT 1")
            except psycopg.Error:
                with contextlib.suppress(Exception):
                    conn.close()
                conn = None
        if conn is None:
            try:
                params = psycopg.conninfo.conninfo_to_dict(self.url)
            except psycopg.Error as e:  # its message quotes the URL, password and all
                raise RegistryIndexError(
                    self.display, f"not a valid connection URL ({self._why(e)})"
                ) from None
            extra: dict[str, Any] = {"application_name": "curvelog"}
            if "connect_timeout" not in params:
                extra["connect_timeout"] = max(2, min(30, round(self.timeout)))
            try:
                conn = psycopg.connect(self.url, autocommit=True, **extra)
                conn.execute(f"SET idle_in_transaction_session_timeout = '{_IDLE_IN_TRANSACTION}'")
            except psycopg.Error as e:
                raise self._error(e) from None
            loc.conn, loc.pid = conn, os.getpid()
            self._made.append((loc.pid, conn))
        loc.used = time.monotonic()
        return conn

    def close(self) -> None:
        """Close this thread's connection (it is made again when needed)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local.conn = None

    def ping(self) -> None:
        """Connect (or check the connection): a failure is the clear error, before any write."""
        if self.active() is None:
            self._connection()

    def active(self) -> psycopg.Connection[Any] | None:
        """The connection of the transaction this thread holds (inside `locked`), if any."""
        conn: psycopg.Connection[Any] | None = getattr(self._local, "txn", None)
        return conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """A transaction (or the one this thread holds); psycopg errors become curvelog's."""
        import psycopg

        held = self.active()
        if held is not None:
            yield held
            return
        conn = self._connection()
        undo: list[Callable[[], None]] = []
        self._local.undo = undo
        try:
            with conn.transaction():
                ms = max(1, round(self.timeout * 1000))  # 0 would mean "wait forever"
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{ms}ms",))
                self._local.txn = conn
                try:
                    yield conn
                except BaseException:
                    _undo(undo)  # before the rollback, while its locks still hold
                    raise
                finally:
                    self._local.txn = None
        except BaseException as e:
            _undo(undo)  # the commit failed
            if isinstance(e, psycopg.Error):
                raise self._error(e, getattr(self._local, "waiting_for", "")) from None
            raise
        finally:
            self._local.undo = None

    def on_failure(self, undo: Callable[[], None]) -> None:
        """Call ``undo`` if the transaction this thread holds does not commit.

        For what a write did on disk that only the commit makes true (a folder
        renamed into place, the marker file): the commit is the outermost
        transaction's, which a nested `locked` only joins, so only the transaction
        knows whether it happened. ``undo`` runs before the rollback when the block
        raises, after it when the commit itself fails; it must not raise.
        """
        pending: list[Callable[[], None]] | None = getattr(self._local, "undo", None)
        assert pending is not None, "on_failure() outside a transaction"
        pending.append(undo)

    # ------------------------------------------------------------------ schema

    def _tables(self, conn: psycopg.Connection[Any]) -> dict[str, bool]:
        found = conn.execute(
            "SELECT " + ", ".join(f"to_regclass('{t}') IS NOT NULL" for t in TABLES)
        ).fetchone()
        assert found is not None
        return dict(zip(TABLES, found, strict=True))

    def _read_marker(self) -> str | None:
        try:
            obj = _json.read_object(self.root / MARKER_FILE)
        except ValueError as e:
            raise RegistryIndexError(
                self.display, f"{self.root / MARKER_FILE} is damaged ({e}); {self.repair_hint}"
            ) from None
        if obj is None:
            return None
        rid = obj.get("registry_id")
        if not isinstance(rid, str):
            raise RegistryIndexError(
                self.display, f"{self.root / MARKER_FILE} has no registry_id; {self.repair_hint}"
            )
        return rid

    def _write_marker(self, registry_id: str) -> None:
        """Write ``index.postgresql``, inside the transaction that makes or adopts the tables.

        Written before the commit, so that a writer who sees the committed tables
        also sees the marker; taken back out if the transaction does not commit,
        so a failed first write or migration leaves the folder as it was (a marker
        naming a registry no database holds would lock SQLite writers out).
        """
        note = "this registry's index is in PostgreSQL: pass index=URL / --index URL"
        body = {"registry_id": registry_id, "index": "postgresql", "note": note}
        path = self.root / MARKER_FILE
        atomic_write_bytes(path, _json.dumps(body, indent=2))
        self.on_failure(lambda: _remove(path))

    def _validate(self, conn: psycopg.Connection[Any], *, adopt: bool) -> bool:
        """Check the schema; False if there are no curvelog tables at all.

        ``adopt`` (rebuild-index): make missing tables, and take the database's id
        into a folder that has no ``index.postgresql``.
        """
        tables = self._tables(conn)
        if not any(tables.values()):
            return False
        if not tables["curvelog_schema"]:
            raise RegistryIndexError(
                self.display,
                "tables named like curvelog's exist but curvelog_schema is missing; "
                "use another database or schema (search_path) for the registry",
            )
        row = conn.execute("SELECT schema_version, registry_id FROM curvelog_schema").fetchone()
        if row is None:
            raise RegistryIndexError(self.display, f"curvelog_schema is empty; {self.repair_hint}")
        found, registry_id = row
        if found > SCHEMA_VERSION:
            raise RegistryIndexError(
                self.display,
                f"the index was made by a newer curvelog (schema {found}; this curvelog "
                f"knows schema {SCHEMA_VERSION}); upgrade curvelog",
            )
        missing = [t for t, there in tables.items() if not there]
        if missing and not adopt:
            raise RegistryIndexError(
                self.display, f"table {', '.join(missing)} is missing; {self.repair_hint}"
            )
        marker = self._read_marker()
        strays = [] if marker is not None or not adopt else self._strays(conn, tables)
        if marker is None and adopt and not strays:
            # this registry's own index, whose marker was lost: every version it
            # lists is a folder here (another registry's would be wiped and taken over)
            self._write_marker(registry_id)
        elif marker != registry_id:
            why = (
                f"{len(strays)} of the versions it lists (such as {strays[0]}) are not in this "
                "folder"
                if strays
                else f"this folder has no {MARKER_FILE}"
                if marker is None
                else f"{self.root / MARKER_FILE} names registry {marker}"
            )
            raise RegistryIndexError(
                self.display,
                f"the database holds the index of registry {registry_id} but {why}; "
                "give each registry its own database or schema",
            )
        if missing:
            for ddl in DDL:
                conn.execute(ddl)
        return True

    def _strays(self, conn: psycopg.Connection[Any], tables: Mapping[str, bool]) -> list[str]:
        """The versions the database lists that are no folder of this registry."""
        if not tables.get("model_versions"):
            return []
        rows = conn.execute("SELECT key, version FROM model_versions").fetchall()
        return [f"{k}/v{n}" for k, n in rows if not (self.root / k / f"v{n}").is_dir()]

    def _create(self, conn: psycopg.Connection[Any], scan: Callable[[], Sequence[Row]]) -> None:
        """Make the tables and fill them from the folders (the first writer does)."""
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, _LOCK_CREATE))
        registry_id = self._read_marker()  # read under the lock: the first writer's id
        if registry_id is None:
            registry_id = uuid.uuid4().hex
            self._write_marker(registry_id)
        for ddl in DDL:  # IF NOT EXISTS: another writer may have made them meanwhile
            conn.execute(ddl)
        made = conn.execute(
            "INSERT INTO curvelog_schema (schema_version, registry_id) VALUES (%s, %s) "
            "ON CONFLICT DO NOTHING RETURNING registry_id",
            (SCHEMA_VERSION, registry_id),
        ).fetchone()
        if made is None:  # it did: check what it made
            self._validate(conn, adopt=False)
            return
        self._fill(conn, scan())

    def _fill(self, conn: psycopg.Connection[Any], rows: Sequence[Row]) -> None:
        with conn.cursor() as cur:
            cur.executemany(INSERT, [row_params(r, self._read_bundle(r[3])) for r in rows])
        conn.execute(
            "INSERT INTO registry_keys (key, last_version) "
            "SELECT key, max(version) FROM model_versions GROUP BY key "
            "ON CONFLICT (key) DO UPDATE SET last_version = "
            "greatest(registry_keys.last_version, excluded.last_version)"
        )

    def raise_counters(self, versions: dict[str, int]) -> None:
        """registry_keys at least ``versions`` (rebuild-index: what versions.json says)."""
        with self._transaction() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO registry_keys (key, last_version) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET last_version = "
                "greatest(registry_keys.last_version, excluded.last_version)",
                sorted(versions.items()),
            )

    def _read_bundle(self, rel_path: str) -> str | None:
        try:
            data = (self.root / rel_path / "curves.json").read_bytes()
        except OSError:
            return None
        return bundle_text(data)

    # ------------------------------------------------------------------ locks

    @contextlib.contextmanager
    def locked(self, key: str | None, scan: Callable[[], Sequence[Row]]) -> Iterator[int]:
        """One transaction holding ``key``'s row of registry_keys (None: every key, for
        rebuild-index); yields the key's ``last_version`` (0 for None).

        Makes the tables first if the database has none (from ``scan()``). Commits
        when the block ends without an error; a failed commit raises the clear error.
        """
        with self._transaction() as conn:
            if key is None:
                self._local.waiting_for = "the lock of every key (rebuild-index)"
                if not self._validate(conn, adopt=True):
                    self._create(conn, lambda: [])
                conn.execute("LOCK TABLE registry_keys, model_versions IN EXCLUSIVE MODE")
                widen_versions(conn)
                self._local.waiting_for = ""
                yield 0
                return
            if not self._validate(conn, adopt=False):
                self._create(conn, scan)
            self._local.waiting_for = f"the row lock of key {key}"
            conn.execute(
                "INSERT INTO registry_keys (key, last_version) VALUES (%s, 0) "
                "ON CONFLICT (key) DO NOTHING",
                (key,),
            )
            found = conn.execute(
                "SELECT last_version FROM registry_keys WHERE key = %s FOR UPDATE", (key,)
            ).fetchone()
            self._local.waiting_for = ""
            assert found is not None
            yield int(found[0])

    def lock_versions_json(self) -> None:
        """Serialise rewrites of versions.json across keys until the transaction ends.

        A transaction lock: released by the commit or rollback, or by the server
        when the holder dies, never left behind.
        """
        conn = self.active()
        assert conn is not None, "lock_versions_json() outside locked()"
        self._local.waiting_for = "the versions.json lock"
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, _LOCK_VERSIONS_JSON))
        self._local.waiting_for = ""

    # ------------------------------------------------------------------ SqliteIndex's API

    def exists(self) -> bool:
        """Whether the database has curvelog's tables (checked: the clear error if not usable)."""
        with self._transaction() as conn:
            return self._validate(conn, adopt=False)

    def check(self) -> None:
        self.exists()

    def build(self, rows: Sequence[Row]) -> None:
        """Replace every row (rebuild-index, inside ``locked(None)``); counters never go down."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM model_versions")
            self._fill(conn, rows)

    @contextlib.contextmanager
    def writing(self) -> Iterator[Writer]:
        """Statements in the transaction of `locked` (commit or rollback with it)."""
        with self._transaction() as conn:
            yield Writer(conn, self._read_bundle)

    def rows(self) -> list[IndexRow]:
        """Every row, ordered by key and version ([] if the database has no index yet and
        the folder is no PostgreSQL registry)."""
        with self._transaction() as conn:
            if not self._validate(conn, adopt=False):
                if (self.root / MARKER_FILE).is_file():
                    raise RegistryIndexError(
                        self.display, f"the database has no registry index; {self.repair_hint}"
                    )
                return []
            found = conn.execute(
                "SELECT id, key, model_type, version, model_path, created_at, metrics_summary "
                "FROM model_versions ORDER BY key, version"
            ).fetchall()
        out = []
        for r in found:
            summary = r[6] if isinstance(r[6], dict) else None
            out.append(IndexRow(r[0], r[1], r[2], r[3], r[4], iso(r[5]), summary))
        return out

    def max_versions(self) -> dict[str, int]:
        """The highest version per key the database knows (handed out or indexed)."""
        with self._transaction() as conn:
            tables = self._tables(conn)
            parts = [
                f"SELECT key, {col} AS v FROM {table}"
                for table, col in (("registry_keys", "last_version"), ("model_versions", "version"))
                if tables[table]
            ]
            if not parts:
                return {}
            found = conn.execute(
                f"SELECT key, max(v) FROM ({' UNION ALL '.join(parts)}) AS t GROUP BY key"
            ).fetchall()
        return {k: int(m) for k, m in found if isinstance(k, str) and m is not None}


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _undo(pending: list[Callable[[], None]]) -> None:
    """Run (once) what a transaction that did not commit must take back, newest first."""
    while pending:
        pending.pop()()


#: connections a forked child inherited: never closed there (that would end the parent's
#: session), never collected (psycopg warns about an unclosed connection)
_INHERITED: list[Any] = []


def _close_own(made: list[tuple[int, Any]]) -> None:
    for pid, conn in made:
        if pid == os.getpid():
            with contextlib.suppress(Exception):
                conn.close()
        else:
            _INHERITED.append(conn)
    made.clear()


def make_index(url: str, root: Path, timeout: float, repair_hint: str) -> PostgresIndex:
    """The index for ``Registry(index=url)``; anything but a PostgreSQL URL is refused."""
    if not is_postgres_url(url):
        raise RegistryIndexError(
            display_url(url),
            "unknown index: give a postgresql:// URL, or 'sqlite' for index.db",
        )
    return PostgresIndex(url, root, timeout, repair_hint)
