"""Cost of recording one training step: curvelog's EventLog.append against its peers.

Every contender records the same N steps of 4 float metrics, in the same
process and run, so the ratios hold even on a noisy machine. Reported per
step: wall time (including every flush and the final close) and bytes on
disk. Peers that are not installed are skipped with a note.

    python tools/bench_append.py [--steps 1000000] [--tb-steps 20000] [--type-steps 200000]

A second table compares what one append of 4 metrics costs above its floor
when the values are Python floats, numpy float64/float32 scalars, Python
ints or 0-d CPU torch tensors (with and without requires_grad), same run;
the ratio to Python floats is the figure issue #12 sets at <= 1.5.

Not a test: it prints a baseline, it gates nothing.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable

import msgpack

from curvelog import EventLog

NAMES = ("train/loss", "train/acc", "lr", "grad_norm")


def metrics(i: int) -> dict[str, float]:
    """The 4 float metrics of step i: the floor every contender pays."""
    x = float(i)
    return {"train/loss": 1.0 / (x + 1.0), "train/acc": x * 1e-7, "lr": 3e-4, "grad_norm": x * 0.5}


def du(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def run_floor(folder: str, n: int) -> str:
    sink = None
    for i in range(n):
        sink = metrics(i)
    del sink
    return folder


def run_curvelog(folder: str, n: int) -> str:
    path = os.path.join(folder, "run.log")
    with EventLog(path) as log:
        append = log.append
        for i in range(n):
            append(i, metrics(i))
    return path


def run_curvelog_system(folder: str, n: int) -> str:
    """The same, with sys/* metrics sampled every 0.1 s by the flush thread (#15)."""
    path = os.path.join(folder, "run.log")
    with EventLog(path, system=0.1) as log:
        append = log.append
        for i in range(n):
            append(i, metrics(i))
    return path


def run_msgpack_naive(folder: str, n: int) -> str:
    path = os.path.join(folder, "naive.mpk")
    with open(path, "ab") as f:
        packb, write, now = msgpack.packb, f.write, time.time
        for i in range(n):
            write(packb({"step": i, "time": now(), **metrics(i)}))
    return path


def _run_summary_writer(module: str, folder: str, n: int) -> str:
    """4 x add_scalar per step, as a TensorBoard user writes it."""
    import importlib

    writer = importlib.import_module(module).SummaryWriter(folder)
    for i in range(n):
        for k, v in metrics(i).items():
            writer.add_scalar(k, v, i)
    writer.close()
    return folder


def run_torch_tb(folder: str, n: int) -> str:
    return _run_summary_writer("torch.utils.tensorboard", folder, n)


def run_tensorboardx(folder: str, n: int) -> str:
    return _run_summary_writer("tensorboardX", folder, n)


#: the value kinds of the type table: name -> a pool of 4,096 values (built lazily)
KINDS = ("python float", "numpy float64", "numpy float32", "python int",
         "0-d CPU tensor", "0-d CPU tensor, requires_grad",
         "loss a 0-d CPU tensor, 3 floats")  # fmt: skip


def value_pool(kind: str) -> list[tuple[object, ...]]:
    """4,096 rows of 4 values of ``kind`` (cycled, so the floor pays the same lookup)."""
    if kind.startswith("loss a "):
        losses = value_pool(kind[len("loss a ") : kind.index(",")])
        return [(t[0], 1e-3, 0.5, 2.0) for t in losses]
    return [(v, v, v, v) for v in _values_of(kind)]


def _values_of(kind: str) -> list[object]:
    import numpy as np

    xs = [1.0 / (i + 1.0) for i in range(4096)]
    if kind == "python float":
        return list(xs)
    if kind == "numpy float64":
        return [np.float64(x) for x in xs]
    if kind == "numpy float32":
        return [np.float32(x) for x in xs]
    if kind == "python int":
        return list(range(4096))
    import torch

    if kind == "0-d CPU tensor":
        return [torch.tensor(x) for x in xs]
    w = torch.tensor(1.0, requires_grad=True)
    return [torch.tensor(x) * w for x in xs]  # as a loss is: part of a graph


def typed(pool: list[tuple[object, ...]], log: bool) -> Callable[[str, int], str]:
    """A contender appending rows of 4 metrics drawn from ``pool`` (or only building them)."""

    def run(folder: str, n: int) -> str:
        mask = len(pool) - 1
        if not log:
            sink = None
            for i in range(n):
                a, b, c, d = pool[i & mask]
                sink = {"train/loss": a, "train/acc": b, "lr": c, "grad_norm": d}
            del sink
            return folder
        path = os.path.join(folder, "run.log")
        with EventLog(path) as lg:
            append = lg.append
            for i in range(n):
                a, b, c, d = pool[i & mask]
                append(i, {"train/loss": a, "train/acc": b, "lr": c, "grad_norm": d})
        return path

    return run


def type_table(n: int, repeats: int) -> None:
    """Per-append cost above the floor for each value kind, and its ratio to Python floats.

    The kinds take turns within each of ``repeats`` rounds (best of the rounds),
    so a burst of load on a shared machine hits them alike.
    """
    pools = {}
    for kind in KINDS:
        try:
            pools[kind] = value_pool(kind)
        except ImportError as e:
            print(f"note: {kind} skipped: {e}")
    best: dict[str, list[float]] = {k: [math.inf, math.inf, 0.0] for k in pools}
    for _ in range(repeats):
        for kind, pool in pools.items():
            floor, _ = measure(typed(pool, False), n, 1)
            ns, bps = measure(typed(pool, True), n, 1)
            b = best[kind]
            b[0], b[1], b[2] = min(b[0], floor), min(b[1], ns), bps
    rows = [(kind, ns, ns - floor, bps) for kind, (floor, ns, bps) in best.items()]
    base = rows[0][2]
    print()
    print(f"append of 4 metrics by value kind ({n:,} steps, best of {repeats} interleaved rounds)")
    print()
    print("| values | ns/step | ns/step above floor | bytes/step | x Python float (above floor) |")
    print("|---|---:|---:|---:|---:|")
    for kind, ns, above, bps in rows:
        print(f"| {kind} | {ns:,.0f} | {above:,.0f} | {bps:,.1f} | {above / base:,.2f} |")


def slow_steps(n: int, seconds_per_step: float, flush_every: float, chunks: bool = False) -> float:
    """Bytes/step when steps are slower than the flush interval (issue #12), on a fake clock.

    Nothing sleeps: the background flush is off and the timed flush is called
    by hand each time the fake clock passes a flush deadline, exactly as the
    flush thread would call it (a step every ``seconds_per_step`` seconds).
    ``chunks``: every flush writes a data chunk, as before row frames (the peer).
    """
    from curvelog.log import _writer

    small = getattr(_writer, "SMALL", None)
    if chunks and small is not None:
        _writer.SMALL = 0  # type: ignore[attr-defined]
    folder = tempfile.mkdtemp(prefix="curvelog-bench-")
    try:
        path = os.path.join(folder, "run.log")
        with EventLog(path, flush_every=0) as log:
            header = os.path.getsize(path)
            clock, next_flush = 0.0, flush_every
            for i in range(n):
                log.append(i, metrics(i))
                clock += seconds_per_step
                while clock >= next_flush:
                    log.flush()
                    next_flush += flush_every
            log.flush()
            return (os.path.getsize(path) - header) / n
    finally:
        if small is not None:
            _writer.SMALL = small  # type: ignore[attr-defined]
        shutil.rmtree(folder, ignore_errors=True)


def measure(fn: Callable[[str, int], str], n: int, repeats: int) -> tuple[float, float]:
    """Best-of-`repeats` ns/step and bytes/step."""
    best, size = math.inf, 0
    for _ in range(repeats):
        folder = tempfile.mkdtemp(prefix="curvelog-bench-")
        try:
            t0 = time.perf_counter()
            out = fn(folder, n)
            dt = time.perf_counter() - t0
            best = min(best, dt)
            size = du(out) if out != folder or fn is not run_floor else 0
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return best / n * 1e9, size / n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--steps", type=int, default=1_000_000, help="steps for fast contenders")
    ap.add_argument("--tb-steps", type=int, default=20_000, help="steps for TensorBoard writers")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--type-steps", type=int, default=200_000, help="steps per value kind")
    args = ap.parse_args(argv)

    contenders: list[tuple[str, Callable[[str, int], str], int]] = [
        ("floor: loop building the 4 metrics", run_floor, args.steps),
        ("curvelog EventLog.append", run_curvelog, args.steps),
        ("curvelog EventLog.append, system=0.1", run_curvelog_system, args.steps),
        ("naive msgpack.packb + write per step", run_msgpack_naive, args.steps),
    ]
    notes = []
    try:
        import torch.utils.tensorboard  # noqa: F401

        contenders.append(("torch.utils.tensorboard 4x add_scalar", run_torch_tb, args.tb_steps))
    except Exception as e:  # any import failure means: not available here
        notes.append(f"torch.utils.tensorboard skipped: {type(e).__name__}: {e}")
    try:
        import tensorboardX  # noqa: F401

        contenders.append(("tensorboardX 4x add_scalar", run_tensorboardx, args.tb_steps))
    except Exception as e:
        notes.append(f"tensorboardX skipped: {type(e).__name__}: {e}")

    results = {}
    for label, fn, n in contenders:
        results[label] = (*measure(fn, n, args.repeats), n)
    floor = results[contenders[0][0]][0]
    ours = results["curvelog EventLog.append"]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; best of {args.repeats}")
    print()
    print("| contender | steps | ns/step | ns/step above floor | bytes/step | x curvelog time |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, (ns, bps, n) in results.items():
        ratio = ns / ours[0]
        print(f"| {label} | {n:,} | {ns:,.0f} | {ns - floor:,.0f} | {bps:,.1f} | {ratio:,.2f} |")
    for note in notes:
        print(f"\nnote: {note}")
    tb = results.get("torch.utils.tensorboard 4x add_scalar")
    if tb is not None:
        print(f"\ncurvelog above floor: {ours[0] - floor:,.0f} ns/step; "
              f"torch.utils.tensorboard / curvelog: {tb[0] / ours[0]:,.0f}x")  # fmt: skip
    if args.type_steps:
        type_table(args.type_steps, args.repeats)
    print()
    print("slow steps (fake clock, flush every 1 s, 4 metrics, 600 steps): bytes/step on disk")
    print()
    print("| seconds per step | bytes/step | a chunk per flush (before #12) | ratio |")
    print("|---:|---:|---:|---:|")
    for sps in (0.001, 0.1, 0.5, 2.0):
        now, before = slow_steps(600, sps, 1.0), slow_steps(600, sps, 1.0, chunks=True)
        print(f"| {sps:g} | {now:,.1f} | {before:,.1f} | {now / before:,.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
