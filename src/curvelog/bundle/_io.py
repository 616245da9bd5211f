"""Bundles to and from files: strict compact JSON, written atomically, validated on the way."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from .. import _json
from .._fs import atomic_write_bytes, read_bytes
from ..errors import (
    BundleError,
    PathError,
)

if TYPE_CHECKING:
    pass
from ._model import Bundle
from ._validate import validate_bundle


def dumps(bundle: Mapping[str, Any]) -> bytes:
    """The bytes of a bundle: compact, strict, UTF-8 JSON (what the registry stores too)."""
    try:
        return _json.dumps(bundle)
    except ValueError as e:
        raise BundleError("<bundle>", "", str(e)) from None


def write_bundle(
    bundle: Mapping[str, Any], path: str | os.PathLike[str], *, force: bool = False
) -> str:
    """Validate ``bundle`` and write it to ``path`` atomically; returns the path.

    :raises OutputExistsError: ``path`` exists and ``force`` is false.
    :raises BundleError: the bundle does not follow the schema.
    """
    validate_bundle(bundle)
    data = dumps(bundle)
    target = os.fspath(path)
    atomic_write_bytes(target, data, overwrite=force)
    return target


def load_bundle(source: str | os.PathLike[str] | Mapping[str, Any]) -> Bundle:
    """Read (a path) or take (a dict) a bundle and validate it.

    Accepts any ``curvelog.bundle/1.x``.

    :raises PathError: the file is missing or unreadable.
    :raises BundleVersionError: another major schema version.
    :raises BundleError: not JSON, or not a bundle; the message names the JSON pointer.
    """
    if isinstance(source, Mapping):
        bundle = dict(source)
        validate_bundle(bundle, source="<bundle>")
        return cast(Bundle, bundle)
    path = os.fspath(source)
    if os.path.isdir(path):
        raise PathError(path, "is a directory, not a chart bundle")
    raw = read_bytes(path)
    if not raw.strip():
        raise BundleError(path, "", "empty file, not a chart bundle")
    try:
        data = _json.loads(raw)
    except UnicodeDecodeError:
        raise BundleError(path, "", "not UTF-8 text, not a chart bundle") from None
    except json.JSONDecodeError as e:
        raise BundleError(
            path, "", f"not JSON ({e.msg} at line {e.lineno} column {e.colno})"
        ) from None
    except ValueError as e:
        reason = "nested too deeply, not a chart bundle" if "nested" in str(e) else str(e)
        raise BundleError(path, "", reason) from None
    validate_bundle(data, source=path)
    return cast(Bundle, data)
