"""The bytes of a curvelog log: file signature, record frames, damage scan.

A log is an 8-byte signature followed by frames. Each frame is::

    magic    4 bytes  C1 43 4C 52   (0xC1 is never valid msgpack: a frame start
                                     cannot be mistaken for payload bytes that
                                     msgpack itself produced)
    length   u32 LE   payload length, 1 .. 2**31-1
    crc      u32 LE   CRC-32 (zlib) of the payload
    hcrc     u32 LE   CRC-32 (zlib) of the 12 bytes above
    payload  length bytes, one msgpack map

Why this framing (see docs/FORMAT.md for the whole story): a plain msgpack
stream cannot tell a zero-filled tail from data (0x00 decodes as the integer
0) and completes a torn float into a wrong value. LevelDB frames with a CRC
per record in fixed 32 KiB blocks so it can resynchronise at the next block;
TFRecord frames with a CRC of the length and one of the data but cannot
resynchronise at all. curvelog's data records are columnar chunks of up to
a few MB, so instead of blocks every frame starts with a magic word: after
damage the reader searches for the next magic whose header CRC and payload
CRC both check, which `bytes.find` does at memory speed.

Nothing here knows what the records mean; `_chunk` and `_reader` do.
"""

from __future__ import annotations

import os
import stat
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import msgpack

from ._view import decode_data_payload

__all__ = [
    "FILE_MAGIC",
    "FRAME_MAGIC",
    "HEADER_SIZE",
    "MAX_PAYLOAD",
    "ROW_FRAME",
    "ROW_TAG",
    "Damage",
    "Frame",
    "encode_frame",
    "is_log",
    "frame_end_offsets",
    "pack",
    "payload_intact",
    "scan",
    "signature_state",
]

FILE_MAGIC: Final[bytes] = b"\x89CLG\r\n\x1a\n"
FRAME_MAGIC: Final[bytes] = b"\xc1CLR"
HEADER_SIZE: Final[int] = 16
MAX_PAYLOAD: Final[int] = 2**31 - 1

#: a row frame's payload starts with this byte (msgpack never uses it), see `_rowblock`
ROW_TAG: Final[int] = 0xC1
#: the record type `scan` gives a row frame: ``{"type": ROW_FRAME, "raw": payload bytes}``
ROW_FRAME: Final[str] = "row frame"

_HEAD = struct.Struct("<4sIII")
_HEAD12 = struct.Struct("<4sII")
_U32 = struct.Struct("<I")


def is_log(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a regular file that starts with the log signature
    (or a damaged one, see `signature_state`).

    The one test of "is this a log?" that every command uses before it
    replaces a file (a log is never replaced) or chooses how to read an
    input. Reads 8 bytes; a missing file, a folder or a FIFO is no log (and
    is opened without blocking).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        return signature_state(os.pread(fd, len(FILE_MAGIC) + HEADER_SIZE, 0)) != "none"
    except OSError:
        return False
    finally:
        os.close(fd)


def refuse_to_replace(path: str | os.PathLike[str], what: str) -> None:
    """Raise `PathError` when ``path`` is a log: no output ever replaces one,
    ``--force`` or not (what a command writes is ``what``: "a bundle", "a
    picture"...). Writers check again just before they replace the file, since
    a log may appear meanwhile."""
    if is_log(path):
        from ..errors import PathError

        raise PathError(os.fspath(path), f"is a curvelog log, not {what}; refusing to replace it")


#: flipped bits up to which 8 bytes still count as a damaged signature (of 64)
_SIGNATURE_FLIPS: Final[int] = 16


def signature_state(head: bytes) -> str:
    """``"ok"``, ``"damaged"`` or ``"none"`` for a file that starts with ``head``.

    ``"damaged"``: the 8-byte signature is wrong but this is still a log,
    because an intact frame header follows it (give at least 24 bytes) or
    it differs from the signature in at most 16 bits. One flipped bit must
    not make an intact log unreadable, nor let a command replace it.
    """
    sig = head[: len(FILE_MAGIC)]
    if sig == FILE_MAGIC:
        return "ok"
    if len(head) >= len(FILE_MAGIC) + HEADER_SIZE:
        magic, _length, _crc, hcrc = _HEAD.unpack_from(head, len(FILE_MAGIC))
        if magic == FRAME_MAGIC and zlib.crc32(head[8:20]) == hcrc:
            return "damaged"
    if len(sig) == len(FILE_MAGIC):
        flips = bin(int.from_bytes(sig, "big") ^ int.from_bytes(FILE_MAGIC, "big")).count("1")
        if flips <= _SIGNATURE_FLIPS and FRAME_MAGIC in head[len(FILE_MAGIC) :]:
            return "damaged"
    return "none"


def pack(record: dict[str, Any]) -> bytes:
    """msgpack with bin type for bytes and str keys, the only encoding curvelog writes."""
    return msgpack.packb(record, use_bin_type=True)  # type: ignore[no-any-return]


def encode_frame(payload: bytes) -> bytes:
    """Frame one msgpack payload."""
    length = len(payload)
    if not 0 < length <= MAX_PAYLOAD:
        raise ValueError(f"frame payload of {length} bytes is outside 1..{MAX_PAYLOAD}")
    head12 = _HEAD12.pack(FRAME_MAGIC, length, zlib.crc32(payload))
    return head12 + struct.pack("<I", zlib.crc32(head12)) + payload


@dataclass(frozen=True)
class Frame:
    """One intact record: where it lies and what it holds."""

    offset: int
    end: int
    record: dict[str, Any]


@dataclass(frozen=True)
class Damage:
    """A byte range the reader had to skip.

    ``kind`` is ``"torn"`` (the tail is an incomplete frame: the writer died
    mid-write), ``"zeros"`` (a zero-filled tail: power loss after the file
    grew), ``"garbage"`` (a tail of bytes that are no frame), ``"unfinished"``
    (a torn frame that a later session wrote after: a crash, not a bad disk),
    ``"corrupt"`` (other damage followed by intact frames: a checksum mismatch
    or bad header in the middle), ``"undecodable"`` (a frame whose checksum holds but whose
    payload is not a msgpack map), ``"malformed"`` (a record whose checksum
    holds but whose fields have the wrong types or ranges), ``"signature"``
    (the 8-byte file signature is damaged; the frames after it are read),
    ``"repeated"`` (a second copy of a data chunk already read, skipped) or
    ``"reordered"`` (a data chunk found after chunks the writer wrote later:
    put back in its place by its sequence number). ``detail`` says more
    where there is more to say.
    """

    start: int
    end: int
    kind: str
    detail: str = ""

    @property
    def tail(self) -> bool:
        return self.kind in ("torn", "zeros", "garbage")

    def describe(self) -> str:
        what = {
            "torn": "torn record at the end (writer died mid-write)",
            "zeros": "zero-filled tail (data never reached the disk)",
            "garbage": "unreadable bytes at the end",
            "corrupt": "corrupt bytes (checksum mismatch), skipped",
            "unfinished": "a record its writer never finished (it died mid-write; a later "
            "session wrote after it), skipped",
            "undecodable": "record with a valid checksum but an undecodable payload, skipped",
            "malformed": "record with a valid checksum but malformed fields, skipped",
            "signature": "damaged file signature; the records after it are read",
            "repeated": "a repeated copy of a data chunk already read, skipped",
            "reordered": "a data chunk out of order, put back in its place",
        }.get(self.kind, self.kind)
        more = f" ({self.detail})" if self.detail else ""
        return f"bytes {self.start}..{self.end} ({self.end - self.start} bytes): {what}{more}"


def append_at(fd: int, data: bytes, size: int) -> int:
    """Write ``data`` after the first ``size`` bytes of the file ``fd``; the new size.

    Bytes beyond ``size`` are the start of a frame whose write failed (a
    full disk, a file size limit) or was interrupted: nothing refers to
    them, so they are cut off first and the retry leaves no damage.
    """
    actual = os.fstat(fd).st_size
    if actual > size:
        os.ftruncate(fd, size)
        actual = size
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    return actual + len(data)


def _frame_at(data: memoryview, pos: int, size: int, payload: bool = True) -> int:
    """End offset of an intact frame starting at ``pos``, -1 if there is none.

    ``payload=False`` checks the header only (see `scan`'s ``deferred``).
    """
    if size - pos < HEADER_SIZE:
        return -1
    magic, length, crc, hcrc = _HEAD.unpack_from(data, pos)
    if magic != FRAME_MAGIC or zlib.crc32(data[pos : pos + 12]) != hcrc:
        return -1
    end = pos + HEADER_SIZE + length
    if length == 0 or length > MAX_PAYLOAD or end > size:
        return -1
    if payload and zlib.crc32(data[pos + HEADER_SIZE : end]) != crc:
        return -1
    return int(end)


def payload_intact(data: memoryview, frame: Frame) -> bool:
    """Whether a frame's payload matches its checksum (for frames `scan` deferred)."""
    crc: int = _U32.unpack_from(data, frame.offset + 8)[0]
    return zlib.crc32(data[frame.offset + HEADER_SIZE : frame.end]) == crc


def _resync(raw: Any, data: memoryview, start: int, size: int) -> int:
    """Offset of the next intact frame at or after ``start``, -1 if none."""
    while True:
        j: int = raw.find(FRAME_MAGIC, start)
        if j < 0:
            return -1
        if _frame_at(data, j, size) >= 0:
            return j
        start = j + 1


def _tail_kind(data: memoryview, pos: int, size: int) -> str:
    tail = bytes(data[pos:size])
    if tail.count(0) == len(tail):
        return "zeros"
    if len(tail) < HEADER_SIZE:
        return "torn" if FRAME_MAGIC.startswith(tail[:4]) else "garbage"
    magic, _length, _crc, hcrc = _HEAD.unpack_from(tail, 0)
    if magic == FRAME_MAGIC and zlib.crc32(tail[:12]) == hcrc:
        return "torn"
    return "garbage"


def _middle_kind(data: memoryview, pos: int, nxt: int, size: int) -> str:
    """``"unfinished"`` for the torn last frame of a writer that died, which a later
    session wrote after (its intact header claims bytes past the next intact frame,
    and that frame opens a session); ``"corrupt"`` for anything else."""
    if nxt - pos < HEADER_SIZE:
        return "corrupt"
    magic, length, _crc, hcrc = _HEAD.unpack_from(data, pos)
    if magic != FRAME_MAGIC or zlib.crc32(data[pos : pos + 12]) != hcrc:
        return "corrupt"
    if pos + HEADER_SIZE + length <= nxt:
        return "corrupt"  # a whole frame whose bytes changed
    end = _frame_at(data, nxt, size)
    try:
        record = msgpack.unpackb(data[nxt + HEADER_SIZE : end], raw=False, strict_map_key=False)
    except Exception:
        return "corrupt"
    return (
        "unfinished" if isinstance(record, dict) and record.get("type") == "session" else "corrupt"
    )


def scan(
    raw: Any,
    start: int = len(FILE_MAGIC),
    *,
    in_place: bool = False,
    release: Callable[[int, int], None] | None = None,
    deferred: list[Frame] | None = None,
) -> tuple[list[Frame], list[Damage]]:
    """Every intact frame of a log image from ``start`` on, and the damage between.

    Never raises on damage: corrupt stretches are skipped and reported, the
    scan resumes at the next intact frame. The caller checks the signature.
    ``raw`` is ``bytes`` or a map of the file. With ``in_place`` the ``bin``
    fields of data records are memoryviews of ``raw``, not copies (see
    `_view.decode_data_payload`); everything else is decoded as usual.
    ``release(start, end)`` is told each stretch the scan is done with (the
    reader drops those mapped pages: a 2 GB log never sits in memory whole).

    With a ``deferred`` list, the payload checksum of each data record decoded
    in place is not computed here: the frame goes into the list instead, and
    the caller must check it (`payload_intact`) before it trusts the record,
    and scan again without deferring if one fails. The reader checks them
    while it copies the columns, in threads, so each byte is read once.
    """
    data = memoryview(raw)
    size = len(raw)
    pos = start
    frames: list[Frame] = []
    damage: list[Damage] = []
    unpackb = msgpack.unpackb
    while pos < size:
        end = _frame_at(data, pos, size, deferred is None)
        record = None
        if end >= 0 and deferred is not None:
            record = decode_data_payload(data[pos + HEADER_SIZE : end])
            if record is None:  # no data record: check it now
                end = _frame_at(data, pos, size)
        if end < 0:
            nxt = _resync(raw, data, pos + 1, size)
            if nxt < 0:
                damage.append(Damage(pos, size, _tail_kind(data, pos, size)))
                break
            damage.append(Damage(pos, nxt, _middle_kind(data, pos, nxt, size)))
            pos = nxt
            continue
        payload = data[pos + HEADER_SIZE : end]
        unchecked = record is not None
        if record is None and in_place and deferred is None:
            record = decode_data_payload(payload)
        if payload[0] == ROW_TAG:  # a row frame (format 2, `_rowblock`): binary, not msgpack
            record = {"type": ROW_FRAME, "raw": bytes(payload)}
        try:
            if record is None:
                record = unpackb(payload, raw=False, strict_map_key=False)
        except Exception:  # any decoder failure is the same fact: unusable payload
            record = None
        if isinstance(record, dict):
            frames.append(Frame(pos, end, record))
            if unchecked and deferred is not None:
                deferred.append(frames[-1])
        else:
            damage.append(Damage(pos, end, "undecodable"))
        if release is not None and not unchecked:  # the caller releases what it defers
            release(pos, end)
        pos = end
    return frames, damage


def frame_end_offsets(raw: bytes) -> list[int]:
    """End offset of each frame of an intact log, walking the length fields only.

    Independent of `scan` (no CRC, no resync, no decoding): the ground truth
    that crash tests compare the reader against.
    """
    ends: list[int] = []
    pos = len(FILE_MAGIC)
    while pos + HEADER_SIZE <= len(raw):
        _magic, length, _crc, _hcrc = _HEAD.unpack_from(raw, pos)
        end = pos + HEADER_SIZE + length
        if end > len(raw):
            break
        ends.append(end)
        pos = end
    return ends
