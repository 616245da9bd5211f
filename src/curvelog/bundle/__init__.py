"""Chart bundles: a small, strict-JSON picture of a run that plots and registries keep.

`build_bundle` turns a `Run` into a `Bundle` (`_build`): charts grouped by
metric name (`_charts`) of downsampled lines with their NaN/inf events
(`_series`), the best step, a summary with the training analysis
(`_analysis`) and provenance. `write_bundle`/`load_bundle`/`dumps` move it to
and from files (`_io`), validated on the way (`_validate`, mirroring the JSON
Schema ``schema.json`` shipped beside it). The types are in `_model`; the
format is documented in docs/BUNDLE.md.

Everything in a bundle is derived from the log and the options, never from
the clock, and is written with a fixed key order, so the same log and the same
options give the same bytes.
"""

from __future__ import annotations

from ._build import DEFAULT_POINTS, MIN_POINTS, build_bundle
from ._io import dumps, load_bundle, write_bundle
from ._model import (
    SCHEMA,
    SCHEMA_MAJOR,
    Best,
    Bundle,
    Chart,
    Event,
    Resume,
    SeriesData,
    Summary,
    run_name,
)
from ._validate import schema_document, validate_bundle

__all__ = [
    "DEFAULT_POINTS",
    "MIN_POINTS",
    "SCHEMA",
    "SCHEMA_MAJOR",
    "Best",
    "Bundle",
    "Chart",
    "Event",
    "Resume",
    "SeriesData",
    "Summary",
    "build_bundle",
    "dumps",
    "load_bundle",
    "run_name",
    "schema_document",
    "validate_bundle",
    "write_bundle",
]
