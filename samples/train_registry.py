"""Train a small numpy model and file everything it produces into one registry version.

A one-hidden-layer MLP fits a noisy seasonal demand curve (the user's
per-product forecasting setting in miniature) with mini-batch SGD and
momentum. At start the run allocates its version (no concurrent run can get
the same number). It logs every step into that version's folder, saves
``checkpoint_best.pth`` whenever validation improves and ``model.pth`` at the
end, and finally compacts its log into ``curves.json`` beside them::

    python samples/train_registry.py [--registry saved_models] [--product P001] [--seed 0]

Then:

    curvelog registry show product/P001_all/mlp
"""

from __future__ import annotations

import argparse
import math
from typing import IO

import numpy as np

import curvelog
from curvelog import EventLog
from curvelog.bundle import build_bundle
from curvelog.plot import render_png
from curvelog.registry import CHECKPOINT_BEST, MODEL, Registry, product


def demand(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Day of year (scaled) -> demand: a yearly and a weekly cycle plus noise."""
    day = rng.uniform(0, 365, n)
    y = 1.0 + 0.6 * np.sin(2 * math.pi * day / 365) + 0.25 * np.sin(2 * math.pi * day / 7)
    y = y + rng.normal(0, 0.1, n)
    return (day / 365 * 2 - 1)[:, None], y[:, None]


class MLP:
    """1 -> hidden -> 1, tanh, squared error, SGD with momentum."""

    def __init__(self, hidden: int, rng: np.random.Generator) -> None:
        self.params = [
            rng.normal(0, 3.0, (1, hidden)),
            rng.normal(0, 1.0, hidden),
            rng.normal(0, 1 / math.sqrt(hidden), (hidden, 1)),
            np.zeros(1),
        ]
        self.velocity = [np.zeros_like(p) for p in self.params]

    def predict(self, x: np.ndarray) -> np.ndarray:
        w1, b1, w2, b2 = self.params
        return np.tanh(x @ w1 + b1) @ w2 + b2

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean((self.predict(x) - y) ** 2))

    def step(self, x: np.ndarray, y: np.ndarray, lr: float, momentum: float = 0.9) -> float:
        w1, b1, w2, b2 = self.params
        h = np.tanh(x @ w1 + b1)
        err = h @ w2 + b2 - y
        g = 2 * err / len(x)
        gh = (g @ w2.T) * (1 - h**2)
        grads = [x.T @ gh, gh.sum(0), h.T @ g, g.sum(0)]
        for p, v, d in zip(self.params, self.velocity, grads, strict=True):
            v *= momentum
            v -= lr * d
            p += v
        return float(np.mean(err**2))

    def save(self, f: IO[bytes]) -> None:
        np.savez(f, *self.params)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--registry", default="saved_models")
    ap.add_argument("--product", default="P001")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    x_train, y_train = demand(2048, rng)
    x_val, y_val = demand(512, rng)
    model = MLP(args.hidden, rng)

    reg = Registry(args.registry)
    version = reg.new_version(product(args.product, "all", "mlp"))
    log_path = version.artifact("run.log")
    print(f"training into {version.path}")

    best, step = math.inf, 0
    with EventLog(log_path, best="val/loss", mode="min", config=vars(args)) as log:
        for epoch in range(args.epochs):
            order = rng.permutation(len(x_train))
            for i in range(0, len(order), args.batch):
                batch = order[i : i + args.batch]
                loss = model.step(x_train[batch], y_train[batch], args.lr)
                log.append(step, **{"train/loss": loss})
                step += 1
            val = model.loss(x_val, y_val)
            log.append(step - 1, **{"val/loss": val, "epoch": epoch})
            if val < best:
                best = val
                with version.open_artifact(CHECKPOINT_BEST) as f:  # atomic replace
                    model.save(f)
                log.mark_best(step - 1)  # the best record names the step we saved
        with version.open_artifact(MODEL) as f:
            model.save(f)

    bundle = build_bundle(curvelog.read(log_path))
    version.save_bundle(bundle)
    version.save_plot(render_png(bundle))  # loss_curve.png beside curves.json
    version.save_metadata({"params": vars(args), "best_val_loss": best})
    print(f"best val/loss {best:.4f}; {version.key} {version.name} holds:")
    for name, size in version.files():
        print(f"  {name:<20} {size:>9,} bytes")


if __name__ == "__main__":
    main()
