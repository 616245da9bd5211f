"""Importing a TensorBoard event file: curvelog's reader next to TensorBoard's EventAccumulator.

    python tools/bench_import.py [--points 200000] [--repeats 3]

An event file of --points scalars (4 tags, ``add_scalar`` of
``torch.utils.tensorboard``, plus a 1-in-10 double-precision scalars-plugin
tensor tag) is written once into `.bench/`. Timed on that same file, best of
--repeats:

* ``EventAccumulator`` (``tensorboard.backend.event_processing``) keeping
  every point (``size_guidance`` 0 for scalars and tensors), then every
  scalar's value read out (``Scalars`` and ``make_ndarray`` of ``Tensors``);
* ``curvelog.convert.tensorboard.read_event_file`` (framing, both checksums of every
  record, decoding) with the C CRC-32C (``google-crc32c``) and with the numpy
  fallback;
* the whole ``import_tensorboard`` (read + write the log).

The ratios are printed from this run. Needs the ``[bench]`` extra and torch.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(os.path.dirname(HERE), ".bench")


def _write(points: int, folder: str) -> str:
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    rng = np.random.default_rng(0)
    tags = ["train/loss", "train/lr", "train/grad_norm", "train/acc"]
    w = SummaryWriter(folder, max_queue=10_000, flush_secs=3600)
    written = 0
    step = 0
    while written < points:
        for t in tags:
            w.add_scalar(t, float(rng.standard_normal()), step)
        written += len(tags)
        if step % 10 == 0:
            w.add_scalar("val/loss", float(rng.standard_normal()), step,
                          new_style=True, double_precision=True)  # fmt: skip
            written += 1
        step += 1
    w.close()
    (name,) = [n for n in os.listdir(folder) if "tfevents" in n]
    return os.path.join(folder, name)


def _bench_file(points: int) -> str:
    folder = os.path.join(BENCH, f"tb_{points}")
    if not os.path.isdir(folder):
        tmp = folder + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        _write(points, tmp)
        os.replace(tmp, folder)
    (name,) = [n for n in os.listdir(folder) if "tfevents" in n]
    return os.path.join(folder, name)


def _accumulator(path: str) -> int:
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.util import tensor_util

    acc = ea.EventAccumulator(path, size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    n = 0
    tags: dict[str, Any] = acc.Tags()
    for tag in tags["scalars"]:
        n += len([e.value for e in acc.Scalars(tag)])
    for tag in tags["tensors"]:
        n += len([float(tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)])
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    from curvelog.convert import _crc32c
    from curvelog.convert.tensorboard import import_tensorboard, read_event_file

    path = _bench_file(args.points)
    size = os.path.getsize(path)

    def read_numpy() -> int:
        real = _crc32c._c
        _crc32c._c = lambda: None  # type: ignore[assignment]
        try:
            return read_event_file(path).points
        finally:
            _crc32c._c = real  # type: ignore[assignment]

    def full_import() -> int:
        with tempfile.TemporaryDirectory(dir=BENCH) as d:
            (r,) = import_tensorboard(path, os.path.join(d, "run.log"))
            return r.points

    contenders = {
        "EventAccumulator (size_guidance 0)": _accumulator,
        f"curvelog read_event_file ({_crc32c.backend()})": lambda p: read_event_file(p).points,
        "curvelog read_event_file (numpy CRC)": lambda p: read_numpy(),
        "curvelog import_tensorboard (read + log)": lambda p: full_import(),
    }
    best: dict[str, float] = {}
    counts: dict[str, int] = {}
    for _ in range(args.repeats):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            counts[name] = fn(path)
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - t0)
    if len(set(counts.values())) != 1:
        print(f"point counts differ: {counts}", file=sys.stderr)
        return 1
    base = best["EventAccumulator (size_guidance 0)"]
    print(f"{args.points:,} scalars, {size / 1e6:.1f} MB event file; best of {args.repeats}")
    for name, t in best.items():
        print(f"  {name:<42} {t:7.3f} s   {base / t:5.1f}x faster than EventAccumulator")
    return 0


if __name__ == "__main__":
    sys.exit(main())
