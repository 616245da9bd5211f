"""The reader's outputs: one preallocated array per column, filled from the chunks in threads.

Reading a big log is three passes over its bytes if done one after the
other: the checksum, the copy into the arrays, and (for a mapped file) the
page faults that bring each page in twice, once for each. Here each chunk is
checked and copied in one go while its bytes are in the CPU's cache, and the
chunks are shared among a few threads when they are big: ``zlib.crc32`` and
numpy's copies release the GIL.

The places of every chunk's rows in the outputs are worked out before any
copy (from the chunk headers), so the threads write disjoint slices and
need no lock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, Final

import numpy as np

from ._chunk import values_problem
from ._format import Frame, payload_intact

__all__ = ["Chunk", "Columns"]

#: drops the mapped pages of a byte range once copied (`_view.Image.release`)
_Release = Callable[[int, int], None]

#: below this many bytes of chunks one thread does it all (a thread costs more)
_THREADED_MIN: Final[int] = 8 << 20
#: nor when the chunks are smaller than this on average: each chunk hands the
#: GIL back and forth a dozen times, and with small ones the threads spend
#: more time waiting for it than they save (measured: 2,048-row chunks of 4
#: metrics, 100 kB, fill 1.5 times slower on two threads than on one)
_THREADED_CHUNK: Final[int] = 256 << 10
_MAX_THREADS: Final[int] = 4


class Chunk:
    """A decoded data record and where it goes: its session's group, then its sequence.

    ``unchecked``: its payload checksum was deferred by the scan (see
    `_format.scan`) and its values were not checked either: `Columns.fill`
    does both before it copies.
    """

    __slots__ = ("decoded", "frame", "key", "sid", "unchecked")

    def __init__(
        self, frame: Frame, sid: str, key: tuple[int, int], decoded: Any, unchecked: bool
    ) -> None:
        self.frame = frame
        self.sid = sid
        self.key = key
        self.decoded = decoded
        self.unchecked = unchecked


class Columns:
    """Preallocated outputs: steps, times and one array per metric, each filled once.

    The sizes come from the chunk headers, so no chunk is copied twice (no
    ``np.concatenate`` of parts); a metric with a value in every row keeps
    no row numbers (None), as `Run` expects.
    """

    def __init__(self, chunks: list[Chunk], times: bool) -> None:
        self.nrows = 0
        counts: dict[str, int] = {}
        full: dict[str, bool] = {}
        #: per chunk: its first row, and per decoded column where its values go
        self._places: list[tuple[int, list[int]]] = []
        for c in chunks:
            steps, _times, decoded = c.decoded
            ks = []
            for name, rows, v in decoded:
                k = counts.get(name, 0)
                ks.append(k)
                counts[name] = k + len(v)
                full[name] = full.get(name, True) and rows is None
            self._places.append((self.nrows, ks))
            self.nrows += len(steps)
        self.steps = np.empty(self.nrows, dtype=np.int64)
        # without times: NaN for every row, a read-only view of one value (no memory)
        self.times = (
            np.empty(self.nrows, dtype=np.float64)
            if times
            else np.broadcast_to(np.float64(np.nan), (self.nrows,))
        )
        self._with_times = times
        self.cols: dict[str, tuple[np.ndarray | None, np.ndarray]] = {
            name: (
                None if full[name] and n == self.nrows else np.empty(n, dtype=np.int64),
                np.empty(n, dtype=np.float64),
            )
            for name, n in counts.items()
        }

    def fill(self, chunks: list[Chunk], data: memoryview, release: _Release) -> bool:
        """Check and copy every chunk into place; False if an unchecked one fails its checks.

        ``release(start, end)`` drops a chunk's mapped pages once it is
        copied. On False the outputs are incomplete: the caller reads the
        log again the careful way, which finds and reports the damage.
        """
        total = sum(c.frame.end - c.frame.offset for c in chunks)
        big = total >= _THREADED_MIN and total >= _THREADED_CHUNK * len(chunks)
        workers = min(_MAX_THREADS, os.cpu_count() or 1) if big else 1
        if workers <= 1:
            return self._fill(chunks, 0, len(chunks), data, release)
        bounds = _split(chunks, workers, total)
        results: list[bool | BaseException] = [False] * (len(bounds) - 1)

        def work(i: int) -> None:
            try:
                results[i] = self._fill(chunks, bounds[i], bounds[i + 1], data, release)
            except BaseException as e:  # re-raised in the calling thread
                results[i] = e

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(bounds) - 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return all(results)

    def _fill(
        self, chunks: list[Chunk], lo: int, hi: int, data: memoryview, release: _Release
    ) -> bool:
        for i in range(lo, hi):
            c = chunks[i]
            steps, times, decoded = c.decoded
            if c.unchecked and (
                not payload_intact(data, c.frame) or values_problem(steps, times) is not None
            ):
                return False
            at, ks = self._places[i]
            n = len(steps)
            _put(self.steps, at, steps)
            if self._with_times:
                _put(self.times, at, times)
            for (name, rows, v), k in zip(decoded, ks, strict=True):
                out_rows, out_values = self.cols[name]
                _put(out_values, k, v)
                if out_rows is not None:
                    if rows is None:
                        out_rows[k : k + n] = np.arange(at, at + n, dtype=np.int64)
                    else:
                        np.add(rows, at, out=out_rows[k : k + len(v)], casting="unsafe")
            release(c.frame.offset, c.frame.end)
        return True


def _split(chunks: list[Chunk], parts: int, total: int) -> list[int]:
    """Chunk indices that cut ``chunks`` into ``parts`` runs of about equal bytes."""
    bounds = [0]
    done = 0
    for i, c in enumerate(chunks):
        done += c.frame.end - c.frame.offset
        if done * parts >= total * len(bounds) and len(bounds) < parts:
            bounds.append(i + 1)
    if bounds[-1] != len(chunks):
        bounds.append(len(chunks))
    return bounds


def _put(out: np.ndarray, at: int, part: np.ndarray) -> None:
    """``out[at:at + len(part)] = part`` as a plain byte copy.

    A column inside a msgpack payload starts wherever the bytes before it
    end, so its view on the map is usually unaligned, and numpy copies
    unaligned float64 element by element, several times slower than memcpy.
    As bytes, both sides are aligned.
    """
    if part.flags.aligned:
        out[at : at + len(part)] = part
    else:
        w = out.itemsize
        out.view(np.uint8)[at * w : (at + len(part)) * w] = part.view(np.uint8)
