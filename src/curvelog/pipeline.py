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
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ._fs import Sha256Job, same_file
from .bundle import DEFAULT_POINTS, Bundle, load_bundle, run_name, write_bundle
from .bundle._build import build, check_options
from .errors import OutputExistsError, PathError
from .log import FILE_MAGIC, is_log, read

if TYPE_CHECKING:
    from .registry import Registry, Version

__all__ = [
    "BUNDLE_SUFFIX",
    "compact",
    "default_bundle_path",
    "default_output",
    "file_run",
    "load_source",
    "refuse_to_replace_a_log",
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
    if is_log(target):
        raise PathError(target, "is a curvelog log, not a bundle; refusing to replace it")


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
) -> tuple[Bundle, str | None]:
    """Read a log, build its bundle and write it (what ``curvelog compact`` does).

    :param out: the bundle's path; default ``<log stem>.curves.json`` beside the log.
    :param force: replace an existing bundle (otherwise `OutputExistsError`,
        raised before the log is read). The input log itself, or any other
        curvelog log, is never replaced, with or without ``force`` (`PathError`).
    :param write: False builds the bundle without writing it (the path returned is None).
    :param progress: called as ``progress(stage, done, total)`` for the
        stages ``"read"`` and ``"series"``.
    :returns: the bundle and the path written.
    """
    check_options(method, points)
    src = os.fspath(log_path)
    target = (default_bundle_path(src) if out is None else os.fspath(out)) if write else None
    if target is not None:  # fail before the (long) read, not after it
        refuse_to_replace_a_log(target, src)
        if not force and os.path.exists(target):
            raise OutputExistsError(target)
        folder = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(folder):
            raise PathError(folder, "folder does not exist")
    hasher = Sha256Job(src) if os.path.isfile(src) else None  # hashes while we read and sample
    if progress is not None:
        progress("read", 0, 1)
    run = read(src, times=False)  # a bundle charts steps: no wall time per row (#12)
    if progress is not None:
        progress("read", 1, 1)
    size = run.size
    bundle = build(
        run, method, points, metrics, lambda: hasher.result(size) if hasher else None, progress
    )
    if target is not None:
        refuse_to_replace_a_log(target, src)  # again: a log may have appeared during the read
        write_bundle(bundle, target, force=force)
    return bundle, target


def load_source(path: str | os.PathLike[str]) -> Bundle:
    """The bundle of a chart-bundle file, or of a log compacted in memory.

    A log is recognised by its signature (a bundle is JSON text), whatever
    the file's name; only the signature is read here, not the whole file.

    :raises PathError: a missing or unreadable file, a folder, a FIFO.
    :raises BundleError: a file that is neither a log nor a valid bundle.
    :raises LogFormatError: a damaged log header.
    """
    src = os.fspath(path)
    if os.path.isdir(src):
        raise PathError(src, "is a directory, not a bundle or a log")
    if os.path.exists(src) and not os.path.isfile(src):
        raise PathError(src, "is not a regular file")  # opening a FIFO would block
    # Only the first byte, not the whole file (a log may be hundreds of MB and is
    # read again by compact). A file that cannot be opened goes to load_bundle,
    # whose read says why.
    head = b""
    with contextlib.suppress(OSError), open(src, "rb") as f:
        head = f.read(1)
    if head == FILE_MAGIC[:1]:  # no JSON text starts with 0x89; a torn signature too
        bundle, _ = compact(src, write=False)
        return bundle
    return load_bundle(src)


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
    while depth < longest:
        tails = ["/".join(s[-depth:]) for s in stems]
        if len(set(tails)) == len(tails):
            break
        depth += 1
    return [
        "/".join(s[-depth:]) if names.count(name) > 1 else name
        for name, s in zip(names, stems, strict=True)
    ]


# --------------------------------------------------------------------------- registry


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
    the end of training.
    """
    picture = None
    if png:
        from .plot import render_png

        picture = render_png(bundle)
    return registry.file_bundle(key, bundle, version=version, png=picture, overwrite=overwrite)
