"""Figures to bytes and files: PNG, SVG, PDF, deterministic, written atomically."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from .._fs import atomic_write_bytes
from ..errors import PlotError

if TYPE_CHECKING:
    from matplotlib.figure import Figure
from ._figure import plot_bundle
from ._style import _style

FORMATS: Final[dict[str, str]] = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def output_format(path: str) -> str:
    """The picture format a path's extension names; `PlotError` for any other."""
    ext = os.path.splitext(path)[1].lower()
    fmt = FORMATS.get(ext)
    if fmt is None:
        raise PlotError(
            f"{path}: unsupported output format {ext or '(no extension)'!r}; use .png, .svg or .pdf"
        )
    return fmt


def _metadata(fmt: str) -> dict[str, Any]:
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None, "ModDate": None}
    return {}


def figure_bytes(fig: Figure, fmt: str = "png") -> bytes:
    """``fig`` rendered as PNG, SVG or PDF bytes, deterministically."""
    if fmt not in FORMATS.values():
        raise PlotError(f"unsupported output format {fmt!r}; use png, svg or pdf")
    buf = io.BytesIO()
    with _style(), warnings.catch_warnings():
        # the layout engine only warns when the panels do not fit the figure (their
        # labels and ticks need room, in points whatever the dpi): the picture would
        # have overlapping or cut panels, so it is an error, said in one line
        warnings.filterwarnings("error", message="constrained_layout not applied")
        try:
            fig.savefig(buf, format=fmt, metadata=_metadata(fmt))
        except UserWarning:
            w, h = fig.get_size_inches()
            panels = len(fig.axes)
            raise PlotError(
                f"a {w:g}x{h:g} inch figure is too small for its {panels} "
                f"panel{'s' if panels > 1 else ''} (their labels and ticks do not fit)",
                "use a larger size",
            ) from None
    return buf.getvalue()


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> str:
    """Write ``fig`` to ``path`` atomically, in the format its extension names.

    :raises PlotError: an extension other than .png, .svg or .pdf.
    :raises PathError: the folder is missing or not writable, or ``path`` is a
        curvelog log (pictures are replaced, logs never).
    """
    from ..log import refuse_to_replace

    target = os.fspath(path)
    fmt = output_format(target)
    refuse_to_replace(target, "a picture")
    data = figure_bytes(fig, fmt)
    refuse_to_replace(target, "a picture")  # the file may have appeared while drawing
    atomic_write_bytes(target, data)
    return target


def render_png(bundle: Mapping[str, Any], **opts: Any) -> bytes:
    """PNG bytes of ``plot_bundle(bundle, **opts)`` (what the registry stores as loss_curve.png)."""
    fig = plot_bundle(bundle, **opts)
    return figure_bytes(fig, "png")
