"""The log: the bytes on disk, the writer that appends them, the readers that take them back.

``EventLog`` (`_writer`) appends; `read` (`_reader`) returns a `Run` (`_run`);
`follow` (`_follow`) tails a live log. Only `_format` knows the framing and
only `_chunk` the columnar data records. Nothing here imports the bundle,
plot, registry or CLI code.
"""

from __future__ import annotations

from ._follow import follow
from ._format import FILE_MAGIC, is_log, refuse_to_replace
from ._header import FORMAT_VERSION
from ._hooks import install_sigterm
from ._open import no_writer
from ._reader import read, read_records
from ._run import Best, Run, Segment, Series, Session
from ._writer import EventLog

__all__ = [
    "FILE_MAGIC",
    "FORMAT_VERSION",
    "Best",
    "EventLog",
    "Run",
    "Segment",
    "Series",
    "Session",
    "follow",
    "install_sigterm",
    "is_log",
    "no_writer",
    "refuse_to_replace",
    "read",
    "read_records",
]
