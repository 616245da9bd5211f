"""A versioned model registry: one folder per training run, numbered under a file lock.

Layout (the user's rules, generalised: a key is a path of segments)::

    saved_models/
    ├── versions.json        latest version number handed out per key
    ├── index.db             SQLite index (table model_versions), rebuilt from the folders
    ├── .registry.lock       flock: held while allocating or writing registry-owned files
    ├── .staging/            version folders being made, invisible until renamed into place
    └── product/P001_all/mlstm/
        ├── v1/
        │   ├── metadata.json   key, version, created_at (+ run_id, summary, your fields)
        │   ├── curves.json     the chart bundle
        │   ├── loss_curve.png
        │   └── model.pth  checkpoint_best.pth  checkpoint_epoch_50.pth
        └── v2/

The version folders are the truth. ``versions.json`` remembers the highest
number ever handed out per key, so a deleted version's number is never handed
out again; the index is a queryable copy of the folders.

A new version is allocated inside one locked section: re-read
``versions.json``, scan the key's folders, take the next number, make the
folder (with its ``metadata.json``) under ``.staging/``, replace
``versions.json``, insert the index row and rename the folder into place. A
crash at any point leaves either no new folder or a complete one; at worst a
number is skipped, never reused. The lock is an ``flock`` (filelock), which the
kernel releases when its holder dies, so a killed run does not block the others.
With a PostgreSQL index (``index=``, #16) the database decides instead: the
same steps run in one transaction holding the key's row lock (`_pgalloc`), and
the flock is optional.

If ``versions.json`` cannot be read, or records less than the folders show (it
was edited, deleted or restored from an old copy), allocation stops with
:class:`~curvelog.errors.RegistryCorruptError` naming the repair command,
``curvelog registry rebuild-index``, which rebuilds both ``versions.json`` and
the index from the folders without lowering any number already handed out.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import filelock

from .. import _json
from .._fs import atomic_write_bytes, os_errors
from ..errors import (
    PathError,
    RegistryCorruptError,
    RegistryIndexError,
    RegistryLockTimeout,
    VersionNotFoundError,
)
from . import _folders
from ._confine import confine, linked_part, no_link, no_link_below
from ._folders import STAGING_DIR, _version_numbers, _versions_entries
from ._index import INDEX_FILE, IndexRow, Row, SqliteIndex
from ._keys import (
    VERSIONS_FILE,
    KeyLike,
    global_,
    key_path,
    parse_key,
    parse_version,
    product,
    store,
)
from ._pgschema import MARKER_FILE
from ._query import refile_same_log, version_of_log
from ._version import (
    CURVES,
    PLOT,
    Version,
    bundle_metadata,
    dumps,
    encode_bundle,
    log_sha256,
    read_png,
)

if TYPE_CHECKING:
    from ._postgres import PostgresIndex
    from ._rebuild import RebuildReport

__all__ = ["DEFAULT_LOCK_TIMEOUT", "Registry"]

_LOGGER = logging.getLogger("curvelog.registry")

LOCK_FILE: Final = ".registry.lock"
#: Seconds a Registry waits for the lock by default (``curvelog registry --lock-timeout``).
DEFAULT_LOCK_TIMEOUT: Final = 60.0
#: The index URL when ``Registry(index=None)``: unset or ``sqlite`` is index.db (#16).
INDEX_ENV: Final = "CURVELOG_REGISTRY_INDEX"


class Registry:
    """A model registry rooted at ``root`` (the user's ``saved_models``).

    Nothing touches the disk until it is used; writing creates ``root``.

    .. code-block:: python

        reg = Registry("saved_models")
        v = reg.new_version(registry.product("P001", "all", "mlstm"))
        v.save_artifact(MODEL, model_bytes)  # or: with v.open_artifact(MODEL) as f: ...
        v.save_bundle(bundle)

    :param lock_timeout: seconds to wait for the registry lock before
        :class:`RegistryLockTimeout` (default 60; the CLI's ``--lock-timeout``).
        The lock is only held for the few milliseconds of an allocation or a
        registry-owned write.
    :param index: ``"postgresql://..."`` puts the index in PostgreSQL and lets the
        database decide version numbers (see `_postgres`, `_pgalloc`); ``"sqlite"``
        is ``index.db``; None (default) is ``$CURVELOG_REGISTRY_INDEX``, else SQLite.
    :param file_lock: also take the ``flock`` (default: with SQLite only; a
        PostgreSQL index needs none, for filesystems where flock does not work).
    """

    product = staticmethod(product)
    store = staticmethod(store)
    global_ = staticmethod(global_)

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        index: str | None = None,
        file_lock: bool | None = None,
    ) -> None:
        self.root = Path(root)
        self.lock_timeout = float(lock_timeout)
        url = os.environ.get(INDEX_ENV, "") if index is None else index
        self._pg: PostgresIndex | None = None
        if url not in ("", "sqlite"):
            from ._postgres import make_index

            self._pg = make_index(url, self.root, self.lock_timeout, self._repair_hint())
        self.file_lock = self._pg is None if file_lock is None else bool(file_lock)
        if not self.file_lock and self._pg is None:
            raise ValueError("file_lock=False needs a PostgreSQL index (index='postgresql://...')")
        self._lock = filelock.FileLock(
            str(self.root / LOCK_FILE),
            timeout=self.lock_timeout,
            poll_interval=0.005,
            # A soft lock would survive a killed holder and block everyone.
            fallback_to_soft=False,
            preserve_lock_file=True,
        )
        self._index: SqliteIndex | PostgresIndex = self._pg or SqliteIndex(
            self.root / INDEX_FILE, self.lock_timeout, self._repair_hint()
        )

    def __repr__(self) -> str:
        return f"Registry({str(self.root)!r})"

    # ------------------------------------------------------------------ paths and lock

    @property
    def lock_file(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def versions_file(self) -> Path:
        return self.root / VERSIONS_FILE

    @property
    def index_file(self) -> Path:
        return self.root / INDEX_FILE

    def _key_dir(self, segments: Sequence[str]) -> Path:
        return self.root.joinpath(*segments)

    @property
    def index_kind(self) -> str:
        """``"postgresql"`` or ``"sqlite"``."""
        return "sqlite" if self._pg is None else "postgresql"

    @property
    def index_location(self) -> str:
        """index.db's path, or the PostgreSQL URL without its password."""
        return str(self._index.path if isinstance(self._index, SqliteIndex) else self._index)

    def _repair_hint(self) -> str:
        index = " --index URL" if self._pg is not None else ""
        return (
            f"run `curvelog registry rebuild-index{index} --registry "
            f"{shlex.quote(str(self.root))}` to rebuild it from the version folders"
        )

    def _require_root(self) -> None:
        if not self.root.is_dir():
            if self.root.exists():
                raise PathError(str(self.root), "not a folder")
            raise PathError(str(self.root), "no registry here (the folder does not exist)")

    def _ensure_root(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise PathError(str(self.root), "not a folder")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PathError(
                str(self.root), f"cannot create the registry folder ({e.strerror})"
            ) from None

    def _check_own_files(self) -> None:
        """The registry's own files resolve inside the root; ``.staging`` is no link."""
        for path in (self.lock_file, self.versions_file, self.index_file):
            confine(self.root, path)
        no_link(confine(self.root, self.root / STAGING_DIR))

    @contextlib.contextmanager
    def _locked(self, key: str | None) -> Iterator[int]:
        """Hold the registry lock; OS errors inside become PathError.

        With a PostgreSQL index: the database transaction holding ``key``'s row,
        whose ``last_version`` is yielded (0 with SQLite). ``key=None`` locks every
        key and is for rebuild-index only: it is also what lets a database that
        indexes no folder yet be adopted by this one, so a write must always name
        its key (or it could take over another registry's database).
        """
        if self._pg is not None:
            self._pg.ping()  # unreachable: the clear error before anything is made
            if not self.root.exists():  # a refused database (another registry's) makes no folder
                self._pg.exists()
        self._ensure_root()
        self._check_own_files()
        if self._pg is None and (self.root / MARKER_FILE).is_file():
            raise RegistryIndexError(
                str(self.root / INDEX_FILE),
                f"this registry's index is in PostgreSQL ({self.root / MARKER_FILE}); "
                f"pass its URL (index=..., --index or ${INDEX_ENV})",
            )
        with contextlib.ExitStack() as stack:
            if self.file_lock:
                try:
                    self._lock.acquire()
                except filelock.Timeout:
                    raise RegistryLockTimeout(str(self.lock_file), self.lock_timeout) from None
                except OSError as e:
                    raise PathError(
                        str(self.lock_file), f"cannot create the registry lock ({e.strerror})"
                    ) from None
                stack.callback(self._lock.release)
            counter = 0
            if self._pg is not None:
                counter = stack.enter_context(self._pg.locked(key, lambda: self._scan_rows()[0]))
            with os_errors(self.root, "cannot write here"):
                yield counter

    # ------------------------------------------------------------------ versions.json

    def _read_versions(self) -> dict[str, int] | None:
        """versions.json as a dict; None if it does not exist; corrupt -> RegistryCorruptError."""
        path = self.versions_file
        try:
            obj = _json.read_object(path)
        except ValueError as e:
            raise RegistryCorruptError(
                f"{path}: {e}; {self._repair_hint()}", path=str(path)
            ) from None
        if obj is None:
            return None
        out, problems = _versions_entries(obj)
        if problems:
            raise RegistryCorruptError(
                f"{path}: {problems[0]}; {self._repair_hint()}", path=str(path)
            )
        return out

    def _write_versions(self, versions: Mapping[str, int]) -> None:
        atomic_write_bytes(self.versions_file, dumps(dict(sorted(versions.items()))))

    # ------------------------------------------------------------------ index

    def _ensure_index(self) -> None:
        """Build the index from the folders if it does not exist, then check it.

        Called with the lock held, before a number is taken: a damaged index
        must stop an allocation before it changes anything.
        """
        if not self._index.exists():
            self._index.build(self._scan_rows()[0])
        self._index.check()

    def _row_for(self, key: str, number: int) -> Row:
        return _folders.row_for(self, key, number)

    def _scan_rows(self) -> tuple[list[Row], list[str]]:
        return _folders.scan_rows(self)

    def _set_index_summary(self, version: Version, summary: Any) -> None:
        # Called with the lock held.
        self._ensure_index()
        with self._index.writing() as w:
            w.sync_key(version.key, self._folder_versions(version.key), self._row_for)
            w.set_summary(version.key, version.number, summary)

    def index_rows(
        self, prefix: KeyLike | None = None, *, existing: bool = False
    ) -> list[IndexRow]:
        """The rows of the index, ordered by key and version, optionally under a key prefix.

        ``existing``: only rows whose version folder exists. The folders are the
        truth; a row outlives its folder when a version is deleted by hand (until
        the key's next write or rebuild-index), and what lists, ranks or points
        at versions must not offer one that is gone.
        """
        rows = self._all_index_rows(prefix)
        if not existing:
            return rows
        have: dict[str, set[int]] = {}
        for key in {r.key for r in rows}:
            have[key] = set(self._folder_versions(key))
        return [r for r in rows if r.version in have[r.key]]

    def _all_index_rows(self, prefix: KeyLike | None) -> list[IndexRow]:
        self._require_root()
        if self._pg is not None:
            rows = self._pg.rows()
        elif not self._index.exists():
            if self.keys():
                raise RegistryCorruptError(
                    f"{self.index_file}: the index is missing; {self._repair_hint()}"
                )
            return []
        else:
            rows = self._index.rows()
        if prefix is None:
            return rows
        pre = "/".join(parse_key(prefix, partial=True))
        return [r for r in rows if r.key == pre or r.key.startswith(pre + "/")]

    # ------------------------------------------------------------------ reading

    def _folder_versions(self, key: str) -> list[int]:
        """The numbers of ``key``'s version folders (what exists as a version); none when
        the key's folder is reached through a link (see `_confine`)."""
        folder = self._key_dir(key.split("/"))
        return [] if linked_part(self.root, folder) else _version_numbers(folder)

    def _taken_numbers(self, key: str) -> list[int]:
        """The numbers of every ``v<N>`` entry of ``key``, files too (never to be handed out)."""
        return _version_numbers(self._key_dir(key.split("/")), any_entry=True)

    def _writable_key_dir(self, key: str) -> Path:
        """``key``'s folder, refused (`PathError`) if it would lie outside the root or be
        reached through a link: what every allocation checks first."""
        return no_link_below(self.root, confine(self.root, self._key_dir(key.split("/"))))

    def keys(self, prefix: KeyLike | None = None) -> list[str]:
        """Every key that has at least one version folder, sorted; optionally under ``prefix``
        (whole segments: ``product`` matches ``product/...``, not ``products/...``).
        """
        self._require_root()
        start: tuple[str, ...] = ()
        if prefix is not None:
            start = parse_key(prefix, partial=True)
        return sorted(self._iter_keys(start))

    def _iter_keys(self, start: tuple[str, ...] = ()) -> Iterator[str]:
        return _folders.iter_keys(self, start)

    def versions(self, key: KeyLike) -> list[Version]:
        """The versions of ``key`` that exist, oldest first (empty for an unknown key)."""
        kp = key_path(key)
        self._require_root()
        return [Version(self, kp, n) for n in self._folder_versions(kp)]

    def version(self, key: KeyLike, number: int | str) -> Version:
        """Version ``number`` (``3`` or ``"v3"``) of ``key``.

        :raises VersionNotFoundError: if that folder does not exist.
        """
        kp = key_path(key)
        n = parse_version(number)
        self._require_root()
        v = Version(self, kp, n)
        have = self._folder_versions(kp)
        if n not in have:  # the same rule as listing: no link, no stray file
            if not have:
                raise VersionNotFoundError(f"{kp}: no versions in {self.root}", key=kp)
            raise VersionNotFoundError(
                f"{kp}: no version v{n} in {self.root} (latest is v{have[-1]})", key=kp, version=n
            )
        return v

    def latest(self, key: KeyLike) -> Version:
        """The highest-numbered existing version of ``key``.

        :raises VersionNotFoundError: if the key has no versions.
        """
        kp = key_path(key)
        self._require_root()
        have = self._folder_versions(kp)
        if not have:
            raise VersionNotFoundError(f"{kp}: no versions in {self.root}", key=kp)
        return Version(self, kp, have[-1])

    # ------------------------------------------------------------------ writing

    def new_version(self, key: KeyLike) -> Version:
        """Allocate the next version of ``key`` and create its folder.

        Safe across processes: concurrent callers always get distinct numbers.
        The folder appears complete (with its ``metadata.json``) or not at all.

        :raises RegistryKeyError: for a bad key.
        :raises RegistryCorruptError: if versions.json or the index cannot be trusted.
        :raises RegistryLockTimeout: if the lock was not free within ``lock_timeout``.
        :raises PathError: if the registry folder cannot be written.
        """
        return self._allocate(key_path(key), {}, None)

    def file_bundle(
        self,
        key: KeyLike,
        bundle: Mapping[str, Any],
        *,
        version: int | str | None = None,
        png: bytes | os.PathLike[str] | str | None = None,
        overwrite: bool = False,
    ) -> Version:
        """File a chart bundle (and its PNG) under ``key``; what ``curvelog compact`` calls.

        Without ``version``, a new version is allocated and appears with
        ``curves.json``, ``metadata.json`` and ``loss_curve.png`` already in it.
        With ``version``, the bundle goes into that *existing* version (the one a
        training run allocated for its model); a version that does not exist is
        an error, never created, so version numbers only ever come from
        allocation. An existing, different ``curves.json`` is never replaced
        unless ``overwrite=True`` (see :meth:`Version.save_bundle`).
        """
        kp = key_path(key)
        data = encode_bundle(bundle)
        png_bytes = None if png is None else read_png(png)
        if version is None:
            files = {CURVES: data}
            if png_bytes is not None:
                files[PLOT] = png_bytes
            sha = log_sha256(bundle)
            with self._locked(kp):  # reentrant: the check and the allocation are one step
                same = version_of_log(self, kp, sha)
                if same is None:
                    return self._allocate(kp, files, bundle_metadata(bundle, data))
                return refile_same_log(same, bundle, data, png_bytes, overwrite=overwrite)
        n = parse_version(version)
        with self._locked(kp):
            v = self.version(kp, n)
            v._write_bundle(bundle, data, png_bytes, overwrite=overwrite)
        return v

    def _allocate(
        self,
        key: str,
        files: Mapping[str, bytes],
        meta_extra: Mapping[str, Any] | None,
        prepared: Path | None = None,
    ) -> Version:
        """A new version holding ``files`` and, if given, the files of folder ``prepared``
        (`_incoming`), which is moved into it; nothing is visible if it fails."""
        if self._pg is not None:
            from ._pgalloc import allocate

            return allocate(self, key, files, meta_extra, prepared)
        from ._sqlalloc import allocate as allocate_sqlite

        return allocate_sqlite(self, key, files, meta_extra, prepared)

    def _make_key_dir(self, segments: Sequence[str]) -> Path:
        return _folders.make_key_dir(self, segments)

    def _clear_staging(self) -> None:
        _folders.clear_staging(self)

    def _numbers_in_use(self, key: str) -> tuple[dict[str, int] | None, list[int], int]:
        return _folders.numbers_in_use(self, key)

    def rebuild_index(self, *, init: bool = False) -> RebuildReport:
        """Rebuild ``index.db`` and ``versions.json`` from the version folders.

        The repair for :class:`RegistryCorruptError`. Each key's number in
        versions.json becomes the highest of its folders, the old versions.json
        (if readable) and the old index (if readable), so numbers of deleted
        versions are still never handed out again.

        A folder with no registry file (``versions.json``, ``index.db``,
        ``.registry.lock``) and no ``v<N>`` version folder under any key is
        refused with :class:`PathError` and left untouched, unless ``init``:
        a mistyped root must not become a registry.
        """
        from ._rebuild import rebuild

        return rebuild(self, init=init)
