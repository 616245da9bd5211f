"""Copy the real training curves into tests/data/real, so that the tests run on any clone.

    python tools/bundle_real_data.py [SOURCE_ROOT] [--check]

Each run folder of SOURCE_ROOT (default ``../shared/data/real``) becomes
``tests/data/real/<run>/<run>.csv.gz`` plus its ``SOURCE.md`` (provenance and
licence, copied verbatim). The CSV text is copied whole, not trimmed: the
decompressed bytes equal the source's, so every fact a test checks (row counts,
resumes, NaN events) is the source's. Gzip is written without a name or time
(``mtime=0``) at level 9, so re-running this tool gives the same bytes and git
sees no change. ``--check`` writes nothing and exits 1 when a bundled copy
differs from its source or is missing.
"""

from __future__ import annotations

import argparse
import gzip
import io
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "tests" / "data" / "real"
SHARED = ROOT.parent / "shared" / "data" / "real"


def csv_text(path: Path) -> bytes:
    """The CSV's bytes, decompressed when the file is gzipped."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def deterministic_gzip(data: bytes) -> bytes:
    """Gzip with no file name and mtime 0: the same input always gives the same bytes."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def source_runs(root: Path) -> dict[str, Path]:
    """Run name -> its CSV, for every ``<run>/<run>.csv[.gz]`` under ``root``."""
    return {p.parent.name: p for p in sorted(root.glob("*/*.csv*"))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("source", nargs="?", default=str(SHARED), help="where the real runs are")
    ap.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = ap.parse_args(argv)
    runs = source_runs(Path(args.source))
    if not runs:
        print(f"no <run>/<run>.csv[.gz] under {args.source}", file=sys.stderr)
        return 2
    stale = 0
    for name, src in runs.items():
        dst_dir = BUNDLED / name
        dst = dst_dir / f"{name}.csv.gz"
        text = csv_text(src)
        same = dst.is_file() and csv_text(dst) == text
        if args.check:
            stale += not same
            print(f"{name}: {'same' if same else 'DIFFERS or missing'}")
            continue
        dst_dir.mkdir(parents=True, exist_ok=True)
        if not same:
            dst.write_bytes(deterministic_gzip(text))
        shutil.copyfile(src.parent / "SOURCE.md", dst_dir / "SOURCE.md")
        size = dst.stat().st_size
        print(f"{dst.relative_to(ROOT)}: {len(text):,} bytes of CSV, {size:,} gzipped")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
