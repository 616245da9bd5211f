"""PyTorch Lightning + curvelog: every batch recorded, the best checkpoint marked, curves filed.

A tiny MLP fits a noisy sine on the CPU for a few epochs. `CurvelogLogger`
gets what Lightning logs (validation, epoch values, hyper-parameters);
`CurvelogCallback` adds every training batch's loss without ``.item()``. At
the end the log is compacted and filed, with its PNG, into a registry version::

    pip install 'curvelog[lightning]' torch
    python samples/train_lightning.py [--out runs/lightning] [--registry saved_models]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import torch

from curvelog.integrations.lightning import CurvelogCallback, CurvelogLogger


class SineMLP(L.LightningModule):
    def __init__(self, hidden: int = 32, lr: float = 0.01) -> None:
        super().__init__()
        self.save_hyperparameters()  # -> the log's header
        self.net = torch.nn.Sequential(
            torch.nn.Linear(1, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1)
        )

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train/mse", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val/loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def sine(n: int, seed: int) -> torch.utils.data.DataLoader[Any]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=g) * 2 * math.pi
    y = torch.sin(x) + 0.1 * torch.randn(n, 1, generator=g)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/lightning"))
    parser.add_argument("--registry", default="saved_models")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    logger = CurvelogLogger(args.out / "run.log", registry=args.registry, key="samples/lightning")
    trainer = L.Trainer(
        max_epochs=args.epochs,
        accelerator="cpu",
        logger=logger,
        callbacks=[
            CurvelogCallback(),
            L.callbacks.ModelCheckpoint(dirpath=args.out / "ckpt", monitor="val/loss"),
        ],
        enable_progress_bar=False,
        default_root_dir=args.out,
    )
    trainer.fit(SineMLP(), sine(512, 1), sine(128, 2))
    print(f"log: {args.out / 'run.log'}; filed as {logger.filed}")


if __name__ == "__main__":
    main()
