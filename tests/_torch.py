"""torch for the tests that need the real one: skipped without it, except under CI=true."""

from __future__ import annotations

import os
from typing import Any

import pytest


def real_torch() -> Any:
    try:
        import torch
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("torch is missing under CI=true; .ci/run installs torch==2.13.0")
        pytest.skip("torch is not installed (pip install torch==2.13.0)")
    return torch
