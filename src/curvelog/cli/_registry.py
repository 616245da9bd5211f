"""``curvelog registry``: browse and repair a model registry."""

from __future__ import annotations

from typing import Any

import click

from ._app import CONTEXT_SETTINGS, _Group, cli
from ._common import (
    _echo_json,
    _human_size,
    _index_option,
    _lock_timeout_option,
)


def _registry_root_option(f: Any) -> Any:
    return click.option(
        "--registry",
        "-r",
        "root",
        metavar="DIR",
        default="saved_models",
        show_default=True,
        envvar="CURVELOG_REGISTRY",
        show_envvar=True,
        help="The registry folder.",
    )(f)


def _index_rows_of(reg: Any, key: str) -> list[Any]:
    """The PostgreSQL index's rows of KEY whose folders exist."""
    rows = [r for r in reg.index_rows(key) if r.key == key]
    return [r for r in rows if (reg.root / r.path).is_dir()]


@cli.group("registry", cls=_Group, context_settings=CONTEXT_SETTINGS)
def registry_group() -> None:
    """Browse and repair a model registry: one numbered folder per training run.

    Keys are paths of segments, e.g. product/P001_all/mlstm,
    store/S001_P002/transformer or global/all/sum/kan.

    \b
    Example:
        curvelog registry list product --registry saved_models
        curvelog registry show product/P001_all/mlstm v2
        cp "$(curvelog registry latest product/P001_all/mlstm)/model.pth" .
    """


@registry_group.command("list")
@click.argument("prefix", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_registry_root_option
@_index_option
def registry_list(prefix: str | None, as_json: bool, root: str, index: str | None) -> None:
    """List the keys (under PREFIX, whole segments) with their versions.

    \b
    Example:
        curvelog registry list
        curvelog registry list global/all --json
    """
    from ..registry import Registry

    reg = Registry(root, index=index)
    rows: list[dict[str, Any]] = []
    if reg.index_kind == "postgresql":  # the index's view
        by_key: dict[str, list[int]] = {}
        for row in reg.index_rows(prefix):
            by_key.setdefault(row.key, []).append(row.version)
        for key, numbers in by_key.items():
            path = str(reg.root.joinpath(*key.split("/"), f"v{numbers[-1]}"))
            rows.append({"key": key, "latest": numbers[-1], "versions": numbers, "path": path})
    for key in reg.keys(prefix) if reg.index_kind == "sqlite" else []:
        numbers = [v.number for v in reg.versions(key)]
        rows.append(
            {
                "key": key,
                "latest": numbers[-1],
                "versions": numbers,
                "path": str(reg.latest(key).path),
            }
        )
    if as_json:
        _echo_json(rows)
        return
    width = max((len(r["key"]) for r in rows), default=0)
    for r in rows:
        count = len(r["versions"])
        plural = "version" if count == 1 else "versions"
        click.echo(f"{r['key']:<{width}}  v{r['latest']:<4}  {count} {plural}")


@registry_group.command("show")
@click.argument("key")
@click.argument("version", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@_registry_root_option
@_index_option
def registry_show(
    key: str, version: str | None, as_json: bool, root: str, index: str | None
) -> None:
    """Show one version of KEY (default: the latest): its path, metadata and files.

    VERSION is N or vN.

    \b
    Example:
        curvelog registry show product/P001_all/mlstm
        curvelog registry show product/P001_all/mlstm v2 --json
    """
    from ..registry import Registry

    reg = Registry(root, index=index)
    v = reg.latest(key) if version is None else reg.version(key, version)
    meta = v.metadata()
    files = v.files()
    shown: dict[str, Any] = {
        "key": v.key,
        "version": v.number,
        "path": str(v.path),
        "metadata": meta,
        "files": [{"name": n, "bytes": s} for n, s in files],
    }
    if reg.index_kind == "postgresql":  # the row, as the database holds it
        row = next((r for r in _index_rows_of(reg, v.key) if r.version == v.number), None)
        shown["index"] = None if row is None else {
            "id": row.id, "created_at": row.created_at, "metrics_summary": row.metrics_summary
        }  # fmt: skip
    if as_json:
        _echo_json(shown)
        return
    click.echo(f"key:        {v.key}")
    click.echo(f"version:    {v.name}")
    click.echo(f"path:       {v.path}")
    click.echo(f"created_at: {meta.get('created_at', '?')}")
    if "index" in shown:
        click.echo(
            f"index:      {'row ' + str(shown['index']['id']) if shown['index'] else 'no row'}"
        )
    if meta.get("run_id"):
        click.echo(f"run_id:     {meta['run_id']}")
    click.echo("files:")
    width = max((len(n) for n, _ in files), default=0)
    for name, size in files:
        click.echo(f"  {name:<{width}}  {_human_size(size):>9}")


@registry_group.command("latest")
@click.argument("key")
@_registry_root_option
@_index_option
def registry_latest(key: str, root: str, index: str | None) -> None:
    """Print the folder of the latest version of KEY.

    \b
    Example:
        curvelog registry latest product/P001_all/mlstm
    """
    from ..registry import Registry

    reg = Registry(root, index=index)
    if reg.index_kind == "postgresql":  # the index's latest row with a folder
        from ..registry import key_path

        rows = _index_rows_of(reg, key_path(key))
        if rows:
            click.echo(str(reg.root / rows[-1].path))
            return
    click.echo(str(reg.latest(key).path))


@registry_group.command("rebuild-index")
@_registry_root_option
@_lock_timeout_option
@click.option(
    "--init",
    is_flag=True,
    help="Make the folder a registry even though it holds no registry files or versions yet.",
)
@_index_option
def registry_rebuild_index(root: str, lock_timeout: float, init: bool, index: str | None) -> None:
    """Rebuild index.db and versions.json from the version folders.

    The repair for a damaged or stale versions.json or index. No version
    number already handed out is lowered, so none is reused. Runs under the
    registry lock (see --lock-timeout). A folder that is not a registry yet
    is refused unless --init.

    \b
    Example:
        curvelog registry rebuild-index --registry saved_models
    """
    from ..registry import Registry

    reg = Registry(root, lock_timeout=lock_timeout, index=index)
    report = reg.rebuild_index(init=init)
    click.echo(f"rebuilt {reg.index_location}: {report.keys} keys, {report.versions} versions")
    if report.versions_json_was_corrupt:
        click.echo(f"{reg.versions_file} was unreadable; rebuilt from the folders and old index")
    for key, (old, new) in sorted(report.versions_json_changes.items()):
        before = "(none)" if old is None else f"v{old}"
        click.echo(f"versions.json: {key} {before} -> v{new}")
    for problem in report.problems:
        click.echo(f"warning: {problem}", err=True)
