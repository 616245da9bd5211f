"""The one rule for showing user text (metric, chart and run names): what is not
printable is escaped, as Python writes it in a string.

Names come from logs, and logs from anywhere (``import csv`` of a file someone
sent). A control character or a bidi override shown raw sets a terminal's
title (``\\x1b]0;…\\x07``), clears it, breaks a one-line message or a table row
(``\\n``), draws a name reversed (``\\u202e``) or makes matplotlib warn about a
missing glyph. Escaped (``\\x01``, ``\\n``, ``\\u202e``) the name stays
recognisable and is one line. The CLI (`curvelog.cli`) and the pictures
(`curvelog.plot`) both show text through `printable`, and cut it with `shorten`.
"""

from __future__ import annotations

__all__ = ["printable", "shorten"]


def printable(text: str) -> str:
    """``text`` with every character that is not printable (``str.isprintable``:
    controls, format characters such as bidi overrides, separators other than the
    space) escaped as Python writes it: ``\\x01``, ``\\n``, ``\\u202e``. Printable
    text, a backslash included, is returned unchanged, so this is idempotent."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut in the middle with "…": the
    end of a name (a seed, a run id, the metric after its prefix) tells it apart."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    keep = limit - 1
    head = (keep + 1) // 2
    tail = keep - head
    return text[:head] + "…" + (text[len(text) - tail :] if tail else "")
