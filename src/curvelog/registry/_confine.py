"""Nothing the registry touches may lie outside its root, whatever links the folders hold.

A symbolic link under the root (``.staging``, a key folder, a version folder,
``index.db``) would otherwise let an allocation write ``metadata.json`` and
model files into, or clear out, whatever the link points at. Every path the
registry writes, deletes or reads under the root is resolved first; one that
resolves outside is refused with `PathError` before anything happens, and the
folders the registry deletes in must not be links at all (``shutil.rmtree``
only refuses a link at the top, not one in the middle of the path).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import PathError

__all__ = ["confine", "no_link"]


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
