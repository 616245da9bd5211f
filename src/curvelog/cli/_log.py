"""``curvelog inspect``, ``export`` and ``tail``: what a log holds, as text, tables, rows."""

from __future__ import annotations

import sys
from typing import Any

import click

from ._app import UserError, cli
from ._common import (
    OutputPath,
    Seconds,
    _count,
    _echo_json,
    _fmt_point,
    _fmt_span,
    _fmt_time,
    _fmt_value,
    shown,
    split_names,
)


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
    from ..log import read

    info = read(log).describe()
    if as_json:
        _echo_json(info)
        return
    click.echo("\n".join(_overview(info) + [""] + _metrics_table(info["metrics"])))


def _numbered(word: str, numbers: list[int]) -> str:
    """``session 0``, ``sessions 0, 2``: a list of indices that cannot read as a count."""
    return f"{word}{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}"


def _overview(info: dict[str, Any]) -> list[str]:
    """The lines above the metrics table: size, rows, time, sessions, resumes, best, damage."""
    steps, span = info["steps"], info["time"]
    sessions = info["sessions"]
    died = [s["index"] for s in sessions if not s["closed"]]
    if info["live"] and died and died[-1] == sessions[-1]["index"]:
        died.pop()  # the last session is still being written, not dead
    lines = [
        f"{shown(info['path'])}: {info['size']:,} bytes, run {shown(str(info['run_id'] or '?'))}",
        f"  rows      {info['rows']:,}"
        + (f" (steps {steps['first']:,} .. {steps['last']:,})" if steps else ""),
        f"  time      {_fmt_time(span['start'])} .. {_fmt_time(span['end'])}"
        f" ({_fmt_span(span['span'])})"
        if span
        else "  time      -",
        f"  sessions  {len(sessions)}"
        + (f", {_numbered('session', died)} not closed (writer died)" if died else "")
        + (f", session {sessions[-1]['index']} still being written" if info["live"] else "")
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
            f"  best      {shown(best['metric'] or '?', _NAME_WIDTH)} = "
            f"{_fmt_value(best['value']) if best['value'] is not None else '?'}"
            f" at step {best['step']:,} ({best['mode']}, {best['source']})"
        )
    lines.append(f"  skipped   {_fmt_skipped(info['skipped'])}")
    damage = info["damage"]
    lines.append(f"  damage    {'none' if not damage else len(damage)}")
    lines += [f"            {d['what']}" for d in damage]
    return lines


#: the widest metric name the table shows whole (longer ones are cut in the middle)
_NAME_WIDTH = 60


def _metrics_table(metrics: dict[str, Any]) -> list[str]:
    header = ("metric", "points", "first", "last", "min", "max", "nan", "inf", "-inf")
    table = [header] + [
        (
            shown(name, _NAME_WIDTH),
            f"{m['points']:,}",
            _fmt_point(m["first"]),
            _fmt_point(m["last"]),
            _fmt_point(m["min"]),
            _fmt_point(m["max"]),
            f"{m['nan']:,}",
            f"{m['inf']:,}",
            f"{m['neg_inf']:,}",
        )  # fmt: skip
        for name, m in metrics.items()
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return [
        "  "
        + "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    ]


def _fmt_skipped(skipped: dict[str, Any]) -> str:
    """``none``, or what the writer's value policy skipped: values per metric, whole rows."""
    values, rows = skipped["values"], skipped["rows"]
    parts = []
    if values:
        n = sum(values.values())
        each = ", ".join(f"{shown(k, _NAME_WIDTH)}: {v:,}" for k, v in values.items())
        parts.append(f"{n:,} value{'s' if n != 1 else ''} that {'were' if n != 1 else 'was'}"
                     f" not a number ({each})")  # fmt: skip
    if rows:
        parts.append(f"{rows:,} row{'s' if rows != 1 else ''} (step not a valid integer,"
                     " or values not a mapping)")  # fmt: skip
    return "; ".join(parts) or "none"


@cli.command()
@click.argument("log", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=OutputPath(),
              help="A .csv or .parquet file; a folder with --format tensorboard.")  # fmt: skip
@click.option(
    "--wide", is_flag=True, help="One column per metric instead of step,time,metric,value."
)
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "tensorboard"]),
              help="Default: from the output's extension. tensorboard writes an event file "
              "(float64 scalars) into the folder -o.")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@click.option("--all-writes", is_flag=True,
              help="Every value appended, in the order written, also those a resume wrote "
              "again (default: each step's latest write, as charts show it).")  # fmt: skip
def export(
    log: str, output: str, wide: bool, fmt: str | None, force: bool, all_writes: bool
) -> None:
    """Export the recorded values as CSV or Parquet (through polars), or for TensorBoard.

    Each metric's latest write of each step, as charts show it; --all-writes
    keeps every write (a resume's re-run steps too), which `import csv` turns
    back into the same run.

    \b
    Example:
        curvelog export runs/exp1/run.log -o run.parquet
        curvelog export runs/exp1/run.log -o run.csv --wide
        curvelog export runs/exp1/run.log -o writes.csv --all-writes
        curvelog export runs/exp1/run.log --format tensorboard -o tb/exp1
    """
    if all_writes and (wide or fmt == "tensorboard"):
        raise UserError("--all-writes is for the long table (step,time,metric,value): "
                        "a wide table and TensorBoard hold one value per step")  # fmt: skip
    if fmt == "tensorboard":
        _export_tensorboard(log, output, wide, force)
        return
    if fmt is not None and not output.lower().endswith("." + fmt):
        raise UserError(f"--format {fmt} needs an output file ending in .{fmt}, not {output!r}")
    from ..log import read

    run = read(log)
    rows = run.export(output, wide=wide, force=force, all_writes=all_writes)
    for d in run.damage:
        click.echo(f"Warning: {log}: {d.describe()}", err=True)
    click.echo(f"{output}: {_count(rows, 'row')}, {_count(len(run.metrics), 'metric')}", err=True)


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
@click.option("--until-closed", is_flag=True,
              help="Stop when the writer closes the log (exit 1: it died without).")  # fmt: skip
@click.option("--poll", default=0.5, show_default=True, type=Seconds(min=0.01, max=3600),
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
    from ..log import follow as follow_log

    wanted = split_names("--metrics", metrics)
    rows = follow_log(
        log, last=lines, watch=follow, poll=poll, until_closed=until_closed, metrics=wanted
    )
    seen: set[str] = set()
    try:
        for step, when, values in rows:
            seen.update(values)
            stamp = _fmt_time(when)[11:19]
            cells = "  ".join(f"{shown(k)}={_fmt_value(v)}" for k, v in values.items())
            click.echo(f"{step:>10,}  {stamp}  {cells}")
    except KeyboardInterrupt:  # the normal way to stop following
        return
    if until_closed and follow:
        from ..log import read

        run = read(log, times=False)
        if run.sessions and not run.sessions[-1].closed and not run.live:
            # what a script waiting for the end of training must not take for success
            click.echo(f"{log}: the writer stopped without closing the log (killed or "
                       f"crashed; session {run.sessions[-1].index})", err=True)  # fmt: skip
            sys.exit(1)
    if wanted is not None and not follow and lines and not seen:
        # a typo must not look like a run that logged nothing (following, a metric
        # may still appear, and -n 0 shows no row on purpose)
        from ..log import read

        known = read(log, times=False).metrics
        if not set(wanted) & set(known):
            names = ", ".join(map(repr, wanted))
            raise UserError(f"{log}: no metric {names} (metrics: {', '.join(known) or 'none'})")


def _export_tensorboard(log: str, output: str, wide: bool, force: bool) -> None:
    from ..convert.tensorboard import export_tensorboard

    if wide:
        raise UserError("--wide is for CSV and Parquet; TensorBoard keeps one series per metric")
    r = export_tensorboard(log, output, overwrite=force)
    for d in r.damage:
        click.echo(f"Warning: {log}: {d}", err=True)
    click.echo(
        f"{r.event_file}: {_count(r.points, 'point')}, {_count(len(r.metrics), 'metric')}", err=True
    )
