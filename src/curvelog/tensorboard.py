"""TensorBoard event files into curvelog logs (issue #15), without TensorFlow or protobuf.

An event file is a TFRecord stream: per record a little-endian u64 length,
the masked CRC-32C of those 8 bytes, the data (one serialized ``Event``
protobuf) and the masked CRC-32C of the data. Only the few ``Event`` fields a
scalar needs are decoded, by hand: ``wall_time``, ``step`` and, per
``summary.value``, the ``tag`` with either a ``simple_value`` (float32, what
``add_scalar`` writes) or a scalar ``tensor`` of a tag whose metadata names
the ``scalars`` plugin (what TF2 and ``new_style=True`` write; the metadata
usually rides on a tag's first value only, so it is remembered per tag).

Nothing wrong is ever returned: a record whose length or data checksum does
not match is skipped and reported, and the reader searches forward for the
next record whose length checksum *and* data checksum match; a record cut by
the end of the file (a writer still running, or killed) is reported as a torn
tail. All checksums are verified in one batch per file (`_crc32c`), which is
what makes this reader fast; the per-event decoding is a few dozen bytecodes.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np

from . import _crc32c
from ._fs import atomic_path, read_bytes, same_file
from .errors import OutputExistsError, PathError

__all__ = [
    "EventFileDamage",
    "EventFileRead",
    "ImportedRun",
    "event_files",
    "find_runs",
    "import_tensorboard",
    "read_event_file",
]

#: the marker TensorBoard itself uses to recognise event files
_EVENT_MARK: Final[str] = "tfevents"
_HEADER: Final[int] = 12  # u64 length + u32 masked CRC
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")
_I64_WRAP: Final[int] = 2**64
#: where the bytes of an event's last value sit, and how to read them (the fast path)
_Spot = tuple[int, struct.Struct]
#: how far past a damaged header the reader searches at a time for the next record
_RESYNC_WINDOW: Final[int] = 1 << 16

# TensorFlow DataType enum values of the dtypes a scalar can have, with their
# numpy little-endian equivalents for ``tensor_content``.
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_INT64 = 1, 2, 3, 9
_DT_BOOL, _DT_BFLOAT16, _DT_HALF = 10, 14, 19
_CONTENT_DTYPES: Final[dict[int, str]] = {
    _DT_FLOAT: "<f4",
    _DT_DOUBLE: "<f8",
    _DT_INT32: "<i4",
    _DT_INT64: "<i8",
    _DT_BOOL: "|b1",
    _DT_HALF: "<f2",
    _DT_BFLOAT16: "<u2",  # widened below: the high half of a float32
}


@dataclass(frozen=True)
class EventFileDamage:
    """A stretch of an event file that gave no values, and why."""

    path: str
    #: byte offsets [start, end) in the file
    start: int
    end: int
    what: Literal["checksum", "torn tail", "malformed event"]

    def describe(self) -> str:
        n = self.end - self.start
        return f"{self.path}: bytes {self.start:,}-{self.end:,} ({n:,} bytes): {self.what}, skipped"


@dataclass
class EventFileRead:
    """The scalar points of one event file, in file order (one row per event)."""

    path: str
    #: (step, wall time, {tag: value}) per event that holds scalars
    rows: list[tuple[int, float, dict[str, float]]]
    records: int
    damage: list[EventFileDamage]
    #: points not kept: a negative step, or a scalars-plugin tensor curvelog cannot read
    dropped: int = 0

    @property
    def points(self) -> int:
        return sum(len(r[2]) for r in self.rows)


# --------------------------------------------------------------------------- framing


def _frame(buf: bytes, path: str) -> tuple[list[tuple[int, int]], list[EventFileDamage]]:
    """(data offset, data length) of every record whose two checksums match, and the damage."""
    n = len(buf)
    good: list[tuple[int, int]] = []
    damage: list[EventFileDamage] = []
    unpack = _U64.unpack_from
    pos = 0
    while pos < n:
        # Walk the chain of lengths optimistically, then check it in one batch.
        starts: list[int] = []
        lens: list[int] = []
        p = pos
        while p + _HEADER <= n:
            (ln,) = unpack(buf, p)
            if ln > n - p - _HEADER - 4:
                break
            starts.append(p)
            lens.append(ln)
            p += _HEADER + ln + 4
        hs = np.asarray(starts, dtype=np.int64)
        ls = np.asarray(lens, dtype=np.int64)
        cut = len(starts)
        if cut:
            head_ok = _crc32c.masked_crcs(buf, hs, np.full(cut, 8)) == _stored(buf, hs + 8)
            bad = np.flatnonzero(~head_ok)
            cut = int(bad[0]) if len(bad) else cut
            hs, ls = hs[:cut], ls[:cut]
            data_ok = _crc32c.masked_crcs(buf, hs + _HEADER, ls) == _stored(buf, hs + _HEADER + ls)
            for a, ln, ok in zip(hs.tolist(), ls.tolist(), data_ok.tolist(), strict=True):
                if ok:
                    good.append((a + _HEADER, ln))
                else:
                    damage.append(EventFileDamage(path, a, a + _HEADER + ln + 4, "checksum"))
        bad_at = starts[cut] if cut < len(starts) else p
        if bad_at >= n:
            break
        if bad_at == p and (n - p < _HEADER or _header_ok(buf, p)):
            # Less than a header left, or a sound header whose data runs past the end:
            # the file was cut while a record was being written.
            damage.append(EventFileDamage(path, p, n, "torn tail"))
            break
        nxt = _resync(buf, bad_at + 1)
        damage.append(EventFileDamage(path, bad_at, n if nxt is None else nxt, "checksum"))
        if nxt is None:
            break
        pos = nxt
    return good, damage


def _stored(buf: bytes, offsets: np.ndarray) -> np.ndarray:
    """The u32 stored at each offset."""
    data = np.frombuffer(buf, dtype=np.uint8)
    b = data[offsets[:, None] + np.arange(4)].astype(np.uint32)
    return b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16) | (b[:, 3] << 24)


def _header_ok(buf: bytes, p: int) -> bool:
    return bool(
        _crc32c.masked_crcs(buf, np.asarray([p]), np.asarray([8]))[0]
        == _U32.unpack_from(buf, p + 8)[0]
    )


def _resync(buf: bytes, start: int) -> int | None:
    """The next offset >= start where a whole record with both checksums valid begins."""
    n = len(buf)
    a = start
    while a + _HEADER + 4 <= n:
        b = min(n - _HEADER - 4, a + _RESYNC_WINDOW)
        cand = np.arange(a, b + 1, dtype=np.int64)
        ok = _crc32c.masked_crcs(buf, cand, np.full(len(cand), 8)) == _stored(buf, cand + 8)
        for p in cand[ok].tolist():
            (ln,) = _U64.unpack_from(buf, p)
            if ln > n - p - _HEADER - 4:
                continue
            d = np.asarray([p + _HEADER])
            if (
                _crc32c.masked_crcs(buf, d, np.asarray([ln]))[0]
                == _U32.unpack_from(buf, p + _HEADER + ln)[0]
            ):
                return int(p)
        a = b + 1
    return None


# --------------------------------------------------------------------------- protobuf


class _Malformed(ValueError):
    """Bytes that passed their checksum but are not the protobuf expected."""


def _varint(b: bytes, i: int) -> tuple[int, int]:
    x = b[i]
    if x < 0x80:
        return x, i + 1
    result = x & 0x7F
    shift = 7
    i += 1
    while True:
        x = b[i]
        i += 1
        result |= (x & 0x7F) << shift
        if x < 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise _Malformed("varint too long")


def _skip(b: bytes, i: int, wire: int) -> int:
    """Index after a field of wire type ``wire`` whose key ended at ``i``."""
    if wire == 0:
        return _varint(b, i)[1]
    if wire == 1:
        return i + 8
    if wire == 2:
        ln, i = _varint(b, i)
        return i + ln
    if wire == 5:
        return i + 4
    raise _Malformed(f"wire type {wire}")


def _fields(b: bytes, i: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value start, value end) of each field in b[i:end]."""
    while i < end:
        key, i = _varint(b, i)
        wire = key & 7
        if wire == 2:
            ln, i = _varint(b, i)
            j = i + ln
        else:
            j = _skip(b, i, wire)
        if j > end:
            raise _Malformed("field runs past its message")
        yield key >> 3, wire, i, j
        i = j


def _plugin_name(b: bytes, i: int, end: int) -> str:
    """SummaryMetadata -> plugin_data (1) -> plugin_name (1)."""
    for f, w, a, z in _fields(b, i, end):
        if f == 1 and w == 2:
            for g, v, c, d in _fields(b, a, z):
                if g == 1 and v == 2:
                    return b[c:d].decode("utf-8", "replace")
    return ""


#: TensorProto field holding the values of each dtype, as TensorFlow's make_ndarray reads it
_VAL_FIELD: Final[dict[int, int]] = {
    _DT_FLOAT: 5,
    _DT_DOUBLE: 6,
    _DT_INT32: 7,
    _DT_INT64: 10,
    _DT_BOOL: 11,
    _DT_HALF: 13,
    _DT_BFLOAT16: 13,
}


def _tensor_scalar(b: bytes, i: int, end: int) -> tuple[float, _Spot | None] | None:
    """(value, where its float or double bytes are, if they are read as such) of a
    one-element TensorProto of a number dtype; None when it is not one (then dropped)."""
    dtype = 0  # DT_INVALID, as protobuf reads an absent enum
    elements = 1
    content: bytes | None = None
    content_at = -1
    by_field: dict[int, list[tuple[float, int]]] = {}
    for f, w, a, z in _fields(b, i, end):
        if f == 1 and w == 0:
            dtype = _varint(b, a)[0]
        elif f == 2 and w == 2:  # TensorShapeProto: dim (2) -> size (1)
            for g, v, c, d in _fields(b, a, z):
                if g == 2 and v == 2:
                    for h, u, e, _ in _fields(b, c, d):
                        if h == 1 and u == 0:
                            size = _varint(b, e)[0]
                            elements *= size - _I64_WRAP if size >= 2**63 else size
                elif g == 3:  # unknown_rank
                    return None
        elif f == 4 and w == 2:
            content = b[a:z]
            content_at = a
        elif f == 5 and w in (2, 5):  # float_val, packed or not
            got = by_field.setdefault(f, [])
            got.extend(
                (x, a + 4 * k) for k, x in enumerate(struct.unpack_from(f"<{(z - a) // 4}f", b, a))
            )
        elif f == 6 and w in (1, 2):  # double_val
            got = by_field.setdefault(f, [])
            got.extend(
                (x, a + 8 * k) for k, x in enumerate(struct.unpack_from(f"<{(z - a) // 8}d", b, a))
            )
        elif f in (7, 10, 11, 13) and w in (0, 2):  # int, int64, bool, half_val: varints
            got = by_field.setdefault(f, [])
            k = a
            while k < z:
                x, k = _varint(b, k)
                got.append((x - _I64_WRAP if x >= 2**63 else x, -1))
    if elements != 1 or dtype not in _CONTENT_DTYPES:
        return None
    np_dtype = _CONTENT_DTYPES[dtype]
    vals = by_field.get(_VAL_FIELD[dtype], [])
    if content is not None:
        arr = np.frombuffer(content, dtype=np_dtype)
        if len(arr) != 1:
            return None
        if dtype in (_DT_FLOAT, _DT_DOUBLE):
            return float(arr[0]), (content_at, _F32 if dtype == _DT_FLOAT else _F64)
        raw = arr[0]
    elif len(vals) > 1:
        return None
    elif not vals:
        return 0.0, None  # TensorFlow's own reading of a tensor given no values
    elif dtype in (_DT_HALF, _DT_BFLOAT16):  # half_val holds the 16 bits as an int
        raw = np.asarray([int(vals[0][0]) & 0xFFFF], dtype="<u2").view(np_dtype)[0]
    elif dtype == _DT_BOOL:
        return float(bool(vals[0][0])), None
    else:
        if dtype in (_DT_FLOAT, _DT_DOUBLE):
            return float(vals[0][0]), (vals[0][1], _F32 if dtype == _DT_FLOAT else _F64)
        return float(vals[0][0]), None
    if dtype == _DT_BFLOAT16:
        return float(np.asarray([int(raw) << 16], dtype="<u4").view("<f4")[0]), None
    return float(raw), None


def _summary_values(
    b: bytes, i: int, end: int, plugins: dict[str, str]
) -> tuple[list[tuple[str, float]], int, _Spot | None]:
    """The scalar (tag, value) pairs of a Summary; how many scalar-plugin values were
    dropped (a tensor of the scalars plugin that is not a one-element number); and where
    the last value's own bytes are, when it is a float or double read straight from them."""
    out: list[tuple[str, float]] = []
    dropped = 0
    spot: _Spot | None = None
    while i < end:
        key, i = _varint(b, i)
        if key != 0x0A:  # Summary.value (1) is all a Summary holds that matters
            i = _skip(b, i, key & 7)
            continue
        ln, i = _varint(b, i)
        vend = i + ln
        if vend > end:
            raise _Malformed("value runs past its summary")
        tag = ""
        simple: float | None = None
        simple_at = -1
        tensor: tuple[int, int] | None = None
        plugin: str | None = None
        while i < vend:
            key, i = _varint(b, i)
            if key == 0x15:  # simple_value (2), float32
                (simple,) = _F32.unpack_from(b, i)
                simple_at = i
                i += 4
            elif key == 0x0A:  # tag (1)
                ln, i = _varint(b, i)
                tag = b[i : i + ln].decode("utf-8", "replace")
                i += ln
            elif key == 0x42:  # tensor (8)
                ln, i = _varint(b, i)
                tensor = (i, i + ln)
                i += ln
            elif key == 0x4A:  # metadata (9)
                ln, i = _varint(b, i)
                plugin = _plugin_name(b, i, i + ln)
                i += ln
            else:
                i = _skip(b, i, key & 7)
        if i != vend:
            raise _Malformed("value overruns")
        if plugin is not None and tag not in plugins:
            plugins[tag] = plugin  # the first metadata of a tag wins, as in TensorBoard
        spot = None
        if simple is not None:
            out.append((tag, simple))
            spot = (simple_at, _F32)
        elif tensor is not None and plugins.get(tag) == "scalars":
            got = _tensor_scalar(b, tensor[0], tensor[1])
            if got is None:
                dropped += 1
            else:
                out.append((tag, got[0]))
                spot = got[1]
    if i != end:
        raise _Malformed("summary overruns")
    return out, dropped, spot


def _event(
    b: bytes, i: int, end: int, plugins: dict[str, str]
) -> tuple[int, float, list[tuple[str, float]], int, _Spot | None]:
    """(step, wall time, scalar values, dropped, spot of the last value) of one Event."""
    wall = 0.0
    step = 0
    values: list[tuple[str, float]] = []
    dropped = 0
    spot: _Spot | None = None
    while i < end:
        key = b[i]
        i += 1
        if key == 0x09:  # wall_time (1), double
            (wall,) = _F64.unpack_from(b, i)
            i += 8
        elif key == 0x10:  # step (2), int64
            step, i = _varint(b, i)
            if step >= 2**63:
                step -= _I64_WRAP
        elif key == 0x2A:  # summary (5)
            ln, i = _varint(b, i)
            if i + ln > end:
                raise _Malformed("summary runs past its event")
            values, dropped, spot = _summary_values(b, i, i + ln, plugins)
            i += ln
        else:
            if key & 0x80:  # a field number > 15: a two-byte key
                key, i = _varint(b, i - 1)
            i = _skip(b, i, key & 7)
            spot = None
    if i != end:
        raise _Malformed("event overruns its record")
    return step, wall, values, dropped, spot


# --------------------------------------------------------------------------- reading


def read_event_file(
    path: str | os.PathLike[str], plugins: dict[str, str] | None = None
) -> EventFileRead:
    """Every scalar point of one event file, in file order; damage reported, never raised.

    :param plugins: tag -> plugin name, carried from the run's earlier files
        (a tag's metadata is written with its first value only).
    """
    p = os.fspath(path)
    buf = read_bytes(p)
    if plugins is None:
        plugins = {}
    good, damage = _frame(buf, p)
    rows: list[tuple[int, float, dict[str, float]]] = []
    push = rows.append
    dropped = 0
    # The fast path: writers repeat one byte layout per tag, with only the wall time,
    # the step and the value's own bytes changing. An event that decoded to exactly one
    # value lying at its very end teaches its layout (the bytes between the step and
    # the value) -> (tag, how to read the value); the next event with the same layout
    # is read with two unpacks and a dict lookup. Same bytes, same decoding, so the
    # shortcut cannot read anything the full decoder would not.
    layouts: tuple[dict[bytes, str], dict[bytes, str]] = ({}, {})  # float, double values
    floats, doubles = layouts
    f32 = _F32.unpack_from
    f64 = _F64.unpack_from
    for a, ln in good:
        end = a + ln
        try:
            if buf[a] == 0x09 and ln > 10:
                i = a + 9
                step = 0
                if buf[i] == 0x10:
                    step = buf[i + 1]
                    if step < 0x80:
                        i += 2
                    else:
                        step, i = _varint(buf, i + 1)
                if step < 2**63:
                    tag = floats.get(buf[i : end - 4])
                    if tag is not None:
                        push((step, f64(buf, a + 1)[0], {tag: f32(buf, end - 4)[0]}))
                        continue
                    tag = doubles.get(buf[i : end - 8])
                    if tag is not None:
                        push((step, f64(buf, a + 1)[0], {tag: f64(buf, end - 8)[0]}))
                        continue
            step, wall, values, lost, spot = _event(buf, a, end, plugins)
        except (_Malformed, IndexError, struct.error, ValueError):
            damage.append(EventFileDamage(p, a - _HEADER, end + 4, "malformed event"))
            continue
        dropped += lost
        if not values:
            continue
        if step < 0:
            dropped += len(values)
            continue
        if len(values) == 1 and not lost and spot is not None:
            _learn(buf, a, end, spot, values[0][0], layouts)
        row: dict[str, float] = {}
        for tag, v in values:
            if tag in row:  # the same tag twice in one event: keep both, as two rows
                push((step, wall, row))
                row = {}
            row[tag] = v
        push((step, wall, row))
    damage.sort(key=lambda d: d.start)
    return EventFileRead(p, rows, len(good), damage, dropped)


def _learn(
    buf: bytes, a: int, end: int, spot: _Spot, tag: str, layouts: tuple[dict[bytes, str], ...]
) -> None:
    """Remember the layout of an event whose only value ends the record (see the fast path).

    Only the plain shape is learnt: wall time first, then the step (if not 0), then the
    summary as the last top-level field, so the bytes in between decide everything else.
    """
    at, fmt = spot
    if buf[a] != 0x09 or at + fmt.size != end:
        return
    i = a + 9
    if buf[i] == 0x10:
        i = _varint(buf, i + 1)[1]
    if buf[i] != 0x2A or _varint(buf, i + 1)[1] + _varint(buf, i + 1)[0] != end:
        return
    layouts[0 if fmt is _F32 else 1][buf[i:at]] = tag


def _is_event_file(name: str) -> bool:
    return _EVENT_MARK in name


def event_files(folder: str | os.PathLike[str]) -> list[str]:
    """The event files directly in ``folder``, in TensorBoard's own loading order (by name:
    their names start with the creation time, so this is also the order they were written)."""
    f = os.fspath(folder)
    try:
        names = sorted(e.name for e in os.scandir(f) if e.is_file() and _is_event_file(e.name))
    except OSError as e:
        raise PathError(f, f"cannot list ({e.strerror})") from None
    return [os.path.join(f, n) for n in names]


def find_runs(root: str | os.PathLike[str]) -> list[str]:
    """Every folder under ``root`` (itself included) that directly holds event files, sorted."""
    r = os.fspath(root)
    runs = []
    for folder, dirs, files in os.walk(r, onerror=None):
        dirs.sort()
        if any(_is_event_file(n) for n in files):
            runs.append(folder)
    return sorted(runs)


@dataclass
class ImportedRun:
    """What `import_tensorboard` wrote for one run."""

    source: str
    log: str
    files: list[str]
    points: int
    rows: int
    metrics: tuple[str, ...]
    damage: list[EventFileDamage] = field(default_factory=list)
    #: points not imported (see `EventFileRead.dropped`)
    dropped: int = 0


def _read_run(files: list[str]) -> tuple[list[EventFileRead], dict[str, None]]:
    plugins: dict[str, str] = {}
    reads = [read_event_file(f, plugins) for f in files]
    metrics: dict[str, None] = {}
    for r in reads:
        for _, _, row in r.rows:
            for tag in row:
                metrics.setdefault(tag, None)
    return reads, metrics


def _write_run(source: str, files: list[str], dst: str, *, overwrite: bool) -> ImportedRun:
    from .log import EventLog

    reads, metrics = _read_run(files)
    config = {"imported_from": os.path.basename(os.path.abspath(source)), "format": "tensorboard"}
    with atomic_path(dst, overwrite=overwrite) as tmp:
        with EventLog(tmp, config=config, flush_every=0, all_ranks=True) as log:
            rows = sum(log._replay(iter(r.rows)) for r in reads)
    return ImportedRun(
        source=source,
        log=dst,
        files=files,
        points=sum(r.points for r in reads),
        rows=rows,
        metrics=tuple(metrics),
        damage=[d for r in reads for d in r.damage],
        dropped=sum(r.dropped for r in reads),
    )


def _log_name(root: str, run: str) -> str:
    rel = os.path.relpath(run, root)
    if rel == ".":
        rel = os.path.basename(os.path.abspath(root)) or "run"
    return rel.replace(os.sep, "__") + ".log"


def import_tensorboard(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> list[ImportedRun]:
    """Import TensorBoard scalars into curvelog logs, keeping every point and its wall time.

    ``source`` is an event file, a run folder (event files directly in it,
    merged in name order, which is the order they were written) or a folder
    of runs (every sub-folder holding event files is a run). One run is
    written to the log ``output``; several runs to ``output/<run>.log``
    (nested run folders joined with ``__``). Each event becomes one row, so
    a step logged several times keeps every write (readers show the latest)
    and a step going back is a resume, as in curvelog's own logs.

    :param overwrite: replace existing logs; otherwise `OutputExistsError`.
    :raises PathError: ``source`` missing or holding no event files.
    """
    src = os.fspath(source)
    out = os.fspath(output)
    if os.path.isfile(src):
        runs = {src: [src]}
    elif os.path.isdir(src):
        runs = {r: event_files(r) for r in find_runs(src)}
        if not runs:
            raise PathError(src, "holds no TensorBoard event files (*tfevents*)")
    elif os.path.exists(src):
        raise PathError(src, "is not a file or folder")
    else:
        raise PathError(src, "no such file or folder")
    if len(runs) == 1:
        targets = {run: out for run in runs}
    else:
        if os.path.exists(out) and not os.path.isdir(out):
            raise PathError(out, f"{len(runs)} runs need an output folder, and this is a file")
        targets = {run: os.path.join(out, _log_name(src, run)) for run in runs}
    for run, dst in targets.items():
        if any(same_file(f, dst) for f in runs[run]):
            raise PathError(dst, "is an event file being imported; choose another output")
        if os.path.exists(dst) and not overwrite:
            raise OutputExistsError(dst)
    if len(runs) > 1:
        os.makedirs(out, exist_ok=True)
    return [_write_run(run, runs[run], dst, overwrite=overwrite) for run, dst in targets.items()]
