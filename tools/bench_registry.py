"""Registry allocation throughput: versions per second with 1 and with 8 processes.

A baseline, not a gate. Each process allocates versions of one key as fast as
it can (the worst case: every allocation contends for the same lock) and
claims each folder with an O_EXCL file, so a duplicated version would show.
The peer, measured in the same run, is the user's original scheme from
``seeds/registry-rules.md``: read versions.json, add one, ``makedirs``, write
versions.json back, with no lock, no fsync and no index. It is faster and,
with several processes, hands the same version to more than one run.

Usage::

    .venv/bin/python tools/bench_registry.py [--allocations 800] [--procs 1,8]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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
    reg = Registry(root)
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


def measure(worker: Callable[..., None], procs: int, total: int) -> tuple[float, int, int]:
    """(allocations per second, duplicated allocations, version folders made)."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        root = Path(tmp) / "saved_models"
        root.mkdir()
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
    args = ap.parse_args()
    print(
        f"registry allocations, one key, {args.allocations} per run, best of {args.repeat}; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"{'procs':>5}  {'curvelog alloc/s':>16}  {'seed alloc/s':>12}  {'ratio':>6}  seed dups")
    for procs in (int(p) for p in args.procs.split(",")):
        ours = max(measure(curvelog_worker, procs, args.allocations) for _ in range(args.repeat))
        seed = max(measure(seed_worker, procs, args.allocations) for _ in range(args.repeat))
        assert ours[1] == 0 and ours[2] == args.allocations // procs * procs, ours
        print(
            f"{procs:>5}  {ours[0]:>16.0f}  {seed[0]:>12.0f}  {ours[0] / seed[0]:>6.2f}  "
            f"{seed[1]} duplicated, {seed[2]} folders for {args.allocations} runs"
        )
    print(
        "curvelog: every allocation fsyncs its folder, versions.json and the SQLite index "
        "under an flock;\nthe seed's scheme has no lock and no fsync, and loses versions "
        "with more than one process."
    )


if __name__ == "__main__":
    main()
