"""Which process of a distributed run this is, and where its log goes (issue #13).

Only rank 0 writes by default: every rank runs the same training script, and
one log of the run is what people want. With ``EventLog(..., all_ranks=True)``
each rank writes its own log beside rank 0's: rank 0 keeps the path it was
given (``run.log``), rank *r* gets ``run.rank<r>.log``, so tools that know
nothing of ranks still find rank 0's log where the script says, and a folder
listing shows the set together. `curvelog.pipeline.rank_set` reads such a set.

The rank comes from ``RANK`` (torchrun, Accelerate, DeepSpeed, SLURM wrappers
set it), else from ``torch.distributed`` when the user's code imported torch
and initialised a process group (``mp.spawn`` sets no variable); torch is
never imported here.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Final

#: ``<stem>.rank<r><suffix>``: r >= 1 (rank 0 keeps the plain name)
RANK_NAME: Final = re.compile(r"^(?P<stem>.+)\.rank(?P<rank>[1-9][0-9]*)(?P<suffix>\.[^.]+)?$")


def _torch_dist() -> tuple[int, int] | None:
    torch = sys.modules.get("torch")
    dist = getattr(torch, "distributed", None)
    try:
        if dist is not None and dist.is_available() and dist.is_initialized():
            return int(dist.get_rank()), int(dist.get_world_size())
    except Exception:  # a half-torn-down process group: treat as not distributed
        return None
    return None


def current_rank() -> int | None:
    """This process's global rank; None outside a distributed run, -1 for a ``RANK``
    that is not a number (some rank, but not rank 0)."""
    rank = os.environ.get("RANK", "").strip()
    if rank:
        return int(rank) if rank.isdigit() else -1
    found = _torch_dist()
    return found[0] if found else None


def world_size() -> int | None:
    """The number of ranks, from ``WORLD_SIZE`` or torch.distributed; None if unknown."""
    size = os.environ.get("WORLD_SIZE", "").strip()
    if size.isdigit():
        return int(size)
    found = _torch_dist()
    return found[1] if found else None


def rank_path(path: str, rank: int) -> str:
    """Where rank ``rank`` writes when rank 0 writes ``path``: ``run.log`` -> ``run.rank1.log``."""
    if rank <= 0:  # rank 0, or a rank that is no number: the path as given
        return path
    folder, name = os.path.split(path)
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:  # no suffix (or a dot file): add the rank at the end
        return os.path.join(folder, f"{name}.rank{rank}")
    return os.path.join(folder, f"{stem}.rank{rank}.{suffix}")


def split_rank_name(name: str) -> tuple[str, int]:
    """(rank 0's file name, rank) of a file name: ``run.rank2.log`` -> (``run.log``, 2)."""
    m = RANK_NAME.match(name)
    if m is None:
        return name, 0
    return m.group("stem") + (m.group("suffix") or ""), int(m.group("rank"))


def rank_header() -> dict[str, int]:
    """The header's ``rank`` and ``world_size``, when this is a distributed run."""
    rank = current_rank()
    if rank is None:
        return {}
    out = {"rank": rank}
    size = world_size()
    if size is not None:
        out["world_size"] = size
    return out
