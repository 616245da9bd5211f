"""``curvelog serve``: zoom latency, live update latency and idle CPU, next to the naive peers.

    python tools/bench_serve.py [--steps 1000000 10000000] [--runs 20] [--idle 20]

Needs the serve extra (starlette, uvicorn) and httpx. A baseline, not a gate.

* **zoom**: a real uvicorn server (in a thread) answers ``/api/window`` for
  windows of 100%, 10%, 1% and 0.01% of a 1M- and a 10M-step log (the cached
  logs of tools/_biglog.py), n = 3,200 points (an 800 px plot). Reported:
  the fast answer (``m4``), the ``auto`` refinement the page asks for next, and
  two peers measured in the same run: ``curvelog.downsample(method="auto")``
  called on the raw window directly, and re-reading the log per request
  (``curvelog.read`` + slice, what a server without columns in memory does).
* **live**: a writer appends and flushes; a client polling ``/api/tail`` every
  second, like the page, sees the new steps. Reported: flush-to-answer time
  over 10 flushes; then the same in Chromium, flush to the points drawn.
* **idle CPU**: ``curvelog serve`` in its own process over ``--runs`` open
  logs of 4 metrics, every run ticked (the page polls all of them once a
  second, and the run list every 5 s). Reported: the server's CPU time per
  wall second, next to re-reading every log once a second (the peer).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import curvelog  # noqa: E402
from _biglog import big_log  # noqa: E402


def _server(roots: list[str]) -> tuple[Any, str, threading.Thread]:
    import uvicorn

    from curvelog.web.server import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    server = uvicorn.Server(
        uvicorn.Config(create_app(roots), log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, url, thread


def _best(fn: Any, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def bench_zoom(steps: int, repeats: int) -> None:
    import httpx

    path = big_log(steps)
    server, url, thread = _server([path])
    client = httpx.Client(timeout=600)
    rid = client.get(url + "api/runs").json()["runs"][0]["id"]
    t = time.perf_counter()
    client.get(
        url + "api/window", params={"run": rid, "metric": "train/loss", "x0": 0, "x1": 1, "n": 16}
    )
    load = time.perf_counter() - t
    print(f"\n{steps:,}-step log: first request (reads the log into columns) {load:.2f} s")
    run = curvelog.read(path)
    s = run.series("train/loss")
    x_all, y_all = s.steps, s.values
    print(f"{'window':>8} {'points':>11} {'m4 (fast)':>10} {'auto refine':>12} "
          f"{'peer: auto':>11} {'peer: re-read':>14}")  # fmt: skip
    for frac in (1.0, 0.1, 0.01, 0.0001):
        x0 = steps * 0.4
        x1 = x0 + steps * frac if frac < 1 else steps
        if frac == 1:
            x0 = 0
        q = {"run": rid, "metric": "train/loss", "x0": x0, "x1": x1, "n": 3200}
        fast = _best(
            lambda q=q: client.get(url + "api/window", params={**q, "method": "m4"}), repeats
        )
        auto = _best(lambda q=q: client.get(url + "api/window", params={**q, "method": "auto"}), 1)
        i0, i1 = np.searchsorted(x_all, [x0, x1])
        wx, wy = x_all[i0:i1], y_all[i0:i1]
        peer = _best(lambda wx=wx, wy=wy: curvelog.downsample(wx, wy, method="auto", n_out=3200), 1)

        def reread(x0: float = x0, x1: float = x1) -> None:
            r = curvelog.read(path).series("train/loss")
            a, b = np.searchsorted(r.steps, [x0, x1])
            curvelog.downsample(r.steps[a:b], r.values[a:b], method="minmax", n_out=3200)

        again = _best(reread, 1)
        print(f"{frac:>8.2%} {int(i1 - i0):>11,} {fast * 1e3:>8.0f} ms {auto * 1e3:>10.0f} ms "
              f"{peer * 1e3:>9.1f} ms {again * 1e3:>12.0f} ms   "
              f"(peers / fast: {peer / fast:.1f}x, {again / fast:.1f}x)")  # fmt: skip
    client.close()
    server.should_exit = True
    thread.join(10)


def bench_live(trials: int) -> None:
    import httpx

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "live.log")
        log = curvelog.EventLog(path, flush_every=0)
        for s in range(1000):
            log.append(s, {"loss": 1.0 / (s + 1), "acc": s / 1000, "lr": 1e-3, "gn": 1.0})
        log.flush()
        server, url, thread = _server([d])
        client = httpx.Client(timeout=60)
        rid = client.get(url + "api/runs").json()["runs"][0]["id"]
        last = client.get(url + "api/model", params={"runs": rid}).json()["model"]["runs"][0][
            "last_step"
        ]
        waits = []
        step = 1000
        rng = np.random.default_rng(0)
        for _ in range(trials):
            time.sleep(float(rng.uniform(0.0, 1.0)))  # flushes fall anywhere between two polls
            for _ in range(100):
                log.append(step, {"loss": 1.0 / (step + 1), "acc": 0.5, "lr": 1e-3, "gn": 1.0})
                step += 1
            log.flush()
            flushed = time.perf_counter()
            while True:  # the page's poll: once a second, on its own clock
                time.sleep(1.0 - (time.perf_counter() % 1.0))
                t = client.get(url + "api/tail", params={"runs": f"{rid}:{last}"}).json()["runs"][
                    rid
                ]
                if t["last_step"] == step - 1:
                    waits.append(time.perf_counter() - flushed)
                    last = t["last_step"]
                    break
        log.close()
        client.close()
        server.should_exit = True
        thread.join(10)
    print(f"\nlive: flush -> new steps in the poll answer, {trials} flushes, 1 s poll: "
          f"median {statistics.median(waits):.2f} s, max {max(waits):.2f} s")  # fmt: skip


def bench_screen(trials: int) -> None:
    """Flush to new points on screen, in Debian's chromium (skipped without playwright)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("\nscreen: playwright not installed, skipped")
        return
    args = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"]  # fmt: skip
    with tempfile.TemporaryDirectory() as d, sync_playwright() as p:
        log = curvelog.EventLog(os.path.join(d, "live.log"), flush_every=0)
        for s in range(1000):
            log.append(s, {"train/loss": 1.0 / (s + 1), "val/loss": 1.0, "lr": 1e-3, "gn": 1.0})
        log.flush()
        server, url, thread = _server([d])
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#cl-app[data-live-ready='1']")
        waits, step = [], 1000
        rng = np.random.default_rng(1)
        for _ in range(trials):
            time.sleep(float(rng.uniform(0.0, 1.0)))
            for _ in range(100):
                log.append(step, {"train/loss": 1.0 / (step + 1), "lr": 1e-3, "gn": 1.0})
                step += 1
            log.flush()
            t0 = time.perf_counter()
            page.wait_for_function(
                f"() => {{ const xs = curvelogView.panels[0].u.data[0];"
                f" return xs[xs.length - 1] === {step - 1}; }}",
                polling=20,
            )
            waits.append(time.perf_counter() - t0)
        browser.close()
        log.close()
        server.should_exit = True
        thread.join(10)
    print(f"screen: flush -> new points drawn in Chromium, {trials} flushes: "
          f"median {statistics.median(waits):.2f} s, max {max(waits):.2f} s")  # fmt: skip


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_idle(runs: int, seconds: float) -> None:
    import httpx

    with tempfile.TemporaryDirectory() as d:
        logs = []
        for k in range(runs):
            log = curvelog.EventLog(os.path.join(d, f"run{k:02d}.log"), flush_every=0)
            for s in range(50_000):
                log.append(s, {"train/loss": 1.0 / (s + 1), "val/loss": 1.1 / (s + 1),
                               "lr": 1e-3, "grad_norm": 1.0 + k})  # fmt: skip
            log.flush()
            logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "curvelog", "serve", d, "--port", "0"],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stderr is not None
        line = proc.stderr.readline()
        m = re.search(r"http://\S+", line)
        assert m, line
        url = m.group(0)
        client = httpx.Client(timeout=120)
        ids = [r["id"] for r in client.get(url + "api/runs").json()["runs"]]
        model = client.get(url + "api/model", params={"runs": ",".join(ids)}).json()["model"]
        spec = ",".join(f"{r['id']}:{r['last_step']}" for r in model["runs"])
        time.sleep(2.5)
        c0, t0 = _cpu(proc.pid), time.perf_counter()
        polls = 0
        while time.perf_counter() - t0 < seconds:
            client.get(url + "api/tail", params={"runs": spec})
            polls += 1
            if polls % 5 == 0:
                client.get(url + "api/runs")
            time.sleep(1.0)
        c1, t1 = _cpu(proc.pid), time.perf_counter()
        proc.terminate()
        proc.communicate(timeout=10)
        client.close()
        paths = [log.path for log in logs]
        c = time.process_time()
        for p in paths:
            curvelog.read(p)
        peer = time.process_time() - c  # per second of polling: one re-read of each log
        for log in logs:
            log.close()
    share = (c1 - c0) / (t1 - t0)
    ratio = peer / max(share, 1e-9)
    print(f"\nidle: {runs} open logs x 4 metrics, all ticked, polled every second for "
          f"{t1 - t0:.0f} s: server CPU {share:.1%} of one core; "
          f"peer (re-read every log per poll): {peer:.0%} of one core ({ratio:.0f}x)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--steps", type=int, nargs="*", default=[1_000_000, 10_000_000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--idle", type=float, default=20.0, help="seconds of idle measurement")
    ap.add_argument("--live-trials", type=int, default=10)
    args = ap.parse_args(argv)
    for n in args.steps:
        bench_zoom(n, args.repeats)
    bench_live(args.live_trials)
    bench_screen(args.live_trials)
    bench_idle(args.runs, args.idle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
