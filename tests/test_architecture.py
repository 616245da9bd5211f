"""The layout of issue #9, checked: the folders show the flow, modules stay small, imports go down.

The flow is log -> sampling -> bundle -> plot / registry, joined by pipeline and
driven by cli (docs/ARCHITECTURE.md). These tests read the source with ``ast``
(nothing is imported), so a lazy import inside a function counts as much as one
at the top of a module, and so does one under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "curvelog"
MODULES = sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)

#: "no module over ~500 lines": a tenth over is still "about"
MAX_MODULE_LINES = 550
#: "no function over ~60 lines without a reason in its docstring"
MAX_FUNCTION_LINES = 60

#: component -> the components it must not import (lower layers know nothing of higher ones)
_ABOVE_BUNDLE = {"plot", "registry", "convert", "compare", "pipeline", "web", "integrations", "cli"}
FORBIDDEN: dict[str, set[str]] = {
    # the base: errors, one OSError boundary, one JSON policy
    "errors": {"*"},
    "_fs": {"*"} - {"errors"},
    "_json": {"*"} - {"errors", "_fs"},
    # the one rule for which way is better by a metric's name (writer, importers, analysis)
    "_goals": {"*"},
    # the one rule for showing user text (names) escaped: the CLI and the pictures
    "_text": {"*"},
    # bytes on disk, and points chosen: neither knows the other nor anything above
    "log": {"sampling", "bundle", "curvelog"} | _ABOVE_BUNDLE,
    "sampling": {"log", "bundle", "curvelog"} | _ABOVE_BUNDLE,
    # the registry takes bytes and knows no bundle code
    "registry": {"log", "sampling", "bundle", "curvelog"} | _ABOVE_BUNDLE - {"registry"},
    "convert": {"sampling", "bundle", "curvelog"} | _ABOVE_BUNDLE - {"convert"},
    "bundle": {"curvelog"} | _ABOVE_BUNDLE,
    # plot draws a bundle; it reads no file: of the log it only uses is_log, so that a
    # picture never replaces a log
    "plot": {"registry", "curvelog"} | _ABOVE_BUNDLE - {"plot"},
    # runs compared as numbers, from bundles
    "compare": {"curvelog"} | _ABOVE_BUNDLE - {"compare"},
    "pipeline": {"web", "integrations", "cli"},
    # the browser and the frameworks sit on the pipeline, beside the CLI
    "web": {"integrations", "cli"},
    "integrations": {"web", "cli"},
    "cli": {"integrations"},
}
EVERYTHING = set(FORBIDDEN) | {"curvelog"}


def component(path: Path) -> str:
    """``log/_writer.py``: ``log``; ``pipeline.py``: ``pipeline``; ``__init__.py``: ``curvelog``."""
    rel = path.relative_to(SRC)
    if len(rel.parts) > 1:
        return rel.parts[0]
    return "curvelog" if rel.stem in ("__init__", "__main__") else rel.stem


def imported_components(path: Path, text: str | None = None) -> dict[str, int]:
    """Every curvelog component the module at ``path`` imports -> the first line that does.

    ``text`` is the module's source, read from ``path`` when not given.
    """
    rel = path.relative_to(SRC)
    package = ["curvelog", *rel.parts[:-1]]  # the package the module is in
    if rel.stem != "__init__" and len(rel.parts) == 1:
        package = ["curvelog"]
    found: dict[str, int] = {}

    def add(dotted: list[str], line: int) -> None:
        if dotted[:1] != ["curvelog"]:
            return
        name = dotted[1] if len(dotted) > 1 else "curvelog"
        if (SRC / name).is_dir() or (SRC / f"{name}.py").is_file():
            found.setdefault(name, line)
        else:  # a name from curvelog/__init__.py, which can import anything lazily
            found.setdefault("curvelog", line)

    source = path.read_text() if text is None else text
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name.split("."), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                dotted = base + (node.module.split(".") if node.module else [])
            else:
                dotted = (node.module or "").split(".")
            if len(dotted) == 1 and dotted == ["curvelog"]:
                for alias in node.names:  # from curvelog import bundle / read
                    if not alias.name.startswith("__"):  # __version__: a constant, no layer
                        add(["curvelog", alias.name], node.lineno)
            else:
                add(dotted, node.lineno)
    return found


def test_the_folders_show_the_flow() -> None:
    """Where bytes are written, points chosen, the bundle built and drawn: by name alone."""

    def has(folder: str, stem: str) -> bool:
        return any((SRC / folder / f"{p}{stem}.py").is_file() for p in ("", "_"))

    for package in ("log", "sampling", "bundle", "plot", "registry"):
        assert (SRC / package / "__init__.py").is_file(), f"curvelog/{package}/ is not a package"
    assert has("log", "writer"), "where bytes are written: curvelog/log/writer.py"
    assert has("bundle", "build"), "where the bundle is built: curvelog/bundle/build.py"
    assert (SRC / "pipeline.py").is_file(), "compact, load a source, default paths: pipeline.py"
    assert (SRC / "_json.py").is_file() and (SRC / "_fs.py").is_file()
    assert (SRC / "cli.py").is_file() or (SRC / "cli" / "__init__.py").is_file()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_is_over_about_500_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(SRC)}: {lines} lines"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_a_long_function_says_why_in_its_docstring(path: Path) -> None:
    long = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNCTION_LINES and not ast.get_docstring(node):
                long.append(f"{node.name} ({n} lines, line {node.lineno})")
    assert long == [], f"{path.relative_to(SRC)}: long functions without a docstring"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_import_runs_from_a_lower_layer_to_a_higher_one(path: Path) -> None:
    own = component(path)
    if own == "curvelog":
        return  # the package's __init__ and __main__ re-export everything: the top
    assert own in FORBIDDEN, f"{path.relative_to(SRC)}: component {own!r} has no layer here"
    forbidden = FORBIDDEN[own]
    if "*" in forbidden:
        forbidden = (EVERYTHING - {own}) - (EVERYTHING - forbidden)
    bad = {
        name: line
        for name, line in imported_components(path).items()
        if name != own and name in forbidden
    }
    assert bad == {}, f"{path.relative_to(SRC)} ({own}) imports from a higher layer: {bad}"


def test_the_import_scanner_sees_lazy_relative_and_package_imports() -> None:
    """The checker itself: every form of import is caught, so the test above can fail."""
    probe = (
        "from __future__ import annotations\n"
        "import curvelog.bundle\n"
        "from .. import plot\n"
        "from ..registry import Registry\n"
        "def f() -> None:\n"
        "    from curvelog import read\n"
        "    from curvelog.sampling import downsample\n"
        "    from . import _format\n"
        "    from .. import __version__\n"
    )
    # parsed as if it were curvelog/log/probe.py (never written there)
    found = imported_components(SRC / "log" / "probe.py", probe)
    assert found == {"bundle": 2, "plot": 3, "registry": 4, "curvelog": 6, "sampling": 7, "log": 8}


def test_the_cli_and_the_pictures_escape_names_by_one_rule() -> None:
    """QA data #7: `plot` drew names raw while the CLI escaped them; both use
    `curvelog._text.printable` now, and nobody else spells the rule out."""
    spelled = [
        str(p.relative_to(SRC))
        for p in MODULES
        if 'encode("unicode_escape")' in p.read_text() and p.name != "_text.py"
    ]
    assert spelled == []
    for user in ("cli/_common.py", "plot/_style.py"):
        assert "_text import printable" in (SRC / user).read_text()
