"""System metrics beside the training curves: `EventLog(system=...)` on a CPU training loop.

A small numpy MLP learns a noisy sine by mini-batch SGD. Every tenth step
it also keeps its batch activations in a list (a deliberate, bounded "leak"
that is released half way through), so the process memory chart has
something to show; in the middle third each step also waits 2 ms (as for a
slow data loader), which the CPU chart shows as a dip. The log gets
``train/loss`` and ``val/loss``, and the background thread samples
``sys/rss_mb``, ``sys/peak_rss_mb``, ``sys/cpu_percent`` and
``sys/host_mem_percent`` (and GPU memory, had torch initialised CUDA) every
``--interval`` seconds.

    python samples/train_system.py runs/system.log [--steps 3000] [--interval 0.05]

Then:

    curvelog plot runs/system.log -o runs/system.png
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from curvelog import EventLog


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", help="the log to write (appended to if it exists)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--interval", type=float, default=0.05, help="seconds between samples")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if os.path.dirname(args.log):
        os.makedirs(os.path.dirname(args.log), exist_ok=True)

    rng = np.random.default_rng(args.seed)
    x = rng.uniform(-3, 3, (4096, 1))
    y = np.sin(x) + rng.normal(0, 0.1, x.shape)
    xv = np.linspace(-3, 3, 512)[:, None]
    yv = np.sin(xv)
    w1, b1 = rng.normal(0, 1.0, (1, 64)), np.zeros(64)
    w2, b2 = rng.normal(0, 0.1, (64, 1)), np.zeros(1)
    kept: list[np.ndarray] = []  # the bounded "leak" the memory chart shows
    lr = 0.05

    with EventLog(args.log, best="val/loss", system=args.interval, flush_every=0.2) as log:
        for step in range(args.steps):
            i = rng.integers(0, len(x), 128)
            h = np.tanh(x[i] @ w1 + b1)
            err = h @ w2 + b2 - y[i]
            gh = (err @ w2.T) * (1 - h * h)
            w2 -= lr * h.T @ err / len(i)
            b2 -= lr * err.mean(0)
            w1 -= lr * x[i].T @ gh / len(i)
            b1 -= lr * gh.mean(0)
            log.append(step, {"train/loss": float((err**2).mean())})
            if step % 10 == 0 and step < args.steps // 2:
                kept.append(np.repeat(h, 8, axis=0))  # 0.5 MiB every 10 steps
            if step == args.steps // 2:
                kept.clear()
            if args.steps // 3 <= step < 2 * args.steps // 3:
                time.sleep(0.002)  # waiting, not computing: the CPU chart dips
            if step % 100 == 0 or step == args.steps - 1:
                pv = np.tanh(xv @ w1 + b1) @ w2 + b2
                log.append(step, {"val/loss": float(((pv - yv) ** 2).mean())})
    print(f"{args.log}: {args.steps} steps with system metrics", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
