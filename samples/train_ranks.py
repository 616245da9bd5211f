"""Every rank's curve of a data-parallel run: `EventLog(all_ranks=True)` in real processes.

Without torch: each rank is a process started with ``RANK`` and
``WORLD_SIZE`` set, as torchrun starts them. Every rank fits the same numpy
linear model on its own shard of a synthetic regression problem, and the
ranks average their gradients through a shared array (the all-reduce of
data-parallel training), so their weights stay equal while their losses,
measured on their own shards, differ. Rank 2's shard holds outliers: its
line stands apart, which a mean with a band would hide. Rank 0 also
evaluates on held-out data.

    python samples/train_ranks.py runs/ddp/run.log [--ranks 4] [--steps 400]

Then (rank 0's log, the folder or all files):

    curvelog plot runs/ddp/ -o runs/ddp.png
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
from typing import Any

import numpy as np

from curvelog import EventLog

DIM = 16


def rank_main(path: str, rank: int, world: int, steps: int, grads: Any, barrier: Any) -> None:
    os.environ["RANK"], os.environ["WORLD_SIZE"] = str(rank), str(world)
    truth = np.random.default_rng(0).normal(size=DIM)
    rng = np.random.default_rng(1 + rank)
    x = rng.normal(size=(2048, DIM))
    y = x @ truth + rng.normal(0, 0.1, len(x))
    if rank == 2:
        y[::50] += rng.normal(0, 5.0, len(y[::50]))  # this shard holds outliers
    xv = np.random.default_rng(99).normal(size=(512, DIM))
    yv = xv @ truth
    w = np.zeros(DIM)
    shared = np.frombuffer(grads.get_obj(), dtype=np.float64).reshape(world, DIM)
    with EventLog(path, all_ranks=True, best="val/loss") as log:
        for step in range(steps):
            i = rng.integers(0, len(x), 64)
            err = x[i] @ w - y[i]
            shared[rank] = x[i].T @ err / len(i)
            barrier.wait()  # all-reduce: every rank takes the mean gradient
            w -= 0.05 * shared.mean(axis=0)
            barrier.wait()
            log.append(step, {"train/loss": float((err**2).mean())})
            if rank == 0 and step % 20 == 0:
                log.append(step, {"val/loss": float(((xv @ w - yv) ** 2).mean())})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", help="rank 0's log; rank r writes <stem>.rank<r>.log beside it")
    ap.add_argument("--ranks", type=int, default=4)
    ap.add_argument("--steps", type=int, default=400)
    args = ap.parse_args(argv)
    if os.path.dirname(args.log):
        os.makedirs(os.path.dirname(args.log), exist_ok=True)
    ctx = mp.get_context("spawn")
    grads = ctx.Array("d", args.ranks * DIM)
    barrier = ctx.Barrier(args.ranks)
    procs = [
        ctx.Process(target=rank_main, args=(args.log, r, args.ranks, args.steps, grads, barrier))
        for r in range(args.ranks)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    failed = [r for r, p in enumerate(procs) if p.exitcode != 0]
    if failed:
        print(f"ranks {failed} failed", file=sys.stderr)
        return 1
    print(f"{args.log}: {args.ranks} ranks, {args.steps} steps", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
