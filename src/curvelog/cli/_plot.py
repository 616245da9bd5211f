"""``curvelog plot`` and ``curvelog compare``: bundles and logs into pictures."""

from __future__ import annotations

from typing import Any

import click

from ..bundle import Bundle
from ._app import UserError, cli


def _plot_options(f: Any) -> Any:
    options = [
        click.option("--charts", metavar="IDS",
                     help="Comma-separated chart ids to draw, in this order (default: all)."),
        click.option("--logy/--no-logy", default=None,
                     help="Force a log or linear y axis (default: log when every value is "
                     "positive and a series spans more than two decades)."),
        click.option("--logx", is_flag=True, help="Log step axis."),
        click.option("--smooth", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.0,
                     metavar="W", help="EMA weight in [0, 1), e.g. 0.9, over the faint raw line: "
                     "over every raw value for a log or a bundle compacted with --smooth W, "
                     "else over the kept points (the header says which)."),
        click.option("--size", metavar="WxH", help="Figure size in inches, e.g. 12x8."),
        click.option("--dpi", type=click.IntRange(10, 1200), default=100, show_default=True,
                     help="Pixels per inch (PNG)."),
    ]  # fmt: skip
    for option in reversed(options):
        f = option(f)
    return f


def _parse_size(size: str | None) -> tuple[float, float] | None:
    if size is None:
        return None
    parts = size.lower().replace(",", "x").split("x")
    try:
        w, h = (float(p) for p in parts)
    except ValueError:
        raise UserError(f"--size must be WIDTHxHEIGHT in inches, e.g. 12x8, not {size!r}") from None
    if not (0 < w <= 100 and 0 < h <= 100):
        raise UserError(f"--size must be between 0 and 100 inches each way, not {size!r}")
    return w, h


def _plot_opts(charts: str | None, logy: bool | None, logx: bool, smooth: float,
               size: str | None, dpi: int) -> dict[str, Any]:  # fmt: skip
    return {"charts": charts, "logy": logy, "logx": logx, "smooth": smooth,
            "size": _parse_size(size), "dpi": dpi}  # fmt: skip


def _charts_count(n: int) -> str:
    return f"{n} chart" if n == 1 else f"{n} charts"


def _warn_damage(path: str, bundle: Bundle) -> None:
    for d in bundle["summary"]["damage"]:
        click.echo(f"Warning: {path}: {d.get('message', d)}", err=True)


def _check_output(output: str, inputs: tuple[str, ...]) -> None:
    import os

    from ..plot import output_format

    output_format(output)
    for src in inputs:
        if os.path.exists(src) and os.path.exists(output) and os.path.samefile(src, output):
            raise UserError(f"{output}: the output would replace an input")


@cli.command()
@click.argument("source", metavar="BUNDLE|LOG")
@click.option("-o", "--output", metavar="PATH",
              help="A .png, .svg or .pdf file. Default: <name>.png beside the input.")  # fmt: skip
@_plot_options
def plot(source: str, output: str | None, charts: str | None, logy: bool | None, logx: bool,
         smooth: float, size: str | None, dpi: int) -> None:  # fmt: skip
    """Draw a chart bundle, or a log (compacted in memory), as PNG, SVG or PDF.

    One panel per chart, a line per series, the best point starred and
    noted, NaN/inf events as red marks on the step axis, resumes as dashed
    lines. The format follows the extension; an existing picture is replaced,
    never the input nor any log. The same input gives the same bytes.

    \b
    Example:
        curvelog plot runs/exp1/run.curves.json
        curvelog plot runs/exp1/run.log -o curves.svg --charts loss,acc
        curvelog plot run.log --smooth 0.9 --logy --size 12x4
    """
    from ..pipeline import default_output, load_source
    from ..plot import draw_bundle, save_figure

    out = output or default_output(source)
    opts = _plot_opts(charts, logy, logx, smooth, size, dpi)
    _check_output(out, (source,))
    bundle = load_source(source, smooth=(smooth,) if smooth > 0 else ())
    _warn_damage(source, bundle)
    fig = draw_bundle(bundle, **opts)
    save_figure(fig, out)
    click.echo(f"{out}: {_charts_count(len(fig.axes))}", err=True)


@cli.command()
@click.argument("sources", metavar="BUNDLE|LOG...", nargs=-1, required=True)
@click.option("-o", "--output", metavar="PATH", default="compare.png", show_default=True,
              help="A .png, .svg or .pdf file.")  # fmt: skip
@click.option("--name", "names", multiple=True, metavar="NAME",
              help="Name of each run in the legend, in order (repeat once per run).")  # fmt: skip
@_plot_options
def compare(sources: tuple[str, ...], output: str, names: tuple[str, ...], charts: str | None,
            logy: bool | None, logx: bool, smooth: float, size: str | None,
            dpi: int) -> None:  # fmt: skip
    """Overlay the same charts of several runs, one colour per run.

    Runs are named from their metadata (the log's name), or from their file
    names where those collide; --name overrides. Each run's best is starred
    in its colour.

    \b
    Example:
        curvelog compare runs/a/run.curves.json runs/b/run.curves.json
        curvelog compare a.log b.log c.log -o abc.svg --charts loss --smooth 0.8
    """
    from ..pipeline import load_source, run_names
    from ..plot import draw_comparison, save_figure

    if len(sources) < 2:
        raise UserError("compare needs at least two runs")
    if names and len(names) != len(sources):
        raise UserError(f"{len(names)} --name for {len(sources)} runs; give one per run")
    opts = _plot_opts(charts, logy, logx, smooth, size, dpi)
    _check_output(output, sources)
    bundles = []
    for src in sources:
        bundles.append(load_source(src, smooth=(smooth,) if smooth > 0 else ()))
        _warn_damage(src, bundles[-1])
    labels = list(names) if names else run_names(bundles, sources)
    fig = draw_comparison(bundles, names=labels, **opts)
    save_figure(fig, output)
    click.echo(f"{output}: {_charts_count(len(fig.axes))}, {len(bundles)} runs", err=True)
