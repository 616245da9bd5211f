"""Chart bundles: built from every real run, validated, deterministic; format errors; analysis."""

from __future__ import annotations

import copy
import csv
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

import curvelog
from _real import OBJECTIVES, read_csv_text, real_csv, sweep
from conftest import RealRuns
from curvelog.bundle import (
    SCHEMA,
    build_bundle,
    dumps,
    load_bundle,
    schema_document,
    validate_bundle,
    write_bundle,
)
from curvelog.cli import cli
from curvelog.convert import csv_to_log
from curvelog.errors import (
    BundleError,
    BundleVersionError,
    MetricNotFoundError,
    OutputExistsError,
    PathError,
    SamplingError,
)
from curvelog.log import _format
from curvelog.pipeline import compact

SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(schema_document())


def all_series(bundle: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for chart in bundle["charts"]:
        yield from chart["series"]


def schema_errors(bundle: Any) -> list[str]:
    return [e.message for e in SCHEMA_VALIDATOR.iter_errors(bundle)]


def make_log(
    path: Path, columns: dict[str, np.ndarray], steps: np.ndarray | None = None, **kw: Any
) -> Path:
    """A log from whole columns (NaN in a column = absent at that step unless nan_is_value)."""
    n = len(next(iter(columns.values())))
    steps = np.arange(n) if steps is None else steps
    with curvelog.EventLog(path, flush_every=0, **kw) as log:
        for i in range(n):
            log.append(int(steps[i]), {k: float(v[i]) for k, v in columns.items()})
    return path


# --------------------------------------------------------------------------- real runs


@pytest.mark.parametrize(("source", "name"), sweep())
def test_real_run_bundle_is_valid_and_complete(source: str, name: str, real_runs: RealRuns) -> None:
    bundle = real_runs.bundle(source, name)
    log = real_runs.log(source, name)
    run = curvelog.read(log)
    validate_bundle(bundle)
    assert schema_errors(bundle) == []
    assert bundle["schema"] == SCHEMA
    json.loads(dumps(bundle), parse_constant=lambda c: pytest.fail(f"{c} token in a bundle"))
    # every metric charted exactly once, with its raw count
    charted = [s["metric"] for s in all_series(bundle)]
    assert sorted(charted) == sorted(run.metrics)
    for s in all_series(bundle):
        full = run.series(s["metric"])
        assert s["raw_points"] == len(full)
        assert s["x"][0] == full.steps[0] and s["x"][-1] == full.steps[-1]
        assert len(s["x"]) <= len(full)
        m = bundle["summary"]["metrics"][s["metric"]]
        finite = full.values[np.isfinite(full.values)]
        assert m["points"] == len(full)
        if finite.size:
            assert m["min"]["value"] == finite.min() and m["max"]["value"] == finite.max()
        # NaN/inf events exactly where the data has them
        bad = int(np.count_nonzero(~np.isfinite(full.values)))
        assert m["nan"] + m["inf"] + m["neg_inf"] == bad
        assert sum(e.get("count", 1) for e in s["events"]) == bad
    assert bundle["provenance"]["source"]["size"] == log.stat().st_size
    assert bundle["run"]["name"] == name
    assert bundle["summary"]["resumes"] == len(bundle["resumes"]) == run.resumes


@pytest.mark.parametrize(("source", "name"), sweep())
def test_real_run_best_exactly_once_and_in_order(
    source: str, name: str, real_runs: RealRuns
) -> None:
    bundle = real_runs.bundle(source, name)
    metric, mode = OBJECTIVES[name]
    best = bundle["best"]
    assert best is not None and best["metric"] == metric and best["mode"] == mode
    run = curvelog.read(real_runs.log(source, name))
    s = run.series(metric)
    optimum = np.nanmin(s.values) if mode == "min" else np.nanmax(s.values)
    assert best["value"] == optimum
    # "marked" when the writer's best survived deduplication, else recomputed from the data
    assert best["source"] == ("marked" if run.best is not None else "recomputed")
    assert best["values"][metric] == best["value"]
    series = next(x for x in all_series(bundle) if x["metric"] == metric)
    assert series["x"].count(best["step"]) == 1
    assert series["x"] == sorted(series["x"])
    assert series["y"][series["x"].index(best["step"])] == best["value"]
    # every other series that has a value at the best step keeps it too
    for other in all_series(bundle):
        full = run.series(other["metric"])
        if best["step"] in set(full.steps.tolist()):
            assert other["x"].count(best["step"]) == 1


@pytest.mark.parametrize(
    "name", ["gan_deblurgan_wgan", "rl_tqc_fetchslide", "detectron2_balloon_metrics"]
)
def test_real_run_byte_identical_on_rerun(
    name: str, real_logs: dict[str, Path], tmp_path: Path
) -> None:
    a, pa = compact(real_logs[name], tmp_path / "a.json")
    b, pb = compact(real_logs[name], tmp_path / "b.json")
    assert Path(pa).read_bytes() == Path(pb).read_bytes() == dumps(a)
    assert load_bundle(pa) == a


def test_gan_restarts_latest_value_wins_and_resumes_recorded(real_logs: dict[str, Path]) -> None:
    src = real_csv("gan_deblurgan_wgan")
    latest: dict[str, dict[int, float]] = {}
    prev, resume_steps = -1, []
    with gzip.open(src, "rt", newline="") as f:
        for row in csv.DictReader(f):
            step = int(row["step"])
            if step < prev:
                resume_steps.append(step)
            prev = step
            latest.setdefault(row["metric"], {})[step] = float(row["value"])
    bundle = build_bundle(curvelog.read(real_logs["gan_deblurgan_wgan"]), method="none")
    assert [r["step"] for r in bundle["resumes"]] == resume_steps
    assert len(resume_steps) == bundle["summary"]["resumes"] == 161
    for s in all_series(bundle):
        expect = latest[s["metric"]]
        assert s["x"] == sorted(expect)
        assert s["y"] == [expect[k] for k in sorted(expect)]
    # with a budget smaller than the series, each resume boundary is still charted
    small = build_bundle(curvelog.read(real_logs["gan_deblurgan_wgan"]), points=20)
    for s in all_series(small):
        steps = np.array(sorted(latest[s["metric"]]))
        for r in resume_steps:
            i = np.searchsorted(steps, r)
            if i < len(steps):
                assert int(steps[i]) in s["x"]


def test_nan_events_from_a_real_run_with_injected_non_finite_values(tmp_path: Path) -> None:
    rows = read_csv_text(real_csv("llmc_gpt2_124m")).splitlines()
    header, body = rows[0], rows[1:]
    body = [r for r in body if r.split(",")[1] in ("train_loss", "val_loss")]
    # isolated nan, inf, -inf, then a run of NaN (a divergence) at the end of train_loss
    last = max(int(r.split(",")[0]) for r in body if ",train_loss," in r)
    bad = ["100,train_loss,nan", "200,train_loss,inf", "300,train_loss,-inf"]
    bad += [f"{last + k},train_loss,nan" for k in range(1, 51)]
    (tmp_path / "n.csv").write_text("\n".join([header, *body, *bad]) + "\n")
    csv_to_log(tmp_path / "n.csv", tmp_path / "n.log", best="val_loss")
    bundle = build_bundle(curvelog.read(tmp_path / "n.log"), points=300)
    validate_bundle(bundle)
    assert schema_errors(bundle) == []
    s = next(x for x in all_series(bundle) if x["metric"] == "train_loss")
    assert s["events"] == [
        {"step": 100, "kind": "nan"},
        {"step": 200, "kind": "inf"},
        {"step": 300, "kind": "-inf"},
        {"step": last + 1, "kind": "nan", "last_step": last + 50, "count": 50},
    ]
    for step in (100, 200, 300, last + 1, last + 50):
        assert s["y"][s["x"].index(step)] is None
    assert last + 2 not in s["x"]  # the inside of a NaN run is summarised by its event
    m = bundle["summary"]["metrics"]["train_loss"]
    assert (m["nan"], m["inf"], m["neg_inf"]) == (51, 1, 1)
    assert m["last"] == {"step": last + 50, "value": None}
    analysis = bundle["summary"]["analysis"]["metrics"]["train_loss"]
    assert analysis["convergence"] == "diverged"
    assert b"NaN" not in dumps(bundle) and b"Infinity" not in dumps(bundle)


# --------------------------------------------------------------------------- best


def _cut_before_best(log: Path) -> None:
    """Truncate a log before its best record: what a writer that died leaves behind."""
    raw = log.read_bytes()
    frames, _ = _format.scan(raw)
    best = next(f for f in frames if f.record.get("type") == "best")
    log.write_bytes(raw[: best.offset])


def test_best_recomputed_when_the_writer_died(tmp_path: Path) -> None:
    loss = np.array([3.0, 2.0, 0.5, 1.0, 0.5, 0.7])
    log = make_log(tmp_path / "r.log", {"val/loss": loss, "train/loss": loss + 1}, best="val/loss")
    marked = build_bundle(curvelog.read(log))["best"]
    assert marked == {
        "step": 2,
        "metric": "val/loss",
        "value": 0.5,
        "mode": "min",
        "source": "marked",
        "values": {"train/loss": 1.5, "val/loss": 0.5},
    }
    _cut_before_best(log)
    recomputed = build_bundle(curvelog.read(log))["best"]
    assert recomputed == {**marked, "source": "recomputed"}  # earliest step on ties


def test_no_objective_no_best(tmp_path: Path) -> None:
    log = make_log(tmp_path / "n.log", {"loss": np.linspace(1, 0, 10)})
    _bundle = build_bundle(curvelog.read(log))
    assert _bundle["best"] is None


def test_mark_best_is_reported_as_marked(tmp_path: Path) -> None:
    path = tmp_path / "m.log"
    with curvelog.EventLog(path, best="val/acc", mode="max", flush_every=0) as log:
        for i in range(100):
            log.append(i, {"train/loss": 1.0 / (i + 1)})
            if i % 10 == 0:
                log.append(i, {"val/acc": i / 100})
        log.mark_best(50)
    bundle = build_bundle(curvelog.read(path), points=10)
    assert bundle["best"] == {
        "step": 50,
        "metric": "val/acc",
        "value": 0.5,
        "mode": "max",
        "source": "marked",
        "values": {"train/loss": 1.0 / 51, "val/acc": 0.5},
    }
    for s in all_series(bundle):
        assert s["x"].count(50) == 1


# --------------------------------------------------------------------------- charts


def test_grouping_by_last_name_component(tmp_path: Path) -> None:
    n = 20
    cols = {
        "val/loss": np.linspace(2, 1, n),
        "train/loss": np.linspace(3, 1, n),
        "lr": np.full(n, 1e-3),
        "val_acc": np.linspace(0, 1, n),
        "train_acc": np.linspace(0, 1, n),
        "fast_rcnn/false_negative": np.ones(n),
        "mask_rcnn/false_negative": np.ones(n),
        "eval/reward": np.ones(n),
    }
    bundle = build_bundle(curvelog.read(make_log(tmp_path / "g.log", cols)))
    charts = {c["id"]: c for c in bundle["charts"]}
    assert list(charts) == ["loss", "lr", "acc", "false_negative", "reward"]
    assert [(s["metric"], s["label"]) for s in charts["loss"]["series"]] == [
        ("train/loss", "train"),
        ("val/loss", "val"),
    ]  # train before val, whatever the logging order
    assert [s["label"] for s in charts["acc"]["series"]] == ["train", "val"]
    assert [s["label"] for s in charts["false_negative"]["series"]] == ["fast_rcnn", "mask_rcnn"]
    assert (charts["loss"]["title"], charts["loss"]["ylabel"], charts["loss"]["xlabel"]) == (
        "loss",
        "loss",
        "step",
    )
    # a chart of one metric is titled by its full name
    assert (charts["reward"]["title"], charts["reward"]["ylabel"]) == ("eval/reward", "reward")
    assert {c["scale"] for c in bundle["charts"]} == {"linear"}


def test_header_chart_metadata_overrides(tmp_path: Path) -> None:
    n = 10
    cols = {
        "train/loss": np.linspace(3, 1, n),
        "val/loss": np.linspace(2, 1, n),
        "lr": np.ones(n),
        "gn": np.ones(n),
    }
    charts_meta = {
        "optim": {
            "title": "Optimiser",
            "ylabel": "value",
            "metrics": ["lr", "gn"],
            "labels": {"gn": "grad norm"},
        },
        "loss": {"title": "Loss (log)", "scale": "log"},  # decorates the default chart "loss"
        "lr": {"metrics": ["missing"]},  # names no logged metric: ignored
    }
    bundle = build_bundle(curvelog.read(make_log(tmp_path / "h.log", cols, charts=charts_meta)))
    got = [
        (
            c["id"],
            c["title"],
            c["ylabel"],
            c["scale"],
            [(s["metric"], s["label"]) for s in c["series"]],
        )
        for c in bundle["charts"]
    ]
    assert got == [
        ("optim", "Optimiser", "value", "linear", [("lr", "lr"), ("gn", "grad norm")]),
        ("loss", "Loss (log)", "loss", "log", [("train/loss", "train"), ("val/loss", "val")]),
    ]


def test_header_chart_id_collision_gets_a_suffix(tmp_path: Path) -> None:
    cols = {"train/loss": np.ones(5), "val/loss": np.ones(5)}
    meta = {"loss": {"metrics": ["train/loss"]}}
    bundle = build_bundle(curvelog.read(make_log(tmp_path / "c.log", cols, charts=meta)))
    assert [(c["id"], [s["metric"] for s in c["series"]]) for c in bundle["charts"]] == [
        ("loss", ["train/loss"]),
        ("loss-2", ["val/loss"]),
    ]
    # the renamed default chart keeps its name on the page: "-2" is only its id
    cols = {"train/loss": np.ones(5), "val/loss": np.ones(5), "lr": np.ones(5)}
    meta = {"loss": {"metrics": ["lr"]}}
    bundle = build_bundle(curvelog.read(make_log(tmp_path / "d.log", cols, charts=meta)))
    assert [(c["id"], c["title"], c["ylabel"]) for c in bundle["charts"]] == [
        ("loss", "loss", "loss"),
        ("loss-2", "loss", "loss"),
    ]


def test_metric_selection(real_logs: dict[str, Path]) -> None:
    run = curvelog.read(real_logs["llmc_gpt2_124m"])
    bundle = build_bundle(run, metrics=["*_loss", "lr"])
    assert sorted(s["metric"] for s in all_series(bundle)) == ["lr", "train_loss", "val_loss"]
    assert sorted(bundle["summary"]["metrics"]) == ["lr", "train_loss", "val_loss"]
    assert bundle["provenance"]["sampling"]["metrics"] == ["val_loss", "train_loss", "lr"]
    with pytest.raises(
        MetricNotFoundError, match=r"no metric matches 'nope' \(metrics: val_loss, train_loss"
    ):
        build_bundle(run, metrics=["nope"])


def test_bad_options(real_logs: dict[str, Path]) -> None:
    run = curvelog.read(real_logs["gan_deblurgan_wgan"])
    with pytest.raises(SamplingError, match="unknown sampling method 'fancy'"):
        build_bundle(run, method="fancy")
    with pytest.raises(SamplingError, match="points must be an integer >= 2"):
        build_bundle(run, points=1)


# --------------------------------------------------------------------------- summary and analysis


def test_summary_of_a_resumed_run(tmp_path: Path) -> None:
    path = tmp_path / "s.log"
    with curvelog.EventLog(path, best="loss", flush_every=0) as log:
        for i in range(10):
            log.append(i, loss=10.0 - i)
    with curvelog.EventLog(path, best="loss", flush_every=0) as log:
        for i in range(5, 15):  # resumed from the checkpoint of step 5
            log.append(i, loss=20.0 - i, val=1.0)
    bundle = build_bundle(curvelog.read(path))
    s = bundle["summary"]
    assert (s["steps"], s["first_step"], s["last_step"], s["rows"]) == (15, 0, 14, 20)
    assert (s["sessions"], s["resumes"], bundle["run"]["sessions"]) == (2, 1, 2)
    assert bundle["resumes"] == [{"step": 5, "session": 1}]
    assert s["metrics"]["loss"]["first"] == {"step": 0, "value": 10.0}
    assert s["metrics"]["loss"]["last"] == {"step": 14, "value": 6.0}
    assert s["metrics"]["loss"]["min"] == {"step": 4, "value": 6.0}  # earliest on ties
    assert s["metrics"]["loss"]["max"] == {"step": 5, "value": 15.0}  # the re-run value wins
    assert s["metrics"]["loss"]["writes"] == 20
    assert s["wall_time"] is not None and s["wall_time"] >= 0
    assert bundle["best"]["step"] == 14


def test_damaged_log_compacts_and_reports_the_damage(tmp_path: Path) -> None:
    log = make_log(tmp_path / "d.log", {"loss": np.linspace(1, 0, 50)})
    with open(log, "ab") as f:
        f.write(_format.FRAME_MAGIC + b"\x10\x00\x00\x00torn")
    bundle, _ = compact(log, tmp_path / "d.json")
    damage = bundle["summary"]["damage"]
    assert len(damage) == 1 and damage[0]["kind"] == "torn"
    assert damage[0]["message"].endswith("torn record at the end (writer died mid-write)")


def _analysis_of(tmp_path: Path, cols: dict[str, np.ndarray], **kw: Any) -> dict[str, Any]:
    bundle = build_bundle(curvelog.read(make_log(tmp_path / "a.log", cols, **kw)), points=100)
    assert schema_errors(bundle) == []
    return bundle["summary"]["analysis"]


def test_convergence_statuses(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 1000
    x = np.arange(n)
    cols = {
        "a_loss": 2.0 * np.exp(-x / 2000) + 0.01 * rng.standard_normal(n),  # still falling
        "b_loss": 1.0 + np.exp(-x / 50) + 0.001 * rng.standard_normal(n),  # flat for the last 80%
        "c_loss": 1.0 + np.where(x > 700, (x - 700) / 10.0, 0.0),  # blew up past its start
        "d_loss": 1.0 + np.exp(-x / 100) + np.where(x > 850, (x - 850) / 1000, 0),  # creeping up
        "e_acc": 1 - np.exp(-x / 100),  # higher is better, plateaued
        "grad_norm": np.ones(n),  # no goal from its name
    }
    a = _analysis_of(tmp_path, cols)["metrics"]
    status = {m: v["convergence"] for m, v in a.items()}
    assert status == {
        "a_loss": "improving",
        "b_loss": "plateaued",
        "c_loss": "diverged",
        "d_loss": "worsening",
        "e_acc": "plateaued",
        "grad_norm": None,
    }
    assert a["a_loss"]["trend"]["direction"] == "down" and a["a_loss"]["goal_source"] == "name"
    assert a["grad_norm"]["trend"]["direction"] == "flat"
    assert a["e_acc"]["goal"] == "max" and a["e_acc"]["best"]["step"] == n - 1
    tail = a["a_loss"]["trend"]
    assert (tail["from_step"], tail["to_step"], tail["points"]) == (800, 999, 200)


def test_overfitting_indicator(tmp_path: Path) -> None:
    x = np.arange(2000)
    train = 2.0 * np.exp(-x / 300) + 0.1
    val_u = 2.0 * np.exp(-x / 300) + 0.3 + np.where(x > 1000, (x - 1000) / 2000, 0)  # U-shaped
    val_ok = train + 0.05
    steps = x
    cols = {"train/loss": train, "val/loss": val_u}
    path = tmp_path / "o.log"
    with curvelog.EventLog(path, flush_every=0) as log:
        for i in steps:
            log.append(int(i), {"train/loss": float(train[i])})
            if i % 100 == 99:
                log.append(int(i), {"val/loss": float(val_u[i]), "val/ok_loss": float(val_ok[i])})
    del cols
    a = build_bundle(curvelog.read(path))["summary"]["analysis"]
    pair = a["overfitting"]
    assert [(p["train"], p["val"], p["goal"], p["status"]) for p in pair] == [
        ("train/loss", "val/loss", "min", "overfitting")
    ]
    p = pair[0]
    assert p["val_best_step"] <= 1099 and p["at_step"] == 1999 and p["pairs"] == 20
    assert p["gap"] > 0 and p["gap_trend"] == "widening" and p["score"] > 0.02
    # the convergence of the run follows the validation loss
    assert a["convergence"] == {"metric": "val/loss", "status": "worsening"}


def test_no_overfitting_when_validation_tracks_training(tmp_path: Path) -> None:
    x = np.arange(500)
    path = tmp_path / "p.log"
    with curvelog.EventLog(path, flush_every=0, best="val_loss") as log:
        for i in x:
            log.append(int(i), train_loss=float(np.exp(-i / 100)))
            if i % 25 == 24:
                log.append(int(i), val_loss=float(np.exp(-i / 100) + 0.02))
    a = build_bundle(curvelog.read(path))["summary"]["analysis"]
    assert [(p["train"], p["val"], p["status"]) for p in a["overfitting"]] == [
        ("train_loss", "val_loss", "none")
    ]
    assert a["convergence"] == {"metric": "val_loss", "status": "improving"}
    assert a["metrics"]["val_loss"]["goal_source"] == "objective"


# --------------------------------------------------------------------------- size


def test_bundle_stays_small_for_a_long_run(tmp_path: Path) -> None:
    """The 10M-step figure is measured by tools/bench_compact.py; here 300k steps x 4 metrics."""
    n = 300_000
    rng = np.random.default_rng(1)
    x = np.arange(n)
    cols = {
        "train/loss": 2 * np.exp(-x / 40000) + 0.05 * rng.standard_normal(n),
        "train/acc": 1 - np.exp(-x / 40000) + 0.01 * rng.standard_normal(n),
        "lr": np.where(x < n / 2, 3e-4, 3e-5),
        "grad_norm": np.abs(1 + 0.3 * rng.standard_normal(n)),
    }
    path = tmp_path / "big.log"
    names = list(cols)
    rows = np.column_stack([cols[k] for k in names]).tolist()
    with curvelog.EventLog(path, best="train/loss", flush_every=0) as log:
        for i, r in enumerate(rows):
            log.append(i, dict(zip(names, r, strict=True)))
    bundle, out = compact(path)
    assert out == str(tmp_path / "big.curves.json")
    assert len(Path(out).read_bytes()) < 1_000_000
    assert all(len(s["x"]) <= 3 * 2000 for s in all_series(bundle))


# --------------------------------------------------------------------------- writing and loading


@pytest.fixture()
def small_bundle(real_bundles: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(real_bundles["detectron2_balloon_metrics"])


def test_write_refuses_to_overwrite_unless_forced(
    small_bundle: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "b.json"
    write_bundle(small_bundle, out)
    before = out.read_bytes()
    small_bundle["run"]["name"] = "other"
    with pytest.raises(OutputExistsError, match="already exists"):
        write_bundle(small_bundle, out)
    assert out.read_bytes() == before
    write_bundle(small_bundle, out, force=True)
    assert load_bundle(out)["run"]["name"] == "other"
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]  # no temporary files left


def test_compact_checks_the_output_before_reading(
    real_logs: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(OutputExistsError):
        compact(tmp_path / "missing.log", tmp_path / "x.json")
    with pytest.raises(PathError, match="no such file"):
        compact(tmp_path / "missing.log", tmp_path / "y.json")


def test_any_1x_is_accepted(small_bundle: dict[str, Any], tmp_path: Path) -> None:
    small_bundle["schema"] = "curvelog.bundle/1.7"
    small_bundle["future_field"] = {"anything": [1, 2]}
    small_bundle["charts"][0]["series"][0]["style"] = "dashed"
    assert load_bundle(small_bundle) == small_bundle
    assert schema_errors(small_bundle) == []
    (tmp_path / "f.json").write_bytes(dumps(small_bundle))
    assert load_bundle(tmp_path / "f.json")["future_field"] == {"anything": [1, 2]}


@pytest.mark.parametrize("tag", ["curvelog.bundle/2", "curvelog.bundle/0.9", "curvelog.bundle/10"])
def test_other_major_versions_are_rejected(
    small_bundle: dict[str, Any], tmp_path: Path, tag: str
) -> None:
    small_bundle["schema"] = tag
    (tmp_path / "v.json").write_bytes(dumps(small_bundle))
    with pytest.raises(BundleVersionError) as err:
        load_bundle(tmp_path / "v.json")
    assert err.value.pointer == "/schema"
    assert str(err.value) == (
        f"{tmp_path / 'v.json'}: invalid bundle at /schema: schema {tag!r} is version "
        f"{int(tag.split('/')[1].split('.')[0])}; this curvelog reads curvelog.bundle/1.x only"
    )
    assert schema_errors(small_bundle) != []


def _mutations() -> list[tuple[str, Any, str, str]]:
    """(name, mutation, expected pointer, expected reason prefix)."""

    def set_(path: list[Any], value: Any) -> Any:
        def f(b: dict[str, Any]) -> None:
            node = b
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = value

        return f

    def delete(path: list[Any]) -> Any:
        def f(b: dict[str, Any]) -> None:
            node = b
            for k in path[:-1]:
                node = node[k]
            del node[path[-1]]

        return f

    s0 = ["charts", 0, "series", 0]
    return [
        ("no schema", delete(["schema"]), "/schema", "expected a string like"),
        ("bad tag", set_(["schema"], "curvelog.chart/1"), "/schema", "expected a string like"),
        ("no charts", delete(["charts"]), "/charts", "required field is missing"),
        ("charts not array", set_(["charts"], {}), "/charts", "expected an array, found an object"),
        ("x of text", set_([*s0, "x", 1], "3"), "/charts/0/series/0/x/1", "expected an integer"),
        (
            "y NaN string",
            set_([*s0, "y", 2], "NaN"),
            "/charts/0/series/0/y/2",
            "expected a number or null",
        ),
        (
            "y bool",
            set_([*s0, "y", 0], True),
            "/charts/0/series/0/y/0",
            "expected a number or null",
        ),
        ("scale", set_(["charts", 0, "scale"], "symlog"), "/charts/0/scale", "expected one of"),
        (
            "no label",
            delete([*s0, "label"]),
            "/charts/0/series/0/label",
            "required field is missing",
        ),
        (
            "negative step",
            set_([*s0, "x", 0], -1),
            "/charts/0/series/0/x/0",
            "expected an integer >= 0",
        ),
        (
            "event kind",
            set_([*s0, "events"], [{"step": 19, "kind": "NaN"}]),
            "/charts/0/series/0/events/0/kind",
            "expected one of",
        ),
        ("best source", set_(["best", "source"], "tracked"), "/best/source", "expected one of"),
        ("best step", set_(["best", "step"], 1.5), "/best/step", "expected an integer"),
        ("run name", set_(["run", "name"], None), "/run/name", "expected a string"),
        (
            "summary steps",
            set_(["summary", "steps"], "15"),
            "/summary/steps",
            "expected an integer",
        ),
        (
            "metric nan count",
            set_(["summary", "metrics", "lr", "nan"], -1),
            "/summary/metrics/lr/nan",
            "expected an integer >= 0",
        ),
        (
            "sha",
            set_(["provenance", "source", "sha256"], "xyz"),
            "/provenance/source/sha256",
            "expected 64",
        ),
        ("no provenance", delete(["provenance"]), "/provenance", "required field is missing"),
        (
            "resume",
            set_(["resumes"], [{"step": 3}]),
            "/resumes/0/session",
            "required field is missing",
        ),
    ]


@pytest.mark.parametrize(
    ("name", "mutate", "pointer", "reason"), _mutations(), ids=[m[0] for m in _mutations()]
)
def test_malformed_bundles_name_the_json_pointer(
    small_bundle: dict[str, Any], name: str, mutate: Any, pointer: str, reason: str
) -> None:
    mutate(small_bundle)
    with pytest.raises(BundleError) as err:
        load_bundle(small_bundle)
    assert type(err.value) is BundleError
    assert err.value.pointer == pointer
    assert err.value.reason.startswith(reason)
    assert str(err.value).startswith(f"<bundle>: invalid bundle at {pointer}: ")
    # the shipped JSON Schema rejects it too
    assert schema_errors(small_bundle) != []


def test_checks_beyond_the_json_schema(small_bundle: dict[str, Any]) -> None:
    s = small_bundle["charts"][0]["series"][0]
    bad = copy.deepcopy(small_bundle)
    bad["charts"][0]["series"][0]["y"].pop()
    with pytest.raises(
        BundleError, match=r"at /charts/0/series/0/y: has 14 values for 15 steps in x"
    ):
        validate_bundle(bad)
    bad = copy.deepcopy(small_bundle)
    bad["charts"][0]["series"][0]["x"][1] = s["x"][0]
    with pytest.raises(
        BundleError, match=r"at /charts/0/series/0/x/1: steps must increase strictly"
    ):
        validate_bundle(bad)
    bad = copy.deepcopy(small_bundle)
    bad["charts"][0]["series"][0]["events"] = [{"step": s["x"][0], "kind": "nan"}]
    with pytest.raises(
        BundleError,
        match=r"at /charts/0/series/0/events/0/step: step \d+ is not charted with a null y",
    ):
        validate_bundle(bad)
    bad = copy.deepcopy(small_bundle)
    bad["charts"].append(copy.deepcopy(bad["charts"][0]))
    with pytest.raises(BundleError, match=r"at /charts/\d+/id: chart ids must be unique"):
        validate_bundle(bad)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file, not a chart bundle"),
        (b"\x89CLG\r\n\x1a\n\x00", "not UTF-8 text, not a chart bundle"),
        (
            b'{"schema": "curvelog.bundle/1", ',
            "not JSON (Expecting property name enclosed in double quotes at line 1 column 33)",
        ),
        (b'{"schema": "curvelog.bundle/1", "x": NaN}', "NaN is not strict JSON"),
        (b"[1, 2]", "expected a JSON object, found an array"),
    ],
)
def test_load_bad_files(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "bad.json"
    p.write_bytes(content)
    with pytest.raises(BundleError) as err:
        load_bundle(p)
    assert err.value.reason == reason
    assert str(err.value).startswith(f"{p}: invalid bundle")


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PathError, match="no such file"):
        load_bundle(tmp_path / "nope.json")
    with pytest.raises(PathError) as err:
        load_bundle(tmp_path)
    assert str(err.value) == f"{tmp_path}: is a directory, not a chart bundle"


def test_public_names() -> None:
    assert curvelog.build_bundle is build_bundle
    assert curvelog.load_bundle is load_bundle
    assert curvelog.write_bundle is write_bundle


def test_edge_cases_empty_log_all_nan_metric_single_point(tmp_path: Path) -> None:
    with curvelog.EventLog(tmp_path / "e.log", best="loss", flush_every=0):
        pass
    empty = build_bundle(curvelog.read(tmp_path / "e.log"))
    assert schema_errors(empty) == []
    assert (empty["charts"], empty["best"], empty["summary"]["steps"]) == ([], None, 0)
    assert empty["summary"]["analysis"]["convergence"] == {"metric": None, "status": None}
    with curvelog.EventLog(tmp_path / "n.log", best="loss", flush_every=0) as log:
        for i in range(10):
            log.append(i, loss=float("nan"), lr=0.1)
        log.append(10, lr=0.1)
    bundle = build_bundle(curvelog.read(tmp_path / "n.log"))
    assert schema_errors(bundle) == []
    loss = next(s for s in all_series(bundle) if s["metric"] == "loss")
    assert (loss["x"], loss["y"]) == ([0, 9], [None, None])
    assert loss["events"] == [{"step": 0, "kind": "nan", "last_step": 9, "count": 10}]
    assert bundle["best"] is None  # no finite value: nothing to recompute
    m = bundle["summary"]["metrics"]["loss"]
    assert (m["min"], m["max"], m["nan"]) == (None, None, 10)
    assert bundle["summary"]["analysis"]["metrics"]["loss"]["convergence"] == "diverged"
    with curvelog.EventLog(tmp_path / "o.log", flush_every=0) as log:
        log.append(5, loss=1.0)
    one = build_bundle(curvelog.read(tmp_path / "o.log"))
    assert one["charts"][0]["series"][0]["x"] == [5]
    assert one["summary"]["analysis"]["convergence"] == {
        "metric": "loss",
        "status": "insufficient_data",
    }


def test_the_trend_fit_a_slice_at_a_time_is_the_whole_array_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from curvelog.bundle import _analysis

    rng = np.random.default_rng(21)
    x = np.arange(5_000, 5_000 + 3 * 1000 + 17, dtype=np.int64) * 3
    y = 2.0 - 1e-4 * x + 0.05 * rng.standard_normal(x.size)
    whole = _analysis._fit(x, y)  # one slice: the plain formula
    xf = x.astype(np.float64)
    dx = xf - xf.mean()
    slope = float(dx @ (y - y.mean())) / float(dx @ dx)
    resid = y - y.mean() - slope * dx
    assert whole[0] == slope and whole[2] == float(y.mean())
    # the residuals' sum of squares as Syy - slope * Sxy: the same figure to 1e-9
    se = np.sqrt(float(resid @ resid) / (x.size - 2) / float(dx @ dx))
    assert whole[1] == pytest.approx(se, rel=1e-9)
    monkeypatch.setattr(_analysis, "_SLICE", 1000)  # four slices, the last one short
    sliced = _analysis._fit(x, y)
    np.testing.assert_allclose(sliced, whole, rtol=1e-9)
    assert sliced[0] < 0 and sliced[1] < abs(sliced[0])
    # a perfect line: Syy - slope * Sxy cancels to (about) zero, never below it
    line = 3.0 + 1e-3 * x
    slope, se, _ = _analysis._fit(x, line)
    assert slope == pytest.approx(1e-3, rel=1e-12) and 0.0 <= se < 1e-12
    assert _analysis._fit(x, np.full(x.size, 2.5))[:2] == (0.0, 0.0)


def _analysis_case(b: dict[str, Any], case: str) -> str:
    """Break one field of ``summary.analysis`` that `compare` or the plot reads; its pointer."""
    a = b["summary"]["analysis"]
    m = next(iter(a["metrics"]))
    p = f"/summary/analysis/metrics/{m}"
    if case == "metrics not an object":
        a["metrics"] = "x"
        return "/summary/analysis/metrics"
    if case == "a metric not an object":
        a["metrics"][m] = [1]
        return p
    if case == "convergence a number":
        a["metrics"][m]["convergence"] = 5
        return f"{p}/convergence"
    if case == "goal unknown":
        a["metrics"][m]["goal"] = "up"
        return f"{p}/goal"
    if case == "best not a point":
        a["metrics"][m]["best"] = {"step": "3", "value": 1.0}
        return f"{p}/best/step"
    if case == "run convergence status":
        a["convergence"] = {"metric": m, "status": 3}
        return "/summary/analysis/convergence/status"
    a["overfitting"] = [{"train": "a", "val": "b", "goal": "min", "status": "yes"}]
    return "/summary/analysis/overfitting/0/status"


@pytest.mark.parametrize(
    "case",
    ["metrics not an object", "a metric not an object", "convergence a number", "goal unknown",
     "best not a point", "run convergence status", "overfitting status"],
)  # fmt: skip
def test_the_analysis_that_readers_use_is_checked(
    small_bundle: dict[str, Any], tmp_path: Path, case: str
) -> None:
    """These passed the loader and crashed `compare --table` and `plot` with a traceback."""
    pointer = _analysis_case(small_bundle, case)
    with pytest.raises(BundleError) as err:
        load_bundle(small_bundle)
    assert err.value.pointer == pointer
    assert schema_errors(small_bundle) != []  # the shipped JSON Schema says so too
    (tmp_path / "a.json").write_bytes(dumps(small_bundle))
    bad = str(tmp_path / "a.json")
    result = CliRunner().invoke(cli, ["compare", bad, bad, "--table"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith(f"Error: {tmp_path / 'a.json'}: invalid bundle at {pointer}")


def test_a_number_past_float_range_is_refused(small_bundle: dict[str, Any], tmp_path: Path) -> None:
    """JSON's 1e400 parses as inf, but 10**400 as an int: it crashed the check itself."""
    small_bundle["charts"][0]["series"][0]["y"][1] = 10**400
    (tmp_path / "big.json").write_bytes(
        json.dumps(small_bundle).encode()  # our own writer refuses such a number
    )
    with pytest.raises(BundleError) as err:
        load_bundle(tmp_path / "big.json")
    assert err.value.pointer == "/charts/0/series/0/y/1"
    small_bundle["charts"][0]["series"][0]["y"][1] = 2**1000  # large, but a float holds it
    assert load_bundle(small_bundle)["charts"][0]["series"][0]["y"][1] == 2**1000


def test_a_lone_surrogate_is_refused_and_a_pair_is_read(
    small_bundle: dict[str, Any], tmp_path: Path
) -> None:
    """JSON may escape half of a UTF-16 pair; no picture, page or file can hold the
    string Python then keeps (plot and the HTML page crashed on it)."""
    text = json.dumps(small_bundle)
    name = json.dumps(small_bundle["run"]["name"])
    bad = tmp_path / "s.json"
    bad.write_text(text.replace(name, '"run \\ud800"', 1))
    with pytest.raises(BundleError, match="not valid Unicode"):
        load_bundle(bad)
    good = tmp_path / "p.json"
    good.write_text(text.replace(name, '"run \\ud83d\\ude00"', 1))
    assert load_bundle(good)["run"]["name"] == "run \U0001f600"


def test_a_negative_zero_smoothing_weight_is_zero(tmp_path: Path) -> None:
    """``--smooth -0`` passed the [0, 1) check, became the key "-0.0", and the
    finished bundle failed its own validation after the whole compaction."""
    from curvelog.bundle._smooth import check_weights

    assert [repr(w) for w in check_weights([-0.0, 0.0, 0.9])] == ["0.0", "0.9"]
    run = curvelog.read(make_log(tmp_path / "r.log", {"loss": np.linspace(2.0, 1.0, 50)}))
    b = build_bundle(run, smooth=(-0.0,))
    assert set(b["charts"][0]["series"][0]["smooth"]) == {"0.0"}
    validate_bundle(b)
