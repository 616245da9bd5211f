"""The log's bytes in place: the file mapped, data payloads decoded without copies (#12).

Reading used to copy the data three times: the whole file into a ``bytes``,
each payload's ``bin`` fields into new ``bytes`` (msgpack always copies
them), then every chunk's columns into one array per metric. Here the file
is mapped (`open_image`), a data record's payload is decoded by
`decode_data_payload` into the same dict msgpack would give, except that its
``bin`` fields are `memoryview` slices of the map (so the columns become
``np.frombuffer`` views on the mapped pages), and the reader copies each
column once, into one preallocated array per metric, releasing the mapped
pages behind it (`Image.release`) so that the file's bytes and the arrays
never both sit in memory whole.

A live log (a writer holds its lock) is read into memory instead: a writer
may cut off the torn tail of a failed write, and touching a mapped page past
the end of a file kills the process (SIGBUS). A writer that opens the log
after it was mapped only appends, and cuts off only what it appended.
"""

from __future__ import annotations

import mmap
import os
import struct
from typing import Any, Final

from .._fs import os_errors, read_bytes, regular_file

__all__ = ["MAP_MIN", "Image", "decode_data_payload", "open_image"]

#: files smaller than this are read, not mapped (a map costs more than it saves)
MAP_MIN: Final[int] = 1 << 20
_PAGE: Final[int] = mmap.PAGESIZE
_DONTNEED: Final[int | None] = getattr(mmap, "MADV_DONTNEED", None)


class Image:
    """A log's bytes: a ``bytes`` object or a read-only map of the file.

    ``buf`` supports what the scanner needs (``find``, slicing, the buffer
    protocol). The map is never closed explicitly: the arrays and views the
    reader makes keep it alive while they need it, and it is unmapped when
    the last of them goes.
    """

    __slots__ = ("buf", "mapped")

    def __init__(self, buf: bytes | mmap.mmap, mapped: bool) -> None:
        self.buf = buf
        self.mapped = mapped

    def release(self, start: int, end: int) -> None:
        """Drop the mapped pages wholly inside ``start:end`` from this process.

        They stay in the page cache (a later touch maps them again, without
        I/O); only the process's resident size shrinks. A no-op for ``bytes``.
        """
        if not self.mapped or _DONTNEED is None:
            return
        a = -(-start // _PAGE) * _PAGE
        b = end // _PAGE * _PAGE
        if b > a:
            assert isinstance(self.buf, mmap.mmap)
            self.buf.madvise(_DONTNEED, a, b - a)


def open_image(path: str, live: bool) -> Image:
    """The bytes of the log at ``path``: mapped unless it is small or live (see above).

    :raises PathError: the file is missing, unreadable or not a regular file.
    """
    path = regular_file(path)
    if not live:
        with os_errors(path), open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size >= MAP_MIN:
                return Image(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), True)
    return Image(read_bytes(path), False)


# ---------------------------------------------------------------- msgpack, in place

#: what every data record the writer packs starts with, after the map's own
#: header byte: the key "type" and the value "data" as msgpack fixstrs
DATA_PREFIX: Final[bytes] = b"\xa4type\xa4data"
_MAX_DEPTH: Final[int] = 8


class _Unsupported(Exception):
    """Not something the in-place decoder handles: msgpack decodes it instead."""


_FIXED: Final[dict[int, tuple[struct.Struct, int]]] = {
    0xCA: (struct.Struct(">f"), 4),
    0xCB: (struct.Struct(">d"), 8),
    0xCC: (struct.Struct(">B"), 1),
    0xCD: (struct.Struct(">H"), 2),
    0xCE: (struct.Struct(">I"), 4),
    0xCF: (struct.Struct(">Q"), 8),
    0xD0: (struct.Struct(">b"), 1),
    0xD1: (struct.Struct(">h"), 2),
    0xD2: (struct.Struct(">i"), 4),
    0xD3: (struct.Struct(">q"), 8),
}
_U8: Final = struct.Struct(">B")
_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")
#: length prefix of str8/16/32, bin8/16/32, array16/32, map16/32
_SIZED: Final[dict[int, tuple[str, struct.Struct]]] = {
    0xD9: ("str", _U8),
    0xDA: ("str", _U16),
    0xDB: ("str", _U32),
    0xC4: ("bin", _U8),
    0xC5: ("bin", _U16),
    0xC6: ("bin", _U32),
    0xDC: ("array", _U16),
    0xDD: ("array", _U32),
    0xDE: ("map", _U16),
    0xDF: ("map", _U32),
}


def _walk(buf: memoryview, pos: int, depth: int) -> tuple[Any, int]:
    """The msgpack object at ``pos`` and the offset after it; ``bin`` as memoryview slices."""
    if depth > _MAX_DEPTH:
        raise _Unsupported
    size = len(buf)
    if pos >= size:
        raise _Unsupported
    b = buf[pos]
    pos += 1
    if b <= 0x7F:
        return b, pos
    if b >= 0xE0:
        return b - 0x100, pos
    if 0xA0 <= b <= 0xBF:
        kind, n = "str", b & 0x1F
    elif 0x80 <= b <= 0x8F:
        kind, n = "map", b & 0x0F
    elif 0x90 <= b <= 0x9F:
        kind, n = "array", b & 0x0F
    elif b == 0xC0:
        return None, pos
    elif b == 0xC2:
        return False, pos
    elif b == 0xC3:
        return True, pos
    elif b in _FIXED:
        st, width = _FIXED[b]
        if pos + width > size:
            raise _Unsupported
        return st.unpack_from(buf, pos)[0], pos + width
    elif b in _SIZED:
        kind, st = _SIZED[b]
        if pos + st.size > size:
            raise _Unsupported
        n = st.unpack_from(buf, pos)[0]
        pos += st.size
    else:
        raise _Unsupported  # ext types, reserved bytes: msgpack's to judge
    if kind == "str" or kind == "bin":
        end = pos + n
        if end > size:
            raise _Unsupported
        if kind == "bin":
            return buf[pos:end], end
        return bytes(buf[pos:end]).decode("utf-8"), end  # strict, like msgpack
    if kind == "array":
        items = []
        for _ in range(n):
            item, pos = _walk(buf, pos, depth + 1)
            items.append(item)
        return items, pos
    out: dict[Any, Any] = {}
    for _ in range(n):
        key, pos = _walk(buf, pos, depth + 1)
        if type(key) is not str and type(key) is not int:
            raise _Unsupported  # msgpack has its own rules for other keys: let it apply them
        value, pos = _walk(buf, pos, depth + 1)
        out[key] = value
    return out, pos


def decode_data_payload(payload: memoryview) -> dict[str, Any] | None:
    """A data record's payload as msgpack would decode it, with ``bin`` fields left in place.

    None when the payload is not a plain data record or holds anything this
    decoder does not handle (ext types, an invalid UTF-8 string, trailing
    bytes, ...): the caller then lets msgpack decode it, which decides whether
    it is undecodable, so the two paths never disagree on what is damage.
    """
    if len(payload) < 11 or not 0x80 <= payload[0] <= 0x8F or payload[1:11] != DATA_PREFIX:
        return None
    try:
        if payload[0] == 0x87:
            fast = _writer_layout(payload)
            if fast is not None:
                return fast
        record, end = _walk(payload, 0, 0)
    except (_Unsupported, UnicodeDecodeError, struct.error):
        return None
    if end != len(payload):
        return None
    return record  # type: ignore[no-any-return]


_BIN: Final[dict[int, struct.Struct]] = {0xC4: _U8, 0xC5: _U16, 0xC6: _U32}
#: the keys after "type", in the order `_chunk._encode_rows` packs them
_KEYS: Final = (b"\xa3sid", b"\xa3seq", b"\xa1n", b"\xa4step", b"\xa4time", b"\xa4cols")


def _bin(buf: memoryview, pos: int, size: int) -> tuple[memoryview, int]:
    st = _BIN.get(buf[pos]) if pos < size else None
    if st is None:
        raise _Unsupported
    start = pos + 1 + st.size
    end = start + st.unpack_from(buf, pos + 1)[0]
    if end > size:
        raise _Unsupported
    return buf[start:end], end


def _writer_layout(buf: memoryview) -> dict[str, Any] | None:
    """The data record in the exact layout curvelog's writer packs, None for any other.

    About twice as fast as the generic `_walk` on the per-chunk overhead
    that dominates reading once the columns are copied in bulk: the keys are
    compared in their known order, the ``bin`` columns are sliced directly.
    Anything unexpected is left to `_walk`, which gives the same answer
    slowly (so this is only ever a shortcut, never a second definition).
    """
    size = len(buf)
    pos = 11
    values: list[Any] = []
    for key in _KEYS:
        k = len(key)
        if bytes(buf[pos : pos + k]) != key:
            return None
        pos += k
        if key == b"\xa4cols":
            break
        if key == b"\xa4step" or key == b"\xa4time":
            value, pos = _bin(buf, pos, size)
        else:
            value, pos = _walk(buf, pos, 1)
        values.append(value)
    if pos >= size or not 0x80 <= buf[pos] <= 0x8F:
        return None
    cols: dict[Any, Any] = {}
    pos += 1
    for _ in range(buf[pos - 1] & 0x0F):
        if pos >= size:
            return None
        b = buf[pos]
        if 0xA1 <= b <= 0xBF:  # a fixstr, as every name under 32 bytes is
            name, pos = str(buf[pos + 1 : pos + 1 + (b & 0x1F)], "utf-8"), pos + 1 + (b & 0x1F)
        else:
            name, pos = _walk(buf, pos, 2)
        if type(name) is not str or pos + 1 >= size or buf[pos] != 0x92:
            return None
        if buf[pos + 1] == 0xC0:
            rows, pos = None, pos + 2
        else:
            rows, pos = _bin(buf, pos + 1, size)
        vals, pos = _bin(buf, pos, size)
        cols[name] = [rows, vals]
    if pos != size:
        return None
    sid, seq, n, step, time = values
    return {"type": "data", "sid": sid, "seq": seq, "n": n, "step": step, "time": time,
            "cols": cols}  # fmt: skip
