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

If ``versions.json`` cannot be read, or records less than the folders show (it
was edited, deleted or restored from an old copy), allocation stops with
:class:`~curvelog.errors.RegistryCorruptError` naming the repair command,
``curvelog registry rebuild-index``, which rebuilds both ``versions.json`` and
the index from the folders without lowering any number already handed out.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Final

import filelock

from ._fs import atomic_path, atomic_write_bytes, fsync_dir
from .errors import (
    BundleError,
    CurvelogError,
    OutputExistsError,
    PathError,
    PlotError,
    RegistryCorruptError,
    RegistryError,
    RegistryKeyError,
    RegistryLockTimeout,
    VersionNotFoundError,
)

__all__ = [
    "CHECKPOINT_BEST",
    "CURVES",
    "METADATA",
    "MODEL",
    "PLOT",
    "IndexRow",
    "RebuildReport",
    "Registry",
    "Version",
    "checkpoint_epoch",
    "global_",
    "key_path",
    "parse_key",
    "parse_version",
    "product",
    "store",
]

_LOGGER = logging.getLogger("curvelog.registry")

#: Standard file names inside a version folder (the user's rules).
MODEL: Final = "model.pth"
CHECKPOINT_BEST: Final = "checkpoint_best.pth"
CURVES: Final = "curves.json"
PLOT: Final = "loss_curve.png"
METADATA: Final = "metadata.json"
#: Files the registry writes itself, through save_bundle / save_plot / save_metadata.
_MANAGED: Final = frozenset({CURVES, PLOT, METADATA})

VERSIONS_FILE: Final = "versions.json"
INDEX_FILE: Final = "index.db"
LOCK_FILE: Final = ".registry.lock"
STAGING_DIR: Final = ".staging"
#: Seconds a Registry waits for the lock by default (``curvelog registry --lock-timeout``).
DEFAULT_LOCK_TIMEOUT: Final = 60.0
#: temporary files that only a lock holder makes in the root (atomic_write_bytes, the index)
_ROOT_TEMP_PREFIXES: Final = (f".{VERSIONS_FILE}.", f".{INDEX_FILE}.")
#: metadata.json fields that the registry owns; save_metadata refuses to change them.
_RESERVED_FIELDS: Final = ("key", "version", "created_at")

_SEGMENT_CHARS: Final = re.compile(r"[A-Za-z0-9_.\-]+")
_BAD_CHAR: Final = re.compile(r"[^A-Za-z0-9_.\-]")
_VERSION_NAME: Final = re.compile(r"v([1-9][0-9]*)")
_MAX_SEGMENT: Final = 100
_PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
_GLOBAL_SCOPES: Final = {"all": 0, "stores": 1, "products": 1, "custom": 2}
_INDEX_SCHEMA_VERSION: Final = 1
_INDEX_SCHEMA: Final = """
CREATE TABLE model_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    model_type TEXT NOT NULL,
    version INTEGER NOT NULL,
    path TEXT NOT NULL,
    created_at TEXT NOT NULL,
    metrics_summary TEXT,
    UNIQUE (key, version)
);
CREATE INDEX model_versions_key ON model_versions (key);
"""

KeyLike = str | Sequence[str]


# --------------------------------------------------------------------------- keys


def _check_segment(segment: object, key_text: str) -> str:
    def bad(reason: str) -> RegistryKeyError:
        return RegistryKeyError(f"registry key {key_text!r}: {reason}")

    if not isinstance(segment, str):
        raise bad(f"segment {segment!r} is a {type(segment).__name__}, not a string")
    if segment == "":
        raise bad("empty segment (a leading, trailing or doubled '/')")
    if segment in (".", ".."):
        raise bad(f"segment {segment!r} is not allowed")
    if "/" in segment or "\\" in segment or os.sep in segment:
        raise bad(f"segment {segment!r} contains a path separator")
    if not _SEGMENT_CHARS.fullmatch(segment):
        char = _BAD_CHAR.search(segment)
        assert char is not None
        raise bad(
            f"segment {segment!r} contains {char.group()!r}; "
            "allowed are the letters A-Z and a-z, the digits 0-9, '_', '-' and '.'"
        )
    if segment.startswith("."):
        raise bad(f"segment {segment!r} starts with '.' (hidden names belong to the registry)")
    if _VERSION_NAME.fullmatch(segment):
        raise bad(f"segment {segment!r} looks like a version folder; a key never holds v<N>")
    if len(segment) > _MAX_SEGMENT:
        raise bad(f"segment {segment[:20]!r}... is longer than {_MAX_SEGMENT} characters")
    return segment


def _check_preset_shape(segments: tuple[str, ...], text: str) -> None:
    """Keys under product/, store/ and global/ must have the shape of their preset."""
    mode = segments[0]
    if mode in ("product", "store"):
        form = f"{mode}/{{{mode}_id}}_{{scope}}/{{model_type}}"
        ok = len(segments) == 3 and len(segments[1].split("_")) == 2
        ok = ok and all(segments[1].split("_"))
        if not ok:
            raise RegistryKeyError(
                f"registry key {text!r}: keys under {mode}/ have the form {form}"
            )
    elif mode == "global":
        form = "global/{all | stores/S | products/P | custom/S/P}/{aggregation}/{model_type}"
        extra = _GLOBAL_SCOPES.get(segments[1]) if len(segments) > 1 else None
        if extra is None or len(segments) != 4 + extra:
            raise RegistryKeyError(
                f"registry key {text!r}: keys under global/ have the form {form}"
            )


def parse_key(key: KeyLike, *, partial: bool = False) -> tuple[str, ...]:
    """Validate a registry key and return its segments.

    ``key`` is a ``/``-separated path (``"product/P001_all/mlstm"``, what the
    presets return and what ``--key`` takes) or a sequence of segments.
    Segments use letters, digits, ``_``, ``-`` and ``.``; they cannot be empty,
    ``.``/``..``, start with ``.`` or look like a version folder (``v3``). Keys
    whose first segment is ``product``, ``store`` or ``global`` must have the
    shape of that preset (see :func:`product`, :func:`store`, :func:`global_`).
    With ``partial=True`` that shape check is skipped (for prefixes).

    :raises RegistryKeyError: naming the key and what is wrong with it.
    """
    if isinstance(key, str):
        text = key
        parts: Sequence[object] = key.split("/")
    elif isinstance(key, Sequence):
        parts = list(key)
        text = "/".join(str(p) for p in parts)
    else:
        raise RegistryKeyError(f"registry key {key!r}: expected a string or a sequence of strings")
    if not parts or parts == [""]:
        raise RegistryKeyError("registry key '': a key needs at least one segment")
    segments = tuple(_check_segment(p, text) for p in parts)
    if not partial:
        _check_preset_shape(segments, text)
    return segments


def key_path(key: KeyLike) -> str:
    """The validated, ``/``-joined form of ``key`` (as stored in versions.json)."""
    return "/".join(parse_key(key))


def _id_part(name: str, value: str, key_text: str) -> str:
    _check_segment(value, key_text)
    if "_" in value:
        raise RegistryKeyError(
            f"registry key {key_text!r}: {name} {value!r} contains '_', "
            "which joins the id and the scope in this preset"
        )
    return value


def product(product_id: str, store_scope: str, model_type: str) -> str:
    """Key of a per-product model: ``product/{product_id}_{store_scope}/{model_type}``.

    ``store_scope`` is ``"all"`` (all stores aggregated) or a store id. Neither
    id may contain ``_``, so ``P1_all`` always splits one way.
    """
    text = f"product/{product_id}_{store_scope}/{model_type}"
    _id_part("product_id", product_id, text)
    _id_part("store_scope", store_scope, text)
    return key_path(("product", f"{product_id}_{store_scope}", model_type))


def store(store_id: str, product_scope: str, model_type: str) -> str:
    """Key of a per-store model: ``store/{store_id}_{product_scope}/{model_type}``.

    ``product_scope`` is ``"all"`` (all products of the store) or a product id.
    """
    text = f"store/{store_id}_{product_scope}/{model_type}"
    _id_part("store_id", store_id, text)
    _id_part("product_scope", product_scope, text)
    return key_path(("store", f"{store_id}_{product_scope}", model_type))


def global_(scope: str, aggregation: str, model_type: str) -> str:
    """Key of a global model: ``global/{scope}/{aggregation}/{model_type}``.

    ``scope`` is ``"all"``, ``"stores/S"``, ``"products/P"`` or ``"custom/S/P"``
    (a store and a product); ``aggregation`` is e.g. ``"sum"`` or ``"mean"``.
    """
    return key_path(f"global/{scope}/{aggregation}/{model_type}")


def checkpoint_epoch(epoch: int) -> str:
    """The standard name of a periodic checkpoint: ``checkpoint_epoch_{epoch}.pth``."""
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative int, not {epoch!r}")
    return f"checkpoint_epoch_{epoch}.pth"


def parse_version(version: int | str) -> int:
    """A version number from ``3``, ``"3"`` or ``"v3"``.

    :raises RegistryKeyError: for anything that is not a positive version number.
    """
    if isinstance(version, int) and not isinstance(version, bool):
        if version >= 1:
            return version
    elif isinstance(version, str):
        m = re.fullmatch(r"v?([1-9][0-9]*)", version.strip())
        if m:
            return int(m.group(1))
    raise RegistryKeyError(
        f"version {version!r} is not a version number (expected N or vN, with N >= 1)"
    )


def _check_file_name(name: str) -> str:
    if (
        not isinstance(name, str)
        or not _SEGMENT_CHARS.fullmatch(name)
        or name.startswith(".")
        or len(name) > 255
    ):
        raise RegistryKeyError(
            f"artifact name {name!r} is not a plain file name "
            "(letters, digits, '_', '-' and '.', not starting with '.')"
        )
    return name


# --------------------------------------------------------------------------- helpers


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_default(obj: object) -> Any:
    if hasattr(obj, "tolist"):  # numpy scalars and arrays, without importing numpy
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"a value of type {type(obj).__name__} cannot be stored in JSON")


def _dumps(obj: Any) -> bytes:
    """Readable strict JSON (metadata.json, versions.json); numpy values become numbers."""
    text = json.dumps(obj, allow_nan=False, ensure_ascii=False, indent=2, default=_json_default)
    return (text + "\n").encode("utf-8")


def _summary_json(summary: object) -> str | None:
    """The index's metrics_summary column: compact JSON of a dict, else NULL."""
    if not isinstance(summary, Mapping):
        return None
    return json.dumps(
        dict(summary),
        allow_nan=False,
        ensure_ascii=False,
        separators=(",", ":"),
        default=_json_default,
    )


def _read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None if missing; ValueError if not an object."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        obj = json.loads(raw.decode("utf-8"))
    except ValueError as e:  # UnicodeDecodeError, JSONDecodeError
        raise ValueError(f"not valid JSON ({e})") from None
    except RecursionError:  # e.g. 100k nested '[': the decoder recurses per level
        raise ValueError("not valid JSON (nested too deeply)") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, found {type(obj).__name__}")
    return obj


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
        m = _VERSION_NAME.fullmatch(e.name)
        if m and (any_entry or e.is_dir()):
            nums.append(int(m.group(1)))
    return sorted(nums)


@contextlib.contextmanager
def _os_errors(default_path: Path) -> Iterator[None]:
    """Turn OSErrors that are not already curvelog errors into PathError."""
    try:
        yield
    except CurvelogError:
        raise
    except OSError as e:
        where = e.filename if e.filename else default_path
        raise PathError(str(where), f"cannot write here ({e.strerror or e})") from None


@dataclass(frozen=True)
class IndexRow:
    """One row of the ``model_versions`` table."""

    id: int
    key: str
    model_type: str
    version: int
    path: str  # relative to the registry root, e.g. "product/P001_all/mlstm/v2"
    created_at: str
    metrics_summary: dict[str, Any] | None


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


# --------------------------------------------------------------------------- versions


class Version:
    """One version folder, ``<root>/<key>/v<N>``."""

    __slots__ = ("key", "number", "registry")

    def __init__(self, registry: Registry, key: str, number: int) -> None:
        self.registry = registry
        self.key = key
        self.number = number

    @property
    def name(self) -> str:
        """``v<N>``."""
        return f"v{self.number}"

    @property
    def path(self) -> Path:
        """The version folder."""
        return self.registry.root.joinpath(*self.key.split("/"), self.name)

    def __repr__(self) -> str:
        return f"Version({self.key!r}, {self.number}, path={str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return (self.registry.root, self.key, self.number) == (
            other.registry.root,
            other.key,
            other.number,
        )

    def __hash__(self) -> int:
        return hash((self.registry.root, self.key, self.number))

    def artifact(self, name: str) -> Path:
        """The path of file ``name`` in this version (``model.pth``, ``checkpoint_best.pth``,
        ``checkpoint_epoch_50.pth`` — see :data:`MODEL`, :data:`CHECKPOINT_BEST`,
        :func:`checkpoint_epoch`). Nothing is created.
        """
        return self.path / _check_file_name(name)

    def _writable_artifact(self, name: str) -> Path:
        path = self.artifact(name)
        if name in _MANAGED:
            method = {CURVES: "save_bundle", PLOT: "save_plot", METADATA: "save_metadata"}[name]
            raise RegistryKeyError(f"{name} is written by the registry; use Version.{method}()")
        if not self.path.is_dir():
            raise VersionNotFoundError(f"{self.path}: version folder does not exist")
        return path

    def save_artifact(self, name: str, data: bytes) -> Path:
        """Write ``data`` to artifact ``name`` atomically (temp file, fsync, rename)."""
        path = self._writable_artifact(name)
        atomic_write_bytes(path, bytes(data))
        return path

    @contextlib.contextmanager
    def open_artifact(self, name: str) -> Iterator[IO[bytes]]:
        """A binary file that becomes artifact ``name`` atomically when the block ends.

        For writers that want a file object, e.g. ``torch.save(state, f)``. If the
        block raises, the previous file (if any) is left untouched.
        """
        path = self._writable_artifact(name)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            yield f

    def metadata(self) -> dict[str, Any]:
        """The contents of ``metadata.json`` (``key`` and ``version`` if it is missing)."""
        path = self.path / METADATA
        try:
            obj = _read_json_object(path)
        except ValueError as e:
            raise RegistryCorruptError(f"{path}: {e}; fix the file or delete it") from None
        if obj is None:
            if not self.path.is_dir():
                raise VersionNotFoundError(f"{self.path}: version folder does not exist")
            return {"key": self.key, "version": self.number}
        return obj

    def files(self) -> list[tuple[str, int]]:
        """``(name, size in bytes)`` of every file in the folder, sorted by name."""
        out = []
        try:
            entries = list(os.scandir(self.path))
        except (FileNotFoundError, NotADirectoryError):
            raise VersionNotFoundError(f"{self.path}: version folder does not exist") from None
        for e in entries:
            if e.is_file() and not e.name.startswith("."):
                out.append((e.name, e.stat().st_size))
        return sorted(out)

    def save_metadata(self, data: Mapping[str, Any]) -> Path:
        """Merge ``data`` into ``metadata.json`` (top-level keys are replaced), atomically.

        The registry's own fields (``key``, ``version``, ``created_at``) cannot be
        changed. Values must be strict JSON: numpy scalars and arrays are
        converted; NaN and infinity are refused. A ``summary`` dict becomes the
        index row's metrics summary.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"metadata must be a mapping, not {type(data).__name__}")
        with self.registry._locked():
            return self._merge_metadata(dict(data), user=True)

    def _merge_metadata(self, data: dict[str, Any], *, user: bool) -> Path:
        # Called with the registry lock held.
        meta = self.metadata()
        for name in _RESERVED_FIELDS:
            if user and name in data and data[name] != meta.get(name):
                raise ValueError(
                    f"metadata field {name!r} belongs to the registry ({name}={meta.get(name)!r})"
                    "; store your value under another name"
                )
        meta.update(data)
        try:
            raw = _dumps(meta)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"metadata for {self.key} {self.name} is not strict JSON ({e}); "
                "NaN and infinity are not allowed (store them as null or a string)"
            ) from None
        path = self.path / METADATA
        atomic_write_bytes(path, raw)
        self.registry._update_index_summary(self, meta.get("summary"))
        return path

    def save_bundle(
        self,
        bundle: Mapping[str, Any],
        *,
        png: bytes | os.PathLike[str] | str | None = None,
        overwrite: bool = False,
    ) -> Path:
        """File a chart bundle into this version as ``curves.json`` (and the PNG, if given).

        ``curves.json`` is strict, compact UTF-8 JSON. If the version already has
        a ``curves.json`` with other contents, :class:`OutputExistsError` is
        raised and nothing is written, unless ``overwrite=True``; the same bundle
        filed twice is a no-op. ``metadata.json`` gets the bundle's ``run_id``
        and ``summary`` and the time of filing; the summary also goes into the
        index row.
        """
        data = _encode_bundle(bundle)
        png_bytes = None if png is None else _png_bytes(png)
        with self.registry._locked():
            self._write_bundle(bundle, data, png_bytes, overwrite=overwrite)
        return self.path / CURVES

    def _write_bundle(
        self, bundle: Mapping[str, Any], data: bytes, png: bytes | None, *, overwrite: bool
    ) -> None:
        # Called with the registry lock held.
        if not self.path.is_dir():
            raise VersionNotFoundError(f"{self.path}: version folder does not exist")
        target = self.path / CURVES
        try:
            existing: bytes | None = target.read_bytes()
        except FileNotFoundError:
            existing = None
        if existing is not None and existing != data and not overwrite:
            raise OutputExistsError(
                str(target),
                "it holds a different bundle; refusing to replace it (file into a new "
                "version, or use --force, or overwrite=True from Python)",
            )
        if existing != data:
            atomic_write_bytes(target, data)
        if png is not None:
            atomic_write_bytes(self.path / PLOT, png)
        self._merge_metadata(_bundle_metadata(bundle, data), user=False)

    def save_plot(self, png: bytes | os.PathLike[str] | str) -> Path:
        """Write ``loss_curve.png`` atomically from PNG bytes or a PNG file's path."""
        png_bytes = _png_bytes(png)
        if not self.path.is_dir():
            raise VersionNotFoundError(f"{self.path}: version folder does not exist")
        path = self.path / PLOT
        atomic_write_bytes(path, png_bytes)
        return path


def _write_new_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _encode_bundle(bundle: Mapping[str, Any]) -> bytes:
    """The bytes of ``curves.json``: those `curvelog.bundle.dumps` gives (compact, strict)."""
    from .bundle import dumps  # here, so that importing the registry does not import bundle

    if not isinstance(bundle, Mapping):
        raise BundleError("<bundle>", "", f"expected a JSON object, not {type(bundle).__name__}")
    return dumps(dict(bundle))


def _bundle_metadata(bundle: Mapping[str, Any], data: bytes) -> dict[str, Any]:
    run = bundle.get("run")
    run = run if isinstance(run, Mapping) else {}
    run_id = run.get("run_id", run.get("id"))
    summary = bundle.get("summary")
    meta: dict[str, Any] = {
        "curves": {
            "file": CURVES,
            "filed_at": _now(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "schema": bundle.get("schema"),
        },
    }
    # Only what the bundle has: a summary saved with save_metadata() is not erased.
    if isinstance(run_id, str):
        meta["run_id"] = run_id
    if isinstance(summary, Mapping):
        meta["summary"] = dict(summary)
    return meta


def _png_bytes(png: bytes | os.PathLike[str] | str) -> bytes:
    if isinstance(png, (bytes, bytearray, memoryview)):
        data = bytes(png)
        if not data.startswith(_PNG_MAGIC):
            raise PlotError("the plot data is not a PNG image (wrong signature)")
        return data
    path = Path(png)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise PathError(str(path), f"cannot read the plot ({e.strerror})") from None
    if not data.startswith(_PNG_MAGIC):
        raise PathError(str(path), "not a PNG image")
    return data


# --------------------------------------------------------------------------- registry


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
    """

    product = staticmethod(product)
    store = staticmethod(store)
    global_ = staticmethod(global_)

    def __init__(
        self, root: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> None:
        self.root = Path(root)
        self.lock_timeout = float(lock_timeout)
        self._lock = filelock.FileLock(
            str(self.root / LOCK_FILE),
            timeout=self.lock_timeout,
            poll_interval=0.005,
            # A soft lock would survive a killed holder and block everyone.
            fallback_to_soft=False,
            preserve_lock_file=True,
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

    def _repair_hint(self) -> str:
        return (
            "run `curvelog registry rebuild-index --registry "
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

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the registry lock; OS errors inside become PathError."""
        self._ensure_root()
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise RegistryLockTimeout(str(self.lock_file), self.lock_timeout) from None
        except OSError as e:
            raise PathError(
                str(self.lock_file), f"cannot create the registry lock ({e.strerror})"
            ) from None
        try:
            with _os_errors(self.root):
                yield
        finally:
            self._lock.release()

    # ------------------------------------------------------------------ versions.json

    def _read_versions(self) -> dict[str, int] | None:
        """versions.json as a dict; None if it does not exist; corrupt -> RegistryCorruptError."""
        path = self.versions_file
        try:
            obj = _read_json_object(path)
        except ValueError as e:
            raise RegistryCorruptError(f"{path}: {e}; {self._repair_hint()}") from None
        if obj is None:
            return None
        out: dict[str, int] = {}
        for k, v in obj.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise RegistryCorruptError(
                    f"{path}: entry {k!r} is {v!r}, not a version number; {self._repair_hint()}"
                )
            try:
                out[key_path(k)] = v
            except RegistryKeyError as e:
                raise RegistryCorruptError(f"{path}: {e}; {self._repair_hint()}") from None
        return out

    def _write_versions(self, versions: Mapping[str, int]) -> None:
        atomic_write_bytes(self.versions_file, _dumps(dict(sorted(versions.items()))))

    # ------------------------------------------------------------------ index

    def _connect(self) -> sqlite3.Connection:
        """Open the index, building it from the folders if it does not exist.

        Called with the lock held.
        """
        if not self.index_file.exists():
            self._build_index_file(self._scan_rows()[0])
        try:
            conn = sqlite3.connect(self.index_file, timeout=self.lock_timeout, isolation_level=None)
        except sqlite3.DatabaseError as e:
            raise self._index_corrupt(e) from None
        try:
            self._check_schema(conn)
        except sqlite3.DatabaseError as e:
            conn.close()
            raise self._index_corrupt(e) from None
        return conn

    def _build_index_file(self, rows: Sequence[Sequence[Any]]) -> None:
        """Write a complete index to a temporary file and rename it over index.db."""
        with atomic_path(self.index_file) as tmp:  # .index.db.*.tmp: _clear_staging's prefix
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                # A private file until the rename: only the inserts need a transaction (speed).
                conn.executescript(_INDEX_SCHEMA)
                conn.execute(f"PRAGMA user_version = {_INDEX_SCHEMA_VERSION}")
                conn.execute("BEGIN")
                for row in rows:
                    _insert_row(conn, row)
                conn.execute("COMMIT")
            finally:
                conn.close()
            # A journal left by a crashed writer belongs to the old file; SQLite would
            # replay it into the new one.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.index_file}-journal")

    def _index_corrupt(self, e: Exception) -> RegistryError:
        if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
            # A long reader, not damage: SQLite's own busy timeout ran out.
            return RegistryLockTimeout(str(self.index_file), self.lock_timeout)
        return RegistryCorruptError(
            f"{self.index_file}: the index is damaged ({e}); {self._repair_hint()}"
        )

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        (ver,) = conn.execute("PRAGMA user_version").fetchone()
        if ver != _INDEX_SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"unknown index schema version {ver}")
        cols = [r[1] for r in conn.execute("PRAGMA table_info(model_versions)")]
        if cols[:7] != [
            "id",
            "key",
            "model_type",
            "version",
            "path",
            "created_at",
            "metrics_summary",
        ]:
            raise sqlite3.DatabaseError("table model_versions is missing or has other columns")

    def _row_for(self, key: str, number: int) -> tuple[Any, ...]:
        """An index row built from a version folder (metadata.json if readable)."""
        v = Version(self, key, number)
        created_at = None
        summary = None
        try:
            meta = _read_json_object(v.path / METADATA)
        except ValueError:
            meta = None
        if meta is not None:
            created_at = meta.get("created_at") if isinstance(meta.get("created_at"), str) else None
            summary = meta.get("summary") if isinstance(meta.get("summary"), dict) else None
        if created_at is None:
            mtime = v.path.stat().st_mtime
            created_at = (
                datetime.fromtimestamp(mtime, timezone.utc)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z")
            )
        return _row(key, number, created_at, summary)

    def _scan_rows(self) -> tuple[list[tuple[Any, ...]], list[str]]:
        """Index rows for every version folder, and the folders whose metadata is unusable."""
        rows, problems = [], []
        for key in self.keys():
            for n in self._folder_versions(key):
                meta_path = Version(self, key, n).path / METADATA
                try:
                    if _read_json_object(meta_path) is None:
                        problems.append(f"{meta_path}: missing")
                except ValueError as e:
                    problems.append(f"{meta_path}: {e}")
                rows.append(self._row_for(key, n))
        return rows, problems

    def _sync_index_key(self, conn: sqlite3.Connection, key: str, folders: Sequence[int]) -> None:
        """Make the index rows of ``key`` match its folders (repairs a crash's leftovers)."""
        have = {
            r[0] for r in conn.execute("SELECT version FROM model_versions WHERE key=?", (key,))
        }
        want = set(folders)
        for n in sorted(have - want):
            conn.execute("DELETE FROM model_versions WHERE key=? AND version=?", (key, n))
        for n in sorted(want - have):
            _insert_row(conn, self._row_for(key, n))

    def _update_index_summary(self, version: Version, summary: Any) -> None:
        # Called with the lock held.
        summary_json = _summary_json(summary)
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._sync_index_key(conn, version.key, self._folder_versions(version.key))
            conn.execute(
                "UPDATE model_versions SET metrics_summary=? WHERE key=? AND version=?",
                (summary_json, version.key, version.number),
            )
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            raise self._index_corrupt(e) from None
        finally:
            conn.close()

    def index_rows(self, prefix: KeyLike | None = None) -> list[IndexRow]:
        """The rows of the index, ordered by key and version, optionally under a key prefix."""
        self._require_root()
        if not self.index_file.exists():
            if self.keys():
                raise RegistryCorruptError(
                    f"{self.index_file}: the index is missing; {self._repair_hint()}"
                )
            return []
        try:
            conn = sqlite3.connect(self.index_file, timeout=self.lock_timeout)
            try:
                self._check_schema(conn)
                rows = conn.execute(
                    "SELECT id, key, model_type, version, path, created_at, metrics_summary "
                    "FROM model_versions ORDER BY key, version"
                ).fetchall()
            finally:
                conn.close()
        except sqlite3.DatabaseError as e:
            raise self._index_corrupt(e) from None
        out = []
        pre = None if prefix is None else "/".join(parse_key(prefix, partial=True))
        for r in rows:
            if pre is not None and not (r[1] == pre or r[1].startswith(pre + "/")):
                continue
            out.append(IndexRow(r[0], r[1], r[2], r[3], r[4], r[5], _loads_or_none(r[6])))
        return out

    # ------------------------------------------------------------------ reading

    def _folder_versions(self, key: str) -> list[int]:
        """The numbers of ``key``'s version folders (what exists as a version)."""
        return _version_numbers(self._key_dir(key.split("/")))

    def _taken_numbers(self, key: str) -> list[int]:
        """The numbers of every ``v<N>`` entry of ``key``, files too (never to be handed out)."""
        return _version_numbers(self._key_dir(key.split("/")), any_entry=True)

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
        """The keys under ``start`` that have a version folder, in no order, found lazily."""
        todo = [(self._key_dir(start), start)]
        while todo:
            folder, segments = todo.pop()
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                continue
            is_key = False
            for e in entries:
                if not e.is_dir() or e.name.startswith("."):
                    continue
                if _VERSION_NAME.fullmatch(e.name):
                    is_key = True
                    continue
                try:
                    _check_segment(e.name, e.name)
                except RegistryKeyError:
                    continue  # not something the registry made
                todo.append((Path(e.path), (*segments, e.name)))
            if is_key and segments:
                try:
                    key = key_path(segments)
                except RegistryKeyError:  # hand-made folders
                    continue
                yield key

    def _looks_like_a_registry(self) -> bool:
        """Whether the root has a registry file or a version folder under some key."""
        markers = (VERSIONS_FILE, INDEX_FILE, LOCK_FILE)
        if any(os.path.lexists(self.root / name) for name in markers):
            return True
        return next(self._iter_keys(), None) is not None

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
        if not v.path.is_dir():
            have = self._folder_versions(kp)
            if not have:
                raise VersionNotFoundError(f"{kp}: no versions in {self.root}")
            raise VersionNotFoundError(
                f"{kp}: no version v{n} in {self.root} (latest is v{have[-1]})"
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
            raise VersionNotFoundError(f"{kp}: no versions in {self.root}")
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
        data = _encode_bundle(bundle)
        png_bytes = None if png is None else _png_bytes(png)
        if version is None:
            files = {CURVES: data}
            if png_bytes is not None:
                files[PLOT] = png_bytes
            return self._allocate(kp, files, _bundle_metadata(bundle, data))
        n = parse_version(version)
        with self._locked():
            v = self.version(kp, n)
            v._write_bundle(bundle, data, png_bytes, overwrite=overwrite)
        return v

    def _allocate(
        self, key: str, files: Mapping[str, bytes], meta_extra: Mapping[str, Any] | None
    ) -> Version:
        segments = key.split("/")
        with self._locked():
            staging = self.root / STAGING_DIR
            self._clear_staging()
            recorded_all = self._read_versions()
            folders = self._folder_versions(key)
            folder_max = folders[-1] if folders else 0
            recorded = 0 if recorded_all is None else recorded_all.get(key, 0)
            if recorded < folder_max:
                raise self._stale_versions(key, recorded_all, folder_max)
            # a stray file named v<N> is no version, but its number cannot be taken either
            taken = self._taken_numbers(key)
            n = max(recorded, taken[-1] if taken else 0) + 1
            v = Version(self, key, n)
            meta: dict[str, Any] = {"key": key, "version": n, "created_at": _now()}
            meta.update(meta_extra or {})
            meta_bytes = _dumps(meta)
            # A damaged index must stop us before the number is taken.
            conn = self._connect()
            try:
                # 1. the complete folder, under .staging/
                staging.mkdir(exist_ok=True)
                staged = staging / uuid.uuid4().hex
                staged.mkdir()
                for name, data in {**files, METADATA: meta_bytes}.items():
                    _write_new_file(staged / name, data)  # private folder: no temp file
                fsync_dir(staged)
                # 2. the number is taken before the folder is visible: a crash from here
                #    on skips it, never reuses it
                self._write_versions({**(recorded_all or {}), key: n})
                # 3. index row and rename in one transaction: a failed rename leaves no row
                conn.execute("BEGIN IMMEDIATE")
                self._sync_index_key(conn, key, folders)
                _insert_row(conn, _row(key, n, meta["created_at"], meta.get("summary")))
                parent = self._make_key_dir(segments)
                os.rename(staged, v.path)
                conn.execute("COMMIT")
            except sqlite3.DatabaseError as e:
                raise self._index_corrupt(e) from None
            finally:
                if conn.in_transaction:
                    conn.rollback()
                conn.close()
            fsync_dir(parent)  # the rename, durable
        _LOGGER.debug("allocated %s v%d", key, n)
        return v

    def _make_key_dir(self, segments: Sequence[str]) -> Path:
        folder = self.root
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

    def _clear_staging(self) -> None:
        """Remove what a process killed mid-allocation left behind.

        Staged folders and the temporary files of versions.json and the index are
        only ever made with the lock held, so with the lock held they are stale.
        """
        staging = self.root / STAGING_DIR
        with contextlib.suppress(FileNotFoundError):
            for e in os.scandir(staging):
                _LOGGER.info("removing %s, left by an interrupted allocation", e.path)
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(e.path)
        for e in os.scandir(self.root):
            if e.name.endswith(".tmp") and e.name.startswith(_ROOT_TEMP_PREFIXES):
                _LOGGER.info("removing %s, left by an interrupted write", e.path)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(e.path)

    def _stale_versions(
        self, key: str, recorded_all: Mapping[str, int] | None, folder_max: int
    ) -> RegistryCorruptError:
        path = self.versions_file
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
            + self._repair_hint()
        )

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
        self._require_root()
        if not init and not self._looks_like_a_registry():
            raise PathError(
                str(self.root),
                "not a registry (no versions.json, index.db, .registry.lock or version "
                "folder); refusing to make it one (use --init, or init=True from Python)",
            )
        report = RebuildReport()
        with self._locked():
            self._clear_staging()
            try:
                old_json = self._read_versions() or {}
            except RegistryCorruptError:
                old_json = {}
                report.versions_json_was_corrupt = True
            old_index: dict[str, int] = {}
            if self.index_file.exists():
                with contextlib.suppress(sqlite3.DatabaseError):
                    conn = sqlite3.connect(self.index_file, timeout=self.lock_timeout)
                    try:
                        for k, m in conn.execute(
                            "SELECT key, MAX(version) FROM model_versions GROUP BY key"
                        ):
                            with contextlib.suppress(RegistryKeyError, TypeError):
                                old_index[key_path(k)] = int(m)
                    finally:
                        conn.close()
            rows, report.problems = self._scan_rows()

            self._build_index_file(rows)

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
            self._write_versions(new_json)
            fsync_dir(self.root)
        report.keys = len({r[0] for r in rows})
        report.versions = len(rows)
        return report


def _row(key: str, number: int, created_at: str, summary: object) -> tuple[Any, ...]:
    """(key, model_type, version, path, created_at, metrics_summary) for the index."""
    return (
        key,
        key.rsplit("/", 1)[-1],
        number,
        f"{key}/v{number}",
        created_at,
        _summary_json(summary),
    )


def _insert_row(conn: sqlite3.Connection, row: Sequence[Any]) -> None:
    conn.execute(
        "INSERT INTO model_versions (key, model_type, version, path, created_at, metrics_summary) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        tuple(row),
    )


def _loads_or_none(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):  # invalid, or nested too deeply
        return None
    return obj if isinstance(obj, dict) else None
