"""Data records: buffered rows to a columnar chunk (writer) and back to arrays (readers).

One place for both directions, so the two cannot drift apart. The layout is
in docs/FORMAT.md ("Data records").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import chain
from operator import itemgetter
from typing import Any, Final

import numpy as np

#: rows whose metric dicts are read together (see `_encode_rows`)
_BLOCK: Final[int] = 2_048


def _encode_rows(
    sid: str,
    flat: list[Any],
    seq: int,
    convert: Callable[[list[Any]], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Columnar data record of buffered rows (flat step, time, metrics triples).

    ``seq`` numbers the session's chunks 0, 1, 2...: the order the reader
    checks, so that a repeated or moved frame cannot bring back a stale value.
    ``convert`` turns a list of buffered values into a float64 column when
    they may hold kept tensors (`_deferred.to_column`); without it every
    value is a number ``np.fromiter`` reads (floats, ints, numpy scalars).

    The common case, every row with the same metrics in the same order, is
    decoded with C-level iteration only; otherwise rows are grouped by their
    metric tuple first.
    """
    n = len(flat) // 3
    steps = np.fromiter(flat[0::3], dtype="<i8", count=n)
    times = np.fromiter(flat[1::3], dtype="<f8", count=n)
    dicts: list[dict[str, float]] = flat[2::3]
    first = list(dicts[0])
    cols: dict[str, list[Any]] = {}
    dense = sum(map(len, dicts)) == n * len(first)
    if dense:
        try:
            if convert is None:
                table = np.empty((len(first), n), dtype="<f8")
                gets = [itemgetter(name) for name in first]
                # a block of rows at a time, every metric: the block's dicts stay
                # in the CPU's cache while each metric's values are taken out
                for a in range(0, n, _BLOCK):
                    part = dicts[a : a + _BLOCK]
                    for j, get in enumerate(gets):
                        table[j, a : a + len(part)] = np.fromiter(
                            map(get, part), dtype="<f8", count=len(part)
                        )
                for j, name in enumerate(first):
                    cols[name] = [None, table[j].tobytes()]
            else:
                for name in first:
                    values = convert(list(map(itemgetter(name), dicts)))
                    cols[name] = [None, values.tobytes()]
        except KeyError:  # same count but other names somewhere: group instead
            cols.clear()
            dense = False
    if not dense:
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, d in enumerate(dicts):
            groups.setdefault(tuple(d), []).append(i)
        parts: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        for names, idx in groups.items():
            if not names:
                continue
            sub = [dicts[i] for i in idx]
            if convert is None:
                table = np.fromiter(
                    chain.from_iterable(map(dict.values, sub)),
                    dtype="<f8",
                    count=len(idx) * len(names),
                ).reshape(len(idx), len(names))
            else:
                table = np.stack([convert([d[k] for d in sub]) for k in names], axis=1)
            rows_idx = np.asarray(idx, dtype="<u4")
            for j, name in enumerate(names):
                p = parts.setdefault(name, ([], []))
                p[0].append(rows_idx)
                p[1].append(table[:, j])
        for name, (ri, vs) in parts.items():
            r = np.concatenate(ri)
            v = np.concatenate(vs)
            order = np.argsort(r, kind="stable")
            r, v = r[order], v[order]
            cols[name] = [None if len(r) == n else r.tobytes(), v.tobytes()]
    return {
        "type": "data",
        "sid": sid,
        "seq": seq,
        "n": n,
        "step": steps.tobytes(),
        "time": times.tobytes(),
        "cols": cols,
    }


def _chunk_best(record: dict[str, Any], metric: str, sign: float) -> tuple[float, int] | None:
    """(sign * value, step) of the chunk's best row for ``metric``, the earliest on ties.

    What the writer tracks as the run's best: NaN never wins, nor the
    objective's own limit (-inf for "min", +inf for "max").
    """
    col = record["cols"].get(metric)
    if col is None:
        return None
    keys = np.frombuffer(col[1], dtype="<f8") * sign
    ok = ~np.isnan(keys) & (keys != -np.inf)
    if not ok.any():
        return None
    i = int(np.argmin(np.where(ok, keys, np.inf)))
    row = i if col[0] is None else int(np.frombuffer(col[0], dtype="<u4")[i])
    return float(keys[i]), int(np.frombuffer(record["step"], dtype="<i8")[row])


_Columns = list[tuple[str, "np.ndarray | None", np.ndarray]]


def values_problem(steps: np.ndarray, times: np.ndarray) -> str | None:
    """Why a data record's step and time columns cannot be used, None if they can."""
    if len(steps) and int(steps.min()) < 0:
        return "a negative step"
    if len(times) and not bool(np.isfinite(times).all()):
        return "a time that is not a finite number"
    return None


def _decode_data(
    record: dict[str, Any], values: bool = True
) -> tuple[np.ndarray, np.ndarray, _Columns]:
    """Steps, times and (name, row numbers or None for every row, values) of a data record.

    Zero-copy views on the record's bytes. Anything malformed is a ValueError:
    a checksum only proves the bytes are the ones written, not that a writer
    (ours or another implementation) wrote them right. ``values=False``
    leaves the one check that reads every step and time (`values_problem`)
    to the caller, who does it where the bytes are read anyway.
    """
    try:
        n = int(record["n"])
        steps = np.frombuffer(record["step"], dtype="<i8")
        times = np.frombuffer(record["time"], dtype="<f8")
        if len(steps) != n or len(times) != n:
            raise ValueError("column lengths differ from n")
        problem = values_problem(steps, times) if values else None
        if problem is not None:
            raise ValueError(problem)
        decoded: _Columns = []
        for name, (idx, vals) in record["cols"].items():
            if type(name) is not str or not name:
                raise ValueError(f"metric name {name!r} is not a non-empty string")
            v = np.frombuffer(vals, dtype="<f8")
            if idx is None:
                if len(v) != n:
                    raise ValueError(f"metric {name!r} has {len(v)} values for {n} rows")
                decoded.append((name, None, v))
                continue
            r = np.frombuffer(idx, dtype="<u4")
            if len(r) != len(v) or (len(r) and int(r.max()) >= n):
                raise ValueError(f"metric {name!r} has bad row indices")
            decoded.append((name, r, v))
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise ValueError(str(e) or type(e).__name__) from None
    return steps, times, decoded


def _rows_of(record: dict[str, Any]) -> list[tuple[int, float, dict[str, float]]]:
    """The rows of one data record, one Python dict each: for people reading a tail, not bulk."""
    try:
        return _rows_of_decoded(*_decode_data(record))
    except ValueError:
        return []  # damaged: the reader reports it, the tail skips it


def _rows_of_decoded(
    steps: np.ndarray, times: np.ndarray, columns: _Columns
) -> list[tuple[int, float, dict[str, float]]]:
    """`_rows_of` for columns already decoded (a data record's, or a row frame's)."""
    rows: list[dict[str, float]] = [{} for _ in range(len(steps))]
    for name, idx, vals in columns:
        where = range(len(steps)) if idx is None else idx.tolist()
        for i, v in zip(where, vals.tolist(), strict=True):
            rows[i][name] = v
    return list(zip(steps.tolist(), times.tolist(), rows, strict=True))


def _encode_columns(
    sid: str,
    steps: np.ndarray,
    times: np.ndarray,
    cols: Mapping[str, tuple[np.ndarray, np.ndarray]],
    a: int,
    b: int,
    seq: int,
) -> dict[str, Any]:
    """The data record of rows ``a:b`` of whole columns (importers replaying a run):
    ``cols`` maps a metric to (ascending row numbers, values), as `_decode_data` gives;
    ``seq`` numbers it among the session's chunks, as in `_encode_rows`."""
    out: dict[str, list[Any]] = {}
    for name, (r, v) in cols.items():
        i, j = np.searchsorted(r, [a, b])
        if j > i:
            whole = j - i == b - a
            out[name] = [None if whole else (r[i:j] - a).astype("<u4").tobytes(),
                         v[i:j].tobytes()]  # fmt: skip
    return {"type": "data", "sid": sid, "seq": seq, "n": b - a, "step": steps[a:b].tobytes(),
            "time": times[a:b].tobytes(), "cols": out}  # fmt: skip
