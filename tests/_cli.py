"""CLI test helpers: run a command, and check the one-line error contract."""

from __future__ import annotations

import click.testing
from click.testing import CliRunner

from curvelog.cli import cli


def invoke(*args: str, ok: bool = True) -> click.testing.Result:
    """Run ``curvelog ARGS``; with ``ok`` it must succeed (exceptions propagate)."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=not ok)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def assert_one_line_error(result: click.testing.Result, message: str) -> None:
    """Exit code 2, exactly ``Error: message`` on stderr, nothing else, no traceback."""
    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == ""
    assert "Traceback" not in result.output
