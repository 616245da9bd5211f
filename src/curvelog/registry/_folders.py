"""The registry's folders: version numbers on disk, keys found by walking, staging leftovers.

What `Registry` needs from the file system beyond its own files; every walk
stays inside the root (`_confine`) and never follows a link.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .. import _json
from .._fs import fsync_dir
from ..errors import PathError, RegistryCorruptError, RegistryKeyError
from ._confine import linked_part, no_link
from ._index import INDEX_FILE, Row, make_row
from ._keys import MAX_VERSION, VERSION_NAME, VERSIONS_FILE, check_segment, key_path
from ._version import METADATA, Version, iso_time, stale_temp_file

if TYPE_CHECKING:
    from ._store import Registry

_LOGGER = logging.getLogger("curvelog.registry")

STAGING_DIR: Final = ".staging"
#: temporary files that only a lock holder makes in the root (atomic_write_bytes, the index)
_ROOT_TEMP_PREFIXES: Final = (f".{VERSIONS_FILE}.", f".{INDEX_FILE}.")


def _version_numbers(folder: Path, *, any_entry: bool = False) -> list[int]:
    """Version numbers of the ``v<N>`` folders in ``folder``, sorted.

    With ``any_entry``, of every entry named ``v<N>`` (a stray file too): the
    numbers a new version must not take, since its folder could not get the name.
    """
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    nums = []
    for e in entries:
        m = VERSION_NAME.fullmatch(e.name)
        # a link is no version folder (its number is taken, though); nor is a
        # number past what the index can hold
        if m and len(m.group(1)) <= 19 and (any_entry or e.is_dir(follow_symlinks=False)):
            n = int(m.group(1))
            if n <= MAX_VERSION:
                nums.append(n)
    return sorted(nums)


def _versions_entries(obj: Mapping[str, Any]) -> tuple[dict[str, int], list[str]]:
    """The valid ``key: number`` entries of versions.json, and what is wrong with the rest."""
    out: dict[str, int] = {}
    problems = []
    for k, v in obj.items():
        if type(v) is not int or not 0 <= v <= MAX_VERSION:
            shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:40] + "..."
            problems.append(f"entry {k[:200]!r} is {shown}, not a version number")
            continue
        try:
            out[key_path(k)] = v
        except RegistryKeyError as e:
            problems.append(str(e))
    return out, problems


def iter_keys(reg: Registry, start: tuple[str, ...] = ()) -> Iterator[str]:
    """The keys under ``start`` that have a version folder, in no order, found lazily."""
    if linked_part(reg.root, reg._key_dir(start)):
        return  # a prefix reached through a link is no part of the registry
    todo = [(reg._key_dir(start), start)]
    while todo:
        folder, segments = todo.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        is_key = False
        for e in entries:
            # never through a link: it may lead out of the root (or in a circle)
            if not e.is_dir(follow_symlinks=False) or e.name.startswith("."):
                continue
            if VERSION_NAME.fullmatch(e.name):
                is_key = True
                continue
            try:
                check_segment(e.name, e.name)
            except RegistryKeyError:
                continue  # not something the registry made
            todo.append((Path(e.path), (*segments, e.name)))
        if is_key and segments:
            try:
                key = key_path(segments)
            except RegistryKeyError:  # hand-made folders
                continue
            yield key


def make_key_dir(reg: Registry, segments: Sequence[str]) -> Path:
    folder = reg.root
    for seg in segments:
        child = folder / seg
        if not child.is_dir():
            try:
                child.mkdir()
            except FileExistsError:
                if not child.is_dir():
                    raise PathError(str(child), "exists and is not a folder") from None
            else:
                fsync_dir(folder)
        folder = child
    return folder


def clear_staging(reg: Registry) -> None:
    """Remove what a process killed mid-allocation left behind.

    Staged folders and the temporary files of versions.json and the index are
    only ever made with the lock held, so with the lock held they are stale.
    """
    staging = no_link(reg.root / STAGING_DIR)
    with contextlib.suppress(FileNotFoundError):
        for e in os.scandir(staging):
            _LOGGER.info("removing %s, left by an interrupted allocation", e.path)
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(e.path)
    for e in os.scandir(reg.root):
        if e.name.endswith(".tmp") and e.name.startswith(_ROOT_TEMP_PREFIXES):
            _LOGGER.info("removing %s, left by an interrupted write", e.path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(e.path)


def clear_version_temps(folder: Path) -> list[tuple[str, int]]:
    """Remove what writes killed mid-way left in a version folder: (path, bytes) of each.

    Model files are written there without the registry lock (a long copy, a
    training run's checkpoint), so a temporary file is only removed when no
    process holds its lock, i.e. its writer is gone (`_version.stale_temp_file`).
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for e in entries:
        if e.name.startswith(".") and e.name.endswith(".tmp") and e.is_file(follow_symlinks=False):
            try:
                size = e.stat(follow_symlinks=False).st_size
            except OSError:
                continue
            if stale_temp_file(e.path):
                _LOGGER.info("removed %s, left by an interrupted write", e.path)
                removed.append((e.path, size))
    return removed


def numbers_in_use(reg: Registry, key: str) -> tuple[dict[str, int] | None, list[int], int]:
    """What every allocation checks first (lock held): versions.json, the key's
    folders, and the highest number taken by either or by a stray ``v<N>`` entry
    (no version, but its number cannot be taken either). A versions.json that
    records less than the folders show is refused (`RegistryCorruptError`)."""
    recorded_all = reg._read_versions()
    folders = reg._folder_versions(key)
    folder_max = folders[-1] if folders else 0
    recorded = 0 if recorded_all is None else recorded_all.get(key, 0)
    if recorded < folder_max:
        raise stale_versions(reg, key, recorded_all, folder_max)
    taken = reg._taken_numbers(key)
    return recorded_all, folders, max(recorded, taken[-1] if taken else 0)


def stale_versions(
    reg: Registry, key: str, recorded_all: Mapping[str, int] | None, folder_max: int
) -> RegistryCorruptError:
    path = reg.versions_file
    if recorded_all is None:
        what = f"{path} is missing but {key} has version folders up to v{folder_max}"
    elif key not in recorded_all:
        what = f"{path} has no entry for {key} but its folders go up to v{folder_max}"
    else:
        what = (
            f"{path} says the latest version of {key} is v{recorded_all[key]} "
            f"but folder v{folder_max} exists"
        )
    return RegistryCorruptError(
        f"{what}, so it cannot be trusted to prevent reusing a version number; "
        + reg._repair_hint()
    )


def row_for(reg: Registry, key: str, number: int) -> Row:
    """An index row built from a version folder (metadata.json if readable)."""
    v = Version(reg, key, number)
    created_at = None
    summary = None
    try:
        meta = _json.read_object(v.path / METADATA)
    except ValueError:
        meta = None
    if meta is not None:
        created_at = meta.get("created_at") if isinstance(meta.get("created_at"), str) else None
        summary = meta.get("summary") if isinstance(meta.get("summary"), dict) else None
    if created_at is None:
        created_at = iso_time(v.path.stat().st_mtime)
    return make_row(key, number, created_at, summary)


def scan_rows(reg: Registry) -> tuple[list[Row], list[str]]:
    """Index rows for every version folder, and the folders whose metadata is unusable."""
    rows, problems = [], []
    for key in reg.keys():
        for n in reg._folder_versions(key):
            meta_path = Version(reg, key, n).path / METADATA
            try:
                if _json.read_object(meta_path) is None:
                    problems.append(f"{meta_path}: missing")
            except ValueError as e:
                problems.append(f"{meta_path}: {e}")
            rows.append(row_for(reg, key, n))
    return rows, problems
