"""Version allocation under the file lock, with the index in SQLite (``index.db``).

The steps `_store` describes, in one section held under ``.registry.lock``:
clear a killed allocation's leftovers, check ``versions.json`` against the
key's folders, take the next number, build the complete folder under
``.staging/``, replace ``versions.json`` (the number is taken before the folder
is visible), then insert the index row and rename the folder into place in one
SQLite transaction. `_pgalloc` is the same for a PostgreSQL index.

``prepared``: a folder of files copied beforehand (`_incoming`, ``registry add``),
which becomes the staged folder (one rename) so the version appears with them.
If the allocation then fails, that staged folder is removed at once, as it may
hold gigabytes of models; other leftovers (a killed allocation's too) are
removed by the next allocation.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._fs import fsync_dir
from ..errors import RegistryCorruptError
from ._folders import STAGING_DIR
from ._index import make_row
from ._keys import MAX_VERSION
from ._version import METADATA, Version, dumps, now, write_new_file

if TYPE_CHECKING:
    from ._store import Registry

__all__ = ["allocate"]

_LOGGER = logging.getLogger("curvelog.registry")


def allocate(
    reg: Registry,
    key: str,
    files: Mapping[str, bytes],
    meta_extra: Mapping[str, Any] | None,
    prepared: Path | None = None,
) -> Version:
    """`Registry._allocate` for the SQLite index."""
    staged = reg.root / STAGING_DIR / uuid.uuid4().hex
    try:
        return _allocate(reg, key, files, meta_extra, prepared, staged)
    except BaseException:
        if prepared is not None:  # gone already if it was renamed into place
            shutil.rmtree(staged, ignore_errors=True)
        raise


def _allocate(
    reg: Registry,
    key: str,
    files: Mapping[str, bytes],
    meta_extra: Mapping[str, Any] | None,
    prepared: Path | None,
    staged: Path,
) -> Version:
    segments = key.split("/")
    with reg._locked(key):
        reg._writable_key_dir(key)
        reg._clear_staging()
        recorded_all, folders, highest = reg._numbers_in_use(key)
        n = highest + 1
        if n > MAX_VERSION:
            raise RegistryCorruptError(f"{key}: no version number left after v{n - 1}")
        v = Version(reg, key, n)
        meta: dict[str, Any] = {"key": key, "version": n, "created_at": now()}
        meta.update(meta_extra or {})
        meta_bytes = dumps(meta)
        # A damaged index must stop us before the number is taken.
        reg._ensure_index()
        # 1. the complete folder, under .staging/
        staged.parent.mkdir(exist_ok=True)
        if prepared is None:
            staged.mkdir()
        else:
            os.rename(prepared, staged)
        for name, data in {**files, METADATA: meta_bytes}.items():
            write_new_file(staged / name, data)  # private folder: no temp file
        fsync_dir(staged)
        # 2. the number is taken before the folder is visible: a crash from here
        #    on skips it, never reuses it
        reg._write_versions({**(recorded_all or {}), key: n})
        # 3. index row and rename in one transaction: a failed rename leaves no row
        with reg._index.writing() as w:
            w.sync_key(key, folders, reg._row_for)
            w.insert(make_row(key, n, meta["created_at"], meta.get("summary")))
            parent = reg._make_key_dir(segments)
            os.rename(staged, v.path)
        fsync_dir(parent)  # the rename, durable
    _LOGGER.debug("allocated %s v%d", key, n)
    return v
