"""Downsampling: pick the few thousand points of a series that draw the same chart.

``downsample(x, y)`` takes one series (int64 steps, strictly increasing, and
float64 values that may hold NaN/±inf) and returns sorted, unique int64
indices into it. It is pure numpy: no I/O, and no Python loop per point (the
loops that remain run once per region, bucket or optimisation round).

Methods
-------
``auto`` (the default for ``curvelog compact``)
    Optimises the chart itself, in the views it will be drawn in
    (`_views`): the y scale its panel gets (``yscale=``; None applies the
    plot's rule, `_views.panel_yscale`, to the series alone), ``plot``'s 2%
    x padding, a default plot panel (430 x 280 px), 800 x 400 and
    1600 x 400, then, at lower weight, the same without padding, a log step
    axis and the other y scale. It renders nothing, but it models the pixel
    columns of those charts and chooses points so that every column lights
    the same rows as the raw curve, which is exactly what M4 (Jugel et al.
    2014) achieves with four points per column. Steps: the mandatory points
    (a run of NaN/inf costs its two ends); the piecewise floor when it fits
    in half the budget; a zig-zag through column extremes; a greedy that
    adds the point fixing the most missing or extra pixels; two sweeps that
    move points to better candidates; then M4, MinMax, MinMaxLTTB and LTTB at
    the same budget are scored with the same model and `auto` starts again
    from the best of them if it draws better; finer charts take what is
    left only when every chart is exact. Everything that reads all N points
    is one block pass (`_blocks`). docs/SAMPLING.md has the details and the
    numbers.
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
curve, so the output may then exceed ``n_out``. A run of consecutive
NaN/inf of one kind counts as its two ends (its inner points are returned
but cost nothing). The budgeted methods never return more than
``max(n_out, mandatory + n_out // 2)`` points plus those inner points, and
``auto`` returns fewer only when its charts are already exact. A
series no longer than ``n_out`` is returned whole.

``auto`` and the piecewise rule: when one point in every window of the rule
fits in half the budget, ``auto`` keeps one (the window's maximum or minimum,
alternately, moved only within its window), so it is never coarser than the
rule, and spends the rest of the budget where the pixels need it. When the
rule needs more than half the budget, the pixels take it and the rule is not
applied.
"""

from __future__ import annotations

from ._methods import METHODS, PIECEWISE_RULE, downsample

__all__ = ["METHODS", "PIECEWISE_RULE", "downsample"]
