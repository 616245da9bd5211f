"""Text that must fit: the header, the runs' legend, and the last pass over the panels.

The last pass (`finish`) runs once the layout engine has placed the panels, so
sizes are the real ones: step ticks as many as the width holds, the best's note
in free space inside its axes, legends where they cover the fewest points (else
beside the axes), and titles and y labels that fit their panel: a smaller font
first, then cut in the middle, never past their own panel.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, cast

from .._text import shorten
from ._note import _annotate_best, _dense_points, renderer_of
from ._style import drawn
from ._ticks import fit_step_ticks, offset_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from ._panel import BestDrawn

#: longest run name or header drawn before fitting it to the figure
MAX_HEADER: Final = 200
#: longest header line of facts drawn (its own text: steps, sessions, resumes, EMA)
MAX_SUBTITLE: Final = 100


def mpl_rcparams() -> Any:
    import matplotlib

    return matplotlib.rcParams


def _renderer(fig: Figure) -> Any:
    return renderer_of(fig)


def fit_text(t: Text, room: float, min_size: float, vertical: bool = False) -> None:
    """Make ``t`` at most ``room`` pixels long: a smaller font down to ``min_size``,
    then its text cut in the middle (`shorten`), so both ends stay readable."""
    fig = t.get_figure()
    if fig is None or not t.get_text() or room <= 0:
        return
    renderer = _renderer(fig)  # type: ignore[arg-type]

    def length() -> float:
        bb = t.get_window_extent(renderer)
        return float(bb.height if vertical else bb.width)

    size = length()
    if size <= room:
        return
    t.set_fontsize(max(min_size, float(t.get_fontsize()) * room / size))
    if length() <= room:
        return
    raw = t.get_text().replace(r"\$", "$")
    lines = raw.split("\n")
    longest = max(range(len(lines)), key=lambda i: len(lines[i]))
    lo, hi = 1, len(lines[longest])  # the most characters that fit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        cut = [shorten(ln, mid) if i == longest else ln for i, ln in enumerate(lines)]
        t.set_text("\n".join(cut).replace("$", r"\$"))
        if length() <= room:
            lo = mid
        else:
            hi = mid - 1
    cut = [shorten(ln, lo) if i == longest else ln for i, ln in enumerate(lines)]
    t.set_text("\n".join(cut).replace("$", r"\$"))


def titles(fig: Figure, title: str, sub: str) -> None:
    """Run name at the top left, facts in grey at the top right, on one line; on
    a line of their own under the name where both do not fit side by side (a
    long run name, a narrow figure). A name too wide is set smaller (down to 7
    points), then cut in the middle, keeping its end (a seed, a run id)."""
    from matplotlib.text import Annotation

    t = fig.suptitle(
        shorten(drawn(shorten(title, MAX_HEADER)), MAX_HEADER).replace("$", r"\$"),
        fontsize=11.5,
        fontweight="bold",
        x=0.012,
        ha="left",
    )
    t.set_gid("curvelog-title")
    renderer = _renderer(fig)
    room = (0.988 - 0.012) * fig.bbox.width
    fit_text(t, room, 7.0)
    if not sub:
        return
    # y follows the title wherever the layout engine puts it
    note = Annotation(
        shorten(sub, MAX_SUBTITLE).replace("$", r"\$"),
        xy=(0.988, 0.5),
        xycoords=("figure fraction", t),
        ha="right",
        va="center",
        fontsize=8.5,
        color="#555555",
    )
    note.set_gid("curvelog-subtitle")
    fig.add_artist(note)
    gap = 12.0 * fig.dpi / 72.0  # 12 points between the name and the facts
    widths = t.get_window_extent(renderer).width + note.get_window_extent(renderer).width
    if widths + gap > room:
        # an empty second line of the title holds the facts: the layout makes room for it
        t.set_text(t.get_text() + "\n")
        note.xy = note.xyann = (0.012, 0.0)
        note.set_horizontalalignment("left")
        note.set_verticalalignment("bottom")
        fit_text(note, room, 6.5)


def runs_legend(
    fig: Figure, handles: Sequence[Any], names: Sequence[str], notes: Sequence[str]
) -> None:
    """The legend at the foot of a comparison: every run, in as many columns as the
    figure's width holds and as many rows as needed; the figure grows by its height,
    so the panels keep theirs. A name too long for a row of its own is cut in the
    middle; its best (``notes``) never is."""
    width = fig.bbox.width * 0.98
    renderer = _renderer(fig)
    limit = max((len(n) for n in names), default=1)
    leg = None
    while True:
        labels = [
            shorten(drawn(n), limit).replace("$", r"\$") + note
            for n, note in zip(names, notes, strict=True)
        ]
        for ncols in range(min(len(labels), 6), 0, -1):
            leg = fig.legend(
                list(handles), labels, loc="outside lower center", ncols=ncols,
                frameon=False, fontsize=8.5,
            )  # fmt: skip
            if leg.get_window_extent(renderer).width <= width:
                break
            leg.remove()
            leg = None
        if leg is not None or limit <= 8:
            break
        limit = max(8, limit * 3 // 4)
    if leg is None:  # not even one column of 8-character names fits: the narrowest
        leg = fig.legend(list(handles), labels, loc="outside lower center", ncols=1,
                         frameon=False, fontsize=8.5)  # fmt: skip
    leg.set_gid("curvelog-runs")
    w, h = fig.get_size_inches()
    fig.set_size_inches(w, h + leg.get_window_extent(renderer).height / fig.dpi + 0.05)


_LOCS: Final = (
    "upper right", "upper left", "lower left", "lower right", "center right",
    "center left", "lower center", "upper center", "center",
)  # fmt: skip


def _legend_corner(loc: str, box: Any, w: float, h: float, pad: float) -> tuple[float, float]:
    x = {"left": box.x0 + pad, "right": box.x1 - pad - w}.get(
        loc.split()[-1], (box.x0 + box.x1 - w) / 2
    )
    y = {"upper": box.y1 - pad - h, "lower": box.y0 + pad}.get(
        loc.split()[0], (box.y0 + box.y1 - h) / 2
    )
    return x, y


def place_legend(ax: Axes) -> None:
    """The panel legend where it covers the fewest points and not the best's note;
    two columns from 6 entries; beside the axes when every spot inside covers a line."""
    leg = ax.get_legend()
    if leg is None:
        return
    fig = cast("Figure", ax.figure)
    handles: list[Any] = list(leg.legend_handles)
    texts = [t.get_text() for t in leg.get_texts()]
    ncols = 2 if len(texts) >= 6 else 1
    leg.remove()
    leg = ax.legend(handles, texts, loc="upper right", ncols=ncols)
    leg.set_gid("curvelog-legend")
    renderer = _renderer(fig)
    bb = leg.get_window_extent(renderer)
    box = ax.get_window_extent(renderer)
    pad = leg.borderaxespad * leg.prop.get_size_in_points() * fig.dpi / 72.0
    pts, weight = _dense_points(ax)
    grow = 4 * fig.dpi / 72.0  # the note's round box around its text
    notes = [
        c.get_window_extent(renderer).expanded(1.0, 1.0).padded(grow)
        for c in ax.texts
        if c.get_gid() == "curvelog-best-note"
    ]
    scores = []
    for order, loc in enumerate(_LOCS):
        x0, y0 = _legend_corner(loc, box, bb.width, bb.height, pad)
        inside = (pts[:, 0] >= x0) & (pts[:, 0] <= x0 + bb.width)
        inside &= (pts[:, 1] >= y0) & (pts[:, 1] <= y0 + bb.height)
        score = float(weight[inside].sum()) + order * 1e-6
        for n in notes:
            if x0 < n.x1 and n.x0 < x0 + bb.width and y0 < n.y1 and n.y0 < y0 + bb.height:
                score += 1000.0
        scores.append((score, loc))
    score, loc = min(scores)
    if score < 1.0 and bb.width <= box.width and bb.height <= box.height:
        leg.set_loc(loc)  # type: ignore[arg-type]
        return
    leg.remove()  # every spot covers data: beside the axes, in columns that fit its height
    rows = max(1, int(box.height // max(bb.height / math.ceil(len(texts) / ncols), 1.0)))
    leg = ax.legend(
        handles, texts, loc="upper left", bbox_to_anchor=(1.01, 1.0),
        ncols=max(1, math.ceil(len(texts) / rows)), borderaxespad=0.0,
    )  # fmt: skip
    leg.set_gid("curvelog-legend")


def _within(inner: Any, outer: Any) -> bool:
    return bool(
        inner.x0 >= outer.x0 and inner.x1 <= outer.x1 and inner.y0 >= outer.y0
        and inner.y1 <= outer.y1
    )  # fmt: skip


def _laid_out(fig: Figure) -> bool:
    """Run the layout engine; False where the panels do not fit the figure."""
    engine = fig.get_layout_engine()
    if engine is None:
        return True
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="constrained_layout not applied")
        try:
            engine.execute(fig)
        except UserWarning:
            return False
    return True


def finish(fig: Figure, notes: Sequence[tuple[Axes, BestDrawn, Mapping[str, Any]]] = ()) -> None:
    """The last pass over a figure's panels, once they are laid out (module docstring)."""
    if not _laid_out(fig):
        return  # panels too big for the figure: saving it says so (`figure_bytes`)
    panels = [ax for ax in fig.axes if ax.axison]
    for ax in panels:
        fit_step_ticks(ax)
    for ax, (star, value, step), best in notes:
        _annotate_best(ax, star, best, value, step)
    for ax in panels:
        place_legend(ax)
    if not _laid_out(fig):  # legends beside the axes take room
        return
    renderer = _renderer(fig)
    for ax, (star, value, step), best in notes:  # a panel narrowed by its legend: again
        old = [t for t in ax.texts if t.get_gid() == "curvelog-best-note"]
        panel = ax.get_window_extent(renderer)
        if any(not _within(t.get_window_extent(renderer), panel) for t in old):
            for t in old:
                t.remove()
            _annotate_best(ax, star, best, value, step)
    for ax in panels:
        box = ax.get_window_extent(renderer)
        loc = cast(Any, mpl_rcparams()["axes.titlelocation"])
        fit_text(ax.set_title(ax.get_title(loc=loc), loc=loc), box.width, 7.0)
        ax.set_ylabel(offset_label(ax, ax.get_ylabel()))
        fit_text(ax.yaxis.label, box.height, 7.0, vertical=True)


__all__ = [
    "MAX_HEADER",
    "MAX_SUBTITLE",
    "finish",
    "fit_text",
    "place_legend",
    "runs_legend",
    "titles",
]
