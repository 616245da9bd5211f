"""Cost of recording one training step: curvelog's EventLog.append against its peers.

Every contender records the same N steps of 4 float metrics, in the same
process and run, so the ratios hold even on a noisy machine. Reported per
step: wall time (including every flush and the final close) and bytes on
disk. Peers that are not installed are skipped with a note.

    python tools/bench_append.py [--steps 1000000] [--tb-steps 20000]

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
