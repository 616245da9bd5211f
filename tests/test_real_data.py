"""The bundled real runs (tests/data/real): complete, documented, small, equal to their source."""

from __future__ import annotations

import pytest

from _real import BUNDLED, BUNDLED_CSVS, OBJECTIVES, SHARED_CSVS, digest, read_csv_text


def test_every_bundled_run_is_a_gzipped_csv_with_its_source_note() -> None:
    assert len(BUNDLED_CSVS) >= 7 and set(BUNDLED_CSVS) == set(OBJECTIVES)
    for name, path in BUNDLED_CSVS.items():
        assert path.name == f"{name}.csv.gz"
        assert read_csv_text(path).startswith("step,metric,value\n")
        note = (path.parent / "SOURCE.md").read_text()
        assert note.startswith(f"# {name}\n") and "Licence" in note
        # tools/bundle_real_data.py writes no name and no time: re-bundling changes no byte
        head = path.read_bytes()[:10]
        assert head[:3] == b"\x1f\x8b\x08" and head[3] == 0 and head[4:8] == b"\0\0\0\0"


def test_the_bundle_stays_small() -> None:
    total = sum(p.stat().st_size for p in BUNDLED.rglob("*") if p.is_file())
    assert total < 3_500_000, f"tests/data/real holds {total:,} bytes"


# Only where ../shared/data/real is there: no empty parameter set, and the summary line of
# conftest.py says whether this sweep ran.
if SHARED_CSVS:

    @pytest.mark.real_full
    @pytest.mark.parametrize("name", sorted(SHARED_CSVS))
    def test_bundled_copy_equals_the_shared_run(name: str) -> None:
        """A run of ../shared/data/real is bundled whole, with its SOURCE.md and an objective."""
        src = SHARED_CSVS[name]
        assert name in BUNDLED_CSVS, f"{name} is not bundled: run tools/bundle_real_data.py"
        assert digest(BUNDLED_CSVS[name]) == digest(src)
        bundled_note = BUNDLED_CSVS[name].parent / "SOURCE.md"
        assert bundled_note.read_bytes() == (src.parent / "SOURCE.md").read_bytes()
        assert name in OBJECTIVES, f"{name} has no objective in tools/csv_to_log.py"
