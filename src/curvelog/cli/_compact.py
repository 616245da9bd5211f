"""``curvelog compact`` and ``curvelog import``: logs into bundles, other formats into logs."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import click
from click.core import ParameterSource

from ..bundle import DEFAULT_POINTS, MIN_POINTS, Bundle
from ..errors import CurvelogError
from ..sampling import METHODS

if TYPE_CHECKING:
    from ..registry import Registry
from ._app import CONTEXT_SETTINGS, UserError, _Group, cli
from ._common import (
    OutputPath,
    _count,
    _human_size,
    _index_option,
    _lock_timeout_option,
    bundle_warnings,
    shown,
    split_names,
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
    """Every --metrics given, as one list; None without --metrics (all metrics)."""
    if not values:
        return None
    return [n for v in values for n in split_names("--metrics", v) or ()]


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
@click.argument("logs", metavar="LOG...", nargs=-1, required=True)
@click.option("-o", "--output", metavar="PATH", type=OutputPath(stdout=True),
              help="The bundle to write (one LOG only); '-' prints it. "
                   "Default: <log stem>.curves.json beside each log.")  # fmt: skip
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
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Compact this many logs at once, each in its own process.")  # fmt: skip
@click.option("--registry", "registry_root", metavar="DIR",
              help="File the bundle into this model registry (needs --key).")  # fmt: skip
@click.option("--key", metavar="KEY", help="Registry key, e.g. product/P001_all/mlstm.")
@click.option("--version", "reg_version", metavar="N",
              help="File into this existing version (one LOG only).")  # fmt: skip
@click.option("--png/--no-png", default=True, show_default=True,
              help="With --registry, also file loss_curve.png drawn from the bundle.")  # fmt: skip
@_lock_timeout_option
@_index_option
def compact(
    logs: tuple[str, ...],
    output: str | None,
    points: int,
    method: str,
    metrics: tuple[str, ...],
    smooth_weights: str | None,
    force: bool,
    jobs: int,
    registry_root: str | None,
    key: str | None,
    reg_version: str | None,
    png: bool,
    lock_timeout: float,
    index: str | None,
) -> None:
    """Compact logs into small JSON chart bundles (charts, best step, summary).

    Writes <log stem>.curves.json beside each log unless -o says otherwise
    (one log), and never replaces an existing bundle without --force. With
    --registry and --key each bundle is filed into a new version of KEY (or
    --version N); the file beside the log is then only written when -o asks
    for it. With several logs, -j N compacts N at once; a log that fails is
    reported on its own line and the others are still compacted (exit code 2).
    Rank 0's log of a rank set (EventLog(all_ranks=True): run.log beside
    run.rank1.log...), or a folder holding one run, gives one bundle with
    every rank's line; rank logs given beside their rank 0 log join it.

    \b
    Example:
        curvelog compact runs/exp1/run.log
        curvelog compact run.log -o curves.json --points 500 --metrics 'val/*'
        curvelog compact run.log -o - | jq .best
        curvelog compact runs/*/run.log -j 2
        curvelog compact run.log --smooth 0.9,0.99 --force
        curvelog compact run.log --registry saved_models --key product/P001_all/mlstm
        curvelog compact runs/ddp/            # run.log + run.rank1.log ... -> run.curves.json
    """
    from ..bundle import dumps
    from ..pipeline import collapse_rank_sets

    logs = tuple(collapse_rank_sets(logs))  # a rank set is one run (#13)
    target = _registry_target(registry_root, key, reg_version, index, lock_timeout)
    if len(logs) > 1 and output is not None:
        raise UserError("-o takes one log; with several, each bundle goes beside its log")
    if len(logs) > 1 and reg_version is not None:
        raise UserError("--version files one log; give one LOG")
    to_stdout = output == "-"
    opts = {
        "method": method,
        "points": points,
        "metrics": _split_metrics(metrics),
        "force": force,
        "write": not to_stdout and (output is not None or registry_root is None),
        "smooth": _parse_weights(smooth_weights),
    }
    if opts["write"] and output is None:
        _one_bundle_per_log(logs)
    failed = 0
    for log, outcome in _compact_all(logs, None if to_stdout else output, opts, jobs):
        if isinstance(outcome, CurvelogError):
            if len(logs) == 1:
                raise outcome
            click.echo(f"Error: {outcome}", err=True)
            failed += 1
            continue
        bundle, path = outcome
        for said in bundle_warnings(bundle):
            click.echo(f"Warning: {log}: {said}", err=True)
        if to_stdout:  # checked like a file written by write_bundle (#10)
            from ..bundle import validate_bundle

            validate_bundle(bundle, source="<stdout>")
            click.echo(dumps(bundle).decode("utf-8"))
        stats = _stats(bundle)
        if path is not None:
            click.echo(f"{path}: {stats}, {_human_size(len(dumps(bundle)))}", err=True)
        if target is not None:
            _file(bundle, *target, reg_version, png, force, stats)
    if failed:
        raise UserError(f"{failed} of {len(logs)} logs could not be compacted")


def _one_bundle_per_log(logs: Sequence[str]) -> None:
    """Refuse logs whose bundles would have the same path (``p.log`` and ``p.bin``
    are both ``p.curves.json``): one input's bundle would replace another's within
    the same command, ``--force`` or not."""
    from ..pipeline import default_bundle_path

    seen: dict[str, str] = {}
    for log in logs:
        bundle = default_bundle_path(log)
        first = seen.setdefault(os.path.realpath(bundle), log)
        if first != log or logs.count(log) > 1:
            raise UserError(
                f"{first} and {log} would both be compacted to {bundle}; "
                "give them one at a time with -o"
            )


def _compact_all(
    logs: Sequence[str], output: str | None, opts: dict[str, Any], jobs: int
) -> Iterator[tuple[str, tuple[Bundle, str | None] | CurvelogError]]:
    """Each log and its (bundle, path written), or the error that stopped it, in input order.

    One log runs here, with progress on a terminal and its metrics two at a
    time in forked processes (`bundle._workers`: the process is ours); several run in up to
    ``jobs`` worker processes (a log's compaction is CPU-bound numpy work, so
    processes, not threads, use the cores).
    """
    from ..pipeline import compact as compact_log

    if len(logs) == 1 or jobs == 1:
        for log in logs:
            progress = _CompactProgress(log) if len(logs) == 1 else None
            try:
                yield log, compact_log(log, output, progress=progress, processes=True, **opts)
            except CurvelogError as e:
                yield log, e
            finally:
                if progress is not None:
                    progress.close()
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from ..bundle._workers import worker_start

    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(logs)), mp_context=ctx, initializer=worker_start,
        initargs=(os.getpid(),),
    ) as pool:  # fmt: skip
        futures = [pool.submit(_compact_quietly, log, opts) for log in logs]
        for log, fut in zip(logs, futures, strict=True):
            yield log, fut.result()


def _compact_quietly(log: str, opts: dict[str, Any]) -> tuple[Bundle, str | None] | CurvelogError:
    """A worker's job: errors come back as values, so one bad log stops nothing else."""
    from ..pipeline import compact as compact_log

    try:
        return compact_log(log, None, **opts)
    except CurvelogError as e:
        return e


def _registry_target(
    root: str | None, key: str | None, version: str | None, index: str | None, timeout: float
) -> tuple[Registry, str] | None:
    """The registry and checked key of ``--registry/--key/--version/--index``: a bad
    one fails before the (long) read of the log."""
    if (root is None) != (key is None):
        raise UserError("--registry and --key go together")
    if version is not None and root is None:
        raise UserError("--version needs --registry and --key")
    given = click.get_current_context().get_parameter_source("index")
    if root is None and given is ParameterSource.COMMANDLINE:
        raise UserError("--index needs --registry and --key")
    if root is None or key is None:
        return None
    from ..registry import Registry, key_path, parse_version

    if version is not None:
        parse_version(version)
    checked = key_path(key)
    return Registry(root, lock_timeout=timeout, index=index), checked


def _stats(bundle: Bundle) -> str:
    """``3 charts, 5 series, 8,123 points from 40,000 rows``."""
    series = [s for c in bundle["charts"] for s in c["series"]]
    counts = ((len(bundle["charts"]), "chart"), (len(series), "series"),
              (sum(len(s["x"]) for s in series), "point"))  # fmt: skip
    rows = bundle["summary"].get("rows", 0)
    text = ", ".join(_count(n, word) for n, word in counts) + f" from {_count(rows, 'row')}"
    ranks = bundle["provenance"]["source"].get("ranks")
    return f"{text} of rank 0, {len(ranks)} ranks" if ranks else text


def _file(
    bundle: Bundle, reg: Registry, key: str, version: str | None, png: bool, force: bool, stats: str
) -> None:
    """File one bundle; the same log filed again reuses its version (and says so)."""
    from ..pipeline import file_run
    from ..registry._query import version_of_log

    prior, before = None, None
    if version is None and reg.root.is_dir():
        try:
            found = version_of_log(reg, key, bundle["provenance"]["source"]["sha256"])
        except CurvelogError:
            found = None  # filing reports it
        prior = None if found is None else found.number
        before = None if found is None else _bytes_of(found.path / "curves.json")
    from ..pipeline import PngWarning

    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", PngWarning)
        v = file_run(bundle, reg, key, version=version, png=png, overwrite=force)
    for w in said:  # the bundle is filed; only its picture is missing, said in compact's words
        if isinstance(w.message, PngWarning):
            click.echo(f"Warning: {v.key} {v.name}: loss_curve.png not drawn "
                       f"({shown(w.message.reason)}); the bundle is filed without it "
                       "(--no-png skips the picture)", err=True)  # fmt: skip
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if prior is not None and prior == v.number:  # the same log: its version is reused
        sha = bundle["provenance"]["source"]["sha256"] or "?"
        if _bytes_of(v.path / "curves.json") != before:  # --force replaced another bundle
            click.echo(f"replaced {v.path / 'curves.json'} ({v.key} {v.name} holds this log, "
                       f"sha256 {sha[:12]}...; --force): {stats}", err=True)  # fmt: skip
            return
        click.echo(f"reused {v.path / 'curves.json'} ({v.key} {v.name} already holds this log, "
                   f"sha256 {sha[:12]}...): no new version", err=True)  # fmt: skip
    else:
        click.echo(f"filed {v.path / 'curves.json'} ({v.key} {v.name}): {stats}", err=True)


def _bytes_of(path: os.PathLike[str]) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


@cli.group("import", cls=_Group, context_settings=CONTEXT_SETTINGS)
def import_group() -> None:
    """Turn curves recorded elsewhere into curvelog logs.

    \b
    Example:
        curvelog import csv history.csv -o run.log --best val_loss
    """


@import_group.command("csv")
@click.argument("csv_file", metavar="FILE.csv")
@click.option("-o", "--output", metavar="PATH", type=OutputPath(),
              help="The log to write. Default: <csv stem>.log beside it.")  # fmt: skip
@click.option("--best", metavar="METRIC", help="The objective metric: the log gets a best record.")
@click.option("--mode", type=click.Choice(["min", "max"]),
              help="Whether --best is minimised or maximised (default: by its name, max for "
              "accuracies, rewards and scores, else min).")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace an existing log.")
def import_csv(
    csv_file: str, output: str | None, best: str | None, mode: str | None, force: bool
) -> None:
    """Import a long CSV (step,metric,value; .csv or .csv.gz) as a log.

    A metric whose step goes back below its own previous step marks a resume;
    between resumes rows are replayed in step order (exports often list one
    metric after another). A step written twice keeps both writes (readers
    show the later); nan/inf are recorded as values; empty cells are skipped.
    A time column (seconds since 1970, as curvelog export writes it, or ISO
    8601 dates) gives each row its wall time; without one, rows get the time
    of the import. Metric names are trimmed of surrounding spaces.

    \b
    Example:
        curvelog import csv gan_losses.csv -o gan.log
        curvelog import csv history.csv.gz --best val_acc --mode max
    """
    from ..convert import csv_to_log, default_log_path
    from ..convert._csv import CsvWarning

    _mode_needs_best(mode, best)
    out = output or default_log_path(csv_file)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", CsvWarning)
        r = csv_to_log(csv_file, out, overwrite=force, best=best, mode=_mode(mode))
    for w in said:
        click.echo(f"Warning: {w.message}", err=True)
    skipped = f", {r.skipped:,} empty values skipped" if r.skipped else ""
    times = ", wall times from the CSV" if r.times else ""
    click.echo(
        f"{out}: {_count(r.rows, 'row')}, {_count(len(r.metrics), 'metric')}, "
        f"{_count(r.appends, 'step')} written, {_count(r.restarts, 'resume')}{skipped}{times}",
        err=True,
    )


@import_group.command("tensorboard")
@click.argument("source", metavar="PATH")
@click.option("-o", "--output", metavar="PATH", type=OutputPath(), required=True,
              help="The log to write; a folder (one <run>.log each) when PATH holds several "
              "runs.")  # fmt: skip
@click.option("--best", metavar="METRIC", help="The objective metric: the logs get a best record.")
@click.option("--mode", type=click.Choice(["min", "max"]),
              help="Whether --best is minimised or maximised (default: by its name, max for "
              "accuracies, rewards and scores, else min).")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace existing logs.")
def import_tensorboard(
    source: str, output: str, best: str | None, mode: str | None, force: bool
) -> None:
    """Import the scalars of TensorBoard event files (a file, a run folder, or a folder of runs).

    Every scalar point is kept with its step and wall time (simple values
    and scalars-plugin tensors); a run's event files are merged in the
    order they were written. Record checksums are verified: damaged records
    and a torn last record are skipped and reported, never read as values.

    \b
    Example:
        curvelog import tensorboard runs/exp1 -o exp1.log
        curvelog import tensorboard runs/ -o logs/ --best val/loss
    """
    from ..convert.tensorboard import import_tensorboard as run_import

    _mode_needs_best(mode, best)
    runs = run_import(source, output, overwrite=force, best=best, mode=_mode(mode))
    for r in runs:
        for d in r.damage:
            click.echo(f"Warning: {d.describe()}", err=True)
        dropped = f", {r.dropped:,} non-scalar points dropped" if r.dropped else ""
        if not r.written:
            click.echo(f"Warning: {r.source}: {r.skipped}; no log written", err=True)
            continue
        click.echo(
            f"{r.log}: {r.points:,} points, {_count(len(r.metrics), 'metric')} from "
            f"{_count(len(r.files), 'event file')}{dropped}",
            err=True,
        )


def _mode(mode: str | None) -> Literal["min", "max"] | None:
    return None if mode is None else "max" if mode == "max" else "min"


def _mode_needs_best(mode: str | None, best: str | None) -> None:
    """``--mode`` alone would be ignored without a word: it is the direction of ``--best``."""
    if mode is not None and best is None:
        raise UserError("--mode is the direction of --best: give the objective metric with --best")
