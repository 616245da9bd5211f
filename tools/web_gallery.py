"""The README's screenshot of the HTML report: a real run, drawn and hovered in Chromium.

    python tools/web_gallery.py [-o samples/gallery/html_report.png]

Converts ``../shared/data/real/llmc_gpt2_124m`` to a log (objective val_loss),
writes ``curvelog plot -o run.html`` of it, opens the page in Debian's
chromium (Playwright, nothing downloaded), hovers the loss panel and saves
the screenshot.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import curvelog  # noqa: E402
from csv_to_log import REAL_ROOT  # noqa: E402
from curvelog.bundle import build_bundle  # noqa: E402
from curvelog.convert import csv_to_log  # noqa: E402
from curvelog.web.report import report_html  # noqa: E402

ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip
HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("-o", "--output", default=str(HERE.parent / "samples/gallery/html_report.png"))
    ap.add_argument("--real", default=str(REAL_ROOT), help="folder of the real runs")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    csv = next((Path(args.real) / "llmc_gpt2_124m").glob("*.csv*"))
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "llmc_gpt2_124m.log"
        csv_to_log(csv, log, best="val_loss")
        page = Path(d) / "run.html"
        page.write_text(report_html([build_bundle(curvelog.read(log))]), encoding="utf-8")
        print(f"{page.stat().st_size:,} bytes of HTML")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            pg = browser.new_page(viewport={"width": 1300, "height": 780})
            pg.goto(page.as_uri())
            pg.wait_for_selector("#cl-app[data-ready='1']")
            box = pg.locator(".cl-panel").nth(0).locator(".u-over").bounding_box()
            assert box is not None
            pg.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)
            pg.screenshot(path=args.output)
            browser.close()
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
