"""``curvelog serve``: runs in the browser, following running logs (server: `curvelog.web`)."""

from __future__ import annotations

import click

from ._app import cli


@cli.command()
@click.argument("paths", metavar="PATH...", nargs=-1, required=True)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but loopback is reachable by others.",
)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 picks a free one.")  # fmt: skip
def serve(paths: tuple[str, ...], host: str, port: int) -> None:
    """Show logs, bundles, folders or a registry in the browser, following running logs.

    Lists every log and chart bundle under the PATHs, draws the ticked runs
    (several are overlaid), adds a running log's new steps within a second or
    two, and re-samples a zoomed window from the raw steps, down to every
    recorded point. Listens on 127.0.0.1 only unless --host says otherwise.
    Needs the serve extra: pip install 'curvelog[serve]'.

    \b
    Example:
        curvelog serve runs/
        curvelog serve runs/exp1/run.log saved_models/ --port 0
    """
    from ..web.server import serve as run_server

    run_server(list(paths), host=host, port=port, echo=lambda line: click.echo(line, err=True))
