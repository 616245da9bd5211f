"""Every error: message, attributes, builtin base, pickling."""

from __future__ import annotations

import pickle

import pytest

from curvelog import errors as e

# fmt: off
CASES = [
    (e.MetricTypeError("loss", "str"), TypeError,
     "metric 'loss': cannot record a value of type str",
     {"metric": "loss", "value_type": "str"}),
    (e.MetricNameError("'a\\udcff'", "str", "not valid UTF-8"), e.MetricTypeError,
     "metric name 'a\\udcff': cannot record a name of type str (not valid UTF-8)",
     {"metric": "'a\\udcff'", "value_type": "str"}),
    (e.MetricNotFoundError("a.log", "acc", ["loss"]), KeyError,
     "a.log: no metric matches 'acc' (metrics: loss)", {"metric": "acc", "known": ["loss"]}),
    (e.StepError(-1), ValueError, "step -1 (int) is not a non-negative integer",
     {"step_repr": "-1"}),
    (e.ChartsError("chart 'loss': scale must be 'linear' or 'log'"), ValueError,
     "charts: chart 'loss': scale", {"reason": "chart 'loss': scale must be 'linear' or 'log'"}),
    (e.ConfigError("a.log", "str"), TypeError,
     "a.log: config must be a mapping (or a dataclass, namespace, named tuple, attrs or "
     "pydantic object), not str (pass a dict)",
     {"where": "a.log", "value_type": "str"}),
    (e.LogClosedError("a.log"), ValueError, "a.log: the log is closed", {"path": "a.log"}),
    (e.LogLockedError("a.log"), OSError, "a.log: another writer already has this log open",
     {"path": "a.log"}),
    (e.LogFormatError("a.log", 8, "bad"), ValueError, "a.log: byte 8: bad", {"offset": 8}),
    (e.LogCorruptError("a.log", 9, "torn"), e.LogFormatError, "a.log: byte 9: torn", {"offset": 9}),
    (e.PathError("x", "no such file"), OSError, "x: no such file", {"path": "x"}),
    (e.OutputExistsError("o.json"), FileExistsError, "o.json: already exists; pass --force",
     {"path": "o.json"}),
    (e.SamplingError("n_out must be >= 1"), ValueError, "n_out must be >= 1", {}),
    (e.BundleError("b.json", "/charts/0/x", "not a list"), ValueError,
     "b.json: invalid bundle at /charts/0/x: not a list", {"pointer": "/charts/0/x"}),
    (e.BundleVersionError("b.json", "/schema", "major 2"), e.BundleError,
     "b.json: invalid bundle at /schema: major 2", {}),
    (e.PlotError("no chart 'acc'"), ValueError, "no chart 'acc'", {}),
    (e.PlotError("too large", "use a smaller dpi"), ValueError, "too large; use a smaller dpi",
     {"reason": "too large", "advice": "use a smaller dpi"}),
    (e.ServeError("127.0.0.1:80", "cannot listen"), RuntimeError, "127.0.0.1:80: cannot listen",
     {"what": "127.0.0.1:80", "reason": "cannot listen"}),
    (e.RegistryKeyError("bad key"), ValueError, "bad key", {}),
    (e.RegistryKeyError("bad key", key="a//b"), ValueError, "bad key", {"key": "a//b"}),
    (e.VersionNotFoundError("no v3"), LookupError, "no v3", {}),
    (e.VersionNotFoundError("no v3", key="k", version=3), LookupError, "no v3",
     {"key": "k", "version": 3}),
    (e.RegistryCorruptError("broken"), ValueError, "broken", {}),
    (e.RegistryCorruptError("broken", path="/r/versions.json"), ValueError, "broken",
     {"path": "/r/versions.json"}),
    (e.RegistryLockTimeout("/r/.lock", 5.0), TimeoutError,
     "/r/.lock: could not take the registry lock",
     {"lock_file": "/r/.lock", "timeout": 5.0}),
    (e.RegistryIndexError("postgresql://u:***@db/x", "cannot connect"), e.RegistryError,
     "postgresql://u:***@db/x: cannot connect", {"index": "postgresql://u:***@db/x"}),
]
# fmt: on


@pytest.mark.parametrize(("err", "builtin", "text", "attrs"), CASES, ids=lambda x: type(x).__name__)
def test_error(err: e.CurvelogError, builtin: type, text: str, attrs: dict[str, object]) -> None:
    assert isinstance(err, e.CurvelogError) and isinstance(err, builtin)
    assert str(err).startswith(text)
    assert repr(err) == f"{type(err).__name__}({str(err)!r})"
    for key, value in attrs.items():
        assert getattr(err, key) == value
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and str(back) == str(err)
    for key, value in attrs.items():
        assert getattr(back, key) == value


def test_every_exported_error_is_covered() -> None:
    covered = {type(c[0]).__name__ for c in CASES} | {"CurvelogError", "RegistryError"}
    assert covered == set(e.__all__)
