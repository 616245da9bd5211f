#!/usr/bin/env python3
"""Speed and memory of curvelog's samplers next to tsdownsample's, same run.

For each size N, a synthetic training curve (noisy decay, spikes, a NaN) is
written once to a ``.npy`` pair; then every contender runs in a fresh process
that loads the arrays, resets its peak resident memory (Linux
``/proc/self/clear_refs``), runs the sampler
(best of ``--repeats``, after one warm-up), and reports the time and the
peak memory it added over the loaded data. Printed: points per second, peak
extra bytes per input point, and each curvelog method's time as a ratio to
its tsdownsample peer (``auto`` against MinMaxLTTB, ``lttb`` against LTTB,
``minmax`` against MinMax), and the CPU time of the best run (both threads:
the machine is shared, and CPU time moves less with the load than wall time;
the load average is printed). tsdownsample (the ``[bench]`` extra) cannot take
NaN, so its runs get the NaN replaced by the previous value.

    .venv/bin/python tools/bench_sampling.py                     # 1e6, 1e7, 1e8
    .venv/bin/python tools/bench_sampling.py --sizes 1e7 --repeats 5
    .venv/bin/python tools/bench_sampling.py --baseline /tmp/old/src   # before/after, same run

``--baseline DIR`` adds each curvelog method run from another copy of the
package (``DIR`` goes first on ``PYTHONPATH``; e.g. ``git worktree add`` of an
older commit, its ``src``), so a change is measured against the code before
it in the same run.

Nothing here gates a build; the numbers go to docs/SAMPLING.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

N_OUT = 2000

CONTENDERS = (
    ("curvelog auto", "auto"),
    ("curvelog lttb", "lttb"),
    ("curvelog minmax", "minmax"),
    ("tsdownsample MinMaxLTTB", "MinMaxLTTBDownsampler"),
    ("tsdownsample LTTB", "LTTBDownsampler"),
    ("tsdownsample MinMax", "MinMaxDownsampler"),
    ("tsdownsample M4", "M4Downsampler"),
)
PEERS = {
    "curvelog auto": "tsdownsample MinMaxLTTB",
    "curvelog lttb": "tsdownsample LTTB",
    "curvelog minmax": "tsdownsample MinMax",
}

_CHILD = r"""
import json, sys, time
import numpy as np
x = np.load(sys.argv[1]); y = np.load(sys.argv[2]); what = sys.argv[3]; reps = int(sys.argv[4])
n_out = int(sys.argv[5])
if what in ("auto", "lttb", "minmax"):
    from curvelog.sampling import downsample
    run = lambda: downsample(x, y, method=what, n_out=n_out)
else:
    import tsdownsample
    fin = np.isfinite(y)
    if not fin.all():  # tsdownsample takes no NaN: carry the previous value
        idx = np.where(fin, np.arange(y.size), 0)
        np.maximum.accumulate(idx, out=idx)
        y = y[idx]
        del idx
    del fin
    ds = getattr(tsdownsample, what)()
    kw = {"minmax_ratio": 4} if what == "MinMaxLTTBDownsampler" else {}
    run = lambda: ds.downsample(x, y, n_out=n_out, **kw)
def status(key):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key))
with open("/proc/self/clear_refs", "w") as fh:  # reset the peak to the current size
    fh.write("5")
base = status("VmRSS:")
out = run()
peak = status("VmHWM:")
best = cpu = float("inf")
for _ in range(reps):
    t = time.perf_counter(); c = time.process_time(); out = run()
    best = min(best, time.perf_counter() - t); cpu = min(cpu, time.process_time() - c)
kept = int(np.unique(out).size)
print(json.dumps({"s": best, "cpu": cpu, "extra_kb": peak - base, "points": kept}))
"""


def make_curve(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Steps 0..n-1 and a noisy decaying loss with spikes and one NaN."""
    rng = np.random.default_rng(seed)
    x = np.arange(n, dtype=np.int64)
    y = np.linspace(0.0, 1.0, n)
    np.multiply(y, -1 / 0.08, out=y)
    np.exp(y, out=y)
    y *= 2.5
    y += 0.35
    y += rng.normal(0.0, 0.05, n)
    y[rng.integers(0, n, 6)] += 3.0
    y[n // 3] = np.nan
    return x, y


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1e6,1e7,1e8", help="comma-separated N")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip", default="", help="contenders to skip, comma-separated methods")
    p.add_argument("--json", type=Path, help="write every row here")
    p.add_argument("--baseline", type=Path, help="also run curvelog's methods from this src folder")
    a = p.parse_args(argv)
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in a.sizes.split(","):
            n = int(float(size))
            x, y = make_curve(n)
            fx, fy = Path(tmp) / "x.npy", Path(tmp) / "y.npy"
            np.save(fx, x)
            np.save(fy, y)
            del x, y
            res = {}
            runs = [(name, what, None) for name, what in CONTENDERS]
            if a.baseline:
                runs += [
                    (f"{name} (baseline)", what, a.baseline)
                    for name, what in CONTENDERS
                    if what in ("auto", "lttb", "minmax")
                ]
            for name, what, src in runs:
                if what in skip:
                    continue
                env = dict(os.environ)
                if src is not None:
                    env["PYTHONPATH"] = os.pathsep.join(
                        [str(src.resolve()), *filter(None, [os.environ.get("PYTHONPATH")])]
                    )
                cmd = [sys.executable, "-c", _CHILD, str(fx), str(fy), what, str(a.repeats)]
                out = subprocess.run(
                    cmd + [str(N_OUT)], capture_output=True, text=True, check=True, env=env
                )
                r = json.loads(out.stdout)
                res[name] = r
                rows.append({"n": n, "method": name, **r})
            print(
                f"\nN = {n:,} points, n_out = {N_OUT:,}, best of {a.repeats}, "
                "each in a fresh process\n"
            )
            print(
                "| method | points | ms | CPU ms | M points/s | peak extra MB | bytes/point "
                "| vs peer | CPU vs peer |"
            )
            print("|---|---|---|---|---|---|---|---|---|")
            for name, r in res.items():
                peer = PEERS.get(name.removesuffix(" (baseline)"))
                ratio = f"{r['s'] / res[peer]['s']:.1f}x {peer}" if peer in res else ""
                cpu_ratio = f"{r['cpu'] / max(res[peer]['cpu'], 1e-9):.1f}x" if peer in res else ""
                mb = r["extra_kb"] / 1024
                print(
                    f"| {name} | {r['points']:,} | {r['s'] * 1e3:.0f} | {r['cpu'] * 1e3:.0f} | "
                    f"{n / r['s'] / 1e6:.0f} | "
                    f"{mb:.0f} | {mb * 1024 * 1024 / n:.2f} | {ratio} | {cpu_ratio} |"
                )
            sys.stdout.flush()
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
