"""``curvelog plot`` and ``curvelog compare``: bundles and logs into pictures."""

from __future__ import annotations

from typing import Any

import click

from ..bundle import Bundle
from ._app import UserError, cli
from ._common import OutputPath, _echo_json, bundle_warnings


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


def _panels(fig: Any) -> int:
    """The charts drawn: panels with lines (not the note of a bundle without charts)."""
    return sum(1 for ax in fig.axes if ax.has_data())


def _charts_count(n: int) -> str:
    return f"{n} chart" if n == 1 else f"{n} charts"


def _drawn(fig: Any) -> str:
    """``4 charts``; ``60 of 321 charts (261 left out; pick them with --charts)`` when
    the figure drew only the first (`curvelog.plot.MAX_PANELS`, none picked)."""
    n = _panels(fig)
    gids = [str(t.get_gid()) for t in (*fig.texts, *fig.artists)]
    left = next((int(g.split(":")[1]) for g in gids if g.startswith("curvelog-left-out:")), 0)
    if not left:
        return _charts_count(n)
    return f"{n:,} of {n + left:,} charts ({left:,} left out; pick them with --charts)"


def _warn_damage(path: str, bundle: Bundle) -> None:
    for said in bundle_warnings(bundle):
        click.echo(f"Warning: {path}: {said}", err=True)


_HTML = (".html", ".htm")  # an interactive page instead of a picture


def _is_html(output: str) -> bool:
    import os

    return os.path.splitext(output)[1].lower() in _HTML


def _write_html(bundles: list[Bundle], output: str, names: list[str] | None,
                opts: dict[str, Any]) -> int:  # fmt: skip
    """The offline HTML report (curvelog.web); returns the number of charts.

    --size and --dpi do not apply: the page fills the browser window.
    """
    from ..web.model import page_model
    from ..web.report import render_page, write_report

    model = page_model(
        bundles, names=names, **{k: opts[k] for k in ("charts", "logy", "logx", "smooth")}
    )
    write_report(output, render_page(model))
    return len(model["charts"])


def _check_output(output: str, inputs: tuple[str, ...]) -> None:
    import os

    from ..errors import PlotError
    from ..plot import FORMATS

    ext = os.path.splitext(output)[1].lower()
    if ext not in (*FORMATS, *_HTML):
        raise PlotError(
            f"{output}: unsupported output format {ext or '(no extension)'!r}; "
            "use .png, .svg, .pdf or .html"
        )
    for src in inputs:
        if os.path.exists(src) and os.path.exists(output) and os.path.samefile(src, output):
            raise UserError(f"{output}: the output would replace an input")


@cli.command()
@click.argument("sources", metavar="BUNDLE|LOG|DIR", nargs=-1, required=True)
@click.option("-o", "--output", metavar="PATH", type=OutputPath(),
              help="A .png, .svg, .pdf or .html file. Default: <name>.png beside the "
              "input.")  # fmt: skip
@_plot_options
def plot(sources: tuple[str, ...], output: str | None, charts: str | None, logy: bool | None,
         logx: bool, smooth: float, size: str | None, dpi: int) -> None:  # fmt: skip
    """Draw a chart bundle, or a log (compacted in memory), as PNG, SVG, PDF or HTML.

    One panel per chart, a line per series, the best point starred and
    noted, NaN/inf events as red marks on the step axis, resumes as dashed
    lines (faint solid ones when there are many). The format follows the
    extension; an existing picture is replaced, never the input nor any
    log. The same input gives the same bytes.
    A .html output is one self-contained interactive page (zoom, pan,
    hover values, log y, smoothing) that works offline.
    Rank 0's log of a rank set (run.log beside run.rank1.log...), its folder,
    or all its files draw every rank's line, labelled by rank.

    \b
    Example:
        curvelog plot runs/exp1/run.curves.json
        curvelog plot runs/exp1/run.log -o curves.svg --charts loss,acc
        curvelog plot run.log --smooth 0.9 --logy --size 12x4
        curvelog plot run.log -o run.html
        curvelog plot runs/ddp/ -o ddp.png     # every rank of EventLog(all_ranks=True)
    """
    from ..pipeline import collapse_rank_sets, default_output, load_source
    from ..plot import draw_bundle, save_figure

    runs = collapse_rank_sets(sources)
    if len(runs) != 1:
        raise UserError("plot draws one run (or one rank set); use compare for several")
    source = runs[0]
    out = output or default_output(source)
    opts = _plot_opts(charts, logy, logx, smooth, size, dpi)
    _check_output(out, (source,))
    bundle = load_source(source, smooth=(smooth,) if smooth > 0 else (), processes=True)
    _warn_damage(source, bundle)
    if _is_html(out):
        n = _write_html([bundle], out, None, opts)
        click.echo(f"{out}: {_charts_count(n)}", err=True)
        return
    fig = draw_bundle(bundle, **opts)
    save_figure(fig, out)
    click.echo(f"{out}: {_drawn(fig)}", err=True)


@cli.command()
@click.argument("sources", metavar="BUNDLE|LOG...", nargs=-1, required=True)
@click.option("-o", "--output", metavar="PATH", type=OutputPath(), default="compare.png",
              show_default=True, help="A .png, .svg, .pdf or .html file.")  # fmt: skip
@click.option("--name", "names", multiple=True, metavar="NAME",
              help="Name of each run in the legend, in order (repeat once per run).")  # fmt: skip
@_plot_options
@click.option("--table", is_flag=True,
              help="Print the runs compared on their objective instead of drawing.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Like --table, as JSON.")
@click.option(
    "--metric",
    metavar="NAME",
    help="With --table/--json: compare on this metric (default: the common objective).",
)
@click.option("--mode", type=click.Choice(["min", "max"]),
              help="With --metric: lower or higher is better (default: its goal).")  # fmt: skip
def compare(sources: tuple[str, ...], output: str, names: tuple[str, ...], charts: str | None,
            logy: bool | None, logx: bool, smooth: float, size: str | None,
            dpi: int, table: bool, as_json: bool, metric: str | None,
            mode: str | None) -> None:  # fmt: skip
    """Overlay the same charts of several runs, one colour per run; or compare them as numbers.

    Runs are named from their metadata (the log's name), or from their file
    names where those collide; --name overrides. Each run's best is starred
    in its colour. With --table (or --json) nothing is drawn: per run the
    objective's best, final, min and max, convergence status and the step it
    first came within 1% of its best, then which run is better and by how much.

    \b
    Example:
        curvelog compare runs/a/run.curves.json runs/b/run.curves.json
        curvelog compare a.log b.log c.log -o abc.svg --charts loss --smooth 0.8
        curvelog compare a.log b.log -o ab.html
        curvelog compare a.log b.log --table
    """
    from ..pipeline import load_source, run_names
    from ..plot import draw_comparison, save_figure

    if len(sources) < 2:
        raise UserError("compare needs at least two runs")
    if names and len(names) != len(sources):
        raise UserError(f"{len(names)} --name for {len(sources)} runs; give one per run")
    if table or as_json:
        _compare_numbers(sources, names, metric, mode, as_json)
        return
    if metric or mode:
        raise UserError("--metric and --mode go with --table or --json")
    opts = _plot_opts(charts, logy, logx, smooth, size, dpi)
    _check_output(output, sources)
    bundles = []
    for src in sources:
        bundles.append(load_source(src, smooth=(smooth,) if smooth > 0 else (), processes=True))
        _warn_damage(src, bundles[-1])
    labels = list(names) if names else run_names(bundles, sources)
    if _is_html(output):
        n = _write_html(bundles, output, labels, opts)
        click.echo(f"{output}: {_charts_count(n)}, {len(bundles)} runs", err=True)
        return
    fig = draw_comparison(bundles, names=labels, **opts)
    save_figure(fig, output)
    click.echo(f"{output}: {_drawn(fig)}, {len(bundles)} runs", err=True)


def _compare_numbers(sources: tuple[str, ...], names: tuple[str, ...], metric: str | None,
                     mode: str | None, as_json: bool) -> None:  # fmt: skip
    """compare --table / --json: the logic is curvelog.compare's."""
    from ..compare import compare_runs, format_table
    from ..pipeline import load_source, run_names

    bundles = []
    for src in sources:
        bundles.append(load_source(src, processes=True))
        _warn_damage(src, bundles[-1])
    for src, b in zip(sources, bundles, strict=True):
        known = b["summary"]["metrics"]
        if metric is not None and metric not in known:  # a typo is an error, not a verdict
            raise UserError(f"{src}: no metric {metric!r} (metrics: {', '.join(known)})")
    labels = list(names) if names else run_names(bundles, sources)
    result = compare_runs(bundles, labels, metric=metric, mode=mode)
    if as_json:
        _echo_json(result)
    else:
        click.echo(format_table(result))
