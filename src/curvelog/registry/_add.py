"""``curvelog registry add``: model files into a new or a given version of a key.

Every name is checked before a version is allocated, so a bad argument never
leaves an empty version behind. Files are streamed and fsynced, so a model of
many GB is never held in memory.

A new version is allocated only once its files are copied: they go into a
private folder first (`_incoming`), which the allocation moves into the version,
so the version appears with every file or not at all, whatever stops the copy
(a full disk, ``kill -9``).

Into an existing version (``version=``), each file is copied atomically (temp
file, fsync, rename). Without ``overwrite`` the copy is linked into place, never
renamed over a name: two runs adding the same name to one version at once
cannot both succeed. A failed file (a name taken meanwhile, a full disk) takes
back the files this call had already filed under new names.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .._fs import os_errors
from ..errors import OutputExistsError, PathError, RegistryKeyError
from ._incoming import copy_into, prepared_folder
from ._keys import KeyLike, check_file_name, key_path
from ._version import _MANAGED

if TYPE_CHECKING:
    from ._store import Registry
    from ._version import Version


def add_files(
    reg: Registry,
    key: KeyLike,
    files: Sequence[str | os.PathLike[str]],
    *,
    version: int | str | None = None,
    overwrite: bool = False,
) -> tuple[Version, list[tuple[str, int]]]:
    """Copy ``files`` (each under its own name) into ``version`` of ``key``, or a new one.

    :returns: the version and ``(name, bytes)`` of each file written.
    :raises RegistryKeyError: a bad key, a name that is no plain file name, a
        file the registry writes itself, or two files of the same name.
    :raises OutputExistsError: a file of that name is in ``version`` (without ``overwrite``).
    :raises VersionNotFoundError: ``version`` does not exist (it is never created).
    """
    kp = key_path(key)
    names: dict[str, str] = {}
    for each in files:
        src = os.fspath(each)
        name = check_file_name(os.path.basename(src))
        if name in _MANAGED:
            raise RegistryKeyError(
                f"{name} is written by the registry (curvelog compact --registry); "
                "rename the file to add it"
            )
        if name in names:
            raise RegistryKeyError(f"two files named {name} ({names[name]}, {src})")
        if not os.path.isfile(src):
            raise PathError(src, "no such file")
        names[name] = src
    if version is None:
        return _into_new_version(reg, kp, names)
    v = reg.version(kp, version)
    for name in names:  # fail before copying anything; the copy's link decides races
        if os.path.lexists(v.artifact(name)) and not overwrite:
            raise OutputExistsError(str(v.artifact(name)))
    written: list[tuple[str, int]] = []
    new_names: list[str] = []  # what a failure takes back: never a file that was there
    try:
        for name, src in names.items():
            existed = os.path.lexists(v.artifact(name))
            with (
                os_errors(src),
                open(src, "rb") as fin,
                v.open_artifact(name, overwrite=overwrite) as fout,
            ):
                shutil.copyfileobj(fin, fout, 4 * 2**20)
            if not existed:
                new_names.append(name)
            written.append((name, os.path.getsize(v.artifact(name))))
    except OSError:
        # all or nothing: a name another add took meanwhile, or a full disk, would
        # leave this version part of this run's files, or a mix of two runs' files
        for name in new_names:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(v.artifact(name))
        raise
    return v, written


def _into_new_version(
    reg: Registry, key: str, names: Mapping[str, str]
) -> tuple[Version, list[tuple[str, int]]]:
    """Copy the files, then allocate a version that holds them (see the module)."""
    with reg._locked(key):  # what would refuse the allocation refuses it before a long copy
        reg._writable_key_dir(key)
        reg._numbers_in_use(key)
    written: list[tuple[str, int]] = []
    with prepared_folder(reg) as folder:
        for name, src in names.items():
            written.append((name, copy_into(folder, name, src)))
        v = reg._allocate(key, {}, None, folder)
    return v, written
