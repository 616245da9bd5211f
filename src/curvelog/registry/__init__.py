"""The model registry: one numbered folder per training run, allocated under a file lock
(or, with a PostgreSQL index, decided by the database: `_postgres`, `_pgalloc`).

``Registry`` is the entry point; keys (`product`, `store`, `global_`,
`parse_key`) are validated in `_keys`, a version folder is a `Version`, and
the ``model_versions`` index lives in `_index`. The registry takes bytes and
JSON-ready mappings and imports nothing of the bundle or plot code.
"""

from __future__ import annotations

from ._folders import STAGING_DIR
from ._index import INDEX_FILE, IndexRow
from ._keys import (
    VERSIONS_FILE,
    KeyLike,
    checkpoint_epoch,
    global_,
    key_path,
    parse_key,
    parse_version,
    product,
    store,
)
from ._rebuild import RebuildReport
from ._store import (
    DEFAULT_LOCK_TIMEOUT,
    INDEX_ENV,
    LOCK_FILE,
    Registry,
)
from ._version import CHECKPOINT_BEST, CURVES, METADATA, MODEL, PLOT, Version

__all__ = [
    "CHECKPOINT_BEST",
    "CURVES",
    "DEFAULT_LOCK_TIMEOUT",
    "INDEX_ENV",
    "INDEX_FILE",
    "LOCK_FILE",
    "METADATA",
    "MODEL",
    "PLOT",
    "STAGING_DIR",
    "VERSIONS_FILE",
    "IndexRow",
    "KeyLike",
    "RebuildReport",
    "Registry",
    "Version",
    "checkpoint_epoch",
    "global_",
    "key_path",
    "parse_key",
    "parse_version",
    "product",
    "store",
]
