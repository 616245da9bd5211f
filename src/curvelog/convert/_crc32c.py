"""CRC-32C (Castagnoli), as TFRecord framing masks it, over many records at once.

TensorBoard event files checksum every record twice (its length and its
data). The C library ``google-crc32c`` (Apache-2.0, the ``[tensorboard]``
extra) is used when installed; otherwise a numpy fallback computes the CRCs
of many records together, one byte position at a time across all of them,
so the Python-level loop runs once per byte *position*, not once per byte.
A record longer than `_VECTOR_MAX` bytes would keep that loop running for
one record alone, so those go through a plain per-byte table loop instead.
Both paths are checked against each other and against published test
vectors in the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np

__all__ = ["backend", "crc32c", "masked_crcs", "mask"]

_POLY: Final[int] = 0x82F63B78  # CRC-32C, reflected
_MASK_DELTA: Final[int] = 0xA282EAD8
#: longer records are checked one by one (see the module docstring)
_VECTOR_MAX: Final[int] = 4096
#: records all this short are faster in numpy even when the C library is there
#: (one call per record costs more than 8 vectorised table steps)
_C_FROM: Final[int] = 16


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE: Final[list[int]] = _make_table()
_TABLE_NP: Final[np.ndarray] = np.asarray(_TABLE, dtype=np.uint32)


def _crc32c_py(data: bytes | memoryview) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _load_c() -> Callable[[bytes], int] | None:
    try:
        import google_crc32c
    except ImportError:
        return None
    if google_crc32c.implementation != "c":  # its own fallback is slower than ours
        return None
    value: Callable[[bytes], int] = google_crc32c.value
    return value


_C: Callable[[bytes], int] | None = None
_C_LOADED = False


def _c() -> Callable[[bytes], int] | None:
    """The C implementation, imported on first use (never by ``import curvelog``)."""
    global _C, _C_LOADED
    if not _C_LOADED:
        _C, _C_LOADED = _load_c(), True
    return _C


def backend() -> str:
    """``"google-crc32c"`` or ``"numpy"``: which implementation `masked_crcs` uses."""
    return "google-crc32c" if _c() is not None else "numpy"


def crc32c(data: bytes) -> int:
    """The plain CRC-32C of ``data``."""
    c = _c()
    return c(data) if c is not None else _crc32c_py(data)


def mask(crc: int) -> int:
    """TFRecord's masking: rotate right by 15 bits, add a constant."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crcs(
    buf: bytes, starts: np.ndarray, lengths: np.ndarray, *, force_numpy: bool = False
) -> np.ndarray:
    """Masked CRC-32C of ``buf[starts[i] : starts[i] + lengths[i]]`` for every i (uint32).

    :param force_numpy: use the numpy fallback even when the C library is
        installed (tests and the benchmark compare both).
    """
    n = len(starts)
    out = np.empty(n, dtype=np.uint32)
    if n == 0:
        return out
    c = None if force_numpy else _c()
    if c is not None and int(lengths.max()) > _C_FROM:
        spans = zip(starts.tolist(), lengths.tolist(), strict=True)
        out[:] = [c(buf[a : a + ln]) for a, ln in spans]
        return _mask_np(out)
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    long_ = lengths > _VECTOR_MAX
    for i in np.flatnonzero(long_).tolist():
        out[i] = _crc32c_py(buf[int(starts[i]) : int(starts[i] + lengths[i])])
    short = np.flatnonzero(~long_)
    if len(short):
        out[short] = _crc_vector(buf, starts[short], lengths[short])
    return _mask_np(out)


def _crc_vector(buf: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """CRC-32C of many short records: records sorted longest first, so at byte
    position j the records still running are a prefix of the order."""
    data = np.frombuffer(buf, dtype=np.uint8)
    order = np.argsort(-lengths, kind="stable")
    s = starts[order]
    ln = lengths[order]
    crc = np.full(len(s), 0xFFFFFFFF, dtype=np.uint32)
    table = _TABLE_NP
    longest = int(ln[0])
    # active[j] = how many records are longer than j
    active = np.searchsorted(-ln, -np.arange(longest), side="left")
    for j in range(longest):
        k = int(active[j])
        c = crc[:k]
        b = data[s[:k] + j]
        crc[:k] = table[(c ^ b) & 0xFF] ^ (c >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    result = np.empty_like(crc)
    result[order] = crc
    return result


def _mask_np(crc: np.ndarray) -> np.ndarray:
    rot = (crc >> np.uint32(15)) | (crc << np.uint32(17))
    return (rot + np.uint32(_MASK_DELTA)).astype(np.uint32)
