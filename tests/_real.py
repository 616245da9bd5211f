"""Where the real training curves are, and the objective each run is judged by.

One table, the converter's (tools/csv_to_log.py); shared by the tests that
convert every real run (the fixtures are in conftest.py).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_TOOL = Path(__file__).resolve().parents[1] / "tools" / "csv_to_log.py"
_spec = importlib.util.spec_from_file_location("_csv_to_log", _TOOL)
assert _spec is not None and _spec.loader is not None
_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tool)

REAL: Path = _tool.REAL_ROOT
#: run -> (objective metric, mode), as tools/csv_to_log.py --real converts them
OBJECTIVES: dict[str, tuple[str, str]] = _tool.REAL_OBJECTIVES
RUNS = sorted(p.parent.name for p in REAL.glob("*/*.csv*"))
# Without the data the parametrized tests would not fail, they would vanish.
assert REAL.is_dir(), f"{REAL} is missing: the real training curves (<run>/<run>.csv) go there"
assert RUNS, f"no <run>/<run>.csv* under {REAL}, where the real training curves are expected"
