"""The flows: log → bundle → file/registry/picture, as the CLI and the integrations run them.

Each function here strings library pieces together and owns the decisions
that belong to no single stage: where an output goes by default, what may be
replaced (a bundle or a picture with ``force``; a log never), how a source
file is recognised (a log by its signature, else a bundle), how runs are
named in a legend, how a run is filed into a registry. The stages below
(`curvelog.log`, `curvelog.bundle`, `curvelog.plot`, `curvelog.registry`)
know nothing of each other's files.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ._fs import Sha256Job, check_target, os_errors, same_file
from .bundle import DEFAULT_POINTS, Bundle, load_bundle, run_name, write_bundle
from .bundle._build import build, check_options
from .bundle._ranks import merge_ranks
from .bundle._smooth import check_weights
from .errors import PathError
from .log import FILE_MAGIC, is_log, read, refuse_to_replace
from .log._ranks import split_rank_name

if TYPE_CHECKING:
    from .registry import Registry, Version

__all__ = [
    "BUNDLE_SUFFIX",
    "PngWarning",
    "collapse_rank_sets",
    "compact",
    "default_bundle_path",
    "default_output",
    "file_run",
    "load_rank_set",
    "load_source",
    "rank_set",
    "refuse_to_replace_a_log",
    "run_in_folder",
    "run_names",
]

#: suffix of the default bundle beside the log: ``run.log`` -> ``run.curves.json``
BUNDLE_SUFFIX: Final[str] = ".curves.json"
#: what an input's name ends with, longest first: stripped to name its outputs
_INPUT_SUFFIXES: Final[tuple[str, ...]] = (BUNDLE_SUFFIX, ".json", ".log")

Progress = Callable[[str, int, int], None]


# --------------------------------------------------------------------------- paths


def _stem(path: str | os.PathLike[str]) -> tuple[Path, str]:
    """(path, its name without a known input suffix)."""
    p = Path(os.fspath(path))
    name = p.name
    for suffix in _INPUT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return p, name[: -len(suffix)]
    return p, name


def default_bundle_path(log_path: str | os.PathLike[str]) -> str:
    """``runs/exp1/run.log`` -> ``runs/exp1/run.curves.json``."""
    p = Path(os.fspath(log_path))
    return str(p.with_name(p.stem + BUNDLE_SUFFIX))


def default_output(input_path: str | os.PathLike[str], ext: str = ".png") -> str:
    """The picture beside an input: ``run.curves.json`` / ``run.log`` -> ``run.png``."""
    p, stem = _stem(input_path)
    return str(p.with_name(stem + ext))


def refuse_to_replace_a_log(target: str, source: str | None = None) -> None:
    """Raise `PathError` when writing ``target`` would destroy the input or any log.

    Neither is an output that ``force`` may replace: both are refused with or
    without it.
    """
    if source is not None and same_file(target, source):
        raise PathError(target, "is the input log; choose another output")
    refuse_to_replace(target, "a bundle")


# --------------------------------------------------------------------------- compact


def compact(
    log_path: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    method: str = "auto",
    points: int = DEFAULT_POINTS,
    metrics: Sequence[str] | None = None,
    force: bool = False,
    write: bool = True,
    progress: Progress | None = None,
    smooth: Sequence[float] = (),
    processes: bool = False,
) -> tuple[Bundle, str | None]:
    """Read a log, build its bundle and write it (what ``curvelog compact`` does).

    :param out: the bundle's path; default ``<log stem>.curves.json`` beside the log.
    :param force: replace an existing bundle (otherwise `OutputExistsError`,
        raised before the log is read). The input log itself, or any other
        curvelog log, is never replaced, with or without ``force`` (`PathError`).
    :param write: False builds the bundle without writing it (the path returned is None).
    :param progress: called as ``progress(stage, done, total)`` for the
        stages ``"read"`` and ``"series"``.
    :param smooth: EMA weights to store per series, over the raw values.
    :param processes: work on two metrics at a time in forked processes
        rather than threads (twice as fast on two cores; ``curvelog compact``
        does). Only for a process that is yours: forking a training script
        with CUDA or data-loader threads running is not safe.
    :returns: the bundle and the path written.

    ``log_path`` may be rank 0's log of a rank set (``run.log`` beside
    ``run.rank1.log``...; see `rank_set`) or a folder holding one run: the
    bundle then holds every rank's line (`curvelog.bundle._ranks`).
    """
    check_options(method, points)
    smooth = check_weights(smooth)
    src = os.fspath(log_path)
    if os.path.isdir(src):
        src = run_in_folder(src)
    target = (default_bundle_path(src) if out is None else os.fspath(out)) if write else None
    if target is not None:  # fail before the (long) read, not after it
        refuse_to_replace_a_log(target, src)
        check_target(target, overwrite=force)
    members = rank_set(src)
    parts = []
    for rank, path in members:  # a pattern must match in rank 0 only: it may be alone to eval
        part = _build_one(path, method, points, metrics, progress, rank == 0, smooth, processes)
        parts.append((rank, part))
    bundle = parts[0][1] if len(parts) == 1 else merge_ranks(parts)
    if target is not None:
        refuse_to_replace_a_log(target, src)  # again: a log may have appeared during the read
        write_bundle(bundle, target, force=force)
    return bundle, target


def load_source(
    path: str | os.PathLike[str], *, smooth: Sequence[float] = (), processes: bool = False
) -> Bundle:
    """The bundle of a chart-bundle file, or of a log compacted in memory.

    ``smooth``: EMA weights computed over the raw values when the source is a
    log (a bundle holds what its compaction stored); ``processes``: as for
    `compact` (the commands pass True: their process is theirs to fork).

    A log is recognised by its signature (a bundle is JSON text), whatever
    the file's name; only the signature is read here, not the whole file.

    :raises PathError: a missing or unreadable file, a folder, a FIFO.
    :raises BundleError: a file that is neither a log nor a valid bundle.
    :raises LogFormatError: a damaged log header.
    """
    src = os.fspath(path)
    if os.path.isdir(src):  # the one run (a log, or a rank set) in it
        bundle, _ = compact(run_in_folder(src), write=False, smooth=smooth, processes=processes)
        return bundle
    if os.path.exists(src) and not os.path.isfile(src):
        raise PathError(src, "is not a regular file")  # opening a FIFO would block
    # Only the first byte, not the whole file (a log may be hundreds of MB and is
    # read again by compact). A file that cannot be opened goes to load_bundle,
    # whose read says why.
    head = b""
    with contextlib.suppress(OSError), open(src, "rb") as f:
        head = f.read(1)
    if head == FILE_MAGIC[:1]:  # no JSON text starts with 0x89; a torn signature too
        bundle, _ = compact(src, write=False, smooth=smooth, processes=processes)
        return bundle
    return load_bundle(src)


def _build_one(
    src: str,
    method: str,
    points: int,
    metrics: Sequence[str] | None,
    progress: Progress | None,
    strict: bool = True,
    smooth: Sequence[float] = (),
    processes: bool = False,
) -> Bundle:
    """Read one log and build its bundle, hashing the file meanwhile; not ``strict``, a
    pattern of ``metrics`` that matches nothing here is no error."""
    hasher = Sha256Job(src) if os.path.isfile(src) else None  # hashes while we read and sample
    if progress is not None:
        progress("read", 0, 1)
    run = read(src, times=False)  # a bundle charts steps: no wall time per row (#12)
    if progress is not None:
        progress("read", 1, 1)
    if metrics is not None and not strict:
        pats = [metrics] if isinstance(metrics, str) else list(metrics)
        metrics = [m for m in run.metrics if any(fnmatch.fnmatchcase(m, p) for p in pats)]
    size = run.size
    return build(
        run, method, points, metrics, lambda: hasher.result(size) if hasher else None, progress,
        smooth, processes,
    )  # fmt: skip


# --------------------------------------------------------------------------- rank sets


def rank_set(log_path: str | os.PathLike[str]) -> list[tuple[int, str]]:
    """(rank, log) of the set that ``log_path`` (rank 0's log) stands for, by rank.

    ``EventLog(all_ranks=True)`` writes ``run.log`` for rank 0 and
    ``run.rank<r>.log`` beside it for rank *r*; those that are logs join.
    Without any, or for a rank's own log (``run.rank1.log``), the set is that
    one log.
    """
    src = os.fspath(log_path)
    folder, name = os.path.split(src)
    if split_rank_name(name)[1] != 0:
        return [(0, src)]
    members = [(0, src)]
    try:
        entries = os.listdir(folder or ".")
    except OSError:
        return members
    for entry in entries:
        base, rank = split_rank_name(entry)
        path = os.path.join(folder, entry)
        if rank and base == name and os.path.isfile(path) and is_log(path):
            members.append((rank, path))
    return sorted(members)


def run_in_folder(folder: str | os.PathLike[str]) -> str:
    """Rank 0's log of the one run in ``folder`` (a log, or a rank set).

    :raises PathError: no log there, or several runs (the message names them).
    """
    src = os.fspath(folder)
    with os_errors(src):
        entries = sorted(os.listdir(src))
    logs = [
        e for e in entries if os.path.isfile(os.path.join(src, e)) and is_log(os.path.join(src, e))
    ]
    if not logs:
        raise PathError(src, "holds no curvelog log")
    heads = sorted({split_rank_name(e)[0] for e in logs})
    if len(heads) > 1 or heads[0] not in logs:
        shown = ", ".join(heads[:5]) + (", ..." if len(heads) > 5 else "")
        raise PathError(src, f"holds {len(heads)} runs ({shown}); name the log to use")
    return os.path.join(src, heads[0])


def collapse_rank_sets(paths: Sequence[str]) -> list[str]:
    """The inputs to compact or draw, one per run: a folder becomes its run's rank 0 log,
    and a rank's log given beside its rank 0 log is dropped (rank 0's log stands for the set)."""
    resolved = [run_in_folder(p) if os.path.isdir(p) else p for p in paths]
    given = {os.path.abspath(p) for p in resolved}
    out: list[str] = []
    for p in resolved:
        folder, name = os.path.split(os.path.abspath(p))
        base, rank = split_rank_name(name)
        if not (rank and os.path.join(folder, base) in given):
            out.append(p)
    return out


def load_rank_set(
    path: str | os.PathLike[str],
    *,
    method: str = "auto",
    points: int = DEFAULT_POINTS,
    metrics: Sequence[str] | None = None,
) -> Bundle:
    """The bundle of a rank set, given rank 0's log or the folder holding it: every
    rank's line on the same charts, labelled by rank (a set of one is that log's bundle)."""
    bundle, _ = compact(path, method=method, points=points, metrics=metrics, write=False)
    return bundle


# --------------------------------------------------------------------------- names


def run_names(
    bundles: Sequence[Bundle], paths: Sequence[str | os.PathLike[str]] | None = None
) -> list[str]:
    """A distinct legend name per run: its ``run.name``, else its file name, else more of its path.

    With ``paths``, runs whose names collide are named by the shortest tail of
    their paths that tells them apart (``a/run.curves.json`` -> ``a/run``).
    """
    names = [run_name(b) for b in bundles]
    if paths is None or len(set(names)) == len(names):
        return names
    stems = []
    for p in paths:
        full, stem = _stem(Path(os.fspath(p)).resolve())
        stems.append([*full.parts[:-1], stem])
    depth = 1
    longest = max(len(s) for s in stems)
    distinct = len({tuple(s) for s in stems})
    while depth < longest:
        tails = ["/".join(s[-depth:]) for s in stems]
        if len(set(tails)) == distinct:
            break
        depth += 1
    out = [
        str(Path(*s[-depth:])) if names.count(name) > 1 else name
        for name, s in zip(names, stems, strict=True)
    ]
    # the same file given twice: no path tells them apart, so they are numbered
    return [n if out[:i].count(n) == 0 else f"{n} ({out[:i].count(n) + 1})"
            for i, n in enumerate(out)]  # fmt: skip


# --------------------------------------------------------------------------- registry


class PngWarning(UserWarning):
    """The registry's picture (``loss_curve.png``) could not be drawn: the bundle was
    filed without it. ``reason`` says why, in no command's words (each caller
    names its own options)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"loss_curve.png not drawn ({reason}); the bundle is filed without it")
        self.reason = reason


def file_run(
    bundle: Bundle,
    registry: Registry,
    key: str,
    *,
    version: int | str | None = None,
    png: bool = True,
    overwrite: bool = False,
) -> Version:
    """File a bundle (and its PNG) into a registry: a new version of ``key``, or ``version``.

    What ``curvelog compact --registry`` and the framework integrations do at
    the end of training. The picture is optional: whatever stops it (a figure
    too large, a font, matplotlib itself) is a `PngWarning`, and the bundle is
    filed all the same; it never costs the run's curves.
    """
    picture = None
    if png:
        from .errors import PlotError
        from .plot import render_png

        try:
            picture = render_png(bundle)
        except Exception as e:  # noqa: BLE001 - the picture never stops the filing
            reason = e.reason if isinstance(e, PlotError) else f"{type(e).__name__}: {e}"
            import warnings

            warnings.warn(PngWarning(reason), stacklevel=2)
    return registry.file_bundle(key, bundle, version=version, png=picture, overwrite=overwrite)
