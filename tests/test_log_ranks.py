"""Several processes (issue #13): `EventLog(all_ranks=True)` writes one log per rank, and
`compact`/`plot` of the set draw every rank's line (`curvelog.log._ranks`,
`curvelog.bundle._ranks`, the rank-set functions of `curvelog.pipeline`).

The ranks are real processes started by multiprocessing with ``RANK`` and
``WORLD_SIZE`` set, as torchrun sets them; one test initialises a real
torch.distributed process group (gloo, on the CPU) without ``RANK``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import jsonschema
import pytest

import curvelog
from _cli import assert_one_line_error, invoke
from curvelog import EventLog
from curvelog.bundle import dumps, schema_document, validate_bundle
from curvelog.errors import MetricNotFoundError, PathError
from curvelog.log._ranks import rank_path, split_rank_name
from curvelog.pipeline import collapse_rank_sets, load_rank_set, rank_set, run_in_folder

CTX = multiprocessing.get_context("spawn")  # a fresh interpreter per rank, like torchrun


def _train(path: str, rank: int, world: int, all_ranks: bool, steps: int) -> None:
    """One rank's training loop: rank r's loss is offset by r, only rank 0 evaluates."""
    os.environ["RANK"], os.environ["WORLD_SIZE"] = str(rank), str(world)
    with EventLog(path, all_ranks=all_ranks, best="val/loss", flush_every=0) as log:
        for i in range(steps):
            log.append(i, {"train/loss": 1.0 / (i + 1) + rank})
            if rank == 0 and i % 10 == 0:
                log.append(i, {"val/loss": 2.0 / (i + 1)})


def _run_ranks(path: Path, world: int = 3, all_ranks: bool = True, steps: int = 40) -> None:
    procs = [
        CTX.Process(target=_train, args=(str(path), r, world, all_ranks, steps))
        for r in range(world)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0


@pytest.fixture(scope="module")
def ddp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with run.log, run.rank1.log and run.rank2.log written by three processes."""
    folder = tmp_path_factory.mktemp("ddp")
    _run_ranks(folder / "run.log")
    return folder


# --------------------------------------------------------------------------- writing


def test_rank_names() -> None:
    assert rank_path("runs/run.log", 0) == "runs/run.log"
    assert rank_path("runs/run.log", 3) == os.path.join("runs", "run.rank3.log")
    assert rank_path("run", 2) == "run.rank2"
    assert split_rank_name("run.rank12.log") == ("run.log", 12)
    assert split_rank_name("run.rank2") == ("run", 2)
    for plain in ("run.log", "run.rank0.log", "run.rankX.log", "run.rank1.curves.json"):
        assert split_rank_name(plain) == (plain, 0)


def test_every_rank_writes_its_own_log(ddp: Path) -> None:
    assert sorted(p.name for p in ddp.iterdir()) == ["run.log", "run.rank1.log", "run.rank2.log"]
    for rank, name in enumerate(["run.log", "run.rank1.log", "run.rank2.log"]):
        run = curvelog.read(ddp / name)
        assert (run.header["rank"], run.header["world_size"]) == (rank, 3)
        assert run.series("train/loss").values[0] == 1.0 + rank
        assert ("val/loss" in run.metrics) == (rank == 0)


def test_by_default_only_rank_zero_writes(tmp_path: Path) -> None:
    _run_ranks(tmp_path / "run.log", world=2, all_ranks=False, steps=5)
    assert [p.name for p in tmp_path.iterdir()] == ["run.log"]


def _dist_worker(init: str, path: str, rank: int) -> None:
    import torch.distributed as dist

    os.environ.pop("RANK", None)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        with EventLog(path, all_ranks=True, flush_every=0) as log:
            log.append(0, loss=float(rank))
    finally:
        dist.destroy_process_group()


def test_torch_distributed_rank_without_the_variable(tmp_path: Path) -> None:
    pytest.importorskip("torch.distributed")  # the [test] extra installs torch
    init = f"file://{tmp_path / 'rendezvous'}"
    procs = [CTX.Process(target=_dist_worker, args=(init, str(tmp_path / "run.log"), r))
             for r in range(2)]  # fmt: skip
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
        assert p.exitcode == 0
    run1 = curvelog.read(tmp_path / "run.rank1.log")
    assert run1.header["rank"] == 1 and run1.series("loss").values.tolist() == [1.0]


# --------------------------------------------------------------------------- the set


def test_rank_set_and_folder(ddp: Path, tmp_path: Path) -> None:
    assert [r for r, _ in rank_set(ddp / "run.log")] == [0, 1, 2]
    assert rank_set(ddp / "run.rank1.log") == [(0, str(ddp / "run.rank1.log"))]
    assert run_in_folder(ddp) == str(ddp / "run.log")
    with pytest.raises(PathError, match="holds no curvelog log"):
        run_in_folder(tmp_path)
    for name in ("a.log", "b.log"):
        with EventLog(tmp_path / name) as log:
            log.append(0, x=1.0)
    (tmp_path / "notes.log").write_text("not a log")  # ignored: no signature
    with pytest.raises(PathError, match=r"holds 2 runs \(a.log, b.log\)"):
        run_in_folder(tmp_path)
    files = [str(ddp / n) for n in ("run.rank2.log", "run.log", "run.rank1.log")]
    assert collapse_rank_sets(files) == [str(ddp / "run.log")]
    assert collapse_rank_sets([str(ddp)]) == [str(ddp / "run.log")]
    assert collapse_rank_sets([str(ddp / "run.rank1.log")]) == [str(ddp / "run.rank1.log")]


def test_the_set_bundle_has_every_ranks_line(ddp: Path) -> None:
    bundle = load_rank_set(ddp / "run.log")
    validate_bundle(bundle)
    jsonschema.validate(json.loads(dumps(bundle)), schema_document())
    (chart,) = bundle["charts"]
    assert [(s["metric"], s["label"]) for s in chart["series"]] == [
        ("train/loss", "train, rank 0"), ("train/loss", "train, rank 1"),
        ("train/loss", "train, rank 2"), ("val/loss", "val, rank 0")]  # fmt: skip
    first = [s["y"][0] for s in chart["series"][:3]]
    assert first == [1.0, 2.0, 3.0]
    assert bundle["best"] is not None and bundle["best"]["metric"] == "val/loss"
    assert bundle["run"]["name"] == ddp.name  # run.log is named by its folder (#17)
    ranks = bundle["provenance"]["source"]["ranks"]
    assert [(r["rank"], r["name"]) for r in ranks] == [
        (0, "run.log"), (1, "run.rank1.log"), (2, "run.rank2.log")]  # fmt: skip
    assert all(len(r["sha256"]) == 64 for r in ranks)
    alone = load_rank_set(ddp / "run.log", metrics=["train/*"])
    assert [s["label"] for s in alone["charts"][0]["series"]] == ["rank 0", "rank 1", "rank 2"]
    with pytest.raises(MetricNotFoundError):
        load_rank_set(ddp / "run.log", metrics=["nope"])


def test_a_damaged_rank_is_reported_with_its_rank(ddp: Path, tmp_path: Path) -> None:
    for p in ddp.iterdir():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    torn = tmp_path / "run.rank2.log"
    torn.write_bytes(torn.read_bytes()[:-7])
    bundle = load_rank_set(tmp_path)
    assert bundle["summary"]["damage"]
    assert all(d["message"].startswith("rank 2: ") for d in bundle["summary"]["damage"])


# --------------------------------------------------------------------------- the CLI


def test_compact_rank_zero_folder_or_all_files_give_one_bundle(ddp: Path, tmp_path: Path) -> None:
    outs = []
    for i, args in enumerate([[str(ddp / "run.log")], [str(ddp)],
                              [str(p) for p in sorted(ddp.glob("*.log"))]]):  # fmt: skip
        out = tmp_path / f"b{i}.json"
        result = invoke("compact", *args, "-o", str(out))
        assert "of rank 0, 3 ranks" in result.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]
    assert not (ddp / "run.rank1.curves.json").exists()


def test_plot_a_rank_set(ddp: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp.svg"
    invoke("plot", str(ddp), "-o", str(out))
    svg = out.read_text()
    for rank in range(3):
        assert f"train, rank {rank}" in svg
    with EventLog(tmp_path / "other.log") as log:
        log.append(0, x=1.0)
    result = invoke("plot", str(ddp / "run.log"), str(tmp_path / "other.log"), ok=False)
    assert_one_line_error(result, "plot draws one run (or one rank set); use compare for several")
    result = invoke("plot", str(tmp_path / "empty_dir_missing"), ok=False)
    assert result.exit_code == 2


def test_the_sample_writes_a_rank_set(tmp_path: Path) -> None:
    import subprocess
    import sys

    sample = Path(__file__).parents[1] / "samples" / "train_ranks.py"
    log = tmp_path / "ddp" / "run.log"
    out = subprocess.run(
        [sys.executable, str(sample), str(log), "--ranks", "3", "--steps", "30"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in log.parent.iterdir()) == [
        "run.log", "run.rank1.log", "run.rank2.log"]  # fmt: skip
    labels = [s["label"] for s in load_rank_set(log.parent)["charts"][0]["series"]]
    assert labels == ["train, rank 0", "train, rank 1", "train, rank 2", "val, rank 0"]
