"""Registry keys: validated paths of segments, the user's three presets, version names.

A key such as ``product/P001_all/mlstm`` becomes folders under the registry
root, so every segment is checked here before anything touches the disk:
no separators, no ``..``, no hidden names, nothing that looks like a version
folder (``v3``), no first segment named like one of the registry's own files
(``versions.json``, ``index.db``, ``index.postgresql``). The presets
(`product`, `store`, `global_`) are the user's training modes
(seeds/registry-rules.md) with their shape enforced.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Final

from ..errors import RegistryKeyError
from ._index import INDEX_FILE
from ._pgschema import MARKER_FILE

__all__ = [
    "KeyLike",
    "MAX_VERSION",
    "ROOT_FILES",
    "VERSIONS_FILE",
    "VERSION_NAME",
    "check_file_name",
    "check_segment",
    "checkpoint_epoch",
    "global_",
    "key_path",
    "parse_key",
    "parse_version",
    "product",
    "store",
]

_SEGMENT_CHARS: Final = re.compile(r"[A-Za-z0-9_.\-]+")
_BAD_CHAR: Final = re.compile(r"[^A-Za-z0-9_.\-]")
#: a version folder's name
VERSION_NAME: Final = re.compile(r"v([1-9][0-9]*)")
_MAX_SEGMENT: Final = 100
#: the largest version number: what the index (SQLite INTEGER) can hold
MAX_VERSION: Final = 2**63 - 1
_GLOBAL_SCOPES: Final = {"all": 0, "stores": 1, "products": 1, "custom": 2}

KeyLike = str | Sequence[str]

#: the highest version handed out per key, in the registry root
VERSIONS_FILE: Final = "versions.json"
#: the registry's own files in its root: a key cannot start with one of these names, or its
#: folder would take the file's place (a folder index.postgresql told SQLite writers that
#: the index is in PostgreSQL; index.db or versions.json made allocation fail at mkdir)
ROOT_FILES: Final = frozenset({VERSIONS_FILE, INDEX_FILE, MARKER_FILE})


def check_segment(segment: object, key_text: str) -> str:
    def bad(reason: str) -> RegistryKeyError:
        return RegistryKeyError(f"registry key {key_text!r}: {reason}", key=key_text)

    if not isinstance(segment, str):
        raise bad(f"segment {segment!r} is a {type(segment).__name__}, not a string")
    if segment == "":
        raise bad("empty segment (a leading, trailing or doubled '/')")
    if segment in (".", ".."):
        raise bad(f"segment {segment!r} is not allowed")
    if "/" in segment or "\\" in segment or os.sep in segment:
        raise bad(f"segment {segment!r} contains a path separator")
    if not _SEGMENT_CHARS.fullmatch(segment):
        char = _BAD_CHAR.search(segment)
        assert char is not None
        raise bad(
            f"segment {segment!r} contains {char.group()!r}; "
            "allowed are the letters A-Z and a-z, the digits 0-9, '_', '-' and '.'"
        )
    if segment.startswith("."):
        raise bad(f"segment {segment!r} starts with '.' (hidden names belong to the registry)")
    if VERSION_NAME.fullmatch(segment):
        raise bad(f"segment {segment!r} looks like a version folder; a key never holds v<N>")
    if len(segment) > _MAX_SEGMENT:
        raise bad(f"segment {segment[:20]!r}... is longer than {_MAX_SEGMENT} characters")
    return segment


def _check_preset_shape(segments: tuple[str, ...], text: str) -> None:
    """Keys under product/, store/ and global/ must have the shape of their preset."""
    mode = segments[0]
    if mode in ("product", "store"):
        form = f"{mode}/{{{mode}_id}}_{{scope}}/{{model_type}}"
        ok = len(segments) == 3 and len(segments[1].split("_")) == 2
        ok = ok and all(segments[1].split("_"))
        if not ok:
            raise RegistryKeyError(
                f"registry key {text!r}: keys under {mode}/ have the form {form}"
            )
    elif mode == "global":
        form = "global/{all | stores/S | products/P | custom/S/P}/{aggregation}/{model_type}"
        extra = _GLOBAL_SCOPES.get(segments[1]) if len(segments) > 1 else None
        if extra is None or len(segments) != 4 + extra:
            raise RegistryKeyError(
                f"registry key {text!r}: keys under global/ have the form {form}"
            )


def parse_key(key: KeyLike, *, partial: bool = False) -> tuple[str, ...]:
    """Validate a registry key and return its segments.

    ``key`` is a ``/``-separated path (``"product/P001_all/mlstm"``, what the
    presets return and what ``--key`` takes) or a sequence of segments.
    Segments use letters, digits, ``_``, ``-`` and ``.``; they cannot be empty,
    ``.``/``..``, start with ``.`` or look like a version folder (``v3``). Keys
    whose first segment is ``product``, ``store`` or ``global`` must have the
    shape of that preset (see :func:`product`, :func:`store`, :func:`global_`).
    With ``partial=True`` that shape check is skipped (for prefixes).

    :raises RegistryKeyError: naming the key and what is wrong with it.
    """
    if isinstance(key, str):
        text = key
        parts: Sequence[object] = key.split("/")
    elif isinstance(key, Sequence):
        parts = list(key)
        text = "/".join(str(p) for p in parts)
    else:
        raise RegistryKeyError(f"registry key {key!r}: expected a string or a sequence of strings")
    if not parts or parts == [""]:
        raise RegistryKeyError("registry key '': a key needs at least one segment")
    segments = tuple(check_segment(p, text) for p in parts)
    if segments[0] in ROOT_FILES:
        raise RegistryKeyError(
            f"registry key {text!r}: {segments[0]!r} is the name of a file the registry keeps "
            "in its root; a key cannot start with it",
            key=text,
        )
    if not partial:
        _check_preset_shape(segments, text)
    return segments


def key_path(key: KeyLike) -> str:
    """The validated, ``/``-joined form of ``key`` (as stored in versions.json)."""
    return "/".join(parse_key(key))


def _id_part(name: str, value: str, key_text: str) -> str:
    check_segment(value, key_text)
    if "_" in value:
        raise RegistryKeyError(
            f"registry key {key_text!r}: {name} {value!r} contains '_', "
            "which joins the id and the scope in this preset"
        )
    return value


def product(product_id: str, store_scope: str, model_type: str) -> str:
    """Key of a per-product model: ``product/{product_id}_{store_scope}/{model_type}``.

    ``store_scope`` is ``"all"`` (all stores aggregated) or a store id. Neither
    id may contain ``_``, so ``P1_all`` always splits one way.
    """
    text = f"product/{product_id}_{store_scope}/{model_type}"
    _id_part("product_id", product_id, text)
    _id_part("store_scope", store_scope, text)
    return key_path(("product", f"{product_id}_{store_scope}", model_type))


def store(store_id: str, product_scope: str, model_type: str) -> str:
    """Key of a per-store model: ``store/{store_id}_{product_scope}/{model_type}``.

    ``product_scope`` is ``"all"`` (all products of the store) or a product id.
    """
    text = f"store/{store_id}_{product_scope}/{model_type}"
    _id_part("store_id", store_id, text)
    _id_part("product_scope", product_scope, text)
    return key_path(("store", f"{store_id}_{product_scope}", model_type))


def global_(scope: str, aggregation: str, model_type: str) -> str:
    """Key of a global model: ``global/{scope}/{aggregation}/{model_type}``.

    ``scope`` is ``"all"``, ``"stores/S"``, ``"products/P"`` or ``"custom/S/P"``
    (a store and a product); ``aggregation`` is e.g. ``"sum"`` or ``"mean"``.
    """
    return key_path(f"global/{scope}/{aggregation}/{model_type}")


def checkpoint_epoch(epoch: int) -> str:
    """The standard name of a periodic checkpoint: ``checkpoint_epoch_{epoch}.pth``."""
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative int, not {epoch!r}")
    return f"checkpoint_epoch_{epoch}.pth"


def parse_version(version: int | str) -> int:
    """A version number from ``3``, ``"3"`` or ``"v3"``.

    :raises RegistryKeyError: for anything that is not a positive version number.
    """
    if isinstance(version, int) and not isinstance(version, bool):
        if 1 <= version <= MAX_VERSION:
            return version
    elif isinstance(version, str):
        m = re.fullmatch(r"v?([1-9][0-9]{0,18})", version.strip())
        if m and int(m.group(1)) <= MAX_VERSION:
            return int(m.group(1))
    if isinstance(version, int) and version.bit_length() > 128:
        shown = f"(an integer of {version.bit_length()} bits)"
    else:
        shown = repr(version) if len(repr(version)) <= 40 else repr(version)[:40] + "..."
    raise RegistryKeyError(
        f"version {shown} is not a version number (expected N or vN, with N >= 1)"
    )


def check_file_name(name: str) -> str:
    """``name`` if it is a plain file name for a version folder, else RegistryKeyError."""
    if (
        not isinstance(name, str)
        or not _SEGMENT_CHARS.fullmatch(name)
        or name.startswith(".")
        or len(name) > 255
    ):
        raise RegistryKeyError(
            f"artifact name {name!r} is not a plain file name "
            "(letters, digits, '_', '-' and '.', not starting with '.')"
        )
    return name
