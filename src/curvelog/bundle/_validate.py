"""The bundle's structure, checked without jsonschema: what `load_bundle` and `write_bundle`
enforce, mirroring ``schema.json`` (the tests hold the two to agreement)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..errors import (
    BundleError,
    BundleVersionError,
)

if TYPE_CHECKING:
    pass
from ._model import SCHEMA, SCHEMA_MAJOR
from ._series import _KINDS

_SCHEMA_RE: Final = re.compile(r"^curvelog\.bundle/([0-9]+)(?:\.([0-9]+))?$")
#: a smoothing weight's key: repr of a float in [0, 1) ("0.9", "0.0", "1e-05")
_WEIGHT_RE: Final = re.compile(r"^(0(\.[0-9]+)?|[0-9]\.[0-9]+e-[0-9]+|[0-9]e-[0-9]+)$")
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_GOALS: Final = ("min", "max")
_CONVERGENCE: Final = ("improving", "plateaued", "worsening", "diverged", "insufficient_data")
_FLOAT_MAX: Final = 1.7976931348623157e308


def _finite(v: int | float) -> bool:
    """A finite number a float can hold: ``math.isfinite`` raises OverflowError on
    an integer past float's range (JSON's ``1e400`` is inf, ``10**400`` an int)."""
    if isinstance(v, int):
        return -_FLOAT_MAX <= v <= _FLOAT_MAX
    return math.isfinite(v)


def _esc(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


class _Checker:
    """The essential structure of a bundle, checked without jsonschema.

    Mirrors ``schema.json`` (the tests hold the two to agreement) and
    adds what a JSON Schema cannot say: ``x`` and ``y`` of equal length,
    ``x`` strictly increasing, every event's step charted with a null ``y``.
    """

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, ptr: str, reason: str) -> BundleError:
        return BundleError(self.source, ptr or "/", reason)

    @staticmethod
    def _what(v: Any) -> str:
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "a boolean"
        if isinstance(v, (int, float)):
            return f"the number {v!r}"
        if isinstance(v, str):
            return f"the string {v[:40]!r}"
        if isinstance(v, list):
            return "an array"
        if isinstance(v, dict):
            return "an object"
        return type(v).__name__

    def obj(self, v: Any, ptr: str, required: Sequence[str] = ()) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise self.fail(ptr, f"expected an object, found {self._what(v)}")
        for k in required:
            if k not in v:
                raise self.fail(f"{ptr}/{_esc(k)}", "required field is missing")
        return v

    def arr(self, v: Any, ptr: str) -> list[Any]:
        if not isinstance(v, list):
            raise self.fail(ptr, f"expected an array, found {self._what(v)}")
        return v

    def int_(self, v: Any, ptr: str, *, null: bool = False, minimum: int | None = 0) -> None:
        if v is None and null:
            return
        if type(v) is not int:
            want = "an integer or null" if null else "an integer"
            raise self.fail(ptr, f"expected {want}, found {self._what(v)}")
        if minimum is not None and v < minimum:
            raise self.fail(ptr, f"expected an integer >= {minimum}, found {v}")

    def num(self, v: Any, ptr: str, *, null: bool = True) -> None:
        if v is None and null:
            return
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not _finite(v):
            want = "a number or null" if null else "a number"
            raise self.fail(ptr, f"expected {want}, found {self._what(v)}")

    def str_(self, v: Any, ptr: str, *, null: bool = False, enum: Sequence[str] = ()) -> None:
        if v is None and null:
            return
        if not isinstance(v, str):
            want = "a string or null" if null else "a string"
            raise self.fail(ptr, f"expected {want}, found {self._what(v)}")
        if enum and v not in enum:
            raise self.fail(ptr, f"expected one of {', '.join(map(repr, enum))}, found {v!r}")

    def point(self, v: Any, ptr: str) -> None:
        if v is None:
            return
        self.obj(v, ptr, ("step", "value"))
        self.int_(v["step"], f"{ptr}/step")
        self.num(v["value"], f"{ptr}/value")

    # -------------------------------------------------------------- sections

    def schema(self, b: dict[str, Any]) -> None:
        tag = b.get("schema")
        if not isinstance(tag, str):
            raise self.fail(
                "/schema", f"expected a string like {SCHEMA!r}, found {self._what(tag)}"
            )
        m = _SCHEMA_RE.match(tag)
        if not m:
            raise self.fail("/schema", f"expected a string like {SCHEMA!r}, found {tag!r}")
        if int(m.group(1)) != SCHEMA_MAJOR:
            raise BundleVersionError(
                self.source,
                "/schema",
                f"schema {tag!r} is version {int(m.group(1))}; this curvelog reads "
                f"curvelog.bundle/{SCHEMA_MAJOR}.x only",
            )

    def run(self, v: Any) -> None:
        r = self.obj(v, "/run", ("name", "sessions"))
        self.str_(r["name"], "/run/name")
        self.int_(r["sessions"], "/run/sessions")
        for k in ("run_id", "host", "platform", "python"):
            if k in r:
                self.str_(r[k], f"/run/{k}", null=True)
        if "start_time" in r:
            self.num(r["start_time"], "/run/start_time")
        for k in ("packages", "config"):
            if k in r and r[k] is not None:
                self.obj(r[k], f"/run/{k}")
        if "argv" in r:
            self.arr(r["argv"], "/run/argv")

    def series(self, s: Any, ptr: str) -> None:
        self.obj(s, ptr, ("metric", "label", "x", "y", "raw_points", "events"))
        self.str_(s["metric"], f"{ptr}/metric")
        self.str_(s["label"], f"{ptr}/label")
        x = self.arr(s["x"], f"{ptr}/x")
        y = self.arr(s["y"], f"{ptr}/y")
        if len(x) != len(y):
            raise self.fail(f"{ptr}/y", f"has {len(y)} values for {len(x)} steps in x")
        prev = -1
        for i, step in enumerate(x):
            if type(step) is not int or step < 0:
                self.int_(step, f"{ptr}/x/{i}")
            if step <= prev:
                raise self.fail(
                    f"{ptr}/x/{i}", f"steps must increase strictly ({step} after {prev})"
                )
            prev = step
        for i, val in enumerate(y):
            if val is not None and (type(val) is not float or not math.isfinite(val)):
                self.num(val, f"{ptr}/y/{i}")
        self.int_(s["raw_points"], f"{ptr}/raw_points")
        if s["raw_points"] < len(x):
            raise self.fail(
                f"{ptr}/raw_points", f"{s['raw_points']} is fewer than the {len(x)} points charted"
            )
        where = {step: i for i, step in enumerate(x)} if s["events"] else {}
        for i, ev in enumerate(self.arr(s["events"], f"{ptr}/events")):
            p = f"{ptr}/events/{i}"
            self.obj(ev, p, ("step", "kind"))
            self.int_(ev["step"], f"{p}/step")
            self.str_(ev["kind"], f"{p}/kind", enum=_KINDS)
            j = where.get(ev["step"])
            if j is None or y[j] is not None:
                raise self.fail(f"{p}/step", f"step {ev['step']} is not charted with a null y")
            if "last_step" in ev:
                self.int_(ev["last_step"], f"{p}/last_step", minimum=ev["step"])
            if "count" in ev:
                self.int_(ev["count"], f"{p}/count", minimum=1)
        if "smooth" in s:  # optional: EMA weight -> the EMA over the raw values at each x
            self.smooth(s["smooth"], f"{ptr}/smooth", len(x))

    def smooth(self, v: Any, ptr: str, n: int) -> None:
        for key, values in self.obj(v, ptr).items():
            p = f"{ptr}/{_esc(key)}"
            if not _WEIGHT_RE.match(key):
                raise self.fail(p, f"expected an EMA weight in [0, 1) as key, found {key!r}")
            if len(self.arr(values, p)) != n:
                raise self.fail(p, f"has {len(values)} values for {n} steps in x")
            for i, val in enumerate(values):
                if val is not None and (type(val) is not float or not math.isfinite(val)):
                    self.num(val, f"{p}/{i}")

    def charts(self, v: Any) -> None:
        seen: set[str] = set()
        for i, c in enumerate(self.arr(v, "/charts")):
            p = f"/charts/{i}"
            self.obj(c, p, ("id", "title", "xlabel", "ylabel", "scale", "series"))
            self.str_(c["id"], f"{p}/id")
            if not c["id"] or c["id"] in seen:
                raise self.fail(f"{p}/id", f"chart ids must be unique and non-empty ({c['id']!r})")
            seen.add(c["id"])
            for k in ("title", "xlabel", "ylabel"):
                self.str_(c[k], f"{p}/{k}")
            self.str_(c["scale"], f"{p}/scale", enum=("linear", "log"))
            if "sampled_for" in c:  # optional: older bundles lack it
                sf = self.obj(c["sampled_for"], f"{p}/sampled_for", ("yscale",))
                self.str_(sf["yscale"], f"{p}/sampled_for/yscale", enum=("linear", "log"))
            for j, s in enumerate(self.arr(c["series"], f"{p}/series")):
                self.series(s, f"{p}/series/{j}")

    def best(self, v: Any) -> None:
        if v is None:
            return
        b = self.obj(v, "/best", ("step", "metric", "value", "mode", "source", "values"))
        self.int_(b["step"], "/best/step")
        self.str_(b["metric"], "/best/metric", null=True)
        self.num(b["value"], "/best/value")
        self.str_(b["mode"], "/best/mode", enum=("min", "max"))
        self.str_(b["source"], "/best/source", enum=("marked", "recomputed"))
        for k, val in self.obj(b["values"], "/best/values").items():
            self.num(val, f"/best/values/{_esc(k)}")

    def resumes(self, v: Any) -> None:
        for i, r in enumerate(self.arr(v, "/resumes")):
            self.obj(r, f"/resumes/{i}", ("step", "session"))
            self.int_(r["step"], f"/resumes/{i}/step")
            self.int_(r["session"], f"/resumes/{i}/session")

    def summary(self, v: Any) -> None:
        keys = ("steps", "first_step", "last_step", "wall_time", "sessions", "resumes",
                "damage", "metrics", "analysis")  # fmt: skip
        s = self.obj(v, "/summary", keys)
        self.int_(s["steps"], "/summary/steps")
        self.int_(s["first_step"], "/summary/first_step", null=True)
        self.int_(s["last_step"], "/summary/last_step", null=True)
        self.num(s["wall_time"], "/summary/wall_time")
        self.int_(s["sessions"], "/summary/sessions")
        self.int_(s["resumes"], "/summary/resumes")
        for i, d in enumerate(self.arr(s["damage"], "/summary/damage")):
            self.obj(d, f"/summary/damage/{i}", ("start", "end", "kind"))
        for name, m in self.obj(s["metrics"], "/summary/metrics").items():
            p = f"/summary/metrics/{_esc(name)}"
            self.obj(m, p, ("points", "first", "last", "min", "max", "nan", "inf", "neg_inf"))
            for k in ("points", "nan", "inf", "neg_inf"):
                self.int_(m[k], f"{p}/{k}")
            for k in ("first", "last", "min", "max"):
                self.point(m[k], f"{p}/{k}")
        self.analysis(s["analysis"])

    def analysis(self, v: Any) -> None:
        """The fields readers use (`compare`, the plot's note); the rest is free."""
        a = self.obj(v, "/summary/analysis")
        if "metrics" in a:
            for name, m in self.obj(a["metrics"], "/summary/analysis/metrics").items():
                p = f"/summary/analysis/metrics/{_esc(name)}"
                self.obj(m, p, ("goal", "trend", "convergence"))
                self.str_(m["goal"], f"{p}/goal", null=True, enum=_GOALS)
                self.str_(m["convergence"], f"{p}/convergence", null=True, enum=_CONVERGENCE)
                if m["trend"] is not None:
                    self.obj(m["trend"], f"{p}/trend")
                if "best" in m:
                    self.point(m["best"], f"{p}/best")
        if "convergence" in a:
            c = self.obj(a["convergence"], "/summary/analysis/convergence", ("metric", "status"))
            self.str_(c["metric"], "/summary/analysis/convergence/metric", null=True)
            self.str_(c["status"], "/summary/analysis/convergence/status", null=True,
                      enum=_CONVERGENCE)  # fmt: skip
        if "overfitting" in a:
            for i, o in enumerate(self.arr(a["overfitting"], "/summary/analysis/overfitting")):
                p = f"/summary/analysis/overfitting/{i}"
                self.obj(o, p, ("train", "val", "goal", "status"))
                self.str_(o["train"], f"{p}/train")
                self.str_(o["val"], f"{p}/val")
                self.str_(o["goal"], f"{p}/goal", null=True, enum=_GOALS)
                self.str_(o["status"], f"{p}/status", enum=("overfitting", "none", "unknown"))

    def provenance(self, v: Any) -> None:
        p = self.obj(v, "/provenance", ("source", "sampling", "curvelog"))
        src = self.obj(p["source"], "/provenance/source", ("name", "size", "sha256"))
        self.str_(src["name"], "/provenance/source/name")
        self.int_(src["size"], "/provenance/source/size")
        self.str_(src["sha256"], "/provenance/source/sha256", null=True)
        if src["sha256"] is not None and not _HEX64.match(src["sha256"]):
            raise self.fail("/provenance/source/sha256", "expected 64 lowercase hex digits")
        smp = self.obj(p["sampling"], "/provenance/sampling", ("method", "points"))
        self.str_(smp["method"], "/provenance/sampling/method")
        self.int_(smp["points"], "/provenance/sampling/points")
        self.str_(p["curvelog"], "/provenance/curvelog")

    def bundle(self, b: Any) -> None:
        if not isinstance(b, dict):
            raise self.fail("", f"expected a JSON object, found {self._what(b)}")
        self.schema(b)
        self.obj(b, "", ("run", "charts", "best", "resumes", "summary", "provenance"))
        self.run(b["run"])
        self.charts(b["charts"])
        self.best(b["best"])
        self.resumes(b["resumes"])
        self.summary(b["summary"])
        self.provenance(b["provenance"])


def validate_bundle(bundle: Any, *, source: str = "<bundle>") -> None:
    """Raise `BundleError` (naming the JSON pointer) unless ``bundle`` is a valid 1.x bundle.

    :raises BundleVersionError: ``schema`` names another major version.
    """
    _Checker(source).bundle(bundle)


def schema_document() -> dict[str, Any]:
    """The JSON Schema of the bundle format shipped with this package."""
    text = Path(__file__).with_name("schema.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]
