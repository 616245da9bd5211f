"""The one JSON policy: strict JSON out, strict JSON in, two rules for non-finite numbers.

JSON has no NaN or infinity, and curvelog meets them everywhere (a diverged
loss, a ``float("inf")`` in a config). Two rules, each for its own kind of
value, and nowhere else:

* **data** (chart points, summary figures, best values): a non-finite number
  becomes ``null`` (`number`), and the bundle says what it was in an event;
* **metadata** (configs, package versions, argv, ``inspect --json`` figures):
  a non-finite float becomes the string ``"nan"``, ``"inf"`` or ``"-inf"``
  and bytes become text (`jsonable`), so nothing the user gave is dropped.

Writers (`dumps`) refuse NaN tokens instead of emitting them; readers
(`loads`, `read_object`) refuse them too, and turn every decoding failure
(bad UTF-8, bad JSON, nesting too deep to parse) into one ``ValueError``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

__all__ = ["dumps", "jsonable", "loads", "number", "read_object", "text"]


def number(v: float) -> float | None:
    """A data value for JSON: the float itself, or None when it is not finite."""
    return v if math.isfinite(v) else None


def _float_text(v: float) -> float | str:
    return v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))


def jsonable(value: Any) -> Any:
    """A strict-JSON copy of metadata: non-finite floats as strings, bytes as text.

    numpy scalars and small arrays (anything with ``tolist``) become plain
    values; objects JSON cannot hold become their ``str``.
    """
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy, without importing it
        return jsonable(value.tolist())
    return str(value)


def text(value: Any) -> str | None:
    """A metadata string for JSON: None stays None, bytes are decoded, anything else is str()."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _default(obj: object) -> Any:
    if hasattr(obj, "tolist"):  # numpy scalars and arrays, without importing numpy
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"a value of type {type(obj).__name__} cannot be stored in JSON")


def dumps(obj: Any, *, indent: int | None = None, coerce: bool = False) -> bytes:
    """Strict UTF-8 JSON: compact, or indented (with a final newline) for files people read.

    A NaN or infinity, or an object JSON cannot hold, raises ``ValueError``
    naming it. With ``coerce`` (user metadata), numpy values become numbers
    and paths strings first; without it (bundles) only plain JSON types pass.
    """
    default = _default if coerce else None
    try:
        if indent is None:
            out = json.dumps(
                obj, allow_nan=False, ensure_ascii=False, separators=(",", ":"), default=default
            )
        else:
            out = json.dumps(obj, allow_nan=False, ensure_ascii=False, indent=indent,
                             default=default) + "\n"  # fmt: skip
    except (TypeError, ValueError) as e:
        raise ValueError(f"not strict JSON ({e})") from None
    except RecursionError:
        raise ValueError("not strict JSON (nested too deeply)") from None
    return out.encode("utf-8")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not strict JSON")


def loads(data: bytes | str) -> Any:
    """Parse strict JSON; every failure is a ``ValueError``.

    A syntax error stays a ``json.JSONDecodeError`` (with its line and
    column), bad UTF-8 a ``UnicodeDecodeError``; a NaN token and nesting too
    deep to parse become plain ``ValueError``.
    """
    text_ = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    try:
        obj = json.loads(text_, parse_constant=_reject_constant)
    except RecursionError:  # e.g. 100k nested '[': the decoder recurses per level
        raise ValueError("nested too deeply") from None
    if _SURROGATE_ESCAPE.search(text_):  # an escaped half of a pair: is every one paired?
        _check_text(obj)
    return obj


#: ``\ud800``..``\udfff``: JSON may escape half of a UTF-16 pair, and Python's decoder
#: then keeps a lone half, a string no file, font or page can hold
_SURROGATE_ESCAPE: Final = re.compile(r"\\[uU][dD][89a-fA-F]")


def _check_text(obj: Any) -> None:
    """ValueError if a string (or key) of ``obj`` is not valid Unicode (a lone surrogate)."""
    stack = [obj]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(
                    f"a string is not valid Unicode (a lone surrogate): {v!r}"
                ) from None
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def read_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None if the file is missing; ValueError if not an object."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        obj = loads(raw)
    except ValueError as e:
        raise ValueError(f"not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, found {type(obj).__name__}")
    return obj
