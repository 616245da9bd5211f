"""The registry with its index in a real PostgreSQL server (#16): allocation decided by the
database with the file lock off, kills, a server stopped mid-run, schema and connection
errors, rebuild-index into PostgreSQL, the CLI's --index.

The server is a throwaway cluster (tests/_pgserver.py) started once per session;
each test gets its own schema (search_path) in it. Without the server binaries these
tests are skipped with the reason in the summary, and fail under CI=true.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _cli import invoke
from _pgserver import Server, make_server
from curvelog import EventLog
from curvelog.errors import RegistryCorruptError, RegistryIndexError, RegistryLockTimeout
from curvelog.registry import Registry

KEY = "product/P001_all/mlstm"
FORK = multiprocessing.get_context("fork")
BUNDLE = {"schema": "curvelog.bundle/1", "run": {"run_id": "r1"}, "summary": {"rows": 5}}


@pytest.fixture(scope="session")
def pg() -> Iterator[Server]:
    server = make_server()
    yield server
    server.destroy()


@pytest.fixture
def schema(pg: Server) -> str:
    return pg.new_schema()


@pytest.fixture
def url(pg: Server, schema: str) -> str:
    return pg.url(schema)


@pytest.fixture
def reg(tmp_path: Path, url: str) -> Registry:
    return Registry(tmp_path / "saved_models", index=url, lock_timeout=30)


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its bytes (None for a folder)."""
    if not root.exists():
        return {}
    out: dict[str, bytes | None] = {}
    for p in sorted(root.rglob("*")):
        out[p.relative_to(root).as_posix()] = None if p.is_dir() else p.read_bytes()
    return out


def folders(root: Path, key: str = KEY) -> set[int]:
    d = root / key
    return {int(p.name[1:]) for p in d.iterdir() if p.is_dir()} if d.is_dir() else set()


def db_rows(pg: Server, schema: str, key: str = KEY) -> list[tuple[Any, ...]]:
    return pg.execute(
        f"SELECT version, model_path, model_identifier FROM model_versions WHERE key = '{key}' "
        "ORDER BY version",
        schema,
    )


def assert_consistent(pg: Server, schema: str, root: Path, key: str = KEY) -> None:
    """Folders, versions.json, model_versions and registry_keys agree; nothing half-made."""
    have = folders(root, key)
    rows = db_rows(pg, schema, key)
    assert [r[0] for r in rows] == sorted(have)
    assert all(r[1] == f"{key}/v{r[0]}" for r in rows)
    for n in have:
        meta = json.loads((root / key / f"v{n}" / "metadata.json").read_text("utf-8"))
        assert (meta["key"], meta["version"]) == (key, n)
    recorded = json.loads((root / "versions.json").read_text("utf-8"))[key]
    (counter,) = pg.execute(f"SELECT last_version FROM registry_keys WHERE key = '{key}'", schema)
    assert recorded >= max(have) and counter[0] >= max(have)
    staging = root / ".staging"
    assert not staging.exists() or not any(staging.iterdir())
    assert not list(root.glob(".*.tmp"))


# --------------------------------------------------------------------------- basics


def test_allocation_fills_the_table_and_no_file_lock_is_taken(
    reg: Registry, pg: Server, schema: str
) -> None:
    assert [reg.new_version(KEY).number for _ in range(3)] == [1, 2, 3]
    v = reg.file_bundle(KEY, BUNDLE)
    assert v.number == 4
    rows = pg.execute(
        "SELECT key, model_identifier, model_type, version, model_path, created_at, "
        "metrics_summary, bundle FROM model_versions ORDER BY version",
        schema,
    )
    assert [r[:5] for r in rows] == [
        (KEY, "product_P001_all", "mlstm", n, f"{KEY}/v{n}") for n in (1, 2, 3, 4)
    ]
    assert rows[3][6] == {"rows": 5} and rows[3][7] == BUNDLE and rows[0][7] is None
    meta = v.metadata()
    assert (
        rows[3][5].isoformat(timespec="milliseconds").replace("+00:00", "Z") == (meta["created_at"])
    )
    assert pg.execute("SELECT key, last_version FROM registry_keys", schema) == [(KEY, 4)]
    assert pg.execute("SELECT schema_version FROM curvelog_schema", schema) == [(1,)]
    assert json.loads((reg.root / "versions.json").read_text()) == {KEY: 4}
    marker = json.loads((reg.root / "index.postgresql").read_text())
    assert pg.execute("SELECT registry_id FROM curvelog_schema", schema) == [
        (marker["registry_id"],)
    ]
    assert not (reg.root / "index.db").exists() and not (reg.root / ".registry.lock").exists()
    assert [(r.key, r.version, r.metrics_summary) for r in reg.index_rows()][-1] == (
        KEY,
        4,
        {"rows": 5},
    )
    assert reg.index_location.startswith("postgresql://") and reg.file_lock is False
    assert_consistent(pg, schema, reg.root)


def test_metadata_and_bundles_filed_later_reach_the_row(
    reg: Registry, pg: Server, schema: str
) -> None:
    v = reg.new_version(KEY)
    v.save_metadata({"summary": {"best": 0.5}})
    assert pg.execute("SELECT metrics_summary, bundle FROM model_versions", schema) == [
        ({"best": 0.5}, None)
    ]
    reg.file_bundle(KEY, BUNDLE, version=1)
    assert pg.execute("SELECT metrics_summary, bundle FROM model_versions", schema) == [
        ({"rows": 5}, BUNDLE)
    ]


def test_folders_made_before_the_database_are_indexed_by_the_first_writer(
    tmp_path: Path, url: str, pg: Server, schema: str
) -> None:
    root = tmp_path / "saved_models"
    sqlite = Registry(root)
    for _ in range(3):
        sqlite.new_version(KEY)
    (root / "index.db").unlink()
    reg = Registry(root, index=url)
    assert reg.new_version(KEY).number == 4
    assert [r[0] for r in db_rows(pg, schema)] == [1, 2, 3, 4]
    with pytest.raises(RegistryIndexError, match="index is in PostgreSQL"):
        sqlite.new_version(KEY)  # a process without the URL must not allocate by flock
    assert_consistent(pg, schema, root)


def test_the_environment_variable_chooses_the_index(
    tmp_path: Path, url: str, pg: Server, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURVELOG_REGISTRY_INDEX", url)
    assert Registry(tmp_path / "r").new_version(KEY).number == 1
    assert len(db_rows(pg, schema)) == 1
    monkeypatch.setenv("CURVELOG_REGISTRY_INDEX", "sqlite")
    assert Registry(tmp_path / "s").new_version(KEY).number == 1
    assert (tmp_path / "s" / "index.db").exists()


def test_the_file_lock_can_be_taken_as_well(tmp_path: Path, url: str) -> None:
    reg = Registry(tmp_path / "r", index=url, file_lock=True)
    assert reg.new_version(KEY).number == 1 and (reg.root / ".registry.lock").exists()
    assert Registry(tmp_path / "r", index=url).new_version(KEY).number == 2


def test_bad_index_arguments() -> None:
    with pytest.raises(RegistryIndexError, match="unknown index"):
        Registry("x", index="mysql://u:secret@h/db")
    try:
        Registry("x", index="mysql://u:secret@h/db")
    except RegistryIndexError as e:
        assert "secret" not in str(e)
    with pytest.raises(ValueError, match="file_lock=False needs a PostgreSQL index"):
        Registry("x", file_lock=False)


def test_import_curvelog_does_not_import_psycopg(tmp_path: Path) -> None:
    code = (
        "import sys, curvelog, curvelog.registry, curvelog.cli\n"
        f"curvelog.Registry({str(tmp_path)!r}, index='postgresql://h/db')\n"
        "assert 'psycopg' not in sys.modules, 'psycopg imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------- concurrency


def _allocate(root: str, url: str, count: int, out: str, go: Any) -> None:
    """Worker: allocate ``count`` versions with the file lock off, claim each exclusively."""
    reg = Registry(root, index=url, file_lock=False, lock_timeout=60)
    go.wait()
    with open(out, "a") as f:
        for _ in range(count):
            v = reg.new_version(KEY)
            os.close(os.open(v.path / "claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            f.write(f"{v.number}\n")
            f.flush()


def _results(outs: list[Path]) -> list[int]:
    return [int(n) for o in outs if o.exists() for n in o.read_text().split()]


def test_16_processes_with_no_file_lock_get_400_distinct_versions_from_the_database(
    reg: Registry, url: str, pg: Server, schema: str, tmp_path: Path
) -> None:
    reg.new_version(KEY)  # the tables exist before the race (their creation is tested apart)
    go = FORK.Event()
    outs = [tmp_path / f"w{i}.txt" for i in range(16)]
    workers = [
        FORK.Process(target=_allocate, args=(str(reg.root), url, 25, str(o), go)) for o in outs
    ]
    for w in workers:
        w.start()
    go.set()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0] * 16
    got = _results(outs)
    assert sorted(got) == list(range(2, 402))
    assert folders(reg.root) == set(range(1, 402))
    assert json.loads((reg.root / "versions.json").read_text()) == {KEY: 401}
    assert not (reg.root / ".registry.lock").exists()
    assert_consistent(pg, schema, reg.root)


def test_writers_racing_to_create_the_tables_make_them_once(
    reg: Registry, url: str, pg: Server, schema: str, tmp_path: Path
) -> None:
    go = FORK.Event()
    outs = [tmp_path / f"w{i}.txt" for i in range(6)]
    workers = [
        FORK.Process(target=_allocate, args=(str(reg.root), url, 3, str(o), go)) for o in outs
    ]
    for w in workers:
        w.start()
    go.set()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0] * 6
    assert sorted(_results(outs)) == list(range(1, 19))
    assert pg.execute("SELECT count(*) FROM curvelog_schema", schema) == [(1,)]
    assert_consistent(pg, schema, reg.root)


def _die_before_the_rename(root: str, url: str, ready: Any) -> None:
    def stall(src: object, dst: object) -> None:
        ready.set()
        time.sleep(120)

    os.rename = stall  # type: ignore[assignment]  # this child only: mid-transaction
    Registry(root, index=url, file_lock=False).new_version(KEY)


def test_an_allocator_killed_mid_transaction_blocks_nobody_and_its_number_is_skipped(
    reg: Registry, url: str, pg: Server, schema: str, tmp_path: Path
) -> None:
    reg.new_version(KEY)
    ready, go = FORK.Event(), FORK.Event()
    victim = FORK.Process(target=_die_before_the_rename, args=(str(reg.root), url, ready))
    victim.start()
    assert ready.wait(30)
    # the victim holds the key's row: it wrote versions.json (v2) and staged its folder
    assert json.loads((reg.root / "versions.json").read_text()) == {KEY: 2}
    assert any((reg.root / ".staging").iterdir())
    outs = [tmp_path / f"w{i}.txt" for i in range(3)]
    workers = [
        FORK.Process(target=_allocate, args=(str(reg.root), url, 5, str(o), go)) for o in outs
    ]
    for w in workers:
        w.start()
    go.set()
    time.sleep(0.5)
    assert all(w.is_alive() for w in workers) and folders(reg.root) == {1}  # waiting
    os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
    victim.join()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0] * 3
    assert sorted(_results(outs)) == list(range(3, 18))  # v2 skipped, never reused
    assert folders(reg.root) == {1, *range(3, 18)}
    assert_consistent(pg, schema, reg.root)


def test_random_sigkills_never_duplicate_a_version_nor_leave_a_half_made_folder(
    reg: Registry, url: str, pg: Server, schema: str, tmp_path: Path
) -> None:
    rng = random.Random(16)
    reg.new_version(KEY)
    go = FORK.Event()
    go.set()
    survivors_out = [tmp_path / f"s{i}.txt" for i in range(3)]
    survivors = [
        FORK.Process(target=_allocate, args=(str(reg.root), url, 20, str(o), go))
        for o in survivors_out
    ]
    for w in survivors:
        w.start()
    victims_out = []
    for i in range(8):
        out = tmp_path / f"v{i}.txt"
        victims_out.append(out)
        victim = FORK.Process(target=_allocate, args=(str(reg.root), url, 10**6, str(out), go))
        victim.start()
        time.sleep(rng.uniform(0.05, 0.3))
        os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
        victim.join()
        # whatever is visible is complete: every folder has its metadata.json
        for n in folders(reg.root):
            meta = json.loads((reg.root / KEY / f"v{n}" / "metadata.json").read_text())
            assert meta["version"] == n
    for w in survivors:
        w.join(60)
    assert [w.exitcode for w in survivors] == [0] * 3
    reg.new_version(KEY)  # the next allocation cleans up after the last kill
    got = _results(survivors_out + victims_out)
    assert len(got) == len(set(got))
    assert set(got) <= folders(reg.root)
    assert all((reg.root / KEY / f"v{n}" / "claim").exists() for n in got)
    assert pg.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [(0,)]
    assert_consistent(pg, schema, reg.root)


def test_a_row_lock_held_too_long_is_a_lock_timeout(reg: Registry, pg: Server, url: str) -> None:
    import psycopg

    reg.new_version(KEY)
    with psycopg.connect(url) as other:
        other.execute("SELECT * FROM registry_keys WHERE key = %s FOR UPDATE", (KEY,))
        quick = Registry(reg.root, index=url, lock_timeout=0.2)
        with pytest.raises(RegistryLockTimeout, match=f"row lock of key {KEY}"):
            quick.new_version(KEY)
    assert reg.new_version(KEY).number == 2


# --------------------------------------------------------------------------- failures


def test_the_database_stopped_mid_run(
    reg: Registry, pg: Server, url: str, schema: str, tmp_path: Path
) -> None:
    import psycopg

    v1 = reg.new_version(KEY)
    log_path = v1.path / "run.log"
    log = EventLog(log_path)
    for step in range(100):
        log.append(step, loss=1.0 / (step + 1))
    log.flush()
    before_log = log_path.read_bytes()
    # an allocation waiting for the key's row when the server goes down
    holder = psycopg.connect(url)
    holder.execute("BEGIN")
    holder.execute("SELECT * FROM registry_keys WHERE key = %s FOR UPDATE", (KEY,))
    errors: list[BaseException] = []
    waiting = threading.Thread(target=lambda: _catch(errors, reg.new_version, KEY))
    waiting.start()
    time.sleep(0.5)
    snapshot = tree(reg.root)
    pg.stop()
    try:
        waiting.join(30)
        assert len(errors) == 1 and isinstance(errors[0], RegistryIndexError)
        assert "cannot use the database" in str(errors[0])
        with pytest.raises(RegistryIndexError, match="cannot use the database"):
            reg.new_version(KEY)
        with pytest.raises(RegistryIndexError):
            reg.file_bundle(KEY, BUNDLE, version=1)
        with pytest.raises(RegistryIndexError):
            Registry(tmp_path / "fresh", index=url).new_version(KEY)
        assert not (tmp_path / "fresh").exists()  # nothing half-made
        result = invoke("registry", "list", "--registry", str(reg.root), "--index", url, ok=False)
        assert result.exit_code == 2 and result.stderr.startswith("Error: postgresql://")
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.output
        for step in range(100, 150):  # the training goes on, its log untouched
            log.append(step, loss=1.0 / (step + 1))
        assert tree(reg.root) == snapshot
    finally:
        pg.start()
        holder.close()
    log.close()
    assert log_path.read_bytes().startswith(before_log)
    assert reg.new_version(KEY).number == 2  # the retry after the restart
    assert_consistent(pg, schema, reg.root)


@pytest.mark.parametrize("how", ["new_version", "file_bundle"])
def test_a_commit_that_fails_takes_the_renamed_folder_back_out(
    reg: Registry, url: str, pg: Server, schema: str, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server goes away between the rename into place and COMMIT. file_bundle's commit
    # is its own transaction's, which the allocation only joins: its folder stayed (QA #3).
    import psycopg

    from curvelog.registry import _pgalloc

    reg.new_version(KEY)

    class DiesAfterTheRename:
        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        @staticmethod
        def rename(src: Any, dst: Any) -> None:
            os.rename(src, dst)
            if "/.staging/" not in str(dst):  # the rename into place
                conn = reg._index.active()  # type: ignore[union-attr]
                assert conn is not None
                with psycopg.connect(url, autocommit=True) as other:
                    other.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))

    monkeypatch.setattr(_pgalloc, "os", DiesAfterTheRename())
    with pytest.raises(RegistryIndexError, match="cannot use the database"):
        if how == "new_version":
            reg.new_version(KEY)
        else:
            reg.file_bundle(KEY, BUNDLE)
    monkeypatch.undo()
    assert folders(reg.root) == {1}
    assert [r[0] for r in db_rows(pg, schema)] == [1]
    assert reg.new_version(KEY).number == 3  # v2's number was taken, never reused
    assert_consistent(pg, schema, reg.root)


def _catch(errors: list[BaseException], fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except BaseException as e:  # noqa: BLE001 - handed to the test thread
        errors.append(e)


def test_an_unreachable_database_is_one_clear_error_and_nothing_on_disk(
    tmp_path: Path, pg: Server
) -> None:
    bad = f"postgresql://curvelog:s3cret@/nodb?host={pg.dir}&port=1"
    root = tmp_path / "saved_models"
    with pytest.raises(RegistryIndexError) as info:
        Registry(root, index=bad).new_version(KEY)
    assert "cannot use the database" in str(info.value) and "s3cret" not in str(info.value)
    assert info.value.index.startswith("postgresql://curvelog:***@")
    assert not root.exists()
    log_path = tmp_path / "run.log"
    with EventLog(log_path) as log:
        log.append(0, loss=1.0)
    before = log_path.read_bytes()
    result = invoke("compact", str(log_path), "--registry", str(root), "--key", KEY,
                    "--index", bad, "--no-png", ok=False)  # fmt: skip
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and result.stdout == ""
    assert result.stderr.startswith("Error: postgresql://curvelog:***@/nodb")
    assert "cannot use the database" in result.stderr and "s3cret" not in result.output
    assert log_path.read_bytes() == before and not root.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.log"]
    result = invoke("compact", str(log_path), "--index", bad, ok=False)
    assert result.stderr == "Error: --index needs --registry and --key\n"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("postgresql://pg:S3cretPW@[::1/x", 'matching "]" in IPv6 host address'),
        (
            "postgresql://pg@127.0.0.1:1/r5?password=S3cretPW&xyz=2",
            'invalid URI query parameter: "xyz"',
        ),
    ],
)
def test_a_malformed_url_is_one_clear_error_without_the_password(
    tmp_path: Path, url: str, why: str
) -> None:
    # QA #7: the URL was parsed outside the try that maps psycopg's errors: a traceback
    # that quoted the password, exit code 1
    pytest.importorskip("psycopg")
    root = tmp_path / "saved_models"
    root.mkdir()
    with pytest.raises(RegistryIndexError, match="not a valid connection URL") as info:
        Registry(root, index=url).new_version(KEY)
    assert why in str(info.value) and "S3cretPW" not in str(info.value)
    for args in (["registry", "list"], ["registry", "latest", KEY]):
        result = invoke(*args, "--registry", str(root), "--index", url, ok=False)
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert result.stderr.count("\n") == 1 and "S3cretPW" not in result.output
        assert result.stderr.startswith("Error: postgresql://pg") and why in result.stderr
    assert sorted(root.iterdir()) == []


def test_a_schema_from_a_newer_curvelog_is_refused(reg: Registry, pg: Server, schema: str) -> None:
    reg.new_version(KEY)
    pg.execute("UPDATE curvelog_schema SET schema_version = 2", schema)
    snapshot = tree(reg.root)
    for action in (lambda: reg.new_version(KEY), reg.index_rows, reg.rebuild_index):
        with pytest.raises(RegistryIndexError, match=r"newer curvelog \(schema 2"):
            action()
    assert tree(reg.root) == snapshot
    assert [r[0] for r in db_rows(pg, schema)] == [1]


def test_a_missing_table_is_refused_and_rebuild_index_repairs_it(
    reg: Registry, pg: Server, schema: str
) -> None:
    for _ in range(3):
        reg.new_version(KEY)
    pg.execute("DROP TABLE model_versions", schema)
    snapshot = tree(reg.root)
    with pytest.raises(RegistryIndexError, match="model_versions is missing; run `curvelog"):
        reg.new_version(KEY)
    with pytest.raises(RegistryIndexError, match="model_versions is missing"):
        reg.index_rows()
    assert tree(reg.root) == snapshot
    report = reg.rebuild_index()
    assert (report.keys, report.versions) == (1, 3)
    assert reg.new_version(KEY).number == 4
    assert_consistent(pg, schema, reg.root)


def test_a_database_indexing_another_registry_is_refused(
    reg: Registry, url: str, tmp_path: Path
) -> None:
    reg.new_version(KEY)
    other = Registry(tmp_path / "other", index=url)
    with pytest.raises(RegistryIndexError, match="holds the index of registry"):
        other.new_version(KEY)
    # refused before anything is made: not even the folder (nor its lock file)
    assert not (tmp_path / "other").exists()


def test_filing_a_bundle_never_takes_over_another_registrys_database(
    reg: Registry, url: str, pg: Server, schema: str, tmp_path: Path
) -> None:
    # compact --registry (file_bundle without version=) once adopted the database of
    # another folder, and its allocation then deleted that registry's rows (QA #1)
    reg.file_bundle(KEY, BUNDLE)
    reg.file_bundle(KEY, {**BUNDLE, "run": {"run_id": "r2"}})
    other = Registry(tmp_path / "other", index=url)
    with pytest.raises(RegistryIndexError, match="holds the index of registry"):
        other.file_bundle(KEY, {**BUNDLE, "run": {"run_id": "r3"}})
    assert not (tmp_path / "other").exists()
    assert [r[0] for r in db_rows(pg, schema)] == [1, 2]
    assert_consistent(pg, schema, reg.root)


def test_rebuild_index_adopts_its_own_index_never_another_registrys(
    reg: Registry, url: str, pg: Server, schema: str, tmp_path: Path
) -> None:
    """The refusal above said "rebuild-index makes the database index this folder", and
    it did: it wiped the other registry's rows, took its id (so both folders passed the
    check and then deleted each other's rows) and copied its counters. rebuild-index
    adopts a database only where every version it lists is a folder here: this
    registry's own index whose index.postgresql was lost."""
    reg.file_bundle(KEY, BUNDLE)
    reg.file_bundle("store/S001_all/kan", BUNDLE)
    Registry(tmp_path / "other").new_version("mlp/x")  # an ordinary SQLite registry
    counters = (tmp_path / "other" / "versions.json").read_bytes()
    other = Registry(tmp_path / "other", index=url)
    with pytest.raises(RegistryIndexError) as info:
        other.rebuild_index()
    assert "2 of the versions it lists (such as" in str(info.value)
    assert "rebuild-index" not in str(info.value)
    assert not (other.root / "index.postgresql").exists()
    assert (other.root / "versions.json").read_bytes() == counters
    assert [r[0] for r in db_rows(pg, schema)] == [1]  # the first registry's rows stay
    assert_consistent(pg, schema, reg.root)
    (reg.root / "index.postgresql").unlink()  # its own marker lost: the repair still works
    assert Registry(reg.root, index=url).rebuild_index().versions == 2
    assert (reg.root / "index.postgresql").exists()
    assert_consistent(pg, schema, reg.root)


def test_rebuild_index_moves_a_sqlite_registry_into_postgresql(
    tmp_path: Path, url: str, pg: Server, schema: str
) -> None:
    root = tmp_path / "saved_models"
    sqlite = Registry(root)
    for _ in range(3):
        sqlite.new_version(KEY)
    sqlite.new_version("store/S001_all/kan")
    sqlite.version(KEY, 3).path.rename(root / "gone")  # deleted v3: its number stays used
    reg = Registry(root, index=url)
    report = reg.rebuild_index()
    assert (report.keys, report.versions) == (2, 3)
    assert [r[0] for r in db_rows(pg, schema)] == [1, 2]
    assert pg.execute("SELECT key, last_version FROM registry_keys ORDER BY key", schema) == [
        (KEY, 3),
        ("store/S001_all/kan", 1),
    ]
    assert reg.new_version(KEY).number == 4
    with pytest.raises(RegistryIndexError, match="index is in PostgreSQL"):
        sqlite.new_version(KEY)


@pytest.mark.parametrize("how", ["rebuild_index", "new_version"])
def test_a_failed_first_write_or_migration_leaves_no_marker_behind(
    tmp_path: Path, pg: Server, how: str
) -> None:
    # QA #6: the marker was written inside the transaction and stayed after its rollback,
    # so the SQLite registry was locked out ("this registry's index is in PostgreSQL")
    root = tmp_path / "saved_models"
    Registry(root).new_version(KEY)
    before = tree(root)
    typo = pg.url("no_such_schema")  # nothing can be created there
    with pytest.raises(RegistryIndexError, match="no schema has been selected"):
        getattr(Registry(root, index=typo), how)(*([KEY] if how == "new_version" else []))
    assert tree(root) == before
    assert Registry(root).new_version(KEY).number == 2
    Registry(root).rebuild_index()


def test_what_sqlite_stores_postgresql_stores_too(
    tmp_path: Path, url: str, pg: Server, schema: str
) -> None:
    # QA #9: a \u0000 in a metric name (the summary) and versions past 2**31 - 1 failed
    # with "unsupported Unicode escape sequence" / "integer out of range"
    root = tmp_path / "saved_models"
    Registry(root).new_version(KEY)
    big = 2**31
    Registry(root).version(KEY, 1).path.rename(root / KEY / f"v{big}")
    meta = root / KEY / f"v{big}" / "metadata.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "version": big}))
    (root / "versions.json").write_text(json.dumps({KEY: big}))
    reg = Registry(root, index=url)
    assert reg.rebuild_index().versions == 1  # the migration
    nul = {**BUNDLE, "summary": {"metrics": {"val\x00loss": {"min": 0.5}}}}
    v = reg.file_bundle(KEY, nul)
    assert v.number == big + 1
    assert db_rows(pg, schema) == [(n, f"{KEY}/v{n}", "product_P001_all") for n in (big, big + 1)]
    (row,) = pg.execute(
        f"SELECT metrics_summary, bundle FROM model_versions WHERE version = {v.number}", schema
    )
    assert row == (None, None)  # NULL, as for a bundle jsonb cannot hold
    assert Registry(root, index=url).version(KEY, v.number).metadata()["summary"] == nul["summary"]
    assert_consistent(pg, schema, root)


def test_tables_of_an_older_curvelog_are_widened_by_rebuild_index(
    reg: Registry, pg: Server, schema: str
) -> None:
    reg.new_version(KEY)
    for table, column in (("registry_keys", "last_version"), ("model_versions", "version")):
        pg.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE integer", schema)
    (reg.root / "versions.json").write_text(json.dumps({KEY: 2**31 - 1}))
    with pytest.raises(RegistryIndexError, match="older curvelog hold versions up to 2147483647"):
        reg.new_version(KEY)
    reg.rebuild_index()
    assert reg.new_version(KEY).number == 2**31 + 1  # the failed one took 2**31
    assert_consistent(pg, schema, reg.root)


def test_the_last_version_number_is_the_last_one_as_with_sqlite(reg: Registry) -> None:
    """Past v(2**63 - 1) the PostgreSQL allocation wrote 2**63 into versions.json (no
    limit check), which then stopped every key's writes, and blamed old integer columns;
    it stops as SQLite does, before anything is written."""
    from curvelog.registry._keys import MAX_VERSION

    reg.new_version(KEY)
    (reg.root / "versions.json").write_text(json.dumps({KEY: MAX_VERSION - 1}))
    assert reg.new_version(KEY).number == MAX_VERSION
    before = (reg.root / "versions.json").read_bytes()
    with pytest.raises(RegistryCorruptError, match=f"no version number left after v{MAX_VERSION}"):
        reg.new_version(KEY)
    assert (reg.root / "versions.json").read_bytes() == before  # still valid
    assert reg.new_version("other/key").number == 1  # the other keys are not blocked


# --------------------------------------------------------------------------- command line


def test_the_cli_reads_and_repairs_a_postgresql_index(
    tmp_path: Path, url: str, pg: Server, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "saved_models"
    reg = Registry(root, index=url)
    reg.new_version(KEY)
    reg.file_bundle(KEY, BUNDLE)
    r = ["--registry", str(root), "--index", url]
    out = invoke("registry", "list", "--json", *r).stdout
    assert [(x["key"], x["versions"]) for x in json.loads(out)] == [(KEY, [1, 2])]
    assert invoke("registry", "latest", KEY, *r).stdout.strip() == str(root / KEY / "v2")
    shown = json.loads(invoke("registry", "show", KEY, "--json", *r).stdout)
    assert shown["version"] == 2 and shown["index"]["metrics_summary"] == {"rows": 5}
    pg.execute("DELETE FROM model_versions", schema)
    assert json.loads(invoke("registry", "list", "--json", *r).stdout) == []  # the index's view
    done = invoke("registry", "rebuild-index", *r).stdout
    assert done.startswith("rebuilt postgresql://") and "1 keys, 2 versions" in done
    monkeypatch.setenv("CURVELOG_REGISTRY_INDEX", url)
    assert "v2" in invoke("registry", "list", "--registry", str(root)).stdout
    result = invoke("registry", "list", "--registry", str(root), "--index", "sqlite", ok=False)
    assert result.exit_code == 0  # SQLite mode reads the folders; writing is what it refuses


def test_list_shows_no_version_whose_folder_was_deleted(reg: Registry, url: str) -> None:
    # QA #4: the PostgreSQL listing printed rows whose folders had been deleted by hand
    import shutil

    for _ in range(3):
        reg.file_bundle(KEY, {**BUNDLE, "run": {"run_id": f"r{_}"}})
    for n in (1, 3):
        shutil.rmtree(reg.version(KEY, n).path)
    r = ["--registry", str(reg.root), "--index", url]
    (listed,) = json.loads(invoke("registry", "list", "--json", *r).stdout)
    assert (listed["versions"], listed["latest"]) == ([2], 2)
    assert listed["path"] == str(reg.root / KEY / "v2")
    assert invoke("registry", "latest", KEY, *r).stdout.strip() == listed["path"]


def test_registry_add_takes_the_index_url(reg: Registry, url: str, tmp_path: Path) -> None:
    # QA #8: its own error said "pass --index", which it did not take
    reg.new_version(KEY)
    model = tmp_path / "model.pth"
    model.write_bytes(b"weights")
    r = ["--registry", str(reg.root)]
    refused = invoke("registry", "add", KEY, str(model), *r, ok=False)
    assert refused.exit_code == 2 and "pass its URL" in refused.stderr
    out = invoke("registry", "add", KEY, str(model), "--version", "1", *r, "--index", url).stdout
    assert out == f"{reg.root / KEY / 'v1'}\n"
    out = invoke("registry", "add", KEY, str(model), *r, "--index", url).stdout
    assert out == f"{reg.root / KEY / 'v2'}\n"
    assert (reg.root / KEY / "v2" / "model.pth").read_bytes() == b"weights"
    assert [r.version for r in reg.index_rows(KEY)] == [1, 2]


def test_compact_files_into_a_postgresql_registry_and_the_readme_queries_read_it(
    tmp_path: Path, url: str, pg: Server, schema: str
) -> None:
    log_path = tmp_path / "run.log"
    with EventLog(log_path) as log:
        for step in range(50):
            log.append(step, **{"train/loss": 1.0 / (step + 1), "val/loss": 1.2 / (step + 1)})
    root = tmp_path / "saved_models"
    before = log_path.read_bytes()
    invoke("compact", str(log_path), "--registry", str(root), "--key", KEY, "--index", url,
           "--no-png")  # fmt: skip
    (bundle,) = pg.execute("SELECT bundle FROM model_versions", schema)
    assert bundle[0] == json.loads((root / KEY / "v1" / "curves.json").read_text())
    assert log_path.read_bytes() == before
    # the README's two queries (section "the index in PostgreSQL")
    (latest,) = pg.execute(
        "SELECT version, model_path, bundle->'charts' AS charts FROM model_versions "
        f"WHERE key = '{KEY}' ORDER BY version DESC LIMIT 1",
        schema,
    )
    assert latest[:2] == (1, f"{KEY}/v1") and latest[2][0]["id"] == "loss"
    best = pg.execute(
        "SELECT key, version, (metrics_summary->'metrics'->'val/loss'->'min'->>'value')::float "
        "AS best FROM model_versions WHERE model_type = 'mlstm' "
        "AND (metrics_summary->'metrics'->'val/loss'->'min'->>'value')::float < 0.1 "
        "ORDER BY best",
        schema,
    )
    assert best == [(KEY, 1, pytest.approx(1.2 / 50))]
    shown = invoke("registry", "show", KEY, "--registry", str(root), "--index", url).stdout
    assert "index:      row 1" in shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [("postgresql://pg:S3c/retPW@127.0.0.1:1/r5", "postgresql://pg:***@127.0.0.1:1/r5"),
     ("postgresql://pg:p@ssPW@h:5432/db?sslmode=require",
      "postgresql://pg:***@h:5432/db?sslmode=require"),
     ("postgresql://h/db?password=S3cretPW&user=u", "postgresql://h/db?password=***&user=u"),
     ("host=h password=S3cretPW user=u", "host=h password=*** user=u"),
     ("postgresql://pg@h/db", "postgresql://pg@h/db")],
)  # fmt: skip
def test_a_password_is_hidden_whatever_it_holds(tmp_path: Path, url: str, shown: str) -> None:
    """A password typed raw with a ``/`` or ``@`` in it (it should be percent-encoded)
    was shown in messages: the user part was taken to end at the first ``/``."""
    from curvelog.registry._pgschema import display_url

    assert display_url(url) == shown
    if url.startswith("postgresql://pg:S3c/"):
        pytest.importorskip("psycopg")
        root = tmp_path / "saved_models"
        root.mkdir()
        with pytest.raises(RegistryIndexError) as info:
            Registry(root, index=url).new_version(KEY)
        assert "retPW" not in str(info.value) and str(info.value).startswith(shown)


# --------------------------------------------------------------------------- add, interrupted


def test_an_add_killed_mid_copy_leaves_no_version_row_or_number(
    reg: Registry, url: str, pg: Server, schema: str, tmp_path: Path
) -> None:
    """Crash QA: v1 was allocated (folder, row) before the copy, so a kill left a version
    without its model that `registry latest` returned."""
    from _addfail import COPIED_BEFORE_THE_KILL, kill_an_add_mid_copy, model_file
    from curvelog.errors import VersionNotFoundError

    model = model_file(tmp_path / "run" / "model.pth", 3 * COPIED_BEFORE_THE_KILL, seed=3)
    kill_an_add_mid_copy(reg, url, KEY, model)
    assert reg.versions(KEY) == [] and db_rows(pg, schema) == []
    with pytest.raises(VersionNotFoundError):
        reg.latest(KEY)
    assert len(list((reg.root / ".incoming").iterdir())) == 1
    r = ["--registry", str(reg.root), "--index", url]
    assert invoke("registry", "add", KEY, str(model), *r).stdout == f"{reg.root / KEY / 'v1'}\n"
    assert (reg.latest(KEY).path / "model.pth").read_bytes() == model.read_bytes()
    assert not any((reg.root / ".incoming").iterdir())  # the killed add's copy is gone
    assert_consistent(pg, schema, reg.root)
    kill_an_add_mid_copy(reg, url, KEY, model)
    (left,) = (reg.root / ".incoming").iterdir()
    out = invoke("registry", "rebuild-index", *r).stdout
    assert f"removed {left} (1.0 MB), left by an interrupted add\n" in out
    assert [v.number for v in reg.versions(KEY)] == [1]
    assert_consistent(pg, schema, reg.root)


def test_an_add_failing_on_a_later_file_files_nothing(
    reg: Registry,
    url: str,
    pg: Server,
    schema: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full disk on the second file: no new version (no folder, no row), and an add into
    an existing version takes back the first file."""
    from _addfail import disk_full_on, visible_files

    first, second = tmp_path / "model.pth", tmp_path / "checkpoint_best.pth"
    first.write_bytes(b"m" * 3000)
    second.write_bytes(b"b" * 3000)
    r = ["--registry", str(reg.root), "--index", url]
    invoke("registry", "add", KEY, str(first), *r)
    disk_full_on(monkeypatch, second)
    failed = invoke("registry", "add", KEY, str(first), str(second), *r, ok=False)
    assert failed.exit_code == 2 and "No space left on device" in failed.stderr
    assert [v.number for v in reg.versions(KEY)] == [1]
    assert [row[0] for row in db_rows(pg, schema)] == [1]
    assert not any((reg.root / ".incoming").iterdir())
    assert_consistent(pg, schema, reg.root)
    epoch = tmp_path / "checkpoint_epoch_5.pth"
    epoch.write_bytes(b"e" * 3000)
    failed = invoke("registry", "add", KEY, str(epoch), str(second), "--version", "1", *r, ok=False)
    assert failed.exit_code == 2 and "No space left on device" in failed.stderr
    assert visible_files(reg.root / KEY / "v1") == ["metadata.json", "model.pth"]
    monkeypatch.undo()
    out = invoke("registry", "add", KEY, str(first), str(second), *r).stdout
    assert out == f"{reg.root / KEY / 'v2'}\n"
    assert_consistent(pg, schema, reg.root)
