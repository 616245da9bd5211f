"""Formatting and option helpers shared by the commands."""

from __future__ import annotations

import json
from typing import Any

import click

from .._text import printable, shorten


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=False, allow_nan=False))


class Seconds(click.FloatRange):
    """A number of seconds in a range: click's FloatRange lets NaN through every
    bound (each comparison is false), which then failed deep inside as a traceback."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if seconds != seconds:
            self.fail(f"{value!r} is not a number of seconds.", param, ctx)
        return seconds


class OutputPath(click.types.StringParamType):
    """A file to write. An empty one (``-o ''``, an unset shell variable) is refused:
    it used to mean "the default", so the output went somewhere the user did not say."""

    name = "path"

    def __init__(self, stdout: bool = False) -> None:
        self.stdout = stdout  # '-' means standard output

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            raise click.UsageError(
                "-o needs a file name" + (" (or '-' for stdout)" if self.stdout else ""), ctx
            )
        return value


def split_names(option: str, text: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; None when the option was not given. Given but
    naming nothing (``--metrics ''``) is an error, not "all of them"."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise click.UsageError(f"{option}: no names given (e.g. {option} train/loss,lr)")
    return names


def _lock_timeout_option(f: Any) -> Any:
    # The default is registry.DEFAULT_LOCK_TIMEOUT (not imported here: the CLI starts fast).
    return click.option(
        "--lock-timeout",
        "lock_timeout",
        metavar="SECONDS",
        type=Seconds(min=0),  # inf: wait as long as it takes
        default=60.0,
        show_default=True,
        help="How long to wait for the registry lock while another process holds it, "
        "then fail (RegistryLockTimeout, exit code 2).",
    )(f)


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


def shown(text: str, limit: int | None = None) -> str:
    """``text`` as the terminal may show it: what is not printable escaped, and cut in
    the middle to ``limit`` characters.

    Names come from logs, and logs from anywhere (``import csv`` of a file
    someone sent): a metric named ``"loss\x1b]0;title\x07"`` would otherwise
    set the terminal's title, ``\x1b[2J`` clear it, a newline or a bidi
    override break the one-line and table layouts. Escaped as Python writes
    them in a string (``\x1b``, ``\u202e``), so the name stays recognisable
    (`curvelog._text.printable`).
    """
    text = printable(text)  # the rules `plot` draws names by too
    if limit is not None:
        text = shorten(text, limit)
    return text


def bundle_warnings(bundle: Any) -> list[str]:
    """What a command says about a bundle besides its result: the log's damage, and
    a best that no chart can show (a step marked where its metric has no finite value)."""
    out = [str(d.get("message", d)) for d in bundle["summary"]["damage"]]
    best = bundle.get("best")
    if best and best.get("metric") and best.get("value") is None:
        out.append(f"the best step {best['step']:,} was {best.get('source', 'marked')} where "
                   f"{shown(best['metric'])} has no finite value: no chart shows it")  # fmt: skip
    return out


def _count(n: int, word: str) -> str:
    """``1 chart``, ``2 charts``, ``1,000 points``; "series" is its own plural."""
    return f"{n:,} {word}{'' if n == 1 or word.endswith('s') else 's'}"


def _fmt_value(v: Any) -> str:
    return v if isinstance(v, str) else f"{v:.6g}"


def _fmt_point(p: dict[str, Any] | None) -> str:
    return "-" if p is None else f"{_fmt_value(p['value'])} @ {p['step']:,}"


def _fmt_time(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt_span(seconds: float) -> str:
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else (f"{m}m {sec:02d}s" if m else f"{seconds:.3g}s")


def _index_option(f: Any) -> Any:
    return click.option(
        "--index",
        "index",
        metavar="URL",
        default=None,
        envvar="CURVELOG_REGISTRY_INDEX",
        show_envvar=True,
        help="Keep the registry's index in PostgreSQL (postgresql://...); the database then "
        "decides version numbers and no file lock is needed. Default: index.db (SQLite).",
    )(f)
