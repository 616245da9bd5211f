"""Keras 3 (torch backend) + curvelog: every batch's own loss, validation, best epoch, curves filed.

A tiny MLP fits a noisy sine on the CPU. Keras's ``on_train_batch_end`` only
sees running means; `CurvelogCallback` records each batch's own loss, the
``val_*`` values at each epoch end, and marks the best epoch (``val_loss``)::

    pip install 'curvelog[keras]' torch
    KERAS_BACKEND=torch python samples/train_keras.py [--out runs/keras] [--registry saved_models]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from curvelog.integrations.keras import CurvelogCallback  # noqa: E402


def sine(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 2 * np.pi, (n, 1)).astype("float32")
    return x, (np.sin(x) + 0.1 * rng.normal(size=(n, 1))).astype("float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/keras"))
    parser.add_argument("--registry", default="saved_models")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(32, activation="tanh"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    callback = CurvelogCallback(args.out / "run.log", registry=args.registry, key="samples/keras")
    model.fit(
        *sine(512, 1),
        batch_size=16,
        epochs=args.epochs,
        validation_data=sine(128, 2),
        callbacks=[callback],
        verbose=0,
    )
    print(f"log: {args.out / 'run.log'}; filed as {callback.filed}")


if __name__ == "__main__":
    main()
