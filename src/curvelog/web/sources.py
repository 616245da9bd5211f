"""What ``curvelog serve`` may show: the logs and bundles under the paths it was given.

The browser never names a file. It names a run by an opaque id from the run
list, and ids are only made here, for regular files found under the given
roots whose real path (symlinks resolved) is still under one of the roots'
real paths. So no request can reach ``../`` or follow a symlink out: there is
no path to traverse, and a link that leads outside was never listed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from ..errors import PathError

__all__ = ["Source", "discover", "inside"]

_MAGIC: Final[bytes] = b"\x89CLG\r\n\x1a\n"  # a log's signature (docs/FORMAT.md)
_MAX_FILES: Final[int] = 20_000  # files looked at per scan, so a huge tree cannot stall
_SKIP_DIRS: Final[frozenset[str]] = frozenset(
    {".git", "__pycache__", "node_modules", ".venv", ".mypy_cache", ".pytest_cache"}
)


@dataclass(frozen=True)
class Source:
    """One run the server shows: a log (followed live) or a chart bundle."""

    id: str
    path: str  # the real path
    label: str  # root name + path under it, for people
    kind: str  # "log" or "bundle"


def inside(path: str, root: str) -> bool:
    """``path`` is ``root`` or lies under it (both real, absolute paths)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _named_like_a_run(name: str) -> bool:
    """In a folder only these are opened: a scan must not read every file of a big tree."""
    return name.endswith((".log", ".curves.json")) or name == "curves.json"


def _kind(path: str, given: bool = False) -> str | None:
    """ "log", "bundle" or None; ``given``: a file named on the command line, where
    any ``.json`` may be a bundle (``compact -o x.json``), not only the usual names."""
    name = os.path.basename(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return None  # a FIFO or device would block or never end
        with open(path, "rb") as f:
            head = f.read(len(_MAGIC))
    except OSError:
        return None
    if head == _MAGIC:
        return "log"
    if name.endswith(".curves.json") or name == "curves.json" or (given and name.endswith(".json")):
        return "bundle"
    return None


def _walk(root: str) -> Iterator[str]:
    seen = 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in sorted(files):
            if not _named_like_a_run(name):
                continue
            seen += 1
            if seen > _MAX_FILES:
                return
            yield os.path.join(folder, name)


def discover(roots: Sequence[str], *, missing: list[str] | None = None) -> list[Source]:
    """Every log and bundle under ``roots`` (files or folders; a registry root is a folder).

    A file given as a root is recognised by its content; in folders, files
    named ``*.log``, ``*.curves.json`` or ``curves.json`` (the registry's) are.

    :param missing: given (a rescan of a running server), a root that is gone
        or no longer a run is noted there (``"PATH: why"``) and skipped: one
        folder cleaned up, or a log a script is starting afresh, must not hide
        the runs of the other roots.
    :raises PathError: without ``missing``: a root that does not exist, or a
        file that is neither a log nor a bundle (serving it would show nothing,
        and say nothing).
    """
    given_roots, real_roots = [], []
    for r in roots:
        try:
            if not os.path.exists(r):
                raise PathError(r, "no such file or folder")
            real = os.path.realpath(r)
            if not os.path.isdir(real) and _kind(real, given=True) is None:
                try:  # what it is cannot be told if it cannot be read: say why
                    os.close(os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)))
                except OSError as e:
                    raise PathError(r, f"cannot read ({e.strerror or e})") from None
                raise PathError(r, "is not a folder, a curvelog log or a chart bundle (.json)")
        except PathError as e:
            if missing is None:
                raise
            missing.append(str(e))
            continue
        given_roots.append(r)
        real_roots.append(real)
    found: dict[str, Source] = {}
    for given, root in zip(given_roots, real_roots, strict=True):
        candidates = [root] if os.path.isfile(root) else list(_walk(root))
        # a file is named by its own path rather than by a link to it
        candidates.sort(key=os.path.islink)
        base = os.path.dirname(root) if os.path.isfile(root) else root
        for path in candidates:
            real = os.path.realpath(path)
            if not any(inside(real, r) for r in real_roots):
                continue  # a symlink out of every root
            kind = _kind(real, given=path == root)
            if kind is None or real in found:
                continue
            rel = os.path.relpath(path, base)
            label = (
                rel if os.path.isfile(root) else os.path.join(os.path.basename(root) or given, rel)
            )
            digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:16]
            found[real] = Source(digest, real, label, kind)
    return list(found.values())
