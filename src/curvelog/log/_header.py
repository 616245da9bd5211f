"""The session record that opens every writing session: who, where, what, with which config."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Final

import numpy as np

from . import _format
from ._format import FILE_MAGIC
from ._ranks import rank_header
from ._system import cuda_info
from ._values import _plain

#: 2 since row blocks (#12): a reader of format 1 would skip their rows silently, so it
#: must refuse such a log ("upgrade curvelog"); format 1 logs are read as they are
FORMAT_VERSION: Final[int] = 2


def _git_info(cwd: str) -> dict[str, Any] | None:
    """Commit and dirty flag of the git checkout around ``cwd``; None outside one."""
    here = Path(cwd).resolve()
    if not any((p / ".git").exists() for p in (here, *here.parents)):
        return None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError) as e:
        warnings.warn(f"curvelog: git metadata not recorded ({e})", RuntimeWarning, stacklevel=3)
        return None
    if commit.returncode != 0:
        msg = commit.stderr.strip().splitlines()[-1:] or ["unknown error"]
        warnings.warn(
            f"curvelog: git metadata not recorded ({msg[0]})", RuntimeWarning, stacklevel=3
        )
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _package_versions() -> dict[str, str]:
    from .. import __version__

    versions = {"curvelog": __version__, "numpy": np.__version__}
    torch = sys.modules.get("torch")  # only if the user already imported it
    if torch is not None:
        versions["torch"] = str(getattr(torch, "__version__", "unknown"))
    return versions


def _session_record(
    sid: str,
    run_id: str,
    *,
    resumed: bool,
    config: dict[str, Any],
    charts: Any,
    objective: dict[str, str] | None,
    name: str | None = None,
) -> dict[str, Any]:
    cwd = os.getcwd()
    record = {
        "type": "session",
        "format": FORMAT_VERSION,
        "run_id": run_id,
        "sid": sid,
        "resumed": resumed,
        "start_time": time.time(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": _package_versions(),
        "git": _git_info(cwd),
        "argv": list(sys.argv),
        "cwd": cwd,
        "config": config,  # already plain: `_values._plain_config`, checked at open
        "charts": _plain(charts) if charts is not None else {},
        "objective": objective,
    }
    record.update(rank_header())  # rank and world_size of a distributed run (#13)
    cuda = cuda_info()  # only with a CUDA build of torch the user imported (#15)
    if cuda is not None:
        record["cuda"] = cuda
    if name is not None:  # the run's title in charts (docs/FORMAT.md)
        record["name"] = name
    return record


def _first_record(fd: int) -> dict[str, Any]:
    """The log's first record (the run header), read by its length; {} if it is damaged."""
    start = len(FILE_MAGIC)
    head = os.pread(fd, _format.HEADER_SIZE, start)
    if len(head) < _format.HEADER_SIZE or head[:4] != _format.FRAME_MAGIC:
        return {}
    length = int.from_bytes(head[4:8], "little")
    if length > 64 * 2**20:  # a header this large is damage, not a config
        return {}
    frames, _ = _format.scan(os.pread(fd, start + _format.HEADER_SIZE + length, 0))
    return frames[0].record if frames and frames[0].offset == start else {}
