"""The ``curvelog`` command: a thin click layer over the library.

Each command parses its arguments, calls one library function and prints the
result. Every ``CurvelogError`` becomes one ``Error: ...`` line on stderr and
exit code 2, never a traceback.
"""

from __future__ import annotations

from typing import Any

import click

from .. import __version__
from ..errors import CurvelogError
from ._common import shown

__all__ = ["UserError", "cli", "main"]

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class UserError(click.ClickException):
    """A CurvelogError as the CLI shows it: one line, exit code 2 (what is not
    printable in it, such as a metric name's escape sequences, escaped)."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(shown(message))


class _Group(click.Group):
    """Turns library errors raised by any subcommand into UserError."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError:
            raise
        except BrokenPipeError:  # `curvelog tail run.log | head -1`: the reader has gone
            _quiet_stdout()
            ctx.exit(128 + 13)  # as the shell reports a command ended by SIGPIPE
        except click.UsageError as e:  # one line, like every other error (no usage block)
            raise UserError(e.format_message()) from None
        except CurvelogError as e:
            raise UserError(str(e)) from None
        except OSError as e:  # a backstop: the library maps the ones it expects
            where = f"{e.filename}: " if e.filename else ""
            raise UserError(f"{where}{e.strerror or e}") from None
        except RecursionError:
            raise UserError("input nested too deeply to read") from None
        except MemoryError:
            raise UserError("out of memory") from None


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit raises no second
    BrokenPipeError (the way the Python docs advise for a closed pipe)."""
    import os
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real stdout (tests): nothing to do
        pass


@click.group(cls=_Group, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="curvelog")
def cli() -> None:
    """Record training curves, compact them into chart bundles, plot them.

    \b
    Example:
        curvelog inspect runs/exp1/run.log
        curvelog compact runs/exp1/run.log
        curvelog plot runs/exp1/run.curves.json
    """


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="curvelog")


if __name__ == "__main__":  # pragma: no cover
    main()
