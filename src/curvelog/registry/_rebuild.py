"""Rebuilding ``versions.json`` and the index from the version folders: the registry's repair."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import _json
from .._fs import fsync_dir
from ..errors import PathError, RegistryCorruptError, RegistryKeyError
from ._folders import _versions_entries, clear_version_temps
from ._incoming import sweep
from ._keys import ROOT_FILES, key_path

if TYPE_CHECKING:
    from ._store import Registry

__all__ = ["RebuildReport", "rebuild"]


@dataclass
class RebuildReport:
    """What :meth:`Registry.rebuild_index` found and changed."""

    keys: int = 0
    versions: int = 0
    #: key -> (number before, number after) for every versions.json entry that changed
    versions_json_changes: dict[str, tuple[int | None, int]] = field(default_factory=dict)
    #: versions.json could not be read and was rebuilt from the folders (and the old index)
    versions_json_was_corrupt: bool = False
    #: folders whose metadata.json is missing or unreadable (indexed with the folder's mtime)
    problems: list[str] = field(default_factory=list)
    #: (path, bytes) of temporary files that interrupted writes left in version folders
    removed_temp_files: list[tuple[str, int]] = field(default_factory=list)
    #: (path, bytes) of the folders of copies that a killed ``registry add`` left in
    #: ``.incoming/`` (one still copying holds its lock and is left alone)
    removed_incoming: list[tuple[str, int]] = field(default_factory=list)


def _read_versions_leniently(reg: Registry) -> tuple[dict[str, int], list[str]]:
    """The usable entries of versions.json and what is wrong with the others;
    unreadable as a whole -> RegistryCorruptError (rebuilt from the folders then)."""
    path = reg.versions_file
    try:
        obj = _json.read_object(path)
    except ValueError as e:
        raise RegistryCorruptError(f"{path}: {e}") from None
    out, problems = _versions_entries(obj or {})
    return out, [f"{path}: {p}" for p in problems]


def _looks_like_a_registry(reg: Registry) -> bool:
    """Whether the root has a registry file or a version folder under some key."""
    markers = [reg.root / name for name in ROOT_FILES] + [reg.lock_file]
    if any(os.path.lexists(path) for path in markers):
        return True
    return next(reg._iter_keys(), None) is not None


def rebuild(reg: Registry, *, init: bool) -> RebuildReport:
    """`Registry.rebuild_index`."""
    reg._require_root()
    if not init and not _looks_like_a_registry(reg):
        raise PathError(
            str(reg.root),
            "not a registry (no versions.json, index.db, .registry.lock or version "
            "folder); refusing to make it one (use --init, or init=True from Python)",
        )
    report = RebuildReport()
    with reg._locked(None):  # every key; adopts the database (see Registry._locked)
        reg._clear_staging()
        report.removed_incoming = sweep(reg)
        try:
            old_json, bad_entries = _read_versions_leniently(reg)
        except RegistryCorruptError:
            old_json, bad_entries = {}, []
            report.versions_json_was_corrupt = True
        report.problems.extend(bad_entries)
        old_index: dict[str, int] = {}
        for k, m in reg._index.max_versions().items():
            with contextlib.suppress(RegistryKeyError):
                old_index[key_path(k)] = m
        rows, problems = reg._scan_rows()
        report.problems.extend(problems)
        for row in rows:
            report.removed_temp_files.extend(clear_version_temps(reg.root / row[3]))

        reg._index.build(rows)

        new_json: dict[str, int] = dict(old_json)
        for k, m in old_index.items():
            new_json[k] = max(new_json.get(k, 0), m)
        for row in rows:
            k, n = row[0], row[2]
            new_json[k] = max(new_json.get(k, 0), n)
        before = {} if report.versions_json_was_corrupt else old_json
        for k, n in new_json.items():
            if before.get(k) != n:
                report.versions_json_changes[k] = (before.get(k), n)
        reg._write_versions(new_json)
        if reg._pg is not None:  # the database's counters never below versions.json (#16)
            reg._pg.raise_counters(new_json)
        fsync_dir(reg.root)
    report.keys = len({r[0] for r in rows})
    report.versions = len(rows)
    return report
