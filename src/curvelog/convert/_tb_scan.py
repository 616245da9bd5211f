"""The scalar points of an event file's records, decoded by layout rather than one by one.

Writers repeat one byte layout per tag: an event is the wall time, the step,
then a summary whose bytes are the same every time except for the value's own
4 or 8 bytes at the very end. So the records are grouped, with numpy, by those
in-between bytes; one record of each group is decoded by the full decoder
(`_tb_proto.event`), and if it holds exactly one value lying at the end of the
record, every record of the group holds the same tag with its value at that
place, read for all of them at once. Same bytes, same decoding: the shortcut
cannot read anything the full decoder would not. Every other record (a
layout seen once, several values in one event, a field order of another
writer) is decoded by the full decoder, in file order.

Plugin metadata usually rides on a tag's first value only; as in TensorBoard
it applies to the tag as a whole. If a tensor of a tag is met before the
tag's metadata, the records are decoded a second time with every tag's
plugin known.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from . import _tb_proto
from ._tb_proto import EventResult, Malformed

__all__ = ["Points", "scalars"]


@dataclass
class Points:
    """Scalar points, columnar: rows (one per event, in file order) and the points in them."""

    #: per row
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    times: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    #: per point: its row, its tag (index into ``names``) and its value
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    tags: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    values: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    names: list[str] = field(default_factory=list)

    def as_rows(self) -> list[tuple[int, float, dict[str, float]]]:
        """(step, wall time, {tag: value}) per row."""
        out: list[tuple[int, float, dict[str, float]]] = [
            (s, t, {}) for s, t in zip(self.steps.tolist(), self.times.tolist(), strict=True)
        ]
        names = self.names
        for r, k, v in zip(
            self.rows.tolist(), self.tags.tolist(), self.values.tolist(), strict=True
        ):
            out[r][2][names[k]] = v
        return out


def _gather(data: np.ndarray, at: np.ndarray, width: int) -> np.ndarray:
    return data[at[:, None] + np.arange(width)]


def _layout_start(data: np.ndarray, a: np.ndarray, ln: np.ndarray) -> tuple[np.ndarray, ...]:
    """(plain, step, i) per record: whether it starts wall time (1) then an optional step
    (2) of at most 9 varint bytes; its step; where the bytes after them start."""
    plain = (ln > 10) & (data[a] == 0x09)
    top = len(data) - 1
    has_step = plain & (data[np.minimum(a + 9, top)] == 0x10)
    v = data[np.minimum(a[:, None] + np.arange(10, 19), top)]  # up to 9 varint bytes
    ends = v < 0x80
    ok_v = ends.any(axis=1)
    vlen = np.argmax(ends, axis=1) + 1
    used = np.arange(9) < vlen[:, None]
    digits = (v & 0x7F).astype(np.uint64) << (np.arange(9, dtype=np.uint64) * np.uint64(7))
    step = np.where(used, digits, np.uint64(0)).sum(axis=1, dtype=np.uint64)
    plain &= ~has_step | ok_v
    step = np.where(has_step, step, np.uint64(0)).astype(np.int64)
    i = np.where(has_step, a + 10 + vlen, a + 9)
    return plain, step, i


def _groups(
    data: np.ndarray, idx: np.ndarray, i: np.ndarray, end: np.ndarray, size: int
) -> list[np.ndarray]:
    """Records of ``idx`` (two or more) sharing the bytes between ``i`` and ``end - size``."""
    out: list[np.ndarray] = []
    lengths = end[idx] - size - i[idx]
    for length in np.unique(lengths).tolist():
        if length < 2:
            continue
        sel = idx[lengths == length]
        if len(sel) < 2:
            continue
        m = np.ascontiguousarray(_gather(data, i[sel], length))
        keys = m.view(np.dtype((np.void, length))).ravel()
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        shared = counts[inverse] >= 2  # a layout met once is decoded like any other record
        sel, inverse = sel[shared], inverse[shared]
        if not len(sel):
            continue
        order = np.argsort(inverse, kind="stable")
        cuts = np.flatnonzero(np.diff(inverse[order])) + 1
        out.extend(np.split(sel[order], cuts))  # each in file order (stable sort)
    return out


class _Decoder:
    def __init__(self, buf: bytes, a: np.ndarray, ln: np.ndarray, plugins: dict[str, str]):
        self.buf = buf
        self.a = a.tolist()
        self.end = (a + ln).tolist()
        self.plugins = plugins
        #: record -> the tags of such tensors its latest decoding met (it may read
        #: otherwise once their metadata is known)
        self.pending: dict[int, set[str]] = {}
        self.done: dict[int, EventResult | None] = {}

    def __call__(self, r: int, *, again: bool = False) -> EventResult | None:
        """The full decoding of record r (None: malformed), cached unless ``again``."""
        if again or r not in self.done:
            met: set[str] = set()
            try:
                self.done[r] = _tb_proto.event(self.buf, self.a[r], self.end[r], self.plugins, met)
            except (Malformed, IndexError, struct.error, ValueError):
                self.done[r] = None
            if met:
                self.pending[r] = met
            else:
                self.pending.pop(r, None)
        return self.done[r]


def _fits(buf: bytes, i: int, end: int, got: EventResult | None, size: int) -> str | None:
    """The tag, if the decoding ``got`` of a record is one value ending the record
    whose bytes are ``size`` wide, after the plain prefix and a summary running to the end."""
    if got is None:
        return None
    step, _, values, lost, spot = got
    if len(values) != 1 or lost or step < 0 or spot is None:
        return None
    at, fmt = spot
    if fmt.size != size or at + size != end or buf[i] != 0x2A:
        return None
    ln, j = _tb_proto.varint(buf, i + 1)
    return str(values[0][0]) if j + ln == end else None


_SlowRow = tuple[int, int, int, float, list[tuple[str, float]]]


def _slow(r: int, got: EventResult, out: list[_SlowRow]) -> int:
    """Rows of a fully decoded record into ``out``; returns the values dropped."""
    s, wall, values, lost, _ = got
    if not values:
        return lost
    if s < 0:
        return lost + len(values)
    row: list[tuple[str, float]] = []
    seen: set[str] = set()
    k = 0
    for tag, v in values:
        if tag in seen:  # the same tag twice in one event: keep both, as two rows
            out.append((r, k, s, wall, row))
            row, seen, k = [], set(), k + 1
        row.append((tag, v))
        seen.add(tag)
    out.append((r, k, s, wall, row))
    return lost


def _sizes(
    buf: bytes, i: np.ndarray, end: np.ndarray, plain: np.ndarray, decode: _Decoder
) -> tuple[int, int]:
    """Float (4) or double (8) layouts first, by the first records: grouping by the wrong
    width first puts each record in a group of its own, which costs a sort for nothing."""
    votes = 0
    for r in np.flatnonzero(plain)[:32].tolist():
        got = decode(r)
        votes += (_fits(buf, int(i[r]), int(end[r]), got, 8) is not None) - (
            _fits(buf, int(i[r]), int(end[r]), got, 4) is not None
        )
    return (8, 4) if votes > 0 else (4, 8)


def _scan(
    buf: bytes, a: np.ndarray, ln: np.ndarray, plugins: dict[str, str]
) -> tuple[Points, int, list[int], bool]:
    data = np.frombuffer(buf, dtype=np.uint8)
    n = len(a)
    end = a + ln
    plain, step, i = _layout_start(data, a, ln)
    decode = _Decoder(buf, a, ln, plugins)
    fast: list[tuple[np.ndarray, str, int]] = []
    deferred: list[np.ndarray] = []
    resolved = np.zeros(n, dtype=bool)
    for size in _sizes(buf, i, end, plain, decode):
        todo = np.flatnonzero(plain & ~resolved)
        for members in _groups(data, todo, i, end, size):
            r = int(members[0])
            tag = _fits(buf, int(i[r]), int(end[r]), decode(r), size)
            if tag is not None:
                fast.append((members, tag, size))
                resolved[members] = True
            elif r in decode.pending:
                # A tensor of a tag whose metadata was not met yet: it usually rides on
                # the tag's first value, a record of its own, decoded below; try again then.
                deferred.append(members)
                resolved[members] = True
    # every other record through the full decoder, in file order
    slow_rows: list[_SlowRow] = []
    dropped = 0
    malformed: list[int] = []
    for r in np.flatnonzero(~resolved).tolist():
        got = decode(r)
        if got is None:
            malformed.append(r)
        else:
            dropped += _slow(r, got, slow_rows)
    for members in deferred:
        r = int(members[0])
        got = decode(r, again=True)
        for size in (4, 8):
            tag = _fits(buf, int(i[r]), int(end[r]), got, size)
            if tag is not None:  # the size-4 key holds the size-8 one: same layout
                fast.append((members, tag, size))
                break
        else:
            for m in members.tolist():
                got = decode(m, again=True)
                if got is None:
                    malformed.append(m)
                else:
                    dropped += _slow(m, got, slow_rows)
    malformed.sort()
    points = _assemble(data, a, end, step, fast, slow_rows)
    stale = any(plugins.get(t) == "scalars" for met in decode.pending.values() for t in met)
    return points, dropped, malformed, stale


def _assemble(
    data: np.ndarray,
    a: np.ndarray,
    end: np.ndarray,
    step: np.ndarray,
    fast: list[tuple[np.ndarray, str, int]],
    slow_rows: list[_SlowRow],
) -> Points:
    names: dict[str, int] = {}
    f_rec, f_tag, f_val = [], [], []
    for members, tag, size in fast:
        raw = np.ascontiguousarray(_gather(data, end[members] - size, size))
        f_val.append(raw.view("<f4" if size == 4 else "<f8").ravel().astype(np.float64))
        f_rec.append(members)
        f_tag.append(np.full(len(members), names.setdefault(tag, len(names)), dtype=np.int64))
    fr = np.concatenate(f_rec) if f_rec else np.zeros(0, np.int64)
    s_rec = np.asarray([x[0] for x in slow_rows], dtype=np.int64)
    s_sub = np.asarray([x[1] for x in slow_rows], dtype=np.int64)
    # rows: the fast records' (one each, sub-row 0) and the slow ones', in file order
    row_rec = np.concatenate([fr, s_rec])
    row_sub = np.concatenate([np.zeros(len(fr), np.int64), s_sub])
    order = np.lexsort((row_sub, row_rec))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    wall = np.ascontiguousarray(_gather(data, a[fr] + 1, 8)).view("<f8").ravel()
    steps = np.concatenate([step[fr], np.asarray([x[2] for x in slow_rows], dtype=np.int64)])
    times = np.concatenate([wall, np.asarray([x[3] for x in slow_rows], dtype=np.float64)])
    p_row = [rank[: len(fr)]]
    p_tag = f_tag[:]
    p_val = f_val[:]
    sr, st, sv = [], [], []
    for j, (_, _, _, _, row) in enumerate(slow_rows):
        for tag, v in row:
            sr.append(len(fr) + j)
            st.append(names.setdefault(tag, len(names)))
            sv.append(v)
    p_row.append(rank[np.asarray(sr, dtype=np.int64)])
    p_tag.append(np.asarray(st, dtype=np.int64))
    p_val.append(np.asarray(sv, dtype=np.float64))
    rows = np.concatenate(p_row)
    tags = np.concatenate(p_tag) if p_tag else np.zeros(0, np.int64)
    values = np.concatenate(p_val)
    porder = np.lexsort((tags, rows))  # points in row order (stable within a row)
    rows, tags, values = rows[porder], tags[porder], values[porder]
    # tag indices in order of first appearance
    first = np.full(len(names), len(rows), dtype=np.int64)
    np.minimum.at(first, tags, np.arange(len(rows)))
    by_first = np.argsort(first, kind="stable")
    remap = np.empty(len(names), dtype=np.int64)
    remap[by_first] = np.arange(len(names))
    listed = list(names)
    return Points(
        steps=steps[order],
        times=times[order],
        rows=rows,
        tags=remap[tags] if len(tags) else tags,
        values=values,
        names=[listed[k] for k in by_first.tolist()],
    )


def scalars(
    buf: bytes, a: np.ndarray, ln: np.ndarray, plugins: dict[str, str]
) -> tuple[Points, int, list[int]]:
    """(points, dropped, malformed record indices) of the records (data offset ``a``,
    length ``ln``) of ``buf``; ``plugins`` (tag -> plugin name) is read and extended.

    Dropped counts scalar-plugin values that are not one number and values of a
    negative step; malformed records passed their checksum but are no Event.
    """
    points, dropped, malformed, stale = _scan(buf, a, ln, plugins)
    if stale:
        # A tensor was met before its tag's metadata; the first pass has seen every
        # metadata (each layout is decoded at least once): decode again, all of them known.
        points, dropped, malformed, _ = _scan(buf, a, ln, plugins)
    return points, dropped, malformed
