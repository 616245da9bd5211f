"""``curvelog compact`` and ``curvelog import``: logs into bundles, other formats into logs."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..bundle import DEFAULT_POINTS, MIN_POINTS
from ..sampling import METHODS
from ._app import CONTEXT_SETTINGS, UserError, _Group, cli
from ._common import (
    _count,
    _human_size,
    _lock_timeout_option,
)

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


def _parse_weights(text: str | None) -> tuple[float, ...]:
    """``"0.9,0.99"`` -> (0.9, 0.99); each in [0, 1)."""
    if text is None:
        return ()
    out = []
    for part in text.split(","):
        try:
            w = float(part)
        except ValueError:
            raise UserError(f"--smooth: {part.strip()!r} is not a number (e.g. 0.9,0.99)") from None
        if not 0.0 <= w < 1.0:
            raise UserError(f"--smooth: weight {part.strip()} is not in [0, 1) (e.g. 0.9,0.99)")
        out.append(w)
    return tuple(out)


@cli.command()
@click.argument("log")
@click.option("-o", "--output", metavar="PATH",
              help="The bundle to write; '-' prints it. "
                   "Default: <log stem>.curves.json beside the log.")  # fmt: skip
@click.option("--points", type=click.IntRange(min=MIN_POINTS), default=DEFAULT_POINTS,
              show_default=True,
              help="Point budget per series.")  # fmt: skip
@click.option("--method", type=click.Choice(METHODS), default="auto", show_default=True,
              help="How series are downsampled.")  # fmt: skip
@click.option("--metrics", multiple=True, metavar="NAMES",
              help="Only these metrics (comma-separated names or glob patterns; "
                   "repeatable).")  # fmt: skip
@click.option("--smooth", "smooth_weights", metavar="W[,W...]", default=None,
              help="Store per series the EMA over the raw values for these weights "
                   "(e.g. 0.9,0.99), drawn by plot --smooth W.")  # fmt: skip
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
    smooth_weights: str | None,
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
        curvelog compact run.log --smooth 0.9,0.99 --force
        curvelog compact run.log --registry saved_models --key product/P001_all/mlstm
    """
    from ..bundle import dumps
    from ..pipeline import compact as compact_log

    if (registry_root is None) != (key is None):
        raise UserError("--registry and --key go together")
    if reg_version is not None and registry_root is None:
        raise UserError("--version needs --registry and --key")
    if key is not None:
        from ..registry import key_path, parse_version

        key = key_path(key)  # a bad key fails before the log is read
        if reg_version is not None:
            parse_version(reg_version)
    if output == "":
        raise UserError("-o needs a file name (or '-' for stdout)")
    smooth = _parse_weights(smooth_weights)
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
            smooth=smooth,
        )
    finally:
        progress.close()
    for d in bundle["summary"]["damage"]:
        click.echo(f"Warning: {log}: {d['message']}", err=True)
    if to_stdout:
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
        from ..pipeline import file_run

        assert key is not None
        prior = None if reg_version is not None else _version_of_log(registry_root, key, bundle)
        v = file_run(bundle, registry_root, key, version=reg_version, png=png, overwrite=force,
                     lock_timeout=lock_timeout)  # fmt: skip
        if prior is not None and prior == v.number:  # the same log: its version is reused
            sha = bundle["provenance"]["source"]["sha256"] or "?"
            click.echo(f"reused {v.path / 'curves.json'} ({v.key} {v.name} already holds this log, "
                       f"sha256 {sha[:12]}...): no new version", err=True)  # fmt: skip
        else:
            click.echo(f"filed {v.path / 'curves.json'} ({v.key} {v.name}): {stats}", err=True)


def _version_of_log(root: str, key: str, bundle: Any) -> int | None:
    """The version of ``key`` already filed from this bundle's log, if the registry has one."""
    import os

    from ..errors import CurvelogError
    from ..registry import Registry
    from ..registry._query import version_of_log

    if not os.path.isdir(root):
        return None
    try:
        v = version_of_log(Registry(root), key, bundle["provenance"]["source"]["sha256"])
    except CurvelogError:
        return None  # filing reports it
    return None if v is None else v.number


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
    from ..convert import csv_to_log, default_log_path

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
