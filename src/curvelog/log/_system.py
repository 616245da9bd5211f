"""System metrics (issue #15): what the process and the machine used while the run trained.

`EventLog(system=True)` samples, from its background flush thread and never
from `append`, the process's resident memory and CPU use, the host's memory
use and, when the user's torch has already initialised CUDA, every device's
allocated and reserved memory. Each sample is one row of ``sys/*`` metrics.

Sources are the kernel's own files and the standard library (``/proc``,
``resource``, ``time.process_time``): a sample costs a few microseconds and
no dependency (psutil would add a compiled package for three numbers that
Linux gives as text). torch is never imported here: it is looked up in
``sys.modules``, so a run that does not use torch pays nothing, and CUDA is
never initialised on the user's behalf (`torch.cuda.is_initialized` guards
every CUDA call), so a forked DataLoader worker is never poisoned by us.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

#: every system metric's name starts with this; the bundle charts them apart
PREFIX: Final[str] = "sys/"
#: seconds between samples for ``system=True``
DEFAULT_INTERVAL: Final[float] = 5.0
_MB: Final[float] = 2.0**20
_PROC: Final[Path] = Path("/proc")


def system_interval(system: Any) -> float | None:
    """The sampling interval that ``EventLog(system=...)`` asks for; None when off.

    ``True`` means every `DEFAULT_INTERVAL` seconds, a positive number that many
    seconds, ``False``/``None`` off. Anything else is a ValueError/TypeError,
    raised before the log is opened.
    """
    if system is None or system is False:
        return None
    if system is True:
        return DEFAULT_INTERVAL
    if isinstance(system, bool) or not isinstance(system, (int, float)):
        raise TypeError(f"system must be a bool or seconds, not {type(system).__name__}")
    if not (math.isfinite(system) and system > 0):
        raise ValueError(f"system must be a positive number of seconds, not {system!r}")
    return float(system)


# --------------------------------------------------------------------------- readings


def _rss_mb(proc: Path) -> float | None:
    """Resident set size now, from ``statm`` (pages); None where there is no /proc."""
    try:
        resident = int((proc / "self" / "statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident * os.sysconf("SC_PAGE_SIZE") / _MB


def _peak_rss_mb() -> float | None:
    """The process's peak resident size (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / _MB if sys.platform == "darwin" else peak / 1024.0


def _host_mem_percent(proc: Path) -> float | None:
    """Share of the host's memory in use: (MemTotal - MemAvailable) / MemTotal, as ``free``."""
    fields: dict[str, int] = {}
    try:
        with open(proc / "meminfo") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in ("MemTotal", "MemAvailable"):
                    fields[name] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    total, available = fields.get("MemTotal"), fields.get("MemAvailable")
    if not total or available is None:
        return None
    return 100.0 * (total - available) / total


def gpu_metrics(torch: Any) -> dict[str, float]:
    """``sys/gpu<i>_allocated_mb`` and ``sys/gpu<i>_reserved_mb`` for every visible device.

    Empty unless the user's code has initialised CUDA already: the memory
    figures are torch's caching allocator's (what ``torch.cuda.memory_allocated``
    and ``memory_reserved`` report), host-side counters that need no device sync.
    """
    cuda = getattr(torch, "cuda", None)
    if cuda is None or not cuda.is_initialized():
        return {}
    out: dict[str, float] = {}
    for i in range(int(cuda.device_count())):
        out[f"{PREFIX}gpu{i}_allocated_mb"] = float(cuda.memory_allocated(i)) / _MB
        out[f"{PREFIX}gpu{i}_reserved_mb"] = float(cuda.memory_reserved(i)) / _MB
    return out


class Sampler:
    """Reads one row of system metrics every ``interval`` seconds (the flush thread's clock).

    CPU use is the process's CPU time (every thread, user and system) over the
    wall time since the previous sample, in percent of one core (so 400 means
    four cores busy, as ``top`` shows it); child processes are not included.
    """

    def __init__(self, interval: float, proc: Path = _PROC) -> None:
        self.interval = interval
        self.proc = proc
        self.due = time.monotonic()  # the first sample as soon as there is a step
        self._cpu = time.process_time()
        self._wall = time.monotonic()
        self._gpu_failed = False

    def read(self) -> dict[str, float]:
        """One sample; a source that is missing here (no /proc, no CUDA) is left out."""
        row: dict[str, float] = {}
        wall, cpu = time.monotonic(), time.process_time()
        if wall > self._wall:
            row[PREFIX + "cpu_percent"] = 100.0 * (cpu - self._cpu) / (wall - self._wall)
        self._wall, self._cpu = wall, cpu
        for name, value in (("rss_mb", _rss_mb(self.proc)), ("peak_rss_mb", _peak_rss_mb()),
                            ("host_mem_percent", _host_mem_percent(self.proc))):  # fmt: skip
            if value is not None:
                row[PREFIX + name] = float(value)
        torch = sys.modules.get("torch")
        if torch is not None and not self._gpu_failed:
            try:
                row.update(gpu_metrics(torch))
            except Exception as e:  # a broken driver must not stop the training loop
                from ._hooks import _LOGGER

                self._gpu_failed = True
                _LOGGER.warning("curvelog: GPU memory no longer sampled: %s", e)
        return row

    def tick(self, insert: Callable[[dict[str, float], float], bool]) -> None:
        """Sample if due and hand the row to ``insert(row, time)`` (the writer's hook).

        Before the session's first step the writer takes no sample (it would have
        no step); the sampler then asks again within half a second.
        """
        now = time.monotonic()
        if now < self.due:
            return
        self.due = now + self.interval  # first: a write that raises is not retried at once
        if not insert(self.read(), time.time()):
            self.due = now + min(self.interval, 0.5)

    def wait(self, next_flush: float) -> float:
        """Seconds the flush thread may sleep before a flush or a sample is due."""
        return max(min(next_flush, self.due) - time.monotonic(), 0.0)


# --------------------------------------------------------------------------- header


def _driver_version(proc: Path) -> str | None:
    """The NVIDIA kernel driver's version, from ``/proc/driver/nvidia/version``."""
    try:
        text = (proc / "driver" / "nvidia" / "version").read_text()
    except OSError:
        return None
    words = text.split()
    for i, w in enumerate(words):
        if w == "Module" and i + 1 < len(words):
            return words[i + 1]
    return None


def _driver_gpus(proc: Path) -> list[str]:
    """Model names of the host's NVIDIA GPUs by PCI bus id (all of them, visible or not)."""
    names = []
    try:
        folders = sorted((proc / "driver" / "nvidia" / "gpus").iterdir())
    except OSError:
        return []
    for folder in folders:
        try:
            for line in (folder / "information").read_text().splitlines():
                if line.startswith("Model:"):
                    names.append(line.partition(":")[2].strip())
        except OSError:
            continue
    return names


def cuda_info(torch: Any = None, proc: Path = _PROC) -> dict[str, Any] | None:
    """The header's ``cuda`` entry: toolkit, driver and device names; None without CUDA torch.

    Only a torch the user has imported counts (never imported here). Device
    names come from torch when CUDA is initialised (the visible devices, in
    CUDA's order), else from the driver's listing of the host's GPUs: asking
    torch would initialise CUDA, which is the user's decision, not the logger's.
    """
    torch = torch if torch is not None else sys.modules.get("torch")
    toolkit = getattr(getattr(torch, "version", None), "cuda", None)
    if not isinstance(toolkit, str):
        return None
    info: dict[str, Any] = {"toolkit": toolkit, "driver": _driver_version(proc)}
    try:
        cuda = torch.cuda
        if cuda.is_initialized():
            info["devices"] = [str(cuda.get_device_name(i)) for i in range(cuda.device_count())]
            info["devices_from"] = "torch"
        else:
            info["devices"] = _driver_gpus(proc)
            info["devices_from"] = "driver"
    except Exception as e:  # a header must never fail for want of GPU details
        info["devices"] = []
        info["devices_from"] = f"unavailable: {e}"
    return info
