"""Charts in the browser: the offline HTML report and ``curvelog serve``.

``report_html(bundles)`` makes one self-contained page (uPlot, the page's
code and the data inlined; it works from ``file://`` with no network);
``curvelog serve`` (`curvelog.web.server`, the ``[serve]`` extra) shows
logs, bundles and registries live. Both draw the same page model
(`curvelog.web.model.page_model`), which makes the same decisions as the
PNG plotter.
"""

from __future__ import annotations

from .model import page_model
from .report import render_page, report_html, write_report

__all__ = ["page_model", "render_page", "report_html", "write_report"]
