"""A cached 10M-step, 4-metric log for the read and compact benchmarks.

Written once with EventLog itself (about 15 s) and reused from `.bench/`.
The curves are shaped like training curves (decay, noise, a spike, a NaN,
a stepped learning rate) so that compaction has real work to do.
"""

from __future__ import annotations

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, "..", ".bench")


def curves(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.arange(n, dtype=np.float64)
    loss = 2.5 * np.exp(-x / (n / 8)) + 0.5 + 0.05 * rng.standard_normal(n)
    loss[n // 3] = 9.0  # a spike
    loss[n // 2 + 7] = np.nan  # a NaN
    acc = 1.0 - loss / 3.0 + 0.01 * rng.standard_normal(n)
    lr = np.where(x < n / 2, 3e-4, np.where(x < 3 * n / 4, 3e-5, 3e-6))
    grad = np.abs(1.0 + 0.3 * rng.standard_normal(n)) * (1.0 + (x < n / 100) * 5.0)
    return {"train/loss": loss, "train/acc": acc, "lr": lr, "grad_norm": grad}


def big_log(n: int = 10_000_000, folder: str = CACHE) -> str:
    """Path of the cached log with n steps, writing it first if needed."""
    from curvelog import EventLog

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"big-{n}.log")
    if os.path.exists(path):
        return path
    cols = curves(n)
    names = list(cols)
    rows = np.column_stack([cols[k] for k in names]).tolist()
    tmp = path + ".part"
    if os.path.exists(tmp):
        os.remove(tmp)
    print(f"writing {path} ({n:,} steps, once)...", file=sys.stderr)
    with EventLog(tmp, best="train/loss", mode="min") as log:
        append = log.append
        for i, r in enumerate(rows):
            append(i, dict(zip(names, r, strict=True)))
    os.replace(tmp, path)
    return path


def big_parquet(n: int = 10_000_000, folder: str = CACHE) -> str:
    """The same curves as `big_log` as one wide Parquet file (``step`` + one column per
    metric, polars' defaults), the peer that reading and compaction are measured against."""
    import polars as pl

    path = os.path.join(folder, f"big-{n}.parquet")
    if os.path.exists(path):
        return path
    os.makedirs(folder, exist_ok=True)
    frame = pl.DataFrame({"step": np.arange(n, dtype=np.int64), **curves(n)})
    tmp = path + ".part"
    frame.write_parquet(tmp)
    os.replace(tmp, path)
    return path


def long_log(n: int = 100_000_000, folder: str = CACHE) -> str:
    """A one-metric log of n steps (a long pre-training loss), written as columns.

    Written through the writer's columnar replay (what the importers use), in
    slices of 10M rows, so building a 2.4 GB log takes seconds, not minutes.
    """
    from curvelog import EventLog

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"long-{n}.log")
    if os.path.exists(path):
        return path
    tmp = path + ".part"
    if os.path.exists(tmp):
        os.remove(tmp)
    print(f"writing {path} ({n:,} steps, once)...", file=sys.stderr)
    rng = np.random.default_rng(1)
    per = 10_000_000
    with EventLog(tmp, best="train/loss", mode="min") as log:
        for a in range(0, n, per):
            b = min(a + per, n)
            x = np.arange(a, b, dtype=np.int64)
            loss = 2.5 * np.exp(-x / (n / 8)) + 0.5 + 0.05 * rng.standard_normal(b - a)
            rows = np.arange(b - a, dtype=np.int64)
            times = 1.7e9 + x.astype(np.float64) * 0.01
            log._replay_columns(x, times, {"train/loss": (rows, loss)})
    os.replace(tmp, path)
    return path


def write_in_child(calls: str) -> None:
    """Run ``calls`` (e.g. ``"big_log(10_000_000); big_parquet(10_000_000)"``) in a
    child process, so that writing the cached inputs (gigabytes of rows) does not
    raise this process's peak memory: a contender started from here inherits the
    parent's peak RSS across fork and exec, and ``os.wait4`` would report it."""
    import subprocess

    code = f"from _biglog import big_log, big_parquet, long_log; {calls}"
    subprocess.run([sys.executable, "-c", code], cwd=HERE, check=True)
