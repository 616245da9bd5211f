"""A real Chromium for the web tests (Debian's ``chromium``, driven by Playwright).

Nothing is downloaded: Playwright launches ``/usr/bin/chromium``. Without it
the browser tests skip on a workstation but FAIL under CI (``CI=true``),
where ``.ci/run`` installs it: a missing browser must not pass as green.
"""

from __future__ import annotations

import atexit
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CURVELOG_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: screenshots of every browser test (git-ignored)
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def _missing(why: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests need {why} under CI (see .ci/run)")
    pytest.skip(f"browser tests need {why}")


def need(module: str) -> Any:
    """Import ``module`` (the serve extra); skip without it, but fail under CI."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip(f"needs {module} (pip install -e '.[serve]')", allow_module_level=True)


_SHARED: dict[str, Any] = {}


def _stop() -> None:
    if "browser" in _SHARED:
        _SHARED.pop("browser").close()
        _SHARED.pop("playwright").stop()


@pytest.fixture(scope="session", name="browser")
def browser_fixture() -> Any:
    """One Chromium for the whole run, however many test modules import this fixture."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright (pip install -e '.[test-browser]')")
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        _missing(f"{CHROMIUM} (apt-get install -y chromium)")
    if "browser" not in _SHARED:
        pw = sync_playwright().start()
        _SHARED["playwright"] = pw
        _SHARED["browser"] = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        atexit.register(_stop)
    return _SHARED["browser"]


class Page:
    """A page plus everything it said: console errors, page errors, dialogs."""

    def __init__(self, browser: Any, width: int = 1300, height: int = 900) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

        def on_dialog(d: Any) -> None:
            self.dialogs.append(d.message)
            d.dismiss()

        self.page.on("dialog", on_dialog)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        out = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(out), full_page=True)
        return out

    def close(self) -> None:
        self.context.close()


@pytest.fixture(name="web_page")
def web_page_fixture(browser: Any) -> Iterator[Page]:
    p = Page(browser)
    yield p
    p.close()


def drag(page: Any, box: dict[str, float], f0: float, f1: float, shift: bool = False) -> None:
    """Drag across a plot from fraction ``f0`` to ``f1`` of its width, at mid height."""
    y = box["y"] + box["height"] / 2
    if shift:
        page.keyboard.down("Shift")
    page.mouse.move(box["x"] + box["width"] * f0, y)
    page.mouse.down()
    for k in range(1, 6):
        page.mouse.move(box["x"] + box["width"] * (f0 + (f1 - f0) * k / 5), y)
    page.mouse.up()
    if shift:
        page.keyboard.up("Shift")
