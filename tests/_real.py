"""Where the real training curves are, and the objective each run is judged by.

Shared by the tests that convert every real run (the fixtures are in conftest.py).
"""

from __future__ import annotations

from pathlib import Path

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
#: run -> (objective metric, mode), as tools/csv_to_log.py --real converts them
OBJECTIVES: dict[str, tuple[str, str]] = {
    "buildnanogpt_fineweb_2p5ep": ("val_loss", "min"),
    "detectron2_balloon_metrics": ("total_loss", "min"),
    "gan_deblurgan_wgan": ("G_L1", "min"),
    "gen_digits_mlp": ("val_acc", "max"),
    "llmc_gpt2_124m": ("val_loss", "min"),
    "modded_nanogpt_medium_archopt": ("val_loss", "min"),
    "rl_tqc_fetchslide": ("eval_success_rate", "max"),
}
RUNS = sorted(p.parent.name for p in REAL.glob("*/*.csv*"))
# Without the data the parametrized tests would not fail, they would vanish.
assert REAL.is_dir(), f"{REAL} is missing: the real training curves (<run>/<run>.csv) go there"
assert RUNS, f"no <run>/<run>.csv* under {REAL}, where the real training curves are expected"
