"""``curvelog registry``: browse and repair a model registry."""

from __future__ import annotations

from typing import Any

import click

from ._app import CONTEXT_SETTINGS, UserError, _Group, cli
from ._common import (
    _echo_json,
    _fmt_value,
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
    return [r for r in reg.index_rows(key, existing=True) if r.key == key]


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
@click.option("--sort", "sort_metric", metavar="METRIC",
              help="One line per version, best METRIC value first (by the metric's goal: "
                   "min for losses, max for accuracies).")  # fmt: skip
@_registry_root_option
@_index_option
def registry_list(
    prefix: str | None, as_json: bool, sort_metric: str | None, root: str, index: str | None
) -> None:
    """List the keys (under PREFIX, whole segments) with their versions.

    Under each key, every version filed with a chart bundle shows its
    objective and best value (from the index). --sort METRIC ranks the
    versions by METRIC's best value instead.

    \b
    Example:
        curvelog registry list
        curvelog registry list global/all --json
        curvelog registry list product/P001_all/mlstm --sort val/loss
    """
    from ..registry import Registry

    reg = Registry(root, index=index)
    if sort_metric is not None:
        _list_sorted(reg, prefix, sort_metric, as_json)
        return
    facts = _facts_by_version(reg, prefix)
    rows: list[dict[str, Any]] = []
    if reg.index_kind == "postgresql":  # the index's view
        by_key: dict[str, list[int]] = {}
        for row in reg.index_rows(prefix, existing=True):
            by_key.setdefault(row.key, []).append(row.version)
        for key, numbers in by_key.items():
            path = str(reg.root.joinpath(*key.split("/"), f"v{numbers[-1]}"))
            filed = [_facts_json(facts[(key, n)]) for n in numbers if (key, n) in facts]
            rows.append({"key": key, "latest": numbers[-1], "versions": numbers, "path": path,
                         "filed": filed})  # fmt: skip
    for key in reg.keys(prefix) if reg.index_kind == "sqlite" else []:
        numbers = [v.number for v in reg.versions(key)]
        rows.append(
            {
                "key": key,
                "latest": numbers[-1],
                "versions": numbers,
                "path": str(reg.latest(key).path),
                "filed": [_facts_json(facts[(key, n)]) for n in numbers if (key, n) in facts],
            }
        )
    if not rows and prefix:  # a typo must not look like an empty shelf
        raise UserError(f"{prefix}: no keys in {root}")
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo(f"{root}: no versions filed yet", err=True)
    width = max((len(r["key"]) for r in rows), default=0)
    for r in rows:
        count = len(r["versions"])
        plural = "version" if count == 1 else "versions"
        click.echo(f"{r['key']:<{width}}  v{r['latest']:<4}  {count} {plural}")
        for n in r["versions"]:
            if (r["key"], n) in facts:
                click.echo(f"  v{n:<4}  {_facts_text(facts[(r['key'], n)])}")


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
    facts = _facts_by_version(reg, v.key).get((v.key, v.number))
    if facts is not None:
        click.echo(f"objective:  {facts.objective or '-'}")
        click.echo(f"best:       {_best_text(facts)}")
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
    for path, size in report.removed_temp_files:
        click.echo(f"removed {path} ({_human_size(size)}), left by an interrupted write")
    for path, size in report.removed_incoming:
        click.echo(f"removed {path} ({_human_size(size)}), left by an interrupted add")
    for problem in report.problems:
        click.echo(f"warning: {problem}", err=True)


# --------------------------------------------------------------------------- querying (#17)


def _facts_by_version(reg: Any, prefix: str | None) -> dict[tuple[str, int], Any]:
    """(key, version) -> objective and best value, for versions whose index row has them.

    The folders are what is listed; these facts only add to them, so an index
    this process cannot read (damaged, another registry's) gives none, with a warning.
    """
    from ..errors import RegistryCorruptError, RegistryIndexError
    from ..registry._query import facts

    out = {}
    try:
        rows = reg.index_rows(prefix)
    except (RegistryCorruptError, RegistryIndexError) as e:
        if reg.index_kind == "sqlite":  # listed anyway from the folders, but not in silence
            click.echo(f"Warning: {e}; versions listed from the folders, without their best "
                       "values", err=True)  # fmt: skip
        # (a database index is the listing itself: its own error ends the command)
        return {}
    for row in rows:
        f = facts(row.key, row.version, row.metrics_summary)
        if f.objective is not None or f.best_value is not None:
            out[(row.key, row.version)] = f
    return out


def _best_text(f: Any) -> str:
    if f.best_value is None:
        return "-"
    where = f" at step {f.best_step:,}" if f.best_step is not None else ""
    return f"{f.best_metric or '?'} = {_fmt_value(f.best_value)}{where}"


def _facts_text(f: Any) -> str:
    return f"objective {f.objective or '-'}  best {_best_text(f)}"


def _facts_json(f: Any) -> dict[str, Any]:
    return {"version": f.version, "objective": f.objective, "best_metric": f.best_metric,
            "best_value": f.best_value, "best_step": f.best_step}  # fmt: skip


def _list_sorted(reg: Any, prefix: str | None, metric: str, as_json: bool) -> None:
    """``registry list --sort METRIC``: every version with METRIC, best first."""
    from ..registry._query import rank

    ranked, missing = rank(reg.index_rows(prefix, existing=True), metric)
    if as_json:
        _echo_json(
            [
                {
                    "key": r.key,
                    "version": r.version,
                    "path": str(reg.root / r.path),
                    "metric": r.metric,
                    "goal": r.goal,
                    "best": r.value,
                    "step": r.step,
                }
                for r in ranked
            ]  # fmt: skip
        )
        return
    if not ranked:
        raise UserError(f"no version under {prefix or reg.root} has a best value of {metric!r}")
    width = max(len(r.key) for r in ranked)
    for r in ranked:
        where = f" at step {r.step:,}" if r.step is not None else ""
        click.echo(f"{r.key:<{width}}  v{r.version:<4}  {metric} = {_fmt_value(r.value)}{where}"
                   f"  ({r.goal})")  # fmt: skip
    if missing:
        n = len(missing)
        click.echo(f"{n} version{'s' if n != 1 else ''} without {metric!r} not listed", err=True)


@registry_group.command("add")
@click.argument("key")
@click.argument("files", metavar="FILE...", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False))  # fmt: skip
@click.option("--version", "version", metavar="N",
              help="File into this existing version instead of a new one.")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace files of the same name in --version N.")
@_registry_root_option
@_lock_timeout_option
@_index_option
def registry_add(key: str, files: tuple[str, ...], version: str | None, force: bool, root: str,
                 lock_timeout: float, index: str | None) -> None:  # fmt: skip
    """File model files (model.pth, checkpoint_best.pth, ...) into a version of KEY.

    Without --version a new version is allocated once every file is copied, so
    it appears whole or not at all; each file keeps its name.
    A file of the same name already in --version N is never replaced without
    --force. curves.json, metadata.json and loss_curve.png are written by the
    registry itself (curvelog compact --registry) and are refused here.

    \b
    Example:
        curvelog registry add product/P001_all/mlstm model.pth checkpoint_best.pth
        curvelog registry add product/P001_all/mlstm model.pth --version 3
    """
    from ..registry import Registry
    from ..registry._add import add_files

    reg = Registry(root, lock_timeout=lock_timeout, index=index)
    v, written = add_files(reg, key, files, version=version, overwrite=force)
    for name, size in written:
        click.echo(f"{v.path / name}: {_human_size(size)}", err=True)
    click.echo(f"filed {len(written)} file{'s' if len(written) != 1 else ''} into {v.key} {v.name}",
               err=True)  # fmt: skip
    click.echo(str(v.path))
