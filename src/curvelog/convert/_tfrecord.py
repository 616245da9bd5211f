"""TFRecord framing, the container of TensorBoard event files: read (checked) and write.

Per record: a little-endian u64 length, the masked CRC-32C of those 8 bytes,
the data, and the masked CRC-32C of the data. Reading walks the chain of
lengths first and checks every checksum of the chain in one batch
(`_crc32c.masked_crcs`), which is what makes it fast. A header whose
checksum fails cannot be trusted for its length, so the reader searches
forward for the next offset where a header *and* its data both check out; a
record cut by the end of the file is a torn tail (a writer still running,
or killed), reported as such.
"""

from __future__ import annotations

import struct
from typing import Final

import numpy as np

from . import _crc32c

__all__ = ["Damage", "HEADER", "encode", "encode_many", "frame"]

HEADER: Final[int] = 12  # u64 length + u32 masked CRC
_HEADER = HEADER
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
#: how far past a damaged header the reader searches at a time for the next record
_RESYNC_WINDOW: Final[int] = 1 << 16
#: (start, end, what) of a stretch that gave no record: "checksum" or "torn tail"
Damage = tuple[int, int, str]


def encode(data: bytes) -> bytes:
    """One framed record."""
    head = _U64.pack(len(data))
    return (
        head
        + _U32.pack(_crc32c.mask(_crc32c.crc32c(head)))
        + data
        + _U32.pack(_crc32c.mask(_crc32c.crc32c(data)))
    )


def encode_many(records: list[bytes]) -> bytes:
    """Many framed records, their checksums computed in one batch."""
    if not records:
        return b""
    data = b"".join(records)
    lengths = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    heads = lengths.astype("<u8").tobytes()
    head_crc = _crc32c.masked_crcs(heads, np.arange(len(records)) * 8, np.full(len(records), 8))
    data_crc = _crc32c.masked_crcs(data, starts, lengths)
    out = np.empty(len(data) + 16 * len(records), dtype=np.uint8)
    base = starts + 16 * np.arange(len(records))  # where each framed record begins
    frame_at = base[:, None] + np.arange(12)
    out[frame_at] = np.concatenate(
        [
            np.frombuffer(heads, np.uint8).reshape(-1, 8),
            head_crc.astype("<u4").view(np.uint8).reshape(-1, 4),
        ],
        axis=1,
    )
    owner = np.repeat(np.arange(len(records)), lengths)
    out[np.arange(len(data)) + 16 * owner + 12] = np.frombuffer(data, np.uint8)
    out[(base + 12 + lengths)[:, None] + np.arange(4)] = (
        data_crc.astype("<u4").view(np.uint8).reshape(-1, 4)
    )
    return out.tobytes()


def frame(buf: bytes) -> tuple[np.ndarray, np.ndarray, list[Damage]]:
    """(data offset, data length) of every record whose two checksums match, and the damage."""
    n = len(buf)
    good_a: list[np.ndarray] = []
    good_l: list[np.ndarray] = []
    damage: list[Damage] = []
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
            good_a.append(hs[data_ok] + _HEADER)
            good_l.append(ls[data_ok])
            for a, ln in zip(hs[~data_ok].tolist(), ls[~data_ok].tolist(), strict=True):
                damage.append((a, a + _HEADER + ln + 4, "checksum"))
        bad_at = starts[cut] if cut < len(starts) else p
        if bad_at >= n:
            break
        if bad_at == p and (n - p < _HEADER or _header_ok(buf, p)):
            # Less than a header left, or a sound header whose data runs past the end:
            # the file was cut while a record was being written.
            damage.append((p, n, "torn tail"))
            break
        nxt = _resync(buf, bad_at + 1)
        damage.append((bad_at, n if nxt is None else nxt, "checksum"))
        if nxt is None:
            break
        pos = nxt
    empty = np.zeros(0, dtype=np.int64)
    return (
        np.concatenate(good_a) if good_a else empty,
        np.concatenate(good_l) if good_l else empty,
        damage,
    )


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
