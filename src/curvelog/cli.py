"""The ``curvelog`` command: a thin click layer over the library.

Each command parses its arguments, calls one library function and prints the
result. Every ``CurvelogError`` becomes one ``Error: ...`` line on stderr and
exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from . import __version__
from .errors import CurvelogError

__all__ = ["main"]

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class UserError(click.ClickException):
    """A CurvelogError as the CLI shows it: one line, exit code 2."""

    exit_code = 2


class _Group(click.Group):
    """Turns library errors raised by any subcommand into UserError."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError:
            raise
        except click.UsageError as e:  # one line, like every other error (no usage block)
            raise UserError(e.format_message()) from None
        except CurvelogError as e:
            raise UserError(str(e)) from None
        except OSError as e:  # a backstop: the library maps the ones it expects
            where = f"{e.filename}: " if e.filename else ""
            raise UserError(f"{where}{e.strerror or e}") from None
        except RecursionError:
            raise UserError("input nested too deeply to read") from None
        except MemoryError:
            raise UserError("out of memory") from None


@click.group(cls=_Group, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="curvelog")
def cli() -> None:
    """Record training curves, compact them into chart bundles, plot them.

    \b
    Example:
        curvelog inspect runs/exp1/run.log
        curvelog compact runs/exp1/run.log
        curvelog plot runs/exp1/run.curves.json
    """


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=False, allow_nan=False))


# --------------------------------------------------------------------- registry (issue #5)


def _registry_root_option(f: Any) -> Any:
    return click.option(
        "--registry",
        "-r",
        "root",
        metavar="DIR",
        default="saved_models",
        show_default=True,
        envvar="CURVELOG_REGISTRY",
        show_envvar=True,
        help="The registry folder.",
    )(f)


def _lock_timeout_option(f: Any) -> Any:
    # The default is registry.DEFAULT_LOCK_TIMEOUT (not imported here: the CLI starts fast).
    return click.option(
        "--lock-timeout",
        "lock_timeout",
        metavar="SECONDS",
        type=click.FloatRange(min=0),
        default=60.0,
        show_default=True,
        help="How long to wait for the registry lock while another process holds it, "
        "then fail (RegistryLockTimeout, exit code 2).",
    )(f)


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


@cli.group("registry", cls=_Group, context_settings=CONTEXT_SETTINGS)
def registry_group() -> None:
    """Browse and repair a model registry: one numbered folder per training run.

    Keys are paths of segments, e.g. product/P001_all/mlstm,
    store/S001_P002/transformer or global/all/sum/kan.

    \b
    Example:
        curvelog registry list product --registry saved_models
        curvelog registry show product/P001_all/mlstm v2
        cp "$(curvelog registry latest product/P001_all/mlstm)/model.pth" .
    """


@registry_group.command("list")
@click.argument("prefix", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_registry_root_option
def registry_list(prefix: str | None, as_json: bool, root: str) -> None:
    """List the keys (under PREFIX, whole segments) with their versions.

    \b
    Example:
        curvelog registry list
        curvelog registry list global/all --json
    """
    from .registry import Registry

    reg = Registry(root)
    rows: list[dict[str, Any]] = []
    for key in reg.keys(prefix):
        numbers = [v.number for v in reg.versions(key)]
        rows.append(
            {
                "key": key,
                "latest": numbers[-1],
                "versions": numbers,
                "path": str(reg.latest(key).path),
            }
        )
    if as_json:
        _echo_json(rows)
        return
    width = max((len(r["key"]) for r in rows), default=0)
    for r in rows:
        count = len(r["versions"])
        plural = "version" if count == 1 else "versions"
        click.echo(f"{r['key']:<{width}}  v{r['latest']:<4}  {count} {plural}")


@registry_group.command("show")
@click.argument("key")
@click.argument("version", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@_registry_root_option
def registry_show(key: str, version: str | None, as_json: bool, root: str) -> None:
    """Show one version of KEY (default: the latest): its path, metadata and files.

    VERSION is N or vN.

    \b
    Example:
        curvelog registry show product/P001_all/mlstm
        curvelog registry show product/P001_all/mlstm v2 --json
    """
    from .registry import Registry

    reg = Registry(root)
    v = reg.latest(key) if version is None else reg.version(key, version)
    meta = v.metadata()
    files = v.files()
    if as_json:
        _echo_json(
            {
                "key": v.key,
                "version": v.number,
                "path": str(v.path),
                "metadata": meta,
                "files": [{"name": n, "bytes": s} for n, s in files],
            }
        )
        return
    click.echo(f"key:        {v.key}")
    click.echo(f"version:    {v.name}")
    click.echo(f"path:       {v.path}")
    click.echo(f"created_at: {meta.get('created_at', '?')}")
    if meta.get("run_id"):
        click.echo(f"run_id:     {meta['run_id']}")
    click.echo("files:")
    width = max((len(n) for n, _ in files), default=0)
    for name, size in files:
        click.echo(f"  {name:<{width}}  {_human_size(size):>9}")


@registry_group.command("latest")
@click.argument("key")
@_registry_root_option
def registry_latest(key: str, root: str) -> None:
    """Print the folder of the latest version of KEY.

    \b
    Example:
        curvelog registry latest product/P001_all/mlstm
    """
    from .registry import Registry

    click.echo(str(Registry(root).latest(key).path))


@registry_group.command("rebuild-index")
@_registry_root_option
@_lock_timeout_option
@click.option(
    "--init",
    is_flag=True,
    help="Make the folder a registry even though it holds no registry files or versions yet.",
)
def registry_rebuild_index(root: str, lock_timeout: float, init: bool) -> None:
    """Rebuild index.db and versions.json from the version folders.

    The repair for a damaged or stale versions.json or index. No version
    number already handed out is lowered, so none is reused. Runs under the
    registry lock (see --lock-timeout). A folder that is not a registry yet
    is refused unless --init.

    \b
    Example:
        curvelog registry rebuild-index --registry saved_models
    """
    from .registry import Registry

    reg = Registry(root, lock_timeout=lock_timeout)
    report = reg.rebuild_index(init=init)
    click.echo(f"rebuilt {reg.index_file}: {report.keys} keys, {report.versions} versions")
    if report.versions_json_was_corrupt:
        click.echo(f"{reg.versions_file} was unreadable; rebuilt from the folders and old index")
    for key, (old, new) in sorted(report.versions_json_changes.items()):
        before = "(none)" if old is None else f"v{old}"
        click.echo(f"versions.json: {key} {before} -> v{new}")
    for problem in report.problems:
        click.echo(f"warning: {problem}", err=True)


# --------------------------------------------------------------------- logs (issue #2)


def _count(n: int, word: str) -> str:
    """``1 chart``, ``2 charts``, ``1,000 points``; "series" is its own plural."""
    return f"{n:,} {word}{'' if n == 1 or word.endswith('s') else 's'}"


def _fmt_value(v: Any) -> str:
    return v if isinstance(v, str) else f"{v:.6g}"


def _fmt_point(p: dict[str, Any] | None) -> str:
    return "-" if p is None else f"{_fmt_value(p['value'])} @ {p['step']:,}"


def _fmt_time(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt_span(seconds: float) -> str:
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else (f"{m}m {sec:02d}s" if m else f"{seconds:.3g}s")


@cli.command()
@click.argument("log", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the whole description as JSON.")
def inspect(log: str, as_json: bool) -> None:
    """What a log holds: steps, metrics, sessions and resumes, best, damage.

    \b
    Example:
        curvelog inspect runs/exp1/run.log
        curvelog inspect runs/exp1/run.log --json | jq .best
    """
    from .log import read

    info = read(log).describe()
    if as_json:
        _echo_json(info)
        return
    steps, span = info["steps"], info["time"]
    sessions = info["sessions"]
    died = [s["index"] for s in sessions if not s["closed"]]
    if info["live"] and died and died[-1] == sessions[-1]["index"]:
        died.pop()  # the last session is still being written, not dead
    lines = [
        f"{info['path']}: {info['size']:,} bytes, run {info['run_id'] or '?'}",
        f"  rows      {info['rows']:,}"
        + (f" (steps {steps['first']:,} .. {steps['last']:,})" if steps else ""),
        f"  time      {_fmt_time(span['start'])} .. {_fmt_time(span['end'])}"
        f" ({_fmt_span(span['span'])})"
        if span
        else "  time      -",
        f"  sessions  {len(sessions)}"
        + (f", not closed: {', '.join(map(str, died))} (writer died)" if died else "")
        + (f", {sessions[-1]['index']} still being written" if info["live"] else "")
        + (", all closed" if not died and not info["live"] else ""),
        f"  resumes   {len(info['resumes'])}"
        + "".join(
            f"\n            at step {r['step']:,} (after {r['after_step']:,})"
            for r in info["resumes"]
        ),
    ]
    best = info["best"]
    if best is None:
        lines.append("  best      -")
    else:
        lines.append(
            f"  best      {best['metric'] or '?'} = "
            f"{_fmt_value(best['value']) if best['value'] is not None else '?'}"
            f" at step {best['step']:,} ({best['mode']}, {best['source']})"
        )
    damage = info["damage"]
    lines.append(f"  damage    {'none' if not damage else len(damage)}")
    lines += [f"            {d['what']}" for d in damage]
    lines.append("")
    header = ("metric", "points", "first", "last", "min", "max", "nan", "inf", "-inf")
    table = [header] + [
        (
            name,
            f"{m['points']:,}",
            _fmt_point(m["first"]),
            _fmt_point(m["last"]),
            _fmt_point(m["min"]),
            _fmt_point(m["max"]),
            str(m["nan"]),
            str(m["inf"]),
            str(m["neg_inf"]),
        )  # fmt: skip
        for name, m in info["metrics"].items()
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    click.echo("\n".join(lines))


@cli.command()
@click.argument("log", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="A .csv or .parquet file.")  # fmt: skip
@click.option(
    "--wide", is_flag=True, help="One column per metric instead of step,time,metric,value."
)
@click.option("--force", is_flag=True, help="Replace an existing output file.")
def export(log: str, output: str, wide: bool, force: bool) -> None:
    """Export every recorded value as CSV or Parquet (through polars).

    \b
    Example:
        curvelog export runs/exp1/run.log -o run.parquet
        curvelog export runs/exp1/run.log -o run.csv --wide
    """
    from .log import read

    run = read(log)
    rows = run.export(output, wide=wide, force=force)
    for d in run.damage:
        click.echo(f"Warning: {log}: {d.describe()}", err=True)
    click.echo(f"{output}: {rows:,} rows, {len(run.metrics)} metrics", err=True)


@cli.command()
@click.argument("log", type=click.Path(dir_okay=False))
@click.option(
    "-n",
    "--lines",
    default=10,
    show_default=True,
    type=click.IntRange(min=0),
    help="Rows already written to show first.",
)
@click.option("--metrics", default=None, help="Comma-separated metrics to show (default: all).")
@click.option("-f/-F", "--follow/--no-follow", default=True, show_default=True,
              help="Keep printing rows as the writer appends them (Ctrl-C to stop).")  # fmt: skip
@click.option("--until-closed", is_flag=True, help="Stop when the writer closes the log.")
@click.option("--poll", default=0.5, show_default=True, type=click.FloatRange(min=0.01),
              help="Seconds between polls.")  # fmt: skip
def tail(
    log: str, lines: int, metrics: str | None, follow: bool, until_closed: bool, poll: float
) -> None:
    """Print the last rows of a log, then follow it as training goes on.

    \b
    Example:
        curvelog tail runs/exp1/run.log
        curvelog tail runs/exp1/run.log --metrics train/loss,lr -n 0
    """
    from .log import follow as follow_log

    wanted = [m.strip() for m in metrics.split(",")] if metrics else None
    rows = follow_log(log, last=lines, watch=follow, poll=poll, until_closed=until_closed)
    try:
        for step, when, values in rows:
            shown = values if wanted is None else {k: values[k] for k in wanted if k in values}
            if not shown:
                continue
            stamp = _fmt_time(when)[11:19]
            cells = "  ".join(f"{k}={_fmt_value(v)}" for k, v in shown.items())
            click.echo(f"{step:>10,}  {stamp}  {cells}")
    except KeyboardInterrupt:  # the normal way to stop following
        pass


# --------------------------------------------------------------------- compact, import (issue #4)

#: `curvelog.bundle.METHODS`, repeated so that `--help` does not import numpy code
_SAMPLING_METHODS = ("auto", "volatility", "piecewise", "lttb", "minmax", "none")
#: logs at least this big show progress on a terminal
_PROGRESS_BYTES = 32_000_000


class _CompactProgress:
    """Progress on stderr while compacting a long log; silent unless stderr is a terminal."""

    def __init__(self, log: str) -> None:
        import os

        self.log = log
        try:
            size = os.path.getsize(log)
        except OSError:
            size = 0
        self.enabled = size >= _PROGRESS_BYTES and sys.stderr.isatty()
        self.size = size
        self.bar: Any = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if stage == "read" and done == 0:
            click.echo(f"reading {self.log} ({_human_size(self.size)})...", err=True)
        elif stage == "series":
            if self.bar is None:
                self.bar = click.progressbar(length=total, label="sampling", file=sys.stderr)
                self.bar.__enter__()
            self.bar.update(1)
            if done == total:
                self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _split_metrics(values: tuple[str, ...]) -> list[str] | None:
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    return names or None


@cli.command()
@click.argument("log")
@click.option("-o", "--output", metavar="PATH",
              help="The bundle to write; '-' prints it. "
                   "Default: <log stem>.curves.json beside the log.")  # fmt: skip
@click.option("--points", type=click.IntRange(min=2), default=2000, show_default=True,
              help="Point budget per series.")  # fmt: skip
@click.option("--method", type=click.Choice(_SAMPLING_METHODS), default="auto", show_default=True,
              help="How series are downsampled.")  # fmt: skip
@click.option("--metrics", multiple=True, metavar="NAMES",
              help="Only these metrics (comma-separated names or glob patterns; "
                   "repeatable).")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace an existing bundle.")
@click.option("--registry", "registry_root", metavar="DIR",
              help="File the bundle into this model registry (needs --key).")  # fmt: skip
@click.option("--key", metavar="KEY", help="Registry key, e.g. product/P001_all/mlstm.")
@click.option("--version", "reg_version", metavar="N",
              help="File into this existing version instead of a new one.")  # fmt: skip
@click.option("--png/--no-png", default=True, show_default=True,
              help="With --registry, also file loss_curve.png drawn from the bundle.")  # fmt: skip
@_lock_timeout_option
def compact(
    log: str,
    output: str | None,
    points: int,
    method: str,
    metrics: tuple[str, ...],
    force: bool,
    registry_root: str | None,
    key: str | None,
    reg_version: str | None,
    png: bool,
    lock_timeout: float,
) -> None:
    """Compact a log into a small JSON chart bundle (charts, best step, summary).

    Writes <log stem>.curves.json beside the log unless -o says otherwise, and
    never replaces an existing bundle without --force. With --registry and
    --key the bundle is filed into a new version of KEY (or --version N); the
    file beside the log is then only written when -o asks for it.

    \b
    Example:
        curvelog compact runs/exp1/run.log
        curvelog compact run.log -o curves.json --points 500 --metrics 'val/*'
        curvelog compact run.log -o - | jq .best
        curvelog compact run.log --registry saved_models --key product/P001_all/mlstm
    """
    from .bundle import compact as compact_log
    from .bundle import dumps

    if (registry_root is None) != (key is None):
        raise UserError("--registry and --key go together")
    if reg_version is not None and registry_root is None:
        raise UserError("--version needs --registry and --key")
    if key is not None:
        from .registry import key_path, parse_version

        key = key_path(key)  # a bad key fails before the log is read
        if reg_version is not None:
            parse_version(reg_version)
    if output == "":
        raise UserError("-o needs a file name (or '-' for stdout)")
    to_stdout = output == "-"
    write = not to_stdout and (output is not None or registry_root is None)
    progress = _CompactProgress(log)
    try:
        bundle, path = compact_log(
            log,
            None if to_stdout else output,
            method=method,
            points=points,
            metrics=_split_metrics(metrics),
            force=force,
            write=write,
            progress=progress,
        )
    finally:
        progress.close()
    for d in bundle["summary"]["damage"]:
        click.echo(f"Warning: {log}: {d['message']}", err=True)
    if to_stdout:  # checked like a file written by write_bundle (#10)
        from .bundle import validate_bundle

        validate_bundle(bundle, source="<stdout>")
        click.echo(dumps(bundle).decode("utf-8"))
    series = [s for c in bundle["charts"] for s in c["series"]]
    stats = (
        ", ".join(
            _count(n, word)
            for n, word in (
                (len(bundle["charts"]), "chart"),
                (len(series), "series"),
                (sum(len(s["x"]) for s in series), "point"),
            )
        )
        + f" from {_count(bundle['summary']['rows'], 'row')}"
    )
    if path is not None:
        size = len(dumps(bundle))
        click.echo(f"{path}: {stats}, {_human_size(size)}", err=True)
    if registry_root is not None:
        from .registry import Registry

        assert key is not None
        picture = None
        if png:
            from .plot import render_png

            picture = render_png(bundle)
        reg = Registry(registry_root, lock_timeout=lock_timeout)
        v = reg.file_bundle(key, bundle, version=reg_version, png=picture, overwrite=force)
        click.echo(f"filed {v.path / 'curves.json'} ({v.key} {v.name}): {stats}", err=True)


@cli.group("import", cls=_Group, context_settings=CONTEXT_SETTINGS)
def import_group() -> None:
    """Turn curves recorded elsewhere into curvelog logs.

    \b
    Example:
        curvelog import csv history.csv -o run.log --best val_loss
    """


@import_group.command("csv")
@click.argument("csv_file", metavar="FILE.csv")
@click.option("-o", "--output", metavar="PATH",
              help="The log to write. Default: <csv stem>.log beside it.")  # fmt: skip
@click.option("--best", metavar="METRIC", help="The objective metric: the log gets a best record.")
@click.option("--mode", type=click.Choice(["min", "max"]), default="min", show_default=True,
              help="Whether --best is minimised or maximised.")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace an existing log.")
def import_csv(csv_file: str, output: str | None, best: str | None, mode: str, force: bool) -> None:
    """Import a long CSV (step,metric,value; .csv or .csv.gz) as a log.

    A metric whose step goes back below its own previous step marks a resume;
    between resumes rows are replayed in step order (exports often list one
    metric after another). A step written twice keeps both writes (readers
    show the later); nan/inf are recorded as values; empty cells are skipped.

    \b
    Example:
        curvelog import csv gan_losses.csv -o gan.log
        curvelog import csv history.csv.gz --best val_acc --mode max
    """
    from .convert import csv_to_log, default_log_path

    out = output or default_log_path(csv_file)
    r = csv_to_log(
        csv_file, out, overwrite=force, best=best, mode="max" if mode == "max" else "min"
    )
    skipped = f", {r.skipped:,} empty values skipped" if r.skipped else ""
    click.echo(
        f"{out}: {r.rows:,} rows, {len(r.metrics)} metrics, {r.appends:,} steps written, "
        f"{r.restarts} resumes{skipped}",
        err=True,
    )


# --------------------------------------------------------------------- plot, compare (issue #6)


def _plot_options(f: Any) -> Any:
    options = [
        click.option("--charts", metavar="IDS",
                     help="Comma-separated chart ids to draw, in this order (default: all)."),
        click.option("--logy/--no-logy", default=None,
                     help="Force a log or linear y axis (default: log when every value is "
                     "positive and a series spans more than two decades)."),
        click.option("--logx", is_flag=True, help="Log step axis."),
        click.option("--smooth", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.0,
                     metavar="W", help="EMA weight in [0, 1), e.g. 0.9, over the faint raw line."),
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


def _warn_damage(path: str, bundle: dict[str, Any]) -> None:
    for d in (bundle.get("summary") or {}).get("damage") or ():
        click.echo(f"Warning: {path}: {d.get('message', d)}", err=True)


def _check_output(output: str, inputs: tuple[str, ...]) -> None:
    import os

    from .plot import FORMATS

    if os.path.splitext(output)[1].lower() not in FORMATS:
        from .errors import PlotError

        ext = os.path.splitext(output)[1] or "(no extension)"
        raise PlotError(f"{output}: unsupported output format {ext!r}; use .png, .svg or .pdf")
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
    from .plot import default_output, load_source, plot_bundle, save_figure

    out = output or default_output(source)
    opts = _plot_opts(charts, logy, logx, smooth, size, dpi)
    _check_output(out, (source,))
    bundle = load_source(source)
    _warn_damage(source, bundle)
    fig = plot_bundle(bundle, **opts)
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
    from .plot import compare_bundles, load_source, run_names, save_figure

    if len(sources) < 2:
        raise UserError("compare needs at least two runs")
    if names and len(names) != len(sources):
        raise UserError(f"{len(names)} --name for {len(sources)} runs; give one per run")
    opts = _plot_opts(charts, logy, logx, smooth, size, dpi)
    _check_output(output, sources)
    bundles = []
    for src in sources:
        bundles.append(load_source(src))
        _warn_damage(src, bundles[-1])
    labels = list(names) if names else run_names(bundles, sources)
    fig = compare_bundles(bundles, names=labels, **opts)
    save_figure(fig, output)
    click.echo(f"{output}: {_charts_count(len(fig.axes))}, {len(bundles)} runs", err=True)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="curvelog")


if __name__ == "__main__":  # pragma: no cover
    main()
