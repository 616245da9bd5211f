"""Cost per training step of the framework integrations, against no logging and TensorBoard.

For each framework the same tiny model trains on the CPU, in the same
process and run, three ways: with no logger, with curvelog recording every
step, and with the framework's TensorBoard logging at every step. A step's
time is the first quartile of the gaps between consecutive training steps
(start-up, compile and teardown do not count; `_gaps` says why not the
median); configurations alternate over repeats so a noisy machine drifts
them alike. Ratios are against "no logger".

TensorBoard peers: Lightning's ``TensorBoardLogger`` with
``log_every_n_steps=1``; the Trainer's ``report_to="tensorboard"`` with
``logging_steps=1``; Accelerate's ``log_with="tensorboard"``; for Keras (whose
``TensorBoard`` callback needs TensorFlow) a callback writing each batch's
logs with ``torch.utils.tensorboard``.

With CUDA, a GPU section also times a small GPU training loop (steps/s): no
logging, curvelog ``append`` of the detached loss, ``.item()`` per step, and
TensorBoard ``add_scalar`` per step.

    KERAS_BACKEND=torch python tools/bench_integrations.py [--steps 200] [--repeats 3]
        [--only lightning,hf,keras,accelerate] [--gpu-steps 3000]

Not a test: it prints a baseline, it gates nothing.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")

import torch  # noqa: E402

KINDS = ("none", "curvelog", "tensorboard")
Runner = Callable[[str, str, int], list[float]]


def _gaps(stamps: list[float]) -> float:
    """The first quartile of the seconds between consecutive steps (the first 5 warm up).

    Not the median: on a shared 2-core machine other processes stretch most gaps
    several-fold (median and minimum of the same run differ 3-6x), and the lower
    quartile is what a step costs when the process has a core.
    """
    gaps = [b - a for a, b in zip(stamps[5:], stamps[6:], strict=False)]
    return statistics.quantiles(gaps, n=4)[0]


def _sine(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 8, generator=g)
    return x, x.sum(1, keepdim=True).sin()


# --------------------------------------------------------------------------- Lightning


def run_lightning(kind: str, folder: str, steps: int) -> list[float]:
    import lightning.pytorch as L
    from lightning.pytorch.loggers import TensorBoardLogger

    from curvelog.integrations.lightning import CurvelogCallback, CurvelogLogger

    for name in ("lightning.pytorch", "lightning.fabric"):  # set up on import: quiet it here
        logging.getLogger(name).setLevel(logging.ERROR)

    class Stamp(L.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.t: list[float] = []

        def on_train_batch_end(self, *args: Any) -> None:
            self.t.append(time.perf_counter())

    class M(L.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(8, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1)
            )

        def training_step(self, batch: Any, i: int) -> Any:
            loss = torch.nn.functional.mse_loss(self.net(batch[0]), batch[1])
            self.log("train/mse", loss)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    stamp = Stamp()
    callbacks: list[Any] = [stamp]
    logger: Any = False
    every = 50
    if kind == "curvelog":
        logger = CurvelogLogger(os.path.join(folder, "run.log"))
        callbacks.append(CurvelogCallback())
    elif kind == "tensorboard":
        logger, every = TensorBoardLogger(folder), 1
    x, y = _sine(steps * 16)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    trainer = L.Trainer(
        max_epochs=1, logger=logger, callbacks=callbacks, log_every_n_steps=every,
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
        accelerator="cpu", default_root_dir=folder,
    )  # fmt: skip
    trainer.fit(M(), data)
    return stamp.t


# --------------------------------------------------------------------------- Hugging Face


def run_hf(kind: str, folder: str, steps: int) -> list[float]:
    import transformers

    from curvelog.integrations.huggingface import CurvelogCallback

    class Stamp(transformers.TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.t: list[float] = []

        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            self.t.append(time.perf_counter())

    transformers.logging.set_verbosity_error()
    transformers.set_seed(0)
    config = transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=32, n_layer=2, n_head=2)
    ids = (torch.randint(0, 32, (steps * 8, 1)) + torch.arange(16)) % 32
    data = [{"input_ids": r, "labels": r} for r in ids]
    stamp = Stamp()
    callbacks: list[Any] = [stamp]
    report, every = "none", 10**9
    if kind == "curvelog":
        callbacks.append(CurvelogCallback(os.path.join(folder, "run.log")))
    elif kind == "tensorboard":
        report, every = "tensorboard", 1
    args = transformers.TrainingArguments(
        output_dir=folder, max_steps=steps, per_device_train_batch_size=8, report_to=report,
        logging_steps=every, save_strategy="no",
        use_cpu=True, disable_tqdm=True,
    )  # fmt: skip
    trainer = transformers.Trainer(
        model=transformers.GPT2LMHeadModel(config), args=args, train_dataset=data,
        callbacks=callbacks,
    )  # fmt: skip
    trainer.remove_callback(transformers.PrinterCallback)  # printing is not logging
    trainer.train()
    return stamp.t


# --------------------------------------------------------------------------- Keras


def run_keras(kind: str, folder: str, steps: int) -> list[float]:
    import keras
    from torch.utils.tensorboard import SummaryWriter

    from curvelog.integrations.keras import CurvelogCallback

    class Stamp(keras.callbacks.Callback):  # type: ignore[misc]
        async_safe = True  # must not change how Keras dispatches the others

        def __init__(self) -> None:
            super().__init__()
            self.t: list[float] = []

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            self.t.append(time.perf_counter())  # called on the training thread

    class TorchTB(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.w = SummaryWriter(os.path.join(folder, "tb"))
            self.step = 0

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            for k, v in (logs or {}).items():
                self.w.add_scalar(k, v, self.step)
            self.step += 1

        def on_train_end(self, logs: Any = None) -> None:
            self.w.close()

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(64, activation="tanh"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    stamp = Stamp()
    callbacks: list[Any] = [stamp]
    if kind == "curvelog":
        callbacks.append(CurvelogCallback(os.path.join(folder, "run.log"), monitor=None))
    elif kind == "tensorboard":
        callbacks.append(TorchTB())
    x, y = _sine(steps * 16)
    model.fit(x.numpy(), y.numpy(), batch_size=16, epochs=1, verbose=0, callbacks=callbacks)
    return stamp.t


# --------------------------------------------------------------------------- Accelerate


def run_accelerate(kind: str, folder: str, steps: int) -> list[float]:
    from accelerate import Accelerator

    from curvelog.integrations.accelerate import CurvelogTracker

    log_with: Any = None
    if kind == "curvelog":
        log_with = CurvelogTracker(os.path.join(folder, "run.log"))
    elif kind == "tensorboard":
        log_with = "tensorboard"
    acc = Accelerator(cpu=True, log_with=log_with, project_dir=folder)
    if log_with is not None:
        acc.init_trackers("bench")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    model, opt = acc.prepare(model, opt)
    x, y = _sine(steps * 16)
    stamps = []
    for step in range(steps):
        xb, yb = x[step * 16 : step * 16 + 16], y[step * 16 : step * 16 + 16]
        loss = torch.nn.functional.mse_loss(model(xb), yb)
        acc.backward(loss)
        opt.step()
        opt.zero_grad()
        if log_with is not None:
            # TensorBoard's add_scalar needs a number; curvelog takes the tensor.
            value = loss.detach() if kind == "curvelog" else loss.item()
            acc.log({"train/loss": value}, step=step)
        stamps.append(time.perf_counter())
    acc.end_training()
    return stamps


RUNNERS: dict[str, Runner] = {
    "lightning": run_lightning,
    "hf": run_hf,
    "keras": run_keras,
    "accelerate": run_accelerate,
}


def bench_cpu(names: list[str], steps: int, repeats: int) -> None:
    print(f"CPU: time per training step (first-quartile gap, best of {repeats}), {steps} steps")
    print(f"{'framework':<12}" + "".join(f"{k:>14}" for k in KINDS) + f"{'curvelog/none':>15}"
          f"{'tb/none':>10}")  # fmt: skip
    for name in names:
        best: dict[str, float] = {k: math.inf for k in KINDS}
        for r in range(repeats):
            order = KINDS if r % 2 == 0 else KINDS[::-1]
            for kind in order:
                with tempfile.TemporaryDirectory() as folder:
                    best[kind] = min(best[kind], _gaps(RUNNERS[name](kind, folder, steps)))
        base = best["none"]
        print(f"{name:<12}" + "".join(f"{best[k] * 1e3:>12.3f}ms" for k in KINDS)
              + f"{best['curvelog'] / base:>15.3f}{best['tensorboard'] / base:>10.3f}",
              flush=True)  # fmt: skip


# --------------------------------------------------------------------------- GPU


def bench_gpu(steps: int, repeats: int) -> None:
    from torch.utils.tensorboard import SummaryWriter

    from curvelog import EventLog

    dev = torch.device("cuda")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(256, 1024), torch.nn.GELU(), torch.nn.Linear(1024, 1024), torch.nn.GELU(),
        torch.nn.Linear(1024, 1),
    ).to(dev)  # fmt: skip
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(steps, 512, 256, device=dev)
    y = torch.randn(steps, 512, 1, device=dev)

    def loop(record: Callable[[int, torch.Tensor], None]) -> float:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(steps):
            loss = torch.nn.functional.mse_loss(model(x[i]), y[i])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            record(i, loss.detach())
        torch.cuda.synchronize()
        return steps / (time.perf_counter() - t0)

    sink: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        contenders: dict[str, Callable[[], float]] = {}
        contenders["no logging"] = lambda: loop(lambda i, v: None)

        def with_curvelog() -> float:
            with EventLog(os.path.join(folder, f"{time.monotonic_ns()}.log")) as log:
                return loop(lambda i, v: log.append(i, {"train/loss": v}))

        def with_tb() -> float:
            w = SummaryWriter(os.path.join(folder, f"tb{time.monotonic_ns()}"))
            try:
                return loop(lambda i, v: w.add_scalar("train/loss", v.item(), i))
            finally:
                w.close()

        contenders["curvelog"] = with_curvelog
        contenders[".item() per step"] = lambda: loop(lambda i, v: sink.append(v.item()))
        contenders["TensorBoard"] = with_tb
        loop(lambda i, v: None)  # warm-up: kernels, allocator
        best = dict.fromkeys(contenders, 0.0)
        for r in range(repeats):
            for name in list(contenders) if r % 2 == 0 else list(contenders)[::-1]:
                best[name] = max(best[name], contenders[name]())
    print(f"\nGPU ({torch.cuda.get_device_name()}): steps/s, best of {repeats}, {steps} steps")
    for name, rate in best.items():
        print(f"{name:<18}{rate:>10.1f} steps/s {rate / best['no logging']:>8.3f} x no logging")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default=",".join(RUNNERS))
    parser.add_argument("--gpu-steps", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    args = parser.parse_args()
    # One thread: on a small shared machine, torch's spinning worker threads make
    # step times swing by 10x from run to run; every contender gets the same.
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{torch.get_num_threads()} torch thread(s), load {os.getloadavg()[0]:.1f}")  # fmt: skip
    bench_cpu([n for n in args.only.split(",") if n], args.steps, args.repeats)
    if torch.cuda.is_available():
        bench_gpu(args.gpu_steps, args.repeats)
    else:
        print("\nGPU section skipped: CUDA is not available")


if __name__ == "__main__":
    main()
