"""curvelog: record every training step for almost nothing, keep a faithful chart of it.

``EventLog`` writes the raw steps, ``read`` loads them back, ``downsample``
picks the points a chart needs, ``build_bundle``/``write_bundle`` make the
JSON chart bundle, ``Registry`` files it beside the model and ``plot_bundle``
draws it. Only the writer is imported eagerly: a training script that does
``import curvelog`` pays for numpy and msgpack, never for polars or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from .errors import (
    BundleError,
    BundleVersionError,
    ChartsError,
    ConfigError,
    CurvelogError,
    LogClosedError,
    LogCorruptError,
    LogFormatError,
    LogLockedError,
    MetricNameError,
    MetricNotFoundError,
    MetricTypeError,
    OutputExistsError,
    PathError,
    PlotError,
    RegistryCorruptError,
    RegistryError,
    RegistryIndexError,
    RegistryKeyError,
    RegistryLockTimeout,
    SamplingError,
    ServeError,
    StepError,
    VersionNotFoundError,
)
from .log import EventLog, Run, read

if TYPE_CHECKING:  # what the lazy names below are, for type checkers and IDEs
    from .bundle import build_bundle, load_bundle, write_bundle
    from .plot import plot_bundle
    from .registry import Registry
    from .sampling import downsample

__version__: Final[str] = "0.1.0"

# Heavier parts load on first use (module __getattr__, PEP 562).
_LAZY: Final[dict[str, str]] = {
    "downsample": "sampling",
    "build_bundle": "bundle",
    "load_bundle": "bundle",
    "write_bundle": "bundle",
    "Registry": "registry",
    "plot_bundle": "plot",
}

__all__ = [
    "BundleError",
    "BundleVersionError",
    "ChartsError",
    "ConfigError",
    "CurvelogError",
    "EventLog",
    "LogClosedError",
    "LogCorruptError",
    "LogFormatError",
    "LogLockedError",
    "MetricNameError",
    "MetricNotFoundError",
    "MetricTypeError",
    "OutputExistsError",
    "PathError",
    "PlotError",
    "Registry",
    "RegistryCorruptError",
    "RegistryError",
    "RegistryIndexError",
    "RegistryKeyError",
    "RegistryLockTimeout",
    "Run",
    "SamplingError",
    "ServeError",
    "StepError",
    "VersionNotFoundError",
    "__version__",
    "build_bundle",
    "downsample",
    "load_bundle",
    "plot_bundle",
    "read",
    "write_bundle",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'curvelog' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
