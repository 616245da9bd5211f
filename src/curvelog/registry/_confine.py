"""Nothing the registry touches may lie outside its root, whatever links the folders hold.

A symbolic link under the root (``.staging``, a key folder, a version folder,
``index.db``) would otherwise let an allocation write ``metadata.json`` and
model files into, or clear out, whatever the link points at. Every path the
registry writes, deletes or reads under the root is resolved first; one that
resolves outside is refused with `PathError` before anything happens, and the
folders the registry deletes in must not be links at all (``shutil.rmtree``
only refuses a link at the top, not one in the middle of the path).

A key folder reached through a link (``exp/b -> a``, or a link out of the root)
is no part of the registry, for readers as for writers and the walk that
rebuild-index does: readers see no versions there (`linked_part`), writers are
refused naming the link (`no_link_below`), so a version is never shown, or
filed, under a key that is really another key's folder or lies outside.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import PathError

__all__ = ["confine", "linked_part", "no_link", "no_link_below"]


def confine(root: Path, path: Path) -> Path:
    """``path``, if it (or, if it does not exist yet, its existing parents) resolves
    inside ``root``; else `PathError`."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root:
        raise PathError(
            str(path),
            f"resolves to {real}, outside the registry {real_root} (a symbolic link?); "
            "the registry never reads, writes or deletes outside its root",
        )
    return path


def no_link(path: Path) -> Path:
    """``path`` if it is no symbolic link (it may not exist); else `PathError`."""
    if os.path.islink(path):
        raise PathError(
            str(path),
            "is a symbolic link; the registry never writes or deletes through a link "
            "(remove the link and retry)",
        )
    return path


def linked_part(root: Path, path: Path) -> Path | None:
    """The first entry from below ``root`` down to ``path`` that is a symbolic link, if any."""
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        if os.path.islink(current):
            return current
    return None


def no_link_below(root: Path, path: Path) -> Path:
    """``path`` if nothing between ``root`` and it is a symbolic link; else `PathError`
    naming the link (not the repair of some other damage)."""
    link = linked_part(root, path)
    if link is not None:
        no_link(link)
    return path
