"""Hugging Face Trainer + curvelog: every optimizer step's loss (NaN included), evals, best.

A 2-layer GPT-2 built from a config (nothing is downloaded) learns to count
modulo 32 on the CPU. `CurvelogCallback` records every step's own loss, the
learning rate, every evaluation, and marks the step the Trainer picked as
best; the log is then filed, with its PNG, into a registry version::

    pip install 'curvelog[huggingface]' torch
    HF_HUB_OFFLINE=1 python samples/train_hf.py [--out runs/hf] [--registry saved_models]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402

from curvelog.integrations.huggingface import CurvelogCallback  # noqa: E402


def counting(n: int, seed: int) -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(seed)
    ids = (torch.randint(0, 32, (n, 1), generator=g) + torch.arange(16)) % 32
    return [{"input_ids": row, "labels": row} for row in ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/hf"))
    parser.add_argument("--registry", default="saved_models")
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    transformers.set_seed(0)
    config = transformers.GPT2Config(
        vocab_size=32, n_positions=16, n_embd=32, n_layer=2, n_head=2, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    training = transformers.TrainingArguments(
        output_dir=str(args.out / "checkpoints"),
        max_steps=args.steps,
        per_device_train_batch_size=8,
        learning_rate=3e-3,
        eval_strategy="steps",
        eval_steps=20,
        save_strategy="steps",
        save_steps=20,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        logging_steps=10,
        logging_nan_inf_filter=False,  # HF's own logged loss keeps NaN too
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    callback = CurvelogCallback(args.out / "run.log", registry=args.registry, key="samples/hf")
    trainer = transformers.Trainer(
        model=transformers.GPT2LMHeadModel(config),
        args=training,
        train_dataset=counting(512, 1),
        eval_dataset=counting(32, 2),
        callbacks=[callback],
    )
    trainer.train()
    print(f"log: {args.out / 'run.log'}; filed as {callback.filed}")


if __name__ == "__main__":
    main()
