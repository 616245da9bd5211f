"""Steps/s of a small GPU training loop: no logging, curvelog, ``.item()`` per step, TensorBoard.

The loop is an MLP on random data, small enough that the GPU queue, not the
arithmetic, sets the pace, so a device sync per step shows. Every variant
logs the loss and the learning rate at every step, in the same run; ratios
are against no logging. Needs CUDA; without it the script says so and exits 0.

    python tools/bench_gpu.py [--steps 3000] [--repeats 3]

Not a test: it prints a baseline, it gates nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from curvelog import EventLog


def loop(torch: Any, steps: int, log_step: Callable[[int, Any, float], None]) -> float:
    """Seconds for ``steps`` training steps (after a warm-up), ending in a device sync."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10)
    ).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(64, 256, device="cuda")
    y = torch.randint(0, 10, (64,), device="cuda")
    for _ in range(50):  # warm-up: kernels, allocator
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        log_step(i, loss, 1e-3)
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("torch is not installed: nothing to measure")
        return 0
    if not torch.cuda.is_available():
        print("no CUDA device here: nothing to measure (the GPU loop needs one)")
        return 0

    def none(folder: str) -> tuple[Callable[[int, Any, float], None], Callable[[], None]]:
        return (lambda i, loss, lr: None), (lambda: None)

    def curvelog_(folder: str) -> tuple[Callable[[int, Any, float], None], Callable[[], None]]:
        log = EventLog(os.path.join(folder, "run.log"))
        return (lambda i, loss, lr: log.append(i, loss=loss, lr=lr)), log.close

    def item(folder: str) -> tuple[Callable[[int, Any, float], None], Callable[[], None]]:
        log = EventLog(os.path.join(folder, "run.log"))
        return (lambda i, loss, lr: log.append(i, loss=loss.item(), lr=lr)), log.close

    def tensorboard(folder: str) -> tuple[Callable[[int, Any, float], None], Callable[[], None]]:
        from torch.utils.tensorboard import SummaryWriter

        w = SummaryWriter(folder)

        def step(i: int, loss: Any, lr: float) -> None:
            w.add_scalar("loss", loss, i)  # converts to a host number: a sync per step
            w.add_scalar("lr", lr, i)

        return step, w.close

    variants = [("no logging", none), ("curvelog (tensor as is)", curvelog_),
                ("curvelog with .item() per step", item),
                ("torch.utils.tensorboard add_scalar", tensorboard)]  # fmt: skip
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for label, make in variants:
            folder = tempfile.mkdtemp(prefix="curvelog-gpu-")
            try:
                step, close = make(folder)
                dt = loop(torch, args.steps, step)
                close()
            except ImportError as e:
                print(f"note: {label} skipped: {e}")
                continue
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            best[label] = min(best.get(label, float("inf")), dt)
    base = best["no logging"]
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}; "
          f"{args.steps:,} steps, best of {args.repeats}")  # fmt: skip
    print()
    print("| variant | steps/s | x no logging (time) |")
    print("|---|---:|---:|")
    for label, dt in best.items():
        print(f"| {label} | {args.steps / dt:,.0f} | {dt / base:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
