"""Seeded fuzzing of the two readers of untrusted files: `read` (logs) and `load_bundle`.

Issue #10 ("must show"): thousands of mutations of valid files (flipped bits,
cut, inserted and moved bytes, duplicated frames, and records re-framed with
valid checksums but wrong values in a field). No exception escapes but the
documented ones (`LogFormatError` for a file that is no usable log,
`BundleError` for an invalid bundle), and whatever is read is usable:
`describe` and `build_bundle` give strict JSON.
"""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

import curvelog
from curvelog import EventLog
from curvelog.bundle import build_bundle
from curvelog.errors import BundleError, LogFormatError, PathError
from curvelog.log import _format

ODD_VALUES: list[Any] = [
    None, True, -1, 0, 2**63, 2**64 - 1, -(2**63), 1.5, math.nan, math.inf, -math.inf, "",
    "x" * 300, "1", b"\xff\x00", [], [1, "a"], {}, {"a": [None]}, {"metric": ["x"], "mode": 3},
]  # fmt: skip


def _valid_log(path: Path) -> bytes:
    charts = {"loss": {"title": "Loss", "metrics": ["train/loss", "val/loss"], "scale": "log"}}
    with EventLog(path, best="val/loss", charts=charts, config={"lr": 0.1}, flush_every=0) as log:
        for i in range(60):
            log.append(i, {"train/loss": 1.0 / (i + 1), "lr": 0.1})
            if i % 7 == 0:
                log.append(i, {"val/loss": 2.0 / (i + 1)})
            if i % 20 == 19:
                log.flush()
        log.mark_best(42)
    with EventLog(path, flush_every=0) as log:  # a resume
        for i in range(30, 50):
            log.append(i, {"train/loss": 0.5 / (i + 1), "val/loss": math.nan})
    return path.read_bytes()


def _mutate_bytes(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        if not data:
            break  # cut at 0 by an earlier mutation: an empty file is the case
        kind = rng.randrange(6)
        pos = rng.randrange(len(data))
        if kind == 0:
            data[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del data[pos:]
        elif kind == 2:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
        elif kind == 3:
            del data[pos : pos + rng.randint(1, 64)]
        elif kind == 4:
            n = rng.randint(1, 200)
            data[pos:pos] = data[rng.randrange(len(data)) :][:n]  # a copy of some other bytes
        else:
            data[pos : pos + 8] = b"\x00" * 8
    return bytes(data)


def _mutate_records(raw: bytes, rng: random.Random) -> bytes:
    """Re-frame the log with one field of one record changed: checksums valid, content not."""
    frames, _ = _format.scan(raw)
    out = [f.record for f in frames]
    i = rng.randrange(len(out))
    rec = dict(out[i])
    action = rng.randrange(4)
    if action == 0 and rec:
        rec[rng.choice(list(rec))] = rng.choice(ODD_VALUES)
    elif action == 1 and rec:
        del rec[rng.choice(list(rec))]
    elif action == 2:
        out.insert(rng.randrange(len(out) + 1), rec)  # a duplicated record
    else:
        out.insert(rng.randrange(len(out) + 1), out.pop(i))  # a moved record
    if action in (0, 1):
        out[i] = rec
    body = b"".join(_format.encode_frame(_format.pack(r)) for r in out)
    return raw[: len(_format.FILE_MAGIC)] + body


def _use(path: Path, deep: bool) -> None:
    try:
        run = curvelog.read(path)
    except LogFormatError:
        return
    json.dumps(run.describe(), allow_nan=False)
    for s in run:
        assert len(s.steps) == len(s.values)
    if deep:
        json.dumps(build_bundle(run), allow_nan=False)


@pytest.mark.parametrize("mutate", [_mutate_bytes, _mutate_records])
def test_fuzz_the_log_reader(tmp_path: Path, mutate: Any) -> None:
    raw = _valid_log(tmp_path / "valid.log")
    rng = random.Random(10)
    path = tmp_path / "x.log"
    for case in range(1500):
        path.write_bytes(mutate(raw, rng))
        try:
            _use(path, deep=case % 25 == 0)
        except Exception as e:  # pragma: no cover - the failure report
            raise AssertionError(f"case {case}: {type(e).__name__}: {e}") from e


def _odd(rng: random.Random) -> Any:
    return copy.deepcopy(rng.choice(ODD_VALUES))


def _mutate_tree(node: Any, rng: random.Random) -> Any:
    """``node`` with one value somewhere replaced, removed or added."""
    if isinstance(node, dict) and node and rng.random() < 0.8:
        key = rng.choice(list(node))
        r = rng.random()
        if r < 0.5:
            node[key] = _mutate_tree(node[key], rng)
        elif r < 0.7:
            del node[key]
        elif r < 0.85:
            node[key] = _odd(rng)
        else:
            node[f"extra{rng.randrange(3)}"] = _odd(rng)
        return node
    if isinstance(node, list) and node and rng.random() < 0.8:
        i = rng.randrange(len(node))
        r = rng.random()
        if r < 0.6:
            node[i] = _mutate_tree(node[i], rng)
        elif r < 0.8:
            del node[i]
        else:
            node.insert(i, _odd(rng))
        return node
    return _odd(rng)


def test_fuzz_load_bundle(tmp_path: Path) -> None:
    path = tmp_path / "valid.log"
    _valid_log(path)
    bundle = build_bundle(curvelog.read(path))
    text = json.dumps(bundle).encode()
    rng = random.Random(11)
    target = tmp_path / "b.json"
    for case in range(3000):
        if case % 2:
            tree = _mutate_tree(copy.deepcopy(bundle), rng)
            if not isinstance(tree, dict):  # a bundle is a mapping or a path; else TypeError
                continue
            source: Any = tree
        else:
            target.write_bytes(_mutate_bytes(text, rng))
            source = target
        try:
            curvelog.load_bundle(source)
        except (BundleError, PathError):
            pass
        except Exception as e:  # pragma: no cover - the failure report
            raise AssertionError(f"case {case}: {type(e).__name__}: {e}") from e
