"""The writer's record of what is on disk (`_Mark`), shared by `_writer` and `_side`."""

from __future__ import annotations

from typing import NamedTuple

from ._rowblock import Block


class _Mark(NamedTuple):
    """What is on disk, replaced in one store after each successful write.

    One attribute store is the only step an interrupt (a Ctrl-C runs between
    two bytecodes) or another thread cannot split, so everything a write
    changes lives here: whatever interrupts a flush, the mark still describes
    the file up to its last complete frame, and the next write first cuts off
    any bytes after ``size`` (a frame that failed or was interrupted half way)
    and then writes the rows again. The written rows leave the buffer lazily:
    ``trim`` rows, the last of which holds the dict ``last`` (every append
    makes its own dict, so the identity test tells whether they still lead it).
    """

    size: int
    rows: int
    seq: int
    trim: int
    last: object
    best_key: float
    best_step: int | None
    ended: bool
    #: the step of the last row written (-1: none yet this session); see `_write_sample`
    step: int = -1
    #: the open row block small flushes continue (`_rowblock`); None after any other record
    block: Block | None = None
