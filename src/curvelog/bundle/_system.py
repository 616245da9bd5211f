"""Where the ``sys/*`` metrics of `EventLog(system=...)` go in a bundle (issue #15).

The default grouping (by a name's last component) would give every system
metric a chart of its own named after its unit suffix, and would put a user's
``memory/rss_mb`` on the same chart as ``sys/rss_mb``. System metrics instead
get a small fixed set of charts, whose ids all start with ``sys/`` (so they
never share a chart with training metrics) and which come after the training
charts: process memory, GPU memory, process CPU, host memory. A ``sys/`` name
that none of these rules knows gets a ``sys/...`` chart of its own.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

PREFIX: Final[str] = "sys/"


class SystemChart(NamedTuple):
    id: str
    title: str
    ylabel: str
    label: str


_GPU: Final = re.compile(r"^gpu(\d+)_(\w+?)_mb$")
_NAMED: Final[dict[str, SystemChart]] = {
    "rss_mb": SystemChart("sys/memory", "Process memory", "MiB", "resident"),
    "peak_rss_mb": SystemChart("sys/memory", "Process memory", "MiB", "peak resident"),
    "cpu_percent": SystemChart("sys/cpu", "Process CPU", "% of one core", "cpu"),
    "host_mem_percent": SystemChart("sys/host_memory", "Host memory used", "%", "host"),
}


def system_chart(metric: str) -> SystemChart | None:
    """The system chart a metric belongs on; None for every metric not named ``sys/...``."""
    if not metric.startswith(PREFIX) or len(metric) == len(PREFIX):
        return None
    name = metric[len(PREFIX) :]
    known = _NAMED.get(name)
    if known is not None:
        return known
    m = _GPU.match(name)
    if m:
        return SystemChart("sys/gpu_memory", "GPU memory", "MiB", f"gpu{m.group(1)} {m.group(2)}")
    return SystemChart(metric, metric, name, name)


#: the system charts' order, after the training charts
_ORDER: Final[tuple[str, ...]] = ("sys/memory", "sys/gpu_memory", "sys/cpu", "sys/host_memory")


def system_order(chart_id: str) -> int:
    """Sort key of a system chart: the known ones in `_ORDER`, any other after them."""
    base = chart_id.rsplit("-", 1)[0] if chart_id not in _ORDER else chart_id
    return _ORDER.index(base) if base in _ORDER else len(_ORDER)
