"""The few protobuf messages of a TensorBoard scalar, decoded and encoded by hand.

Decoded: ``Event.wall_time`` (1), ``step`` (2), ``summary`` (5) -> ``value``
(1) -> ``tag`` (1), ``simple_value`` (2, float32, what ``add_scalar``
writes), ``metadata`` (9) -> ``plugin_data`` (1) -> ``plugin_name`` (1), and
``tensor`` (8), a ``TensorProto`` read as TensorFlow's ``make_ndarray`` does,
for tags whose metadata names the ``scalars`` plugin (TF2 and
``new_style=True``; the metadata usually rides on a tag's first value only,
so it is remembered per tag, the first one winning, as in TensorBoard).
Encoded: the same Event with a ``DT_DOUBLE`` scalar tensor, for export.
No protobuf library is needed either way.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Final

import numpy as np

__all__ = [
    "SCALARS_METADATA",
    "F32",
    "F64",
    "EventResult",
    "Malformed",
    "scalar_event_parts",
    "step_field",
    "event",
    "file_version_event",
    "varint",
]

_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")
_I64_WRAP: Final[int] = 2**64
#: where the bytes of an event's last value sit, and how to read them (the fast path)
_Spot = tuple[int, struct.Struct]
#: (step, wall time, [(tag, value)], dropped, spot of the last value) of one Event
EventResult = tuple[int, float, list[tuple[str, float]], int, _Spot | None]
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


# --------------------------------------------------------------------------- decoding


class Malformed(ValueError):
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
            raise Malformed("varint too long")


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
    raise Malformed(f"wire type {wire}")


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
            raise Malformed("field runs past its message")
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
    b: bytes, i: int, end: int, plugins: dict[str, str], unknown: set[str]
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
            raise Malformed("value runs past its summary")
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
            raise Malformed("value overruns")
        if plugin is not None and tag not in plugins:
            plugins[tag] = plugin  # the first metadata of a tag wins, as in TensorBoard
        spot = None
        if simple is not None:
            out.append((tag, simple))
            spot = (simple_at, _F32)
        elif tensor is not None and tag not in plugins:
            unknown.add(tag)  # no metadata for this tag yet: the caller decides (see _tb_scan)
        elif tensor is not None and plugins[tag] == "scalars":
            got = _tensor_scalar(b, tensor[0], tensor[1])
            if got is None:
                dropped += 1
            else:
                out.append((tag, got[0]))
                spot = got[1]
    if i != end:
        raise Malformed("summary overruns")
    return out, dropped, spot


def event(b: bytes, i: int, end: int, plugins: dict[str, str], unknown: set[str]) -> EventResult:
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
                raise Malformed("summary runs past its event")
            values, dropped, spot = _summary_values(b, i, i + ln, plugins, unknown)
            i += ln
        else:
            if key & 0x80:  # a field number > 15: a two-byte key
                key, i = _varint(b, i - 1)
            i = _skip(b, i, key & 7)
            spot = None
    if i != end:
        raise Malformed("event overruns its record")
    return step, wall, values, dropped, spot


# --------------------------------------------------------------------------- encoding


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(key: int, payload: bytes) -> bytes:
    """A length-delimited field (``key`` is the one-byte tag of a field number <= 15)."""
    return bytes((key,)) + _uvarint(len(payload)) + payload


#: SummaryMetadata{plugin_data{plugin_name: "scalars"}, data_class: DATA_CLASS_SCALAR}, as
#: TF2's ``tf.summary.scalar`` writes it, as the ``metadata`` (9) field of a Value
SCALARS_METADATA: Final[bytes] = _field(0x4A, _field(0x0A, _field(0x0A, b"scalars")) + b"\x20\x01")
#: TensorProto{dtype: DT_DOUBLE, tensor_shape: {} (a scalar)} and the key of a packed
#: double_val holding one double (8 bytes follow)
_DOUBLE_TENSOR_HEAD: Final[bytes] = b"\x08\x02\x12\x00\x32\x08"


def file_version_event(wall_time: float) -> bytes:
    """The first event of every event file: ``file_version: "brain.Event:2"``."""
    return b"\x09" + _F64.pack(wall_time) + _field(0x1A, b"brain.Event:2")


def scalar_event_parts(tag: bytes, meta: bool) -> bytes:
    """The bytes of a one-value Event between its step and its 8 value bytes: a summary
    holding one value of ``tag`` (with the scalars metadata if ``meta``), a DT_DOUBLE
    tensor of one double last. An event is then ``09 wall [10 step] parts value``."""
    value = _field(0x0A, tag) + (SCALARS_METADATA if meta else b"")
    tensor_len = len(_DOUBLE_TENSOR_HEAD) + 8
    value += b"\x42" + _uvarint(tensor_len) + _DOUBLE_TENSOR_HEAD
    value_len = len(value) + 8
    summary = b"\x0a" + _uvarint(value_len) + value
    return b"\x2a" + _uvarint(len(summary) + 8) + summary


def step_field(step: int) -> bytes:
    """``step`` (2) of an Event; absent for 0, as protobuf writes it."""
    return b"\x10" + _uvarint(step) if step else b""


#: public names for the scanner (`_tb_scan`)
F32 = _F32
F64 = _F64
varint = _varint
