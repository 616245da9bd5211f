"""How every curvelog chart looks: palette, marker styles, rcParams, number formats."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, cast

from .._text import printable, shorten

if TYPE_CHECKING:
    pass


PALETTE: Final[tuple[str, ...]] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)
#: colours past `PALETTE`, for the 10th line or run on: none repeats one above, nor the
#: event red or the best gold; past these, colours are made (`color_at`), never reused
MORE_COLORS: Final[tuple[str, ...]] = (
    "#393b79",
    "#006d5b",
    "#a55194",
    "#000000",
    "#6b6ecf",
    "#98df8a",
    "#c49c94",
    "#ffbb78",
    "#aec7e8",
)
EVENT_COLOR: Final[str] = "#d62728"
RESUME_COLOR: Final[str] = "#555555"
BEST_COLOR: Final[str] = "#ffc20a"
LINESTYLES: Final[tuple[Any, ...]] = ("-", (0, (5, 2)), (0, (1, 1.5)), (0, (6, 2, 1, 2)))
#: a panel's resume lines are dashed up to this many steps; more are drawn solid
#: and faint: the dashes of many close lines line up into horizontal stripes that
#: read as grid lines (a job requeued every hour for weeks)
DASHED_RESUMES: Final[int] = 40


def resume_alpha(lines: int) -> float:
    """Opacity of a panel's resume lines: fainter when there are many."""
    return 0.75 if lines <= 12 else (0.35 if lines <= DASHED_RESUMES else 0.14)


def resume_note(steps: Sequence[int]) -> str:
    """The header's words for a run's resumes (the steps it resumed at, one per
    resume), as `plot` and the web page draw them; '' when there is none."""
    if not steps:
        return ""
    n, at = len(steps), len(set(steps))  # as inspect counts them
    where = f" at {at:,} steps" if at < n else ""
    how = "dashed" if at <= DASHED_RESUMES else "shaded"
    return f"{n:,} resume{'s' if n > 1 else ''}{where} ({how})"


_EVENT_STYLE: Final[dict[str, tuple[str, str]]] = {
    # kind: (marker, legend label)
    "nan": ("X", "NaN"),
    "inf": ("^", "+inf"),
    "-inf": ("v", "\u2212inf"),
}


#: finite values are drawn within +-this, so axis spans and ticks stay finite
#: (1e308 - -1e308 is inf)
_Y_CLAMP: Final[float] = 1e250
#: and on a log axis within [1/this, this], so decade ticks and margins stay finite
_LOG_CLAMP: Final[float] = 1e150

_RC: Final[dict[str, Any]] = {
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 9.0,
    "axes.labelcolor": "#333333",
    "axes.edgecolor": "#666666",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "xtick.color": "#444444",
    "ytick.color": "#444444",
    "legend.fontsize": 8.0,
    "legend.framealpha": 0.85,
    "legend.edgecolor": "#cccccc",
    "legend.handlelength": 1.8,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "svg.hashsalt": "curvelog",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "path.simplify": True,
}


#: rc_context swaps the process-wide rcParams: one figure is built or saved at a time
_STYLE_LOCK: Final = threading.RLock()


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    with _STYLE_LOCK, matplotlib.rc_context(cast(Any, _RC)):
        yield


def format_step(value: float, _pos: object = None) -> str:
    """A step as an engineering tick label: ``950``, ``10k``, ``12.5k``, ``1.5M``."""
    if not math.isfinite(value):
        return ""
    a = abs(value)
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{value / div:.4g}{suffix}"
    if value == int(value):
        return str(int(value))
    return f"{value:.3g}"


#: longest user text drawn (titles, metric names, legends); longer is cut with "…" (#10)
MAX_DRAWN_TEXT: Final = 60
#: longest axis label drawn: it must fit beside a panel of the default size
MAX_DRAWN_LABEL: Final = 60
#: longest best-point note drawn: it must fit inside a panel of the default size
MAX_DRAWN_NOTE: Final = 48


def drawn(text: object) -> str:
    """User text as a figure may show it: what is not printable escaped as Python
    writes it (``\\x01``, ``\\n``, ``\\u202e``; `curvelog._text.printable`, the
    CLI's rule too), so a control character draws no missing glyph (nor makes
    matplotlib warn), a newline no second line, a bidi override no reversed name."""
    return printable(str(text))


def _literal(text: object, limit: int = MAX_DRAWN_TEXT) -> str:
    """User text as matplotlib draws it literally: not printable characters escaped
    (`drawn`), ``$`` escaped, so never mathtext.

    Cut to ``limit`` characters (in the middle, `shorten`): matplotlib lays out
    text in time and memory that grow with its length (a 10 MB title took
    minutes and GBs). Cut before escaping too, so a huge name costs nothing.
    """
    return shorten(drawn(shorten(str(text), limit)), limit).replace("$", r"\$")


def _fmt_value(v: float) -> str:
    """A value in 4 significant digits, trailing zeros kept: -0.99999 is ``-1.000``,
    not ``-1``, which reads as exact."""
    out = f"{v:#.4g}"
    if "e" in out:
        mant, exp = out.split("e")
        out = f"{mant}e{int(exp)}"
    return out


def _fmt_step_exact(step: int) -> str:
    return f"{step:,}"


def color_at(i: int) -> str:
    """The ``i``-th colour of a figure's lines or runs: `PALETTE`, then `MORE_COLORS`,
    then hues spread by the golden ratio; no two indices share a colour."""
    if i < len(PALETTE):
        return PALETTE[i]
    i -= len(PALETTE)
    if i < len(MORE_COLORS):
        return MORE_COLORS[i]
    import colorsys

    k = i - len(MORE_COLORS)
    hue = (0.11 + k * 0.618033988749895) % 1.0
    value = (0.55, 0.75, 0.9)[k % 3]
    r, g, b = colorsys.hsv_to_rgb(hue, 0.65 + 0.3 * ((k // 3) % 2), value)
    out = f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
    taken = {*PALETTE, *MORE_COLORS, EVENT_COLOR, BEST_COLOR}
    return out if out not in taken else f"#{(int(out[1:], 16) ^ 1):06x}"


#: labels whose colour is fixed wherever they appear (README: ``val`` is always orange)
_FIXED_COLORS: Final[dict[str, int]] = {"train": 0, "val": 1}


class _Colors:
    """Colours by series label, the same on every panel of a figure.

    Seeded with every label of the bundle (not only of the charts drawn), so a
    label keeps its colour whichever charts are picked: ``train`` blue and
    ``val`` orange where the bundle has them, the others in order of first
    appearance. Past the palette, new colours (`color_at`): never one colour
    for two labels.
    """

    def __init__(self, labels: Sequence[str] = ()) -> None:
        self._by_label: dict[str, str] = {}
        self._used: set[int] = set()
        for fixed, i in _FIXED_COLORS.items():
            if fixed in labels:
                self._by_label[fixed] = color_at(i)
                self._used.add(i)
        for label in labels:
            self(label)

    def __call__(self, label: str) -> str:
        if label not in self._by_label:
            i = 0
            while i in self._used:
                i += 1
            self._used.add(i)
            self._by_label[label] = color_at(i)
        return self._by_label[label]
