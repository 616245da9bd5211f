"""Smoothing over the raw data: the EMA stored at compaction (bundle/_smooth.py) and drawn."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

import curvelog
from _cli import assert_one_line_error, invoke
from curvelog import EventLog, build_bundle, load_bundle
from curvelog.bundle import schema_document
from curvelog.bundle._smooth import ema_raw
from curvelog.errors import BundleError, SamplingError
from curvelog.pipeline import compact, load_source
from curvelog.plot import ema, plot_bundle

SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(schema_document())


def plateau_log(path: Path, n: int = 60_000) -> tuple[Path, np.ndarray]:
    """The issue's shape: a fall to a plateau at 0.35, noise, and rare spikes the sampler keeps."""
    rng = np.random.default_rng(17)
    steps = np.arange(n)
    y = 0.35 + 2.5 * np.exp(-steps / 3000) + rng.normal(0.0, 0.03, n)
    spikes = rng.choice(n, n // 500, replace=False)
    y[spikes] += rng.uniform(1.0, 3.0, spikes.size)
    y[[n // 12, n // 12 + 1, n // 12 + 2, 2 * n // 3]] = np.nan
    with EventLog(path, flush_every=0) as log:
        for i in range(n):
            log.append(i, loss=float(y[i]))
    return path, y


def _pixels_y(fig: Any, steps: np.ndarray, values: np.ndarray) -> np.ndarray:
    ax = fig.axes[0]
    return np.asarray(ax.transData.transform(np.c_[steps, values])[:, 1])


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.9, 0.99, 0.999, 0.9999])
@pytest.mark.parametrize("n", [1, 7, 5000])
def test_vectorised_ema_is_the_reference_ema(weight: float, n: int) -> None:
    rng = np.random.default_rng(n)
    v = rng.normal(100.0, 10.0, n)
    v[::13] = np.nan
    v[::29] = np.inf
    got, want = ema_raw(v, weight), ema(v, weight)
    assert np.array_equal(np.isfinite(got), np.isfinite(want))
    assert np.allclose(got, want, rtol=1e-12, atol=0.0, equal_nan=True)


def test_huge_values_use_the_plain_loop() -> None:
    v = np.array([1e300, -1e300, 1e300, 5.0])
    assert np.allclose(ema_raw(v, 0.9), ema(v, 0.9), rtol=1e-12)


def test_stored_smoothing_matches_the_raw_ema_within_a_pixel(tmp_path: Path) -> None:
    path, y = plateau_log(tmp_path / "run.log")
    bundle, _ = compact(path, write=False, smooth=(0.99,))
    s = bundle["charts"][0]["series"][0]
    x = np.asarray(s["x"])
    stored = np.array([np.nan if v is None else v for v in s["smooth"]["0.99"]])
    raw_ema = ema(y, 0.99)  # the reference loop over every raw value
    fig = plot_bundle(bundle, smooth=0.99)
    ok = np.isfinite(raw_ema[x])
    assert np.array_equal(np.isfinite(stored), ok)
    err = np.abs(_pixels_y(fig, x[ok], stored[ok]) - _pixels_y(fig, x[ok], raw_ema[x][ok]))
    assert err.max() < 0.01  # pixels: every vertex of the drawn line is the raw EMA
    # what --smooth drew before: the EMA of the kept points, far off on the plateau
    kept = np.array([np.nan if v is None else v for v in s["y"]])
    old = ema(kept, 0.99)
    off = np.abs(_pixels_y(fig, x[ok], old[ok]) - _pixels_y(fig, x[ok], raw_ema[x][ok]))
    assert off.max() > 0.1 * fig.axes[0].get_window_extent().height  # a tenth of the panel
    (line,) = [ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "curvelog-series:loss"]
    drawn = np.asarray(line.get_ydata(), dtype=np.float64)
    assert np.allclose(drawn, stored, equal_nan=True)


def test_real_runs_stored_smoothing_is_the_raw_ema(real_logs: dict[str, Path]) -> None:
    for name, path in real_logs.items():
        run = curvelog.read(path)
        bundle = build_bundle(run, smooth=(0.9,))
        for chart in bundle["charts"]:
            for s in chart["series"]:
                raw = run.series(s["metric"])
                want = ema(raw.values, 0.9)[np.searchsorted(raw.steps, s["x"])]
                got = np.array([np.nan if v is None else v for v in s["smooth"]["0.9"]])
                assert np.allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True), name


def test_header_says_what_the_ema_averages(tmp_path: Path) -> None:
    path, _ = plateau_log(tmp_path / "run.log", n=3000)

    def subtitle(bundle: dict[str, Any], weight: float) -> str:
        fig = plot_bundle(bundle, smooth=weight)
        (note,) = [t for t in fig.artists if t.get_gid() == "curvelog-subtitle"]
        return str(note.get_text())

    stored, _ = compact(path, write=False, smooth=(0.9, 0.99))
    assert "EMA 0.9 over the raw data" in subtitle(stored, 0.9)
    assert "EMA 0.99 over the raw data" in subtitle(stored, 0.99)
    assert "EMA 0.6 over kept points" in subtitle(stored, 0.6)  # a weight not stored
    plain, _ = compact(path, write=False)
    assert "EMA 0.9 over kept points" in subtitle(plain, 0.9)
    from_log = load_source(path, smooth=(0.8,))  # plotting a log computes it from the log
    assert "EMA 0.8 over the raw data" in subtitle(from_log, 0.8)


def test_cli_compact_and_plot_smooth(tmp_path: Path) -> None:
    path, _ = plateau_log(tmp_path / "run.log", n=3000)
    invoke("compact", str(path), "--smooth", "0.9,0.99")
    bundle = json.loads((tmp_path / "run.curves.json").read_text())
    s = bundle["charts"][0]["series"][0]
    assert sorted(s["smooth"]) == ["0.9", "0.99"]
    assert all(len(v) == len(s["x"]) for v in s["smooth"].values())
    assert SCHEMA_VALIDATOR.is_valid(bundle)
    invoke("plot", str(tmp_path / "run.curves.json"), "--smooth", "0.99")
    invoke("plot", str(path), "-o", str(tmp_path / "log.png"), "--smooth", "0.99")
    assert (tmp_path / "run.png").stat().st_size > 0 and (tmp_path / "log.png").exists()
    for bad, why in (("1.0", "weight 1.0 is not in [0, 1)"), ("x", "'x' is not a number")):
        result = invoke("compact", str(path), "--force", "--smooth", bad, ok=False)
        assert_one_line_error(result, f"--smooth: {why} (e.g. 0.9,0.99)")


def test_library_refuses_a_bad_weight(tmp_path: Path) -> None:
    path, _ = plateau_log(tmp_path / "run.log", n=100)
    with pytest.raises(SamplingError, match=r"smoothing weight must be in \[0, 1\)"):
        build_bundle(curvelog.read(path), smooth=(1.5,))


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda s: s.update(smooth={"0.9": [1.0]}), "/charts/0/series/0/smooth/0.9"),
        (
            lambda s: s.update(smooth={"fast": [None] * len(s["x"])}),
            "/charts/0/series/0/smooth/fast",
        ),
        (lambda s: s.update(smooth=[1.0]), "/charts/0/series/0/smooth"),
        (
            lambda s: s.update(smooth={"0.9": ["a"] * len(s["x"])}),
            "/charts/0/series/0/smooth/0.9/0",
        ),
    ],
)
def test_malformed_smooth_is_rejected_by_both_validators(
    tmp_path: Path, mutate: Any, pointer: str
) -> None:
    path, _ = plateau_log(tmp_path / "run.log", n=100)
    good, _ = compact(path, write=False, smooth=(0.9,))
    bad = copy.deepcopy(good)
    mutate(bad["charts"][0]["series"][0])
    with pytest.raises(BundleError) as err:
        load_bundle(bad)
    assert err.value.pointer == pointer
    if pointer.endswith("/0.9"):  # lengths: only the built-in validator can say
        return
    assert not SCHEMA_VALIDATOR.is_valid(bad)
