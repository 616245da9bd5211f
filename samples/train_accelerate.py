"""Accelerate + curvelog: ``Accelerator(log_with=CurvelogTracker(...))``, every step logged.

A tiny MLP fits a noisy sine on the CPU in a hand-written Accelerate loop.
Every step's loss goes to ``accelerator.log`` as a detached tensor (no
``.item()``), the loop keeps the checkpoint of its best validation and tells
the tracker; ``end_training`` closes the log and files it with its PNG::

    pip install 'curvelog[accelerate]' torch
    python samples/train_accelerate.py [--out runs/accelerate] [--registry saved_models]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from accelerate import Accelerator

from curvelog.integrations.accelerate import CurvelogTracker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/accelerate"))
    parser.add_argument("--registry", default="saved_models")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    tracker = CurvelogTracker(
        args.out / "run.log", best="val/loss", registry=args.registry, key="samples/accelerate"
    )
    accelerator = Accelerator(cpu=True, log_with=tracker)
    accelerator.init_trackers("sine", config={"lr": 0.01, "hidden": 32, "steps": args.steps})
    model = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model, optimizer = accelerator.prepare(model, optimizer)
    xv = torch.rand(256, 1) * 2 * math.pi
    yv = torch.sin(xv)
    best = float("inf")
    for step in range(args.steps):
        x = torch.rand(16, 1) * 2 * math.pi
        loss = torch.nn.functional.mse_loss(model(x), torch.sin(x) + 0.1 * torch.randn(16, 1))
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        accelerator.log({"train/loss": loss.detach()}, step=step)
        if (step + 1) % 50 == 0:
            with torch.no_grad():
                val = torch.nn.functional.mse_loss(model(xv), yv).item()
            accelerator.log({"val/loss": val}, step=step)
            if val < best:
                best = val
                accelerator.save_state(str(args.out / "best"))
                tracker.mark_best(step)
    accelerator.end_training()
    print(f"log: {args.out / 'run.log'}; filed as {tracker.filed}")


if __name__ == "__main__":
    main()
