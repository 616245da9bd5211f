"""Downsampling: pick the few thousand points of a series that draw the same chart.

``downsample(x, y)`` takes one series (int64 steps, strictly increasing, and
float64 values that may hold NaN/±inf) and returns sorted, unique int64
indices into it. It is pure numpy: no I/O, and no Python loop per point (the
loops that remain run once per region, bucket or optimisation round).

Methods
-------
``auto`` (the default for ``curvelog compact``)
    Optimises the chart itself. It renders nothing, but it models the pixel
    columns of four reference charts of the series (linear and log-x step
    axis, 800 and 1600 px wide, 400 px high, x limits = the data's range) and
    chooses points so that every column lights the same rows as the raw
    curve, which is exactly what M4 (Jugel et al. 2014) achieves with four
    points per column. Volatility is measured in pixels: a column whose raw
    curve spans many rows gets points, a column the curve crosses as a thin
    line gets none. Steps: the mandatory points; the piecewise floor when the
    budget allows it (below); a zig-zag through the column extremes of the
    linear chart (one point per column, alternately its maximum and minimum,
    only in columns where the curve spans two or more rows and is not a
    monotone stretch); a greedy that adds the column extreme or edge point
    fixing the most missing or extra pixels, in rounds of 2% of the budget;
    two sweeps that move each free point to the best candidate between its
    neighbours, the gain counted exactly; and, if the reference charts are
    exact before the budget is spent (smooth curves), more points for finer
    charts (3200 x 1600 px), none of which may cost the reference charts a
    pixel. The linear charts weigh 8x the log-x ones: the linear chart is
    the default view and the one where classic downsamplers are strong.
    The reference charts are the ones ``tools/bench_fidelity.py`` scores;
    charts of other sizes or with x margins are not pixel-aligned with them
    and gain less (docs/SAMPLING.md has the numbers).
``volatility``
    A fixed point budget spent where the curve moves: the step range is cut
    into equal-width regions, each region's total variation (sum of
    |y[i+1] - y[i]|) buys it a share of the budget, and inside a region the
    points are the minimum and maximum of equal-width sub-buckets, so peaks,
    troughs and turning points survive. ``tools/bench_fidelity.py --study``
    compares total variation with range and standard deviation as the
    volatility measure.
``piecewise``
    The user's stride rule (``PIECEWISE_RULE``): steps below 1,000 all kept,
    then every 10th, 50th, 200th, 1,000th step. Strides are by step value, so
    irregular spacing works: the first point of every window
    ``[k*stride, (k+1)*stride)`` is kept, plus the window's last point where
    the next kept point would otherwise be more than a stride away. On
    regular integer steps this is exactly ``step % stride == 0``. ``n_out``
    is ignored: the rule decides the count.
``lttb``, ``minmax``
    The classics, for comparison: Largest-Triangle-Three-Buckets
    (Steinarsson 2013, equal-count buckets) and the minimum and maximum of
    equal-width step buckets.
``none``
    Every index.

Retention
---------
Whatever the method, the output holds the first and last point, the global
finite minimum and maximum, every non-finite value (NaN, +inf, -inf) and
every index in ``keep`` (the caller passes segment boundaries after a resume
and the best step there). Indices are unique, so each of these appears
exactly once. Ties at the minimum or maximum keep the *first* (lowest-step)
occurrence; a caller that wants another one passes it in ``keep``.

Budget
------
``n_out`` is the target number of points. The mandatory points above count
towards it; when they take more than half of it (a long burst of NaN), all
of them are still kept and ``n_out // 2`` points more describe the finite
curve, so the output may then exceed ``n_out``. The budgeted methods never
return more than ``max(n_out, mandatory + n_out // 2)`` points, and
``auto`` returns fewer only when its reference charts are already exact. A
series no longer than ``n_out`` is returned whole.

``auto`` and the piecewise rule: when one point in every window of the rule
fits in the budget, ``auto`` keeps one (the window's maximum or minimum,
alternately, moved only within its window), so it is never coarser than the
rule, and spends the rest of the budget where the pixels need it. When the
rule needs more points than the budget, the budget wins and the rule is not
applied.
"""

from __future__ import annotations

from ._methods import METHODS, PIECEWISE_RULE, downsample

__all__ = ["METHODS", "PIECEWISE_RULE", "downsample"]
