"""A real training loop in plain numpy, recorded with curvelog.

A two-hidden-layer MLP learns to separate three interleaved spirals (a
classic problem a linear model cannot solve). Mini-batch SGD with momentum,
a warm-up then cosine learning-rate schedule, train metrics every step and
validation every 100 steps; the best validation loss is tracked by EventLog
and written once at close.

    python samples/train_numpy.py runs/spirals.log [--steps 4000] [--seed 0]

Then:

    curvelog inspect runs/spirals.log
    curvelog compact runs/spirals.log
    curvelog plot runs/spirals.curves.json
"""

from __future__ import annotations

import os

# The same run on every x86-64 machine, so that it prints what the README shows:
# OpenBLAS's matrix kernels and numpy's SIMD loops (exp, tanh, sums) round
# differently on AVX-512 CPUs, and SGD turns a last-bit difference into another
# run (another best step). Pinned to the AVX2 kernels, before numpy is imported;
# set either variable yourself to override.
os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")
os.environ.setdefault("NPY_DISABLE_CPU_FEATURES", "X86_V4,AVX512_ICL,AVX512_SPR")

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

from curvelog import EventLog  # noqa: E402


def spirals(n: int, classes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points per class on noisy interleaved spiral arms."""
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.05, 1.0, n)
        t = np.linspace(c * 2 * math.pi / classes, c * 2 * math.pi / classes + 5.0, n)
        t = t + rng.normal(0, 0.35, n)
        xs.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        ys.append(np.full(n, c))
    x, y = np.concatenate(xs), np.concatenate(ys)
    order = rng.permutation(len(x))
    return x[order].astype(np.float64), y[order]


class MLP:
    """2 -> H -> H -> K with tanh, softmax cross-entropy, SGD with momentum and weight decay."""

    def __init__(self, hidden: int, classes: int, rng: np.random.Generator) -> None:
        def layer(i: int, o: int) -> list[np.ndarray]:
            return [rng.normal(0, 1 / math.sqrt(i), (i, o)), np.zeros(o)]

        self.params = layer(2, hidden) + layer(hidden, hidden) + layer(hidden, classes)
        self.velocity = [np.zeros_like(p) for p in self.params]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        w1, b1, w2, b2, w3, b3 = self.params
        h1 = np.tanh(x @ w1 + b1)
        h2 = np.tanh(h1 @ w2 + b2)
        return h2 @ w3 + b3, [x, h1, h2]

    @staticmethod
    def loss(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, float]:
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        loss = float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())
        acc = float((p.argmax(axis=1) == y).mean())
        grad = p
        grad[np.arange(len(y)), y] -= 1
        return loss, grad / len(y), acc

    def step(self, x: np.ndarray, y: np.ndarray, lr: float, momentum: float = 0.9,
             decay: float = 1e-4) -> tuple[float, float, float]:  # fmt: skip
        logits, (a0, h1, h2) = self.forward(x)
        loss, g, acc = self.loss(logits, y)
        w1, _b1, w2, _b2, w3, _b3 = self.params
        grads = [None] * 6
        grads[4], grads[5] = h2.T @ g, g.sum(0)
        g2 = (g @ w3.T) * (1 - h2**2)
        grads[2], grads[3] = h1.T @ g2, g2.sum(0)
        g1 = (g2 @ w2.T) * (1 - h1**2)
        grads[0], grads[1] = a0.T @ g1, g1.sum(0)
        norm = math.sqrt(sum(float((gr**2).sum()) for gr in grads))  # type: ignore[union-attr]
        for p, v, gr in zip(self.params, self.velocity, grads, strict=True):
            v *= momentum
            v -= lr * (gr + decay * p)  # type: ignore[operator]
            p += v
        return loss, acc, norm


def lr_at(step: int, total: int, peak: float = 0.3, warmup: int = 200) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("log", help="log file to write (appended to if it exists)")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    x, y = spirals(250, 4, rng)
    split = int(0.6 * len(x))
    xtr, ytr, xva, yva = x[:split], y[:split], x[split:], y[split:]
    model = MLP(args.hidden, 4, rng)
    config = {k: v for k, v in vars(args).items() if k != "log"}
    charts = {
        "loss": {
            "title": "Cross-entropy loss",
            "ylabel": "loss",
            "metrics": ["train/loss", "val/loss"],
        },
        "acc": {"title": "Accuracy", "ylabel": "accuracy", "metrics": ["train/acc", "val/acc"]},
    }
    folder = os.path.dirname(os.path.abspath(args.log))
    os.makedirs(folder, exist_ok=True)
    with EventLog(args.log, best="val/loss", mode="min", config=config, charts=charts) as log:
        for step in range(args.steps):
            idx = rng.integers(0, len(xtr), args.batch)
            lr = lr_at(step, args.steps)
            loss, acc, norm = model.step(xtr[idx], ytr[idx], lr)
            log.append(step, {"train/loss": loss, "train/acc": acc, "lr": lr, "grad_norm": norm})
            if step % 100 == 0 or step == args.steps - 1:
                logits, _ = model.forward(xva)
                vloss, _, vacc = model.loss(logits, yva)
                log.append(step, {"val/loss": vloss, "val/acc": vacc})
    print(f"{args.log}: {args.steps} steps, final val/acc {vacc:.3f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
