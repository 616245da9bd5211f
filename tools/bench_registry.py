"""Registry allocation throughput: versions per second with 1 and with 8 processes.

A baseline, not a gate. Each process allocates versions of one key as fast as
it can (the worst case: every allocation contends for the same lock) and
claims each folder with an O_EXCL file, so a duplicated version would show.
Measured in the same run: the SQLite index under the flock, the PostgreSQL
index with the file lock off (the database decides, #16; a throwaway server
from tests/_pgserver.py, or ``--pg-url``), and the user's original scheme from
``seeds/registry-rules.md``: read versions.json, add one, ``makedirs``, write
versions.json back, with no lock, no fsync and no index. It is faster and,
with several processes, hands the same version to more than one run.

Usage::

    .venv/bin/python tools/bench_registry.py [--allocations 800] [--procs 1,8] [--no-pg]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curvelog.registry import Registry

KEY = "product/P001_all/mlstm"
CTX = multiprocessing.get_context("fork")


def _claim(folder: Path) -> bool:
    try:
        os.close(os.open(folder / "claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def curvelog_worker(root: str, count: int, go: object, dups: object) -> None:
    reg = Registry(root, index=os.environ.get("BENCH_PG_URL", "sqlite"), lock_timeout=120)
    go.wait()  # type: ignore[attr-defined]
    for _ in range(count):
        if not _claim(reg.new_version(KEY).path):
            with dups.get_lock():  # type: ignore[attr-defined]
                dups.value += 1  # type: ignore[attr-defined]


def seed_worker(root: str, count: int, go: object, dups: object) -> None:
    """The seed's scheme: versions.json read-modify-write, no lock."""
    versions = Path(root) / "versions.json"
    flat_key = KEY.replace("/", "_")
    go.wait()  # type: ignore[attr-defined]
    for _ in range(count):
        try:
            data = json.loads(versions.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            data = {}  # a half-written file reads as empty: the seed silently starts over
        n = data.get(flat_key, 0) + 1
        folder = Path(root, KEY, f"v{n}")
        folder.mkdir(parents=True, exist_ok=True)
        data[flat_key] = n
        versions.write_text(json.dumps(data))
        if not _claim(folder):
            with dups.get_lock():  # type: ignore[attr-defined]
                dups.value += 1  # type: ignore[attr-defined]


def _pg_server() -> object:
    """A throwaway PostgreSQL server (tests/_pgserver.py)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "_pgserver.py"
    spec = importlib.util.spec_from_file_location("_pgserver", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if mod.bindir() is None:
        raise SystemExit("no PostgreSQL server binaries (apt-get install postgresql); --no-pg")
    return mod.Server(mod.bindir(), fsync=True)


def measure(
    worker: Callable[..., None], procs: int, total: int, pg_url: str | None = None
) -> tuple[float, int, int]:
    """(allocations per second, duplicated allocations, version folders made).

    With ``pg_url``, curvelog_worker uses that PostgreSQL index (no file lock).
    """
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        root = Path(tmp) / "saved_models"
        root.mkdir()
        os.environ["BENCH_PG_URL"] = pg_url or "sqlite"
        if pg_url:
            Registry(root, index=pg_url).new_version("warm/up")  # the tables, made once
        go, dups = CTX.Event(), CTX.Value("i", 0)
        per = total // procs
        ps = [CTX.Process(target=worker, args=(str(root), per, go, dups)) for _ in range(procs)]
        for p in ps:
            p.start()
        time.sleep(0.2)  # let every process reach the start line
        t0 = time.perf_counter()
        go.set()
        for p in ps:
            p.join()
        elapsed = time.perf_counter() - t0
        if any(p.exitcode for p in ps):
            raise SystemExit(f"{worker.__name__}: a worker failed")
        folders = len(list((root / KEY).glob("v*")))
        return per * procs / elapsed, dups.value, folders


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--allocations", type=int, default=800, help="per measurement")
    ap.add_argument("--procs", default="1,8", help="comma-separated process counts")
    ap.add_argument("--repeat", type=int, default=3, help="best of N")
    ap.add_argument("--no-pg", action="store_true", help="leave out the PostgreSQL index")
    ap.add_argument("--pg-url", help="a PostgreSQL database to use (default: a throwaway server)")
    args = ap.parse_args()
    server: Any = None
    pg_urls: list[str] = []
    if not args.no_pg:
        if args.pg_url:
            pg_urls = [args.pg_url]
        else:
            server = _pg_server()
    print(
        f"registry allocations, one key, {args.allocations} per run, best of {args.repeat}; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"{'procs':>5}  {'sqlite alloc/s':>14}  {'postgres alloc/s':>16}  {'seed alloc/s':>12}  "
          f"{'pg/sqlite':>9}  {'sqlite/seed':>11}  seed dups")  # fmt: skip
    try:
        for procs in (int(p) for p in args.procs.split(",")):
            runs = args.allocations // procs * procs
            ours = max(
                measure(curvelog_worker, procs, args.allocations) for _ in range(args.repeat)
            )
            assert ours[1] == 0 and ours[2] == runs, ours
            pg: tuple[float, int, int] | None = None
            if server is not None or pg_urls:
                tries = []
                for _ in range(args.repeat):
                    url = pg_urls[0] if pg_urls else server.url(server.new_schema())
                    tries.append(measure(curvelog_worker, procs, args.allocations, url))
                pg = max(tries)
                assert pg[1] == 0 and pg[2] == runs, pg
            seed = max(measure(seed_worker, procs, args.allocations) for _ in range(args.repeat))
            pg_rate = f"{pg[0]:>16.0f}" if pg else f"{'-':>16}"
            pg_ratio = f"{pg[0] / ours[0]:>9.2f}" if pg else f"{'-':>9}"
            print(
                f"{procs:>5}  {ours[0]:>14.0f}  {pg_rate}  {seed[0]:>12.0f}  {pg_ratio}  "
                f"{ours[0] / seed[0]:>11.2f}  "
                f"{seed[1]} duplicated, {seed[2]} folders for {args.allocations} runs"
            )
    finally:
        if server is not None:
            server.destroy()
    print(
        "sqlite: every allocation fsyncs its folder, versions.json and the SQLite index under "
        "an flock;\npostgres: the same files, no flock, the key's row locked in one transaction "
        "(a local\nserver on a unix socket, fsync on: each commit is flushed to disk);\n"
        "the seed's scheme has no lock and no fsync, and loses versions with more than one "
        "process."
    )


if __name__ == "__main__":
    main()
