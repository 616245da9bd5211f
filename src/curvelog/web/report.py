"""The self-contained HTML report: one file, no network, that opens from ``file://``.

The page is a template (``static/page.html``) with the vendored uPlot, the
page's own CSS and JavaScript inlined, and the data as JSON inside a
``<script type="application/json">`` element. That element is never
executed; ``<``, ``>``, ``&`` and U+2028/U+2029 are escaped in it so that no
metric name can close it, and the page sets every string with
``textContent``. A Content-Security-Policy allows exactly the inlined
scripts (by hash): no ``eval``, no other script, no network.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any, Final

from .model import page_model

__all__ = ["asset", "json_for_script", "render_page", "report_html", "write_report"]

_PLACEHOLDER: Final = re.compile(r"\{\{([A-Z_]+)\}\}")
_JSON_ESCAPES: Final[dict[str, str]] = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_JSON_UNSAFE: Final = re.compile("[<>&\u2028\u2029]")


@cache
def asset(name: str) -> str:
    """A packaged text file of ``curvelog.web`` (``static/page.js``, ``vendor/...``)."""
    return (resources.files("curvelog.web") / name).read_text(encoding="utf-8")


def json_for_script(obj: Any) -> str:
    """``obj`` as strict JSON that is safe inside ``<script type="application/json">``.

    ``</script>``, ``<!--`` and the line separators U+2028/U+2029 cannot occur
    in the output: they are written as ``\\u003c`` and the like, which
    ``JSON.parse`` reads back to the same string.
    """
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return _JSON_UNSAFE.sub(lambda m: _JSON_ESCAPES[m.group(0)], text)


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_page(model: Mapping[str, Any], *, inline: bool = True, live: bool = False) -> str:
    """The HTML page for ``model`` (see `curvelog.web.model.page_model`).

    :param inline: embed uPlot and the page's CSS and JavaScript (the
        offline report); otherwise link them from ``/static/`` (``serve``).
    :param live: the page talks to ``curvelog serve`` (run list, zoom
        re-sampling, following running logs).
    """
    data = json_for_script(model)
    config = json_for_script({"live": live})
    if inline:
        scripts = [asset(name) for name in ("vendor/uPlot.iife.min.js", "static/draw.js",
                                                   "static/page.js")]  # fmt: skip
        styles = asset("vendor/uPlot.min.css") + "\n" + asset("static/page.css")
        head = f"<style>{styles}</style>"
        body = "".join(f"<script>{s}</script>" for s in scripts)
        script_src = " ".join(_csp_hash(s) for s in scripts)
        connect = "'none'"
    else:
        head = (
            '<link rel="stylesheet" href="static/uPlot.min.css">'
            '<link rel="stylesheet" href="static/page.css">'
        )
        body = (
            '<script src="static/uPlot.iife.min.js"></script>'
            '<script src="static/draw.js"></script>'
            '<script src="static/page.js"></script>'
            '<script src="static/live.js"></script>'
        )
        script_src = "'self'"
        connect = "'self'"
    csp = (
        f"default-src 'none'; script-src {script_src}; style-src 'self' 'unsafe-inline'; "
        f"img-src data:; connect-src {connect}; base-uri 'none'; form-action 'none'"
    )
    values = {
        "CSP": html.escape(csp, quote=True),
        "TITLE": html.escape(str(model.get("title", "curvelog")), quote=True),
        "HEAD": head,
        "DATA": data,
        "CONFIG": config,
        "SCRIPTS": body,
    }
    # one pass over the template only: inserted text is never searched for placeholders
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], asset("static/page.html"))


def report_html(
    bundles: Sequence[Mapping[str, Any]],
    *,
    names: Sequence[str] | None = None,
    charts: Sequence[str] | str | None = None,
    logy: bool | None = None,
    logx: bool = False,
    smooth: float = 0.0,
) -> str:
    """The offline report of one run, or of several overlaid (one bundle each).

    The bundles are validated first (`curvelog.load_bundle`).

    :raises BundleError: a bundle that does not follow the schema.
    :raises PlotError: an unknown chart id or a bad option.
    """
    from .. import load_bundle

    checked = [load_bundle(b) for b in bundles]
    model = page_model(checked, names=names, charts=charts, logy=logy, logx=logx, smooth=smooth)
    return render_page(model)


def write_report(path: str | os.PathLike[str], page: str) -> str:
    """Write ``page`` to ``path`` atomically; a curvelog log there is never replaced.

    :raises PathError: the folder is missing or not writable, or ``path`` is a log.
    """
    from .._fs import atomic_write_bytes
    from ..log import refuse_to_replace

    target = os.fspath(path)
    refuse_to_replace(target, "a web page")
    atomic_write_bytes(target, page.encode("utf-8"))
    return target
