"""The public surface is pinned: a change to it is a deliberate change to this test."""

from __future__ import annotations

import subprocess
import sys

import curvelog


def test_all_is_pinned_and_resolvable() -> None:
    assert curvelog.__all__ == sorted(curvelog.__all__)
    assert curvelog.__all__ == [
        "BundleError", "BundleVersionError", "ChartsError", "ConfigError", "CurvelogError",
        "EventLog", "LogClosedError", "LogCorruptError", "LogFormatError", "LogLockedError",
        "MetricNameError", "MetricNotFoundError", "MetricTypeError", "OutputExistsError",
        "PathError", "PlotError",
        "Registry", "RegistryCorruptError", "RegistryError", "RegistryIndexError",
        "RegistryKeyError", "RegistryLockTimeout", "Run", "SamplingError", "ServeError",
        "StepError", "VersionNotFoundError", "__version__", "build_bundle", "downsample",
        "load_bundle", "plot_bundle", "read", "write_bundle",
    ]  # fmt: skip
    for name in curvelog.__all__:
        assert getattr(curvelog, name) is not None, name


def test_import_is_cheap_for_a_training_loop() -> None:
    code = (
        "import sys, curvelog; "
        "print(sorted(m for m in ('polars', 'matplotlib', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
