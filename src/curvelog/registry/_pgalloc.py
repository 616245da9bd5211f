"""Version allocation decided by PostgreSQL, for registries without a working ``flock``.

The same steps as the SQLite registry's allocation (see `_store`), in one
database transaction that holds the key's row of ``registry_keys``
(``SELECT ... FOR UPDATE``) instead of the file lock:

1. clear what an allocation of *this key* killed earlier left under ``.staging/``
   (staged folders are named ``<key tag>.<uuid>``: other keys' allocators may be
   staging at the same moment);
2. re-read ``versions.json``, scan the key's folders; a stale ``versions.json``
   stops the allocation, as with SQLite;
3. ``n = max(registry_keys.last_version, max(model_versions.version),
   versions.json, folders) + 1``;
4. build the complete folder under ``.staging/`` (from ``prepared``, the folder of
   files `_incoming` copied beforehand, if given: one rename);
5. take the versions.json lock (a transaction advisory lock: writers of other keys
   rewrite the same file), re-read the file and replace it with ``key: n``: the
   number is taken before the folder is visible;
6. insert the ``model_versions`` row (UNIQUE (key, version)), raise the counter,
   rename the folder into place, commit.

A killed allocator's transaction is rolled back by the server, which also
releases its locks; ``versions.json`` or a renamed folder may keep its number,
which is then skipped, never reused. If the transaction does not commit (the
database went away), also when it is a caller's that this allocation joined
(`Registry.file_bundle` checks for the same log and allocates under one
transaction), the folder is renamed back out of sight and removed
(`PostgresIndex.on_failure`): the caller gets the error and no version it was
never told about.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._fs import fsync_dir
from ..errors import RegistryCorruptError
from ._index import make_row
from ._keys import MAX_VERSION
from ._pgschema import bundle_text
from ._postgres import PostgresIndex
from ._version import CURVES, METADATA, Version, dumps, now, write_new_file

if TYPE_CHECKING:
    from ._store import Registry

__all__ = ["allocate", "key_tag"]

_LOGGER = logging.getLogger("curvelog.registry")


def key_tag(key: str) -> str:
    """The prefix of ``key``'s staged folders."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _clear_key_staging(reg: Registry, key: str) -> None:
    """Remove what an allocation of ``key`` killed mid-way left (its row lock is held)."""
    from ._folders import STAGING_DIR

    tag = key_tag(key) + "."
    with contextlib.suppress(FileNotFoundError):
        for e in os.scandir(reg.root / STAGING_DIR):
            if e.name.startswith(tag):
                _LOGGER.info("removing %s, left by an interrupted allocation", e.path)
                shutil.rmtree(e.path, ignore_errors=True)


def _clear_versions_json_temps(reg: Registry) -> None:
    """Temporary files of versions.json: only made under the versions.json lock (held)."""
    from ._keys import VERSIONS_FILE

    prefix = f".{VERSIONS_FILE}."
    for e in os.scandir(reg.root):
        if e.name.startswith(prefix) and e.name.endswith(".tmp"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(e.path)


def _take_back(v: Version, staged: Path) -> None:
    """An allocation whose transaction did not commit: its folder renamed back and removed."""
    with contextlib.suppress(OSError):
        os.rename(v.path, staged)
        _LOGGER.info("allocation of %s v%d not committed; removing it", v.key, v.number)
        shutil.rmtree(staged, ignore_errors=True)


def allocate(
    reg: Registry,
    key: str,
    files: Mapping[str, bytes],
    meta_extra: Mapping[str, Any] | None,
    prepared: Path | None = None,
) -> Version:
    """`Registry._allocate` for a PostgreSQL index."""
    from ._folders import STAGING_DIR

    index = reg._index
    assert isinstance(index, PostgresIndex)
    segments = key.split("/")
    staged = reg.root / STAGING_DIR / f"{key_tag(key)}.{uuid.uuid4().hex}"
    v = Version(reg, key, 0)
    try:
        with reg._locked(key) as counter:
            reg._writable_key_dir(key)
            _clear_key_staging(reg, key)
            _recorded_all, folders, highest = reg._numbers_in_use(key)
            with index.writing() as w:
                indexed = w.versions(key)
                n = max(counter, indexed[-1] if indexed else 0, highest) + 1
                if n > MAX_VERSION:  # before versions.json or anything else holds it
                    raise RegistryCorruptError(f"{key}: no version number left after v{n - 1}")
                v = Version(reg, key, n)
                meta: dict[str, Any] = {"key": key, "version": n, "created_at": now()}
                meta.update(meta_extra or {})
                meta_bytes = dumps(meta)
                # 1. the complete folder, under .staging/
                staged.parent.mkdir(exist_ok=True)
                if prepared is None:
                    staged.mkdir()
                else:
                    os.rename(prepared, staged)
                for name, data in {**files, METADATA: meta_bytes}.items():
                    write_new_file(staged / name, data)
                fsync_dir(staged)
                # 2. the number is taken before the folder is visible
                index.lock_versions_json()
                _clear_versions_json_temps(reg)
                latest = reg._read_versions() or {}
                reg._write_versions({**latest, key: max(n, latest.get(key, 0))})
                # 3. row, counter and rename in the transaction; the commit ends it
                w.sync_key(key, folders, reg._row_for, indexed)
                row = make_row(key, n, meta["created_at"], meta.get("summary"))
                w.insert(row, bundle_text(files.get(CURVES)))
                w.set_counter(key, n)
                parent = reg._make_key_dir(segments)
                os.rename(staged, v.path)
                # The commit may be a caller's (file_bundle holds the key's transaction
                # around this one): if that one fails, the folder goes back out of sight.
                index.on_failure(lambda: _take_back(v, staged))
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    fsync_dir(parent)
    _LOGGER.debug("allocated %s v%d (PostgreSQL)", key, v.number)
    return v
