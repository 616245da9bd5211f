"""compare --table/--json: runs compared as numbers on their common objective; the README's
table is what the command prints on the real runs."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

import curvelog
from _cli import assert_one_line_error, invoke
from curvelog.bundle import build_bundle
from curvelog.compare import compare_runs, format_table

README = Path(__file__).resolve().parents[1] / "README.md"


def make_log(
    path: Path, values: list[float], *, best: str | None = "val/loss", mode: str = "min",
    every: int = 10, metric: str = "val/loss",
) -> Path:  # fmt: skip
    with curvelog.EventLog(path, best=best, mode=mode, flush_every=0) as log:  # type: ignore[arg-type]
        for i, v in enumerate(values):
            log.append(i * every, {metric: v, "train/loss": v + 0.5})
    return path


def bundle(path: Path, **kw: Any) -> dict[str, Any]:
    return build_bundle(curvelog.read(make_log(path, **kw)))


def test_better_run_by_how_much_and_when(tmp_path: Path) -> None:
    a = bundle(tmp_path / "a.log", values=[4.0, 3.0, 2.02, 2.5, 2.0, 2.1])
    b = bundle(tmp_path / "b.log", values=[5.0, 2.5, 2.6, 2.52, 2.55])
    r = compare_runs([a, b], ["a", "b"])
    assert r["comparable"] and r["objective"] == {"metric": "val/loss", "mode": "min"}
    ra, rb = r["runs"]
    assert ra["best"] == {"step": 40, "value": 2.0} and rb["best"] == {"step": 10, "value": 2.5}
    assert ra["final"] == {"step": 50, "value": 2.1} and rb["final"] == {"step": 40, "value": 2.55}
    assert ra["min"]["value"] == 2.0 and ra["max"] == {"step": 0, "value": 4.0}
    # a: 2.02 at step 20 is within 1 % of 2.0; b: its best itself at step 10
    assert ra["within_1pct_of_best"] == {"step": 20, "exact": True}
    assert rb["within_1pct_of_best"] == {"step": 10, "exact": True}
    assert ra["convergence"] in ("plateaued", "improving", "worsening", "diverged",
                                 "insufficient_data")  # fmt: skip
    assert ra["convergence"] == a["summary"]["analysis"]["metrics"]["val/loss"]["convergence"]
    assert r["ranking"] == ["a", "b"]
    v = r["verdict"]
    assert v["better"] == "a" and v["than"] == "b" and not v["tie"]
    assert v["difference"] == pytest.approx(0.5) and v["relative_difference"] == pytest.approx(0.2)
    assert v["steps_to_within_1pct"] == 10
    text = format_table(r)
    assert text.splitlines()[0] == "objective: val/loss (min)"
    assert text.splitlines()[-1] == (
        "verdict: a is better on val/loss: 0.5 (20.00%) lower than b; "
        "it came within 1% of its best 10 steps later"
    )
    json.dumps(r, allow_nan=False)  # strict JSON


def test_max_objective_and_order_of_inputs(tmp_path: Path) -> None:
    kw: dict[str, Any] = {"best": "val/acc", "mode": "max", "metric": "val/acc"}
    a = bundle(tmp_path / "a.log", values=[0.1, 0.5, 0.9], **kw)
    b = bundle(tmp_path / "b.log", values=[0.2, 0.95, 0.7], **kw)
    r = compare_runs([a, b], ["a", "b"])
    assert r["ranking"] == ["b", "a"] and r["verdict"]["better"] == "b"
    assert "higher than a" in format_table(r)


def test_a_tie(tmp_path: Path) -> None:
    a = bundle(tmp_path / "a.log", values=[3.0, 1.0])
    b = bundle(tmp_path / "b.log", values=[2.0, 1.0])
    r = compare_runs([a, b], ["a", "b"])
    assert r["verdict"]["tie"] and r["verdict"]["better"] is None
    assert format_table(r).endswith("verdict: a tie on val/loss between a and b")


def test_a_run_that_never_had_a_finite_value_loses(tmp_path: Path) -> None:
    a = bundle(tmp_path / "a.log", values=[math.nan, math.nan, math.inf])
    b = bundle(tmp_path / "b.log", values=[3.0, 2.0])
    r = compare_runs([a, b], ["a", "b"])
    assert r["runs"][0]["best"] is None and r["ranking"] == ["b", "a"]
    assert r["verdict"]["better"] == "b" and r["verdict"]["difference"] is None


def test_no_common_objective_is_said_not_guessed(tmp_path: Path) -> None:
    a = bundle(tmp_path / "a.log", values=[3.0, 2.0])
    b = bundle(tmp_path / "b.log", values=[3.0, 2.0], best=None)
    c = bundle(tmp_path / "c.log", values=[0.3, 0.5], best="val/acc", mode="max", metric="val/acc")
    r = compare_runs([a, b], ["a", "b"])
    assert not r["comparable"] and r["verdict"] is None
    assert r["reason"] == (
        "no common objective: a optimises val/loss (min), b has no objective; "
        "pass --metric NAME to compare on one"
    )
    assert format_table(r) == "not comparable: " + r["reason"]
    # a named metric both have: compared, the direction from the objective / the name
    r = compare_runs([a, b], ["a", "b"], metric="val/loss")
    assert r["comparable"] and r["objective"]["mode"] == "min"
    r = compare_runs([a, c], ["a", "c"], metric="val/loss")
    assert r["reason"] == "c has no metric 'val/loss': nothing to compare on"


def test_cli_table_json_and_errors(tmp_path: Path) -> None:
    a = str(make_log(tmp_path / "a.log", [4.0, 3.0, 2.0]))
    b = str(make_log(tmp_path / "b.log", [5.0, 2.5]))
    res = invoke("compare", a, b, "--table")
    assert res.stdout.startswith("objective: val/loss (min)\n")
    assert "verdict: a is better on val/loss" in res.stdout
    res = invoke("compare", a, b, "--json", "--name", "first", "--name", "second")
    got = json.loads(res.stdout)
    assert got["ranking"] == ["first", "second"] and got["verdict"]["better"] == "first"
    res = invoke("compare", a, b, "--metric", "val/loss", "-o", str(tmp_path / "x.png"), ok=False)
    assert_one_line_error(res, "--metric and --mode go with --table or --json")
    assert not (tmp_path / "x.png").exists()
    res = invoke("compare", a, "--table", ok=False)
    assert_one_line_error(res, "compare needs at least two runs")
    # a metric that a run lacks is a typo to report, not a verdict ("not comparable", exit 0)
    for flag in ("--table", "--json"):
        res = invoke("compare", a, b, flag, "--metric", "val/los", ok=False)
        assert_one_line_error(res, f"{a}: no metric 'val/los' (metrics: val/loss, train/loss)")


def test_the_same_run_twice_gets_two_short_names(tmp_path: Path) -> None:
    a = str(make_log(tmp_path / "a.log", [4.0, 3.0, 2.0]))
    got = json.loads(invoke("compare", a, a, "--json").stdout)
    assert [r["name"] for r in got["runs"]] == ["a", "a (2)"]


def test_table_draws_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    a = str(make_log(tmp_path / "a.log", [4.0, 3.0]))
    b = str(make_log(tmp_path / "b.log", [5.0, 2.5]))
    invoke("compare", a, b, "--table")
    assert not (tmp_path / "compare.png").exists()


# --------------------------------------------------------------------------- the README


def readme_block(command_start: str) -> tuple[str, str]:
    """The README's ``$ curvelog compare ... --table`` line and the output under it."""
    text = README.read_text()
    m = re.search(r"^\$ (" + re.escape(command_start) + r"[^\n]*)\n(.*?)^```", text, re.S | re.M)
    assert m, f"README has no '$ {command_start}' block"
    return m.group(1), m.group(2)


def test_readme_compare_table_is_what_the_command_prints(real_logs: dict[str, Path]) -> None:
    """The real runs come from ../shared/data/real through tools/csv_to_log.py's objectives
    (conftest's ``real_logs``); without that data conftest stops the whole suite."""
    command, shown = readme_block("curvelog compare runs/buildnanogpt_fineweb_2p5ep.log")
    args = command.split()[2:]
    args = [str(real_logs[Path(a).stem]) if a.endswith(".log") else a for a in args]
    res = invoke("compare", *args)
    assert res.stdout == shown


def test_readme_not_comparable_is_what_the_command_prints(real_logs: dict[str, Path]) -> None:
    command, shown = readme_block("curvelog compare runs/gen_digits_mlp.log")
    args = command.split()[2:]
    args = [str(real_logs[Path(a).stem]) if a.endswith(".log") else a for a in args]
    res = invoke("compare", *args)
    assert res.stdout == shown


def test_a_mode_against_the_runs_own_objective_ranks_on_that_mode(tmp_path: Path) -> None:
    """Runs tracked as "min" compared with --mode max: each row's best was the
    bundle's tracked minimum, so the verdict named the wrong run (and disagreed with
    the "within 1%" column of the same row)."""
    a = bundle(tmp_path / "a.log", values=[1.0, 0.5, 0.01])  # max 1 at step 0
    b = bundle(tmp_path / "b.log", values=[0.5, 0.4, 0.302])  # max 0.5 at step 0
    r = compare_runs([a, b], ["a", "b"], metric="val/loss", mode="max")
    ra, rb = r["runs"]
    assert ra["best"] == {"step": 0, "value": 1.0} and rb["best"] == {"step": 0, "value": 0.5}
    assert r["ranking"] == ["a", "b"] and r["verdict"]["better"] == "a"
    assert r["verdict"]["difference"] == pytest.approx(0.5)
    same = compare_runs([a, b], ["a", "b"], metric="val/loss", mode="min")  # as tracked
    assert same["runs"][0]["best"] == {"step": 20, "value": 0.01}
    assert same["verdict"]["better"] == "a"


def test_extreme_values_give_a_readable_verdict_and_strict_json(tmp_path: Path) -> None:
    """1e308 against -1e308 made the difference inf ("inf%", and JSON that strict
    parsers refuse); a share of a value near 0 or of the other sign means nothing."""
    huge = bundle(tmp_path / "h.log", values=[1e308, 1e308])
    neg = bundle(tmp_path / "n.log", values=[-1e308, -1e308])
    tiny = bundle(tmp_path / "t.log", values=[1e-300, 1e-300])
    big = bundle(tmp_path / "b.log", values=[1e300, 1e300])
    r = compare_runs([huge, neg], ["huge", "neg"])
    assert r["verdict"]["better"] == "neg" and r["verdict"]["difference"] is None
    assert r["verdict"]["relative_difference"] is None
    json.dumps(r, allow_nan=False)  # strict JSON: no inf, no nan
    assert format_table(r).splitlines()[-1] == (
        "verdict: neg is better on val/loss (the difference is beyond float64)"
    )
    r = compare_runs([tiny, big], ["tiny", "big"])
    assert r["verdict"]["difference"] == 1e300 and r["verdict"]["relative_difference"] == 1.0
    line = format_table(r).splitlines()[-1]
    assert line.startswith("verdict: tiny is better on val/loss: 1e+300 (100.00%) lower than big")
    r = compare_runs([neg, tiny], ["neg", "tiny"])  # across zero: no share
    assert r["verdict"]["relative_difference"] is None
    assert (
        format_table(r)
        .splitlines()[-1]
        .startswith("verdict: neg is better on val/loss: 1e+308 lower than tiny;")
    )
    assert "inf" not in json.dumps(r, allow_nan=False)
