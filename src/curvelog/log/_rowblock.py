"""Row blocks: the compact records of small flushes, when steps are slower than the flush (#12).

A timed flush that holds one row used to write a whole columnar chunk for it
(about 175 bytes for a step of 4 metrics: the frame, the keys, the metric
names). Flushes of fewer than `SMALL` rows are written instead as a **rows**
record (msgpack: session, sequence number, metric names, base step and time),
followed by **row frames**: ordinary frames (same header, same checksums,
same damage handling) whose payload starts with the byte 0xC1, which msgpack
never uses, and holds the rows in binary, relative to the rows record::

    C1  tag  uvarint seq  uvarint index  row*      (tag: `session_tag` of the sid)
    row := uvarint zigzag(step - base step)
           uvarint zigzag(float64 bits of time - bits of base time)
           uvarint mask          (bit i: the block's names[i] is present)
           float64 LE per bit set in mask, in name order

Every row frame is decoded from its rows record alone, never from another
row frame: damage to one costs only its rows. The layout is in docs/FORMAT.md
("rows" and "Row frames"). The writer starts a new block after `MAX_ENTRIES`
row frames, for a metric name the block lacks, and after any other record.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any, Final, NamedTuple

import numpy as np

from ._format import ROW_FRAME, ROW_TAG

__all__ = [
    "MAX_ENTRIES",
    "ROW_TAG",
    "RowFrames",
    "SMALL",
    "Block",
    "assemble",
    "decode_entry",
    "encode_small",
    "entry_key",
    "session_tag",
]

#: flushes of fewer rows than this are written as row frames (more: a columnar chunk)
SMALL: Final[int] = 32
#: row frames per rows record; the next starts a new block (keeps the deltas short)
MAX_ENTRIES: Final[int] = 256
_STEP_LIMIT: Final[int] = 2**63
_F64: Final = struct.Struct("<d")
_I64: Final = struct.Struct("<q")


class Block(NamedTuple):
    """The writer's open block: what its next row frame is relative to."""

    seq: int
    names: tuple[str, ...]
    slot: dict[str, int]
    step: int
    tbits: int
    frames: int


def session_tag(sid: str) -> int:
    """The byte a row frame carries of its session: with both the session and the
    rows record of a session lost, its row frames would otherwise be read against
    the previous session's last block whenever the block numbers match."""
    return zlib.crc32(sid.encode("utf-8")) & 0xFF


def _uvarint(out: bytearray, v: int) -> None:
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _zigzag(v: int) -> int:
    return v * 2 if v >= 0 else -v * 2 - 1


def _bits(t: float) -> int:
    return int(_I64.unpack(_F64.pack(t))[0])


def encode_small(
    sid: str, record: dict[str, Any], block: Block | None, seq: int
) -> tuple[list[dict[str, Any] | bytes], Block]:
    """The records for a small flush: a new rows record when needed, then one row frame.

    ``record`` is the flush's columnar data record (`_chunk._encode_rows`: the
    values already converted); ``seq`` is the next free chunk number. Returns
    the records to frame in order (a dict to pack, or a row frame's payload)
    and the block the next small flush continues.
    """
    steps = np.frombuffer(record["step"], dtype="<i8")
    times = np.frombuffer(record["time"], dtype="<f8")
    n = len(steps)
    cols = record["cols"]
    out: list[dict[str, Any] | bytes] = []
    if block is None or block.frames >= MAX_ENTRIES or not all(k in block.slot for k in cols):
        names = tuple(cols)
        block = Block(seq, names, {k: i for i, k in enumerate(names)},
                      int(steps[0]), _bits(float(times[0])), 0)  # fmt: skip
        out.append({"type": "rows", "sid": sid, "seq": seq, "names": list(names),
                    "step": block.step, "time": float(times[0])})  # fmt: skip
    k = len(block.names)
    values = np.zeros((n, k), dtype="<f8")
    present = np.zeros((n, k), dtype=bool)
    for name, (rows, vals) in cols.items():
        j = block.slot[name]
        r = slice(None) if rows is None else np.frombuffer(rows, dtype="<u4")
        values[r, j] = np.frombuffer(vals, dtype="<f8")
        present[r, j] = True
    weights = [1 << j for j in range(k)]
    buf = bytearray((ROW_TAG, session_tag(sid)))
    _uvarint(buf, block.seq)
    _uvarint(buf, block.frames)
    tbits = times.view("<i8")
    for i in range(n):
        _uvarint(buf, _zigzag(int(steps[i]) - block.step))
        _uvarint(buf, _zigzag(int(tbits[i]) - block.tbits))
        mask = present[i]
        _uvarint(buf, sum(w for w, p in zip(weights, mask.tolist(), strict=True) if p))
        buf += values[i][mask].tobytes()
    out.append(bytes(buf))
    return out, block._replace(frames=block.frames + 1)


def _read_uvarint(data: bytes, pos: int, bits: int = 70) -> tuple[int, int]:
    """A uvarint of at most ``bits`` bits (a 64-bit delta's zigzag by default;
    a presence mask has one bit per name of its block, so it passes its own)."""
    v = shift = 0
    while True:
        if pos >= len(data) or shift > bits:
            raise ValueError("a truncated or overlong number")
        b = data[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, pos
        shift += 7


def _unzigzag(v: int) -> int:
    return v >> 1 if not v & 1 else -((v + 1) >> 1)


def entry_key(data: Any) -> tuple[int, int, int]:
    """(session tag, block sequence number, index) of a row frame's payload;
    ValueError if unreadable."""
    if type(data) is not bytes or len(data) < 2 or data[0] != ROW_TAG:
        raise ValueError("not a row frame")  # (a msgpack record may claim the type too)
    seq, pos = _read_uvarint(data, 2)
    index, _ = _read_uvarint(data, pos)
    return data[1], seq, index


def decode_entry(
    data: bytes, nnames: int, step: int, tbits: int
) -> list[tuple[int, float, int, bytes]]:
    """The rows of a row frame: (step, time, mask, values bytes) each.

    ``nnames``, ``step`` and ``tbits`` come from its rows record. Anything
    malformed (a truncated row, a mask naming no metric of the block, a step
    outside ``[0, 2**63)``, a time that is no finite number) is a ValueError:
    the reader reports the frame as damage and skips it whole.
    """
    _seq, pos = _read_uvarint(data, 2)
    _index, pos = _read_uvarint(data, pos)
    rows = []
    size = len(data)
    if pos >= size:
        raise ValueError("a row frame without rows")
    while pos < size:
        ds, pos = _read_uvarint(data, pos)
        dt, pos = _read_uvarint(data, pos)
        mask, pos = _read_uvarint(data, pos, max(70, nnames + 7))
        s = step + _unzigzag(ds)
        b = tbits + _unzigzag(dt)
        if not 0 <= s < _STEP_LIMIT:
            raise ValueError(f"step {s} outside 0..2**63-1")
        if not -(2**63) <= b < 2**63:
            raise ValueError("a time outside float64")
        t = _F64.unpack(_I64.pack(b))[0]
        if t != t or t in (float("inf"), float("-inf")):
            raise ValueError("a time that is not a finite number")
        if mask >> nnames:
            raise ValueError("a row naming a metric its rows record lacks")
        end = pos + 8 * mask.bit_count()
        if end > size:
            raise ValueError("a truncated row")
        rows.append((s, t, mask, data[pos:end]))
        pos = end
    return rows


def assemble(
    names: list[str], rows: list[tuple[int, float, int, bytes]]
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, np.ndarray | None, np.ndarray]]]:
    """A block's rows as `_chunk._decode_data` gives a chunk's: steps, times, columns."""
    n = len(rows)
    steps = np.fromiter((r[0] for r in rows), dtype="<i8", count=n)
    times = np.fromiter((r[1] for r in rows), dtype="<f8", count=n)
    per: dict[int, tuple[list[int], list[bytes]]] = {}
    for i, (_s, _t, mask, raw) in enumerate(rows):
        j = k = 0
        while mask:
            if mask & 1:  # values stay bytes: NaN payloads and infinities bit for bit
                p = per.setdefault(j, ([], []))
                p[0].append(i)
                p[1].append(raw[k : k + 8])
                k += 8
            mask >>= 1
            j += 1
    cols: list[tuple[str, np.ndarray | None, np.ndarray]] = []
    for j in sorted(per):
        idx, vs = per[j]
        r = None if len(idx) == n else np.asarray(idx, dtype="<u4")
        cols.append((names[j], r, np.frombuffer(b"".join(vs), dtype="<f8")))
    return steps, times, cols


class RowFrames:
    """Row frames read as they come, for readers that go through a log frame by frame
    (`follow`, the live web view): fed every record in file order, `decoded` gives a
    row frame's rows as `_chunk._decode_data` gives a chunk's, or None.

    The same rule as `read`: a row frame is read against the last rows record
    before it, with no session record between, and must name its sequence
    number; a repeated one, or one that cannot be read, gives None.
    """

    def __init__(self) -> None:
        self._block: tuple[int, int, list[str], int, int] | None = None
        self._seen: set[int] = set()

    def decoded(
        self, record: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[str, np.ndarray | None, np.ndarray]]] | None:
        from ._records import record_problem

        kind = record.get("type")
        if kind == "session":
            self._block = None
        elif kind == "rows":
            if record_problem(record) is None:
                t = int(np.array(record["time"], dtype="<f8").view("<i8"))
                tag = session_tag(record["sid"])
                self._block = (tag, record["seq"], record["names"], record["step"], t)
                self._seen = set()
        elif kind == ROW_FRAME and self._block is not None:
            tag, seq, names, step, tbits = self._block
            try:
                got_tag, got, index = entry_key(record.get("raw"))
                if got_tag != tag or got != seq or index in self._seen:
                    return None
                rows = decode_entry(record["raw"], len(names), step, tbits)
            except ValueError:
                return None
            self._seen.add(index)
            return assemble(names, rows)
        return None
