"""One version folder, ``<root>/<key>/v<N>``: its files, its metadata, its chart bundle.

The registry takes bytes and JSON-ready mappings; it knows nothing of how a
bundle is built (that is `curvelog.bundle`) and reads only the two fields it
indexes (``run.run_id`` and ``summary``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from .. import _json
from .._fs import atomic_path, atomic_write_bytes
from ..errors import (
    BundleError,
    OutputExistsError,
    PathError,
    PlotError,
    RegistryCorruptError,
    RegistryKeyError,
    VersionNotFoundError,
)
from ._confine import confine, no_link_below
from ._keys import check_file_name

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from ._store import Registry

__all__ = ["CHECKPOINT_BEST", "CURVES", "METADATA", "MODEL", "PLOT", "Version"]

#: Standard file names inside a version folder (the user's rules).
MODEL: Final = "model.pth"
CHECKPOINT_BEST: Final = "checkpoint_best.pth"
CURVES: Final = "curves.json"
PLOT: Final = "loss_curve.png"
METADATA: Final = "metadata.json"
#: Files the registry writes itself, through save_bundle / save_plot / save_metadata.
_MANAGED: Final = frozenset({CURVES, PLOT, METADATA})
#: metadata.json fields that the registry owns; save_metadata refuses to change them.
_RESERVED_FIELDS: Final = ("key", "version", "created_at")
_PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"


def now() -> str:
    """The current UTC time as the registry writes it (ISO 8601, milliseconds, Z)."""
    return iso_time(datetime.now(UTC).timestamp())


def iso_time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(obj: Any) -> bytes:
    """Readable strict JSON (metadata.json, versions.json); numpy values become numbers."""
    return _json.dumps(obj, indent=2, coerce=True)


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

    def _inside(self) -> Path:
        """The folder, checked to resolve inside the registry root and to be reached
        through no link (see `_confine`)."""
        return no_link_below(self.registry.root, confine(self.registry.root, self.path))

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

    def _missing(self) -> VersionNotFoundError:
        return VersionNotFoundError(
            f"{self.path}: version folder does not exist",
            key=self.key, version=self.number, path=str(self.path),
        )  # fmt: skip

    def artifact(self, name: str) -> Path:
        """The path of file ``name`` in this version (``model.pth``, ``checkpoint_best.pth``,
        ``checkpoint_epoch_50.pth`` — see :data:`MODEL`, :data:`CHECKPOINT_BEST`,
        :func:`checkpoint_epoch`). Nothing is created.
        """
        return self.path / check_file_name(name)

    def _writable_artifact(self, name: str) -> Path:
        path = self.artifact(name)
        if name in _MANAGED:
            method = {CURVES: "save_bundle", PLOT: "save_plot", METADATA: "save_metadata"}[name]
            raise RegistryKeyError(f"{name} is written by the registry; use Version.{method}()")
        if not self._inside().is_dir():
            raise self._missing()
        return path

    def save_artifact(self, name: str, data: bytes, *, overwrite: bool = True) -> Path:
        """Write ``data`` to artifact ``name`` atomically (temp file, fsync, rename).

        :raises OutputExistsError: ``overwrite=False`` and the file exists (see `open_artifact`).
        """
        path = self._writable_artifact(name)
        with _locked_temp(path, overwrite) as f:
            f.write(bytes(data))
        return path

    @contextlib.contextmanager
    def open_artifact(self, name: str, *, overwrite: bool = True) -> Iterator[IO[bytes]]:
        """A binary file that becomes artifact ``name`` atomically when the block ends.

        For writers that want a file object, e.g. ``torch.save(state, f)``. If the
        block raises, the previous file (if any) is left untouched. With
        ``overwrite=False`` the file is linked into place, which fails with
        :class:`OutputExistsError` if the name exists by then, also when another
        process made it while this one was writing: of two writers, one wins and
        the other is told, where a check made before writing would let both win.
        """
        path = self._writable_artifact(name)
        with _locked_temp(path, overwrite) as f:
            yield f

    def metadata(self) -> dict[str, Any]:
        """The contents of ``metadata.json`` (``key`` and ``version`` if it is missing)."""
        path = self._inside() / METADATA
        try:
            obj = _json.read_object(path)
        except ValueError as e:
            raise RegistryCorruptError(
                f"{path}: {e}; fix the file or delete it", path=str(path)
            ) from None
        if obj is None:
            if not self.path.is_dir():
                raise self._missing()
            return {"key": self.key, "version": self.number}
        return obj

    def files(self) -> list[tuple[str, int]]:
        """``(name, size in bytes)`` of every file in the folder, sorted by name."""
        out = []
        try:
            entries = list(os.scandir(self._inside()))
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing() from None
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
        with self.registry._locked(self.key):
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
            raw = dumps(meta)
        except ValueError as e:
            raise ValueError(
                f"metadata for {self.key} {self.name} is {e}; "
                "NaN and infinity are not allowed (store them as null or a string)"
            ) from None
        path = self._inside() / METADATA
        atomic_write_bytes(path, raw)
        self.registry._set_index_summary(self, meta.get("summary"))
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
        data = encode_bundle(bundle)
        png_bytes = None if png is None else read_png(png)
        with self.registry._locked(self.key):
            self._write_bundle(bundle, data, png_bytes, overwrite=overwrite)
        return self.path / CURVES

    def _write_bundle(
        self, bundle: Mapping[str, Any], data: bytes, png: bytes | None, *, overwrite: bool
    ) -> None:
        # Called with the registry lock held.
        if not self._inside().is_dir():
            raise self._missing()
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
        self._merge_metadata(bundle_metadata(bundle, data), user=False)

    def save_plot(self, png: bytes | os.PathLike[str] | str) -> Path:
        """Write ``loss_curve.png`` atomically from PNG bytes or a PNG file's path."""
        png_bytes = read_png(png)
        if not self._inside().is_dir():
            raise self._missing()
        path = self.path / PLOT
        with _locked_temp(path, True) as f:
            f.write(png_bytes)
        return path


@contextlib.contextmanager
def _locked_temp(path: Path, overwrite: bool) -> Iterator[IO[bytes]]:
    """`atomic_path`'s temporary file, opened and locked (``flock``) while it is written.

    Writes into a version folder that hold no registry lock (model files,
    checkpoints, the plot) go through here, so that rebuild-index can tell what a
    killed writer left (its lock is free: the kernel released it) from a write
    still running (`stale_temp_file`).
    """
    lock = -1  # a descriptor of its own: the lock outlives the write, to the rename
    try:
        with atomic_path(path, overwrite=overwrite) as tmp:
            lock = os.open(tmp, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            if fcntl is not None:
                with contextlib.suppress(OSError):  # no flock there: never swept
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with open(tmp, "wb") as f:
                yield f
            # closing ``f`` here used to drop the lock before atomic_path's fsync
            # and rename: a rebuild-index meanwhile took the file for a dead write
    finally:
        if lock >= 0:
            os.close(lock)


def stale_temp_file(path: str) -> bool:
    """Remove ``path``, a temporary file of `_locked_temp`, if its writer is gone.

    True if it was removed: no process holds its lock, so none is writing it. A
    file in use, one that cannot be locked (no ``flock`` there) or one already
    gone is left alone (False).
    """
    if fcntl is None:  # pragma: no cover - Windows
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.unlink(path)  # under its lock: no writer holds it, none can take it now
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def write_new_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def encode_bundle(bundle: Mapping[str, Any]) -> bytes:
    """The bytes of ``curves.json``: compact strict JSON, as `curvelog.bundle.dumps` gives."""
    if not isinstance(bundle, Mapping):
        raise BundleError("<bundle>", "", f"expected a JSON object, not {type(bundle).__name__}")
    try:
        return _json.dumps(dict(bundle))
    except ValueError as e:
        raise BundleError("<bundle>", "", str(e)) from None


def bundle_metadata(bundle: Mapping[str, Any], data: bytes) -> dict[str, Any]:
    run = bundle.get("run")
    run = run if isinstance(run, Mapping) else {}
    run_id = run.get("run_id", run.get("id"))
    summary = bundle.get("summary")
    meta: dict[str, Any] = {
        "curves": {
            "file": CURVES,
            "filed_at": now(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "schema": bundle.get("schema"),
        },
    }
    # Only what the bundle has: a summary saved with save_metadata() is not erased.
    if isinstance(run_id, str):
        meta["run_id"] = run_id
    sha = log_sha256(bundle)
    if sha is not None:  # the log it came from: the same log is never filed twice
        meta["log_sha256"] = sha
    if isinstance(summary, Mapping):
        # what `registry list/show` print, queryable from the index row
        meta["summary"] = {**summary, **_objective_and_best(bundle, run)}
    return meta


def log_sha256(bundle: Mapping[str, Any]) -> str | None:
    """The SHA-256 of the log a bundle was compacted from (``provenance.source.sha256``)."""
    prov = bundle.get("provenance")
    source = prov.get("source") if isinstance(prov, Mapping) else None
    sha = source.get("sha256") if isinstance(source, Mapping) else None
    return sha if isinstance(sha, str) and sha else None


def _objective_and_best(bundle: Mapping[str, Any], run: Mapping[str, Any]) -> dict[str, Any]:
    """``objective`` ({metric, mode}) and ``best`` ({metric, step, value}) for the index."""
    out: dict[str, Any] = {}
    objective = run.get("objective")
    if isinstance(objective, Mapping) and isinstance(objective.get("metric"), str):
        out["objective"] = {"metric": objective["metric"], "mode": objective.get("mode")}
    best = bundle.get("best")
    if isinstance(best, Mapping) and isinstance(best.get("step"), int):
        out["best"] = {k: best.get(k) for k in ("metric", "step", "value", "source")}
    return out


def read_png(png: bytes | os.PathLike[str] | str) -> bytes:
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
