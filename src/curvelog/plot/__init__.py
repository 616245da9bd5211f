"""Charts of a bundle: one panel per chart, the best point, NaN/inf events, resumes.

matplotlib is imported inside the functions, so ``import curvelog`` stays cheap
in a training loop, and only through ``matplotlib.figure.Figure`` with the Agg
canvas: pyplot's global state is never touched, so this works headless and
from several threads at once.

What a panel shows:

* a line per series, coloured by its label (``train`` has the same colour on
  every panel), thicker and with dots when a series has only a few points;
* the best point (a gold star) with a short note ``best <metric> = <value> /
  at step <step>`` placed where it covers the fewest points, on every chart
  that holds the best metric;
* NaN/inf events as red markers on the x axis where they happened (a red bar
  along the axis for a run of them), labelled once per panel in the legend;
* resumes as dashed grey vertical lines (solid and faint past 40 resume steps);
* a log y axis when the chart was sampled for one (``sampled_for``), else when
  every value is positive and a series spans more than two decades (or the
  bundle asks for one): the rule of ``curvelog.sampling._views.panel_yscale``,
  which `compact` applies too; ``logy=True/False`` forces it;
* with ``smooth=W`` a debiased EMA (TensorBoard's) over the faint raw line.

Output is deterministic: the same bundle gives the same PNG, SVG and PDF bytes
(no dates, a fixed SVG hash salt).

The package: `_style` (palette, rcParams, formats), `_panel` (one chart on
an axes), `_marks` (NaN/inf events, resumes), `_ticks` (tick labels, step 0
on a log x axis), `_note` (where the best's note goes), `_layout` (text that
must fit, and the pass once the panels are placed), `_figure` (grids of
panels, one run or several), `_output` (bytes and files). It never reads a file:
the caller hands it a validated bundle.
"""

from __future__ import annotations

from ._figure import compare_bundles, draw_bundle, draw_comparison, plot_bundle
from ._output import FORMATS, figure_bytes, output_format, render_png, save_figure
from ._panel import ema, plot_chart
from ._style import (
    BEST_COLOR,
    EVENT_COLOR,
    LINESTYLES,
    MAX_DRAWN_LABEL,
    MAX_DRAWN_NOTE,
    MAX_DRAWN_TEXT,
    PALETTE,
    RESUME_COLOR,
    format_step,
)

__all__ = [
    "BEST_COLOR",
    "EVENT_COLOR",
    "FORMATS",
    "LINESTYLES",
    "MAX_DRAWN_LABEL",
    "MAX_DRAWN_NOTE",
    "MAX_DRAWN_TEXT",
    "PALETTE",
    "RESUME_COLOR",
    "compare_bundles",
    "draw_bundle",
    "draw_comparison",
    "ema",
    "figure_bytes",
    "format_step",
    "output_format",
    "plot_bundle",
    "plot_chart",
    "render_png",
    "save_figure",
]
