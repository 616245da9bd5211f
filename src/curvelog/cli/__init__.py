"""The ``curvelog`` command: a thin click layer over the library.

Each command parses its arguments, calls one library or pipeline function
and prints the result. Every ``CurvelogError`` becomes one ``Error: ...``
line on stderr and exit code 2, never a traceback (`_app`). The commands
live by subject: `_log` (inspect, export, tail), `_compact` (compact,
import), `_plot` (plot, compare), `_registry` (registry ...), `_serve` (serve).
"""

from __future__ import annotations

from . import _compact, _log, _plot, _registry, _serve  # noqa: F401  (they register commands)
from ._app import UserError, cli, main

__all__ = ["UserError", "cli", "main"]
