"""curvelog.plot: what fits where, measured on the drawn figure (visual QA report).

Geometry comes from matplotlib itself after a draw: text and legend boxes in
display pixels (`get_window_extent`), axis limits, tick labels, line colours.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from curvelog.plot import EVENT_COLOR, PALETTE, compare_bundles, plot_bundle
from test_plot import STEPS, best_of, bundle_of, chart, legend_texts, lines, loss_curve, series


def drawn(fig: Any) -> Any:
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def box(artist: Any, renderer: Any) -> Any:
    return artist.get_window_extent(renderer)


def inside(inner: Any, outer: Any, tol: float = 1.0) -> bool:
    return bool(
        inner.x0 >= outer.x0 - tol
        and inner.x1 <= outer.x1 + tol
        and inner.y0 >= outer.y0 - tol
        and inner.y1 <= outer.y1 + tol
    )


def overlap(a: Any, b: Any) -> bool:
    return bool(a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1)


def title_of(ax: Any) -> Any:
    """The panel's title artist (titles are drawn on the left)."""
    return ax._left_title  # noqa: SLF001


def note_of(ax: Any) -> Any:
    (note,) = [t for t in ax.texts if t.get_gid() == "curvelog-best-note"]
    return note


def sweep(n: int) -> list[dict[str, Any]]:
    """``n`` runs like a learning-rate sweep: one chart, train and val loss."""
    out = []
    for i in range(n):
        train = [math.exp(-s / (300 + 50 * i)) * (1 + 0.1 * i) + 0.1 + 0.02 * i for s in STEPS]
        val = [v * 1.1 for v in train[::20]]
        out.append(
            bundle_of(
                chart(
                    "loss", series("train/loss", STEPS, train), series("val/loss", STEPS[::20], val)
                ),
                best=best_of("val/loss", STEPS[::20][-1], val[-1]),
                name=f"lr{i}",
            )  # fmt: skip
        )
    return out


# --------------------------------------------------------------------------- 1: runs legend


@pytest.mark.parametrize("n", [3, 4, 6, 12])
def test_compare_legend_lists_every_run_inside_the_figure(n: int) -> None:
    """QA 1: in a one-chart (narrow) comparison the foot legend was one row wider than
    the figure: run names and whole runs were cut off."""
    fig = compare_bundles(sweep(n), dpi=50)
    height = fig.get_size_inches()[1]
    r = drawn(fig)
    (runs,) = [leg for leg in fig.legends if leg.get_gid() == "curvelog-runs"]
    texts = [t.get_text() for t in runs.get_texts()]
    assert [t.split("  (best")[0] for t in texts] == [f"lr{i}" for i in range(n)]
    assert all("(best val/loss " in t for t in texts)
    assert inside(box(runs, r), fig.bbox)
    for t in runs.get_texts():
        assert inside(box(t, r), fig.bbox)
    panel = box(fig.axes[0], r)
    assert not overlap(panel, box(runs, r))
    if n >= 6:
        assert height > 3.2 + 0.6  # the figure grew to hold the rows


# --------------------------------------------------------------------------- 2, 12: long text

LONG = [
    "optimizer/learning_rate_schedule_after_warmup_and_cosine_decay_per_parameter_group_0",
    "gradient_norm_of_all_parameters_before_clipping_measured_in_l2",
    "validation_set_with_augmentations/cross_entropy_loss_averaged_over_all_tokens",
]


def long_bundle() -> dict[str, Any]:
    charts = []
    for name in LONG:
        c = chart(name, series(name, STEPS, loss_curve()))
        charts.append(c)
    return bundle_of(*charts, best=best_of(LONG[2], 990, loss_curve()[-1]))


def test_long_titles_and_ylabels_stay_in_their_panel() -> None:
    """QA 2: titles ran over their neighbour and off the figure; y labels were cut."""
    fig = plot_bundle(long_bundle(), dpi=60)
    r = drawn(fig)
    titles = []
    for ax in fig.axes:
        title = title_of(ax)
        panel = box(ax, r)
        t = box(title, r)
        assert t.x1 <= panel.x1 + 1 and inside(t, fig.bbox)
        y = box(ax.yaxis.label, r)
        assert y.height <= panel.height + 1 and inside(y, fig.bbox)
        titles.append(t)
    for a in range(len(titles)):
        for b in range(a + 1, len(titles)):
            assert not overlap(titles[a], titles[b])
    assert fig.axes[0].get_title(loc="left").endswith("group_0")  # cut in the middle


def test_the_best_note_keeps_value_and_step_and_stays_in_its_axes() -> None:
    """QA 2: a long metric name cut the note to 'best validation_set…': no value, no step."""
    fig = plot_bundle(long_bundle(), dpi=60)
    r = drawn(fig)
    ax = fig.axes[2]
    text = note_of(ax).get_text()
    assert f"= {loss_curve()[-1]:#.4g}" in text and text.endswith("at step 990")
    assert inside(box(note_of(ax), r), box(ax, r))


def test_a_long_run_name_is_set_smaller_then_cut_keeping_its_end() -> None:
    """QA 12: the run name was cut at 60 characters at full size, losing its seed/run id."""
    name = "gpt2-medium-fineweb-edu-lr6e-4-bs512-ctx1024-warmup700-cosine-wd0.1-seed1337-run17"
    one = bundle_of(chart("loss", series("loss", STEPS, loss_curve())), name=name)
    fig = plot_bundle(one, size=(6, 3.5))
    r = drawn(fig)
    title = fig._suptitle  # noqa: SLF001
    assert title.get_text().rstrip("\n") == name  # it fits at a smaller size: not cut at all
    assert title.get_fontsize() < 11.5
    assert inside(box(title, r), fig.bbox)
    tiny = plot_bundle(bundle_of(chart("loss", series("loss", STEPS, loss_curve())),
                                 name=name * 3), size=(4, 3), dpi=50)  # fmt: skip
    r = drawn(tiny)
    text = tiny._suptitle.get_text()  # noqa: SLF001
    assert "…" in text and text.rstrip("\n").endswith("seed1337-run17")
    assert inside(box(tiny._suptitle, r), tiny.bbox)  # noqa: SLF001


# --------------------------------------------------------------------------- 3: the note's room


def test_the_note_goes_into_free_space_instead_of_stretching_the_axis() -> None:
    """QA 3: a loss of ~0.5 with one spike to 500 got a y axis from -150 to 520."""
    y = [0.5 + 0.3 * math.exp(-s / 200) for s in STEPS]
    y[50] = 500.0
    val = y[::10]
    b = bundle_of(
        chart("loss", series("train/loss", STEPS, y), series("val/loss", STEPS[::10], val)),
        best=best_of("val/loss", STEPS[::10][-1], val[-1]),
    )
    fig = plot_bundle(b, logy=False)
    drawn(fig)
    lo, hi = fig.axes[0].get_ylim()
    assert lo > -0.1 * 500 and hi < 1.1 * 500


def test_a_rate_in_0_1_keeps_an_axis_near_1() -> None:
    """QA 3: an eval success rate in [0, 1] got an axis up to 1.4."""
    rng = np.random.default_rng(7)
    steps = list(range(0, 3000, 50))
    rate = np.clip(np.linspace(0, 0.9, len(steps)) + rng.normal(0, 0.08, len(steps)), 0, 1)
    i = int(np.argmax(rate))
    b = bundle_of(
        chart("success", series("eval/success_rate", steps, rate.tolist())),
        best=best_of("eval/success_rate", steps[i], float(rate[i]), mode="max"),
    )
    fig = plot_bundle(b, dpi=80)
    r = drawn(fig)
    lo, hi = fig.axes[0].get_ylim()
    assert hi <= 1.1 and lo >= -0.1
    assert inside(box(note_of(fig.axes[0]), r), box(fig.axes[0], r))


# --------------------------------------------------------------------------- 4: log x


def test_logx_keeps_the_best_and_resumes_at_step_0() -> None:
    """QA 4: --logx silently dropped the star, the note and resume lines at step 0."""
    val = [1.0 + 0.01 * s for s in STEPS]
    b = bundle_of(
        chart("loss", series("val/loss", STEPS, val)),
        best=best_of("val/loss", 0, 1.0),
        resumes=[0, 500],
    )
    fig = plot_bundle(b, logx=True)
    drawn(fig)
    ax = fig.axes[0]
    lo, _ = ax.get_xlim()
    (star,) = lines(ax, "curvelog-best")
    assert star.get_xydata().tolist() == [[lo, 1.0]]  # at the left edge
    assert note_of(ax).get_text().endswith("at step 0")
    colls = [c for c in ax.collections if c.get_gid() == "curvelog-resumes"]
    xs = sorted(float(seg[0][0]) for c in colls for seg in c.get_segments())
    assert xs == [lo, 500.0]
    assert "step 0 at the left edge" in ax.get_xlabel()


# --------------------------------------------------------------------------- 5: colours


def many_series(n: int) -> dict[str, Any]:
    split = [series(f"split{i:02d}/loss", STEPS, loss_curve(1 + i / 10)) for i in range(n)]
    return bundle_of(
        chart("loss", series("train/loss", STEPS, loss_curve()),
              series("val/loss", STEPS, loss_curve(1.1))),
        chart("m00", series("train/m00", STEPS, loss_curve(), label="m00"),
              series("val/m00", STEPS, loss_curve(0.9))),
        chart("splits", *split),
    )  # fmt: skip


def colour_of(ax: Any, metric: str) -> str:
    (line,) = lines(ax, f"curvelog-series:{metric}")
    return str(line.get_color())


def test_a_label_keeps_its_colour_whichever_charts_are_drawn() -> None:
    """QA 5: `val` was brown with --charts m00 and orange with every chart."""
    b = many_series(3)
    every = plot_bundle(b, dpi=30)
    some = plot_bundle(b, charts="m00,splits", dpi=30)
    assert colour_of(every.axes[1], "val/m00") == colour_of(some.axes[0], "val/m00") == PALETTE[1]
    for i in range(3):
        m = f"split{i:02d}/loss"
        assert colour_of(every.axes[2], m) == colour_of(some.axes[1], m)


def test_twelve_lines_on_a_panel_get_twelve_colours() -> None:
    """QA 5: past 9 series, lines of one panel shared a colour."""
    fig = plot_bundle(many_series(12), charts="splits", dpi=30)
    ax = fig.axes[0]
    colours = [ln.get_color() for ln in lines(ax, "curvelog-series")]
    assert len(colours) == 12 and len(set(colours)) == 12
    assert EVENT_COLOR not in colours


def test_twelve_runs_get_twelve_colours() -> None:
    fig = compare_bundles(sweep(12), dpi=30)
    (runs,) = [leg for leg in fig.legends if leg.get_gid() == "curvelog-runs"]
    colours = [h.get_color() for h in runs.legend_handles]
    assert len(set(colours)) == 12


# --------------------------------------------------------------------------- 6: sizes


def four_charts() -> dict[str, Any]:
    val = loss_curve(8, 3.2)
    return bundle_of(
        chart("loss", series("train/loss", STEPS, loss_curve(8, 3.0)),
              series("val/loss", STEPS, val)),
        chart("lr", series("lr", STEPS, [6e-4 * math.cos(s / 700) for s in STEPS])),
        chart("grad_norm", series("grad_norm", STEPS, loss_curve(10, 0.3))),
        chart("hellaswag_acc", series("hellaswag_acc", STEPS, [0.25 + s / 2e4 for s in STEPS])),
        best=best_of("val/loss", 990, val[-1]),
    )  # fmt: skip


def test_a_tall_narrow_figure_gets_one_column() -> None:
    """QA 6: a 3x12 inch figure kept two 1.5-inch columns: ticks ran together."""
    fig = plot_bundle(four_charts(), size=(3, 12), dpi=60)
    r = drawn(fig)
    assert len({round(box(ax, r).x0) for ax in fig.axes}) == 1
    for ax in fig.axes:
        ticks = [box(t, r) for t in ax.get_xticklabels() if t.get_text()]
        ticks = [t for t in ticks if box(ax, r).x0 - 20 <= t.x0 <= box(ax, r).x1 + 20]
        for a, b in zip(ticks, ticks[1:], strict=False):
            assert not overlap(a, b)


@pytest.mark.parametrize("size", [(4.0, 3.0), (3.0, 12.0)])
def test_the_note_stays_inside_its_axes_at_any_size(size: tuple[float, float]) -> None:
    """QA 6: at 4x3 the note sat in the header band, over the title and the legend."""
    fig = plot_bundle(four_charts(), size=size, dpi=100)
    r = drawn(fig)
    ax = fig.axes[0]
    note = box(note_of(ax), r)
    assert inside(note, box(ax, r))
    title = title_of(ax)
    assert not overlap(note, box(title, r))
    leg = ax.get_legend()
    assert leg is None or not overlap(note, box(leg, r))


# --------------------------------------------------------------------------- 7, 13: ticks


def test_ticks_of_a_big_constant_part_are_short_and_relative() -> None:
    """QA 7: 1e6 + 0.001·sin read '1.00000000100' under '1e6'."""
    b = bundle_of(
        chart("offset", series("offset", STEPS, [1e6 + 1e-3 * math.sin(s / 30) for s in STEPS])),
        chart("t", series("t", STEPS, [1.7e9 + 3.2 * s for s in STEPS])),
    )
    fig = plot_bundle(b, dpi=50)
    drawn(fig)
    for ax, offset in zip(fig.axes, ("1e6", "1.7e9"), strict=True):
        labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert labels and all(len(t) <= 8 for t in labels), labels
        assert ax.yaxis.get_offset_text().get_text() == ""
        assert ax.get_ylabel().endswith(f"\u2212 {offset}")


def test_titles_of_a_row_share_a_baseline_with_a_huge_panel() -> None:
    """QA 13: a panel with a x1e11 label had its title 12 px above the others."""
    b = bundle_of(
        chart("loss", series("loss", STEPS, [1e11 * math.exp(-s / 100) for s in STEPS])),
        chart("lr", series("lr", STEPS, [0.1] * 50 + [0.2] * 50)),
    )
    fig = plot_bundle(b, logy=False, dpi=60)
    r = drawn(fig)
    tops = {round(box(title_of(ax), r).y0) for ax in fig.axes}
    assert len(tops) == 1


# --------------------------------------------------------------------------- 10: legends


def test_a_legend_covers_no_line_point_or_goes_beside_the_axes() -> None:
    """QA 10: a 12-entry legend filled the left of the panel over the lines."""
    bands = [
        series(f"split{i:02d}/loss", STEPS, [i * 0.5 + 0.3 * math.sin(s / 40 + i) for s in STEPS])
        for i in range(12)
    ]  # lines across the whole panel: no free spot inside
    fig = plot_bundle(bundle_of(chart("splits", *bands)), dpi=60)
    r = drawn(fig)
    ax = fig.axes[0]
    leg = box(ax.get_legend(), r)
    for ln in lines(ax, "curvelog-series"):
        xy = ln.get_transform().transform(ln.get_xydata())
        hit = (xy[:, 0] > leg.x0) & (xy[:, 0] < leg.x1) & (xy[:, 1] > leg.y0) & (xy[:, 1] < leg.y1)
        assert not hit.any(), ln.get_gid()
    assert inside(leg, fig.bbox)


# --------------------------------------------------------------------------- 14, 15


def test_compare_nan_entries_name_their_run() -> None:
    """QA 14: 'train: NaN ×500' for every run: whose NaN was it?"""
    y = loss_curve()
    bad = [*y[:50], *([None] * 50)]
    ev = [{"kind": "nan", "step": 500, "last_step": 990, "count": 50}]
    a = bundle_of(chart("loss", series("loss", STEPS, bad, events=ev)), name="diverge")
    b = bundle_of(chart("loss", series("loss", STEPS, y)), name="fine")
    c = bundle_of(chart("loss", series("loss", STEPS, y)), name="other")
    fig = compare_bundles([a, b, c], dpi=30)
    ax = fig.axes[0]
    nan = [t for t in legend_texts(ax) if "NaN" in t]
    assert nan == ["diverge loss: NaN \u00d750"]
    (marker,) = lines(ax, "curvelog-events:nan")
    assert marker.get_markeredgecolor() == PALETTE[0]  # diverge's colour


def test_header_says_1_step_and_notes_keep_4_digits() -> None:
    """QA 15: '1 steps', and -0.99999 noted as '-1'."""
    b = bundle_of(chart("m", series("val/m", [0], [-0.99999])), best=best_of("val/m", 0, -0.99999))
    b["summary"]["steps"] = 1
    fig = plot_bundle(b, dpi=30)
    (sub,) = [
        t for t in fig.findobj() if getattr(t, "get_gid", lambda: None)() == "curvelog-subtitle"
    ]
    assert sub.get_text().startswith("1 step") and "steps" not in sub.get_text()
    drawn(fig)
    assert "= -1.000\n" in note_of(fig.axes[0]).get_text()
