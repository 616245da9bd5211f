"""Adapter for ../shared/bench/crash.py: curvelog's reader and independent ground truth.

    python ../shared/bench/crash.py run.log --reader tools/crash_adapter.py:read_records \
        --offsets tools/crash_adapter.py:record_end_offsets --modes truncate,zero-tail,garbage-tail
"""

from __future__ import annotations

from typing import Any

from curvelog.log import _format
from curvelog.log import read_records as _read_records

__all__ = ["read_records", "record_end_offsets"]


def read_records(path: str) -> list[dict[str, Any]]:
    """Every intact record, decoded, in file order (the reader under test)."""
    return _read_records(path)


def record_end_offsets(path: str) -> list[int]:
    """End offset of each frame, from the length fields alone (no CRC, no decoding)."""
    with open(path, "rb") as f:
        return _format.frame_end_offsets(f.read())
