"""``curvelog serve``: a real uvicorn server on a free port, asked by httpx and by Chromium."""

from __future__ import annotations

import math
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import curvelog
from _browser import Page, browser_fixture, need, web_page_fixture  # noqa: F401  (fixtures)
from _weblogs import HOSTILE, write_run

httpx = need("httpx")
need("starlette")
uvicorn = need("uvicorn")

from curvelog.web.server import create_app  # noqa: E402

BIG = 100_000


class Server:
    def __init__(self, roots: list[str]) -> None:
        self.app = create_app(roots)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started

    def get(self, path: str, **kw: Any) -> Any:
        return httpx.get(self.url + path, timeout=30, **kw)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """runs/ with a resumed run (hostile metric name), a 100k-step log, and links in and out."""
    base = tmp_path_factory.mktemp("serve")
    root = base / "runs"
    (root / "a").mkdir(parents=True)
    write_run(root / "a" / "run.log")
    rng = np.random.default_rng(7)
    with curvelog.EventLog(root / "big.log", flush_every=0) as log:
        y = np.cumsum(rng.normal(size=BIG))
        y[BIG // 2] = math.nan
        for s, v in enumerate(y.tolist()):
            log.append(s, {"loss": v})
    outside = base / "secret"
    outside.mkdir()
    write_run(outside / "secret.log")
    (outside / "secret.txt").write_text("do not serve")
    os.symlink(outside / "secret.log", root / "link_out.log")
    os.symlink(outside, root / "dir_out")
    os.symlink(root / "a" / "run.log", root / "link_in.log")
    return root


@pytest.fixture(scope="module")
def server(tree: Path) -> Iterator[Server]:
    s = Server([str(tree)])
    yield s
    s.stop()


def _runs(server: Server) -> dict[str, dict[str, Any]]:
    return {r["label"]: r for r in server.get("api/runs").json()["runs"]}


# --------------------------------------------------------------------------- HTTP


def test_lists_only_what_lies_under_the_roots(server: Server, tree: Path) -> None:
    runs = _runs(server)
    # the link inside leads to a listed run: listed once; links out are never listed
    assert sorted(runs) == ["runs/a/run.log", "runs/big.log"]
    assert all("secret" not in label for label in runs)


@pytest.mark.parametrize(
    "path",
    [
        "static/../../etc/passwd",
        "static/..%2f..%2f..%2fetc%2fpasswd",
        "static/%2e%2e/server.py",
        "static/server.py",
        "api/model?runs=../../secret/secret.log",
        "api/model?runs=/etc/passwd",
        "api/window?run=..%2Fsecret%2Fsecret.log&metric=lr&x0=0&x1=9",
        "api/tail?runs=/etc/passwd:0",
        "..%2f..%2fetc%2fpasswd",
    ],
)
def test_traversal_is_refused(server: Server, path: str) -> None:
    r = server.get(path)
    assert r.status_code == 404, (path, r.status_code, r.text[:200])
    assert "root:" not in r.text and "do not serve" not in r.text


@pytest.mark.parametrize(
    "target", ["/static/../../../../etc/passwd", "/static/../livelog.py", "/../../etc/passwd"]
)
def test_raw_traversal_is_refused(server: Server, target: str) -> None:
    """The request line as sent, without a client normalising the dots away."""
    host, port = server.url.split("//")[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as c:
        c.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        while chunk := c.recv(65536):
            reply += chunk
    status = reply.split(b"\r\n", 1)[0]
    assert b" 404 " in status, status
    assert b"root:" not in reply and b"import" not in reply


def test_symlink_out_is_refused_by_id_too(server: Server, tree: Path) -> None:
    import hashlib

    secret = os.path.realpath(tree / "link_out.log")
    rid = hashlib.sha256(secret.encode()).hexdigest()[:16]  # the id it would have had
    assert server.get(f"api/model?runs={rid}").status_code == 404


def test_other_hosts_are_refused(server: Server) -> None:
    assert server.get("api/runs", headers={"Host": "evil.example"}).status_code == 400


def test_page_headers(server: Server) -> None:
    r = server.get("")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-eval" not in csp and "connect-src 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    js = server.get("static/page.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")


def test_model_escapes_nothing_into_html_and_keeps_names(server: Server) -> None:
    rid = _runs(server)["runs/a/run.log"]["id"]
    model = server.get(f"api/model?runs={rid}").json()["model"]
    assert HOSTILE in [c["title"] for c in model["charts"]]  # JSON data, shown with textContent


def test_window_zooms_down_to_the_raw_steps(server: Server, tree: Path) -> None:
    rid = _runs(server)["runs/big.log"]["id"]
    raw = curvelog.read(tree / "big.log").series("loss")
    q = f"api/window?run={rid}&metric=loss&n=2000"
    whole = server.get(q + f"&x0=0&x1={BIG}&method=m4").json()
    assert whole["method"] == "m4" and whole["raw"] == BIG and len(whole["x"]) <= 2000
    ys = [v for v in whole["y"] if v is not None]
    finite = raw.values[np.isfinite(raw.values)]
    assert min(ys) == finite.min() and max(ys) == finite.max()  # extremes kept
    assert BIG // 2 in whole["x"] and whole["y"][whole["x"].index(BIG // 2)] is None  # the NaN
    near = server.get(q + "&x0=40000&x1=41000").json()
    assert near["method"] == "raw"
    assert near["x"] == list(range(39999, 41002))  # every step, one beyond each end
    assert near["y"] == raw.values[39999:41002].tolist()
    refined = server.get(q + "&x0=0&x1=60000&method=auto").json()
    assert refined["method"] == "auto" and len(refined["x"]) <= 2000


def test_bad_window_requests(server: Server) -> None:
    rid = _runs(server)["runs/big.log"]["id"]
    assert server.get(f"api/window?run={rid}&metric=nope&x0=0&x1=1").status_code == 404
    assert server.get(f"api/window?run={rid}&metric=loss&x0=nan&x1=1").status_code == 404
    assert server.get(f"api/window?run={rid}&metric=loss&x0=0&x1=1&method=x").status_code == 404


def test_tail_returns_what_was_appended(tmp_path: Path) -> None:
    log_path = tmp_path / "live.log"
    log = curvelog.EventLog(log_path, best="loss", flush_every=0)
    try:
        for s in range(10):
            log.append(s, {"loss": 10.0 - s})
        log.flush()
        srv = Server([str(tmp_path)])
        try:
            rid = _runs(srv)["live.log" if "live.log" in _runs(srv) else next(iter(_runs(srv)))]
            rid = rid["id"]
            first = srv.get(f"api/model?runs={rid}").json()["model"]["runs"][0]
            assert first["live"] and first["last_step"] == 9
            for s in range(10, 15):
                log.append(s, {"loss": 10.0 - s})
            log.flush()
            time.sleep(0.25)
            t = srv.get(f"api/tail?runs={rid}:9").json()["runs"][rid]
            assert t["series"]["loss"]["x"] == [10, 11, 12, 13, 14]
            assert t["best"] == {"metric": "loss", "step": 14, "value": -4.0}
        finally:
            srv.stop()
    finally:
        log.close()


# --------------------------------------------------------------------------- Chromium


def _open(web_page: Page, server: Server) -> Any:
    pg = web_page.page
    pg.goto(server.url)
    pg.wait_for_selector("#cl-app[data-live-ready='1']", timeout=30_000)
    return pg


def _tick(pg: Any, label: str, server: Server) -> None:
    rid = _runs(server)[label]["id"]
    pg.locator(f"input[data-run='{rid}']").click()


@pytest.mark.browser
def test_serve_page_lists_draws_and_overlays(web_page: Page, server: Server) -> None:
    pg = _open(web_page, server)
    labels = pg.locator(".cl-path").all_text_contents()
    assert labels == ["runs/a/run.log", "runs/big.log"]
    assert pg.locator(".cl-panel").count() == 3  # the first run: loss, lr, hostile
    assert HOSTILE in pg.locator(".cl-panel h2").all_text_contents()
    assert pg.locator("img").count() == 0
    web_page.screenshot("serve_one_run")
    _tick(pg, "runs/big.log", server)
    pg.wait_for_function("() => curvelogView.model.compare === true", timeout=30_000)
    assert pg.evaluate("() => curvelogView.model.runs.length") == 2
    # big.log's "loss" joins the first run's loss panel: 2 + 1 lines there
    assert pg.locator(".cl-panel").count() == 3
    assert pg.evaluate("() => curvelogView.panels[0].u.series.length - 1") == 3
    web_page.screenshot("serve_two_runs")
    assert web_page.errors == [] and web_page.dialogs == []


@pytest.mark.browser
def test_serve_zoom_shows_the_raw_points(web_page: Page, server: Server) -> None:
    pg = _open(web_page, server)
    _tick(pg, "runs/a/run.log", server)  # untick the first, tick the big one
    _tick(pg, "runs/big.log", server)
    pg.wait_for_function("() => curvelogView.model.title === 'big'", timeout=30_000)
    before = pg.evaluate("() => curvelogView.model.charts[0].series[0].x.length")
    assert before <= 2500  # the overview, not 100,000 points
    pg.evaluate("() => curvelogView.setRange(40000, 40500)")
    pg.wait_for_function(
        "() => (document.getElementById('cl-app').getAttribute('data-window') || '').length > 0",
        timeout=30_000,
    )
    pg.wait_for_function(
        "() => { const xs = curvelogView.model.charts[0].series[0].x;"
        " return xs.filter(x => x >= 40000 && x <= 40500).length === 501; }",
        timeout=30_000,
    )
    web_page.screenshot("serve_zoomed_raw")
    # a wide window: M4 at once, then curvelog's auto sampler
    pg.evaluate("() => curvelogView.setRange(10000, 60000)")
    pg.wait_for_function(
        "() => (document.getElementById('cl-app').getAttribute('data-window') || '')"
        ".startsWith('auto:')",
        timeout=60_000,
    )
    xs = pg.evaluate("() => curvelogView.model.charts[0].series[0].x")
    inside = [x for x in xs if 10000 <= x <= 60000]
    assert 100 < len(inside) <= 4 * 1300  # re-sampled: neither the overview nor every step
    web_page.screenshot("serve_zoomed_auto")
    assert web_page.errors == []


@pytest.mark.browser
def test_serve_follows_a_running_log(web_page: Page, tmp_path: Path) -> None:
    log = curvelog.EventLog(tmp_path / "live.log", flush_every=0)
    srv = None
    try:
        for s in range(50):
            log.append(s, {"train/loss": 1.0 / (s + 1), "val/loss": 1.1 / (s + 1)})
        log.flush()
        srv = Server([str(tmp_path)])
        pg = _open(web_page, srv)
        pg.wait_for_function("() => curvelogView.model.runs[0].last_step === 49", timeout=30_000)
        for s in range(50, 80):
            log.append(s, {"train/loss": 1.0 / (s + 1)})
        log.flush()
        flushed = time.monotonic()
        pg.wait_for_function(
            "() => { const xs = curvelogView.panels[0].u.data[0];"
            " return xs[xs.length - 1] === 79; }",
            timeout=15_000,
        )
        seen = time.monotonic() - flushed
        # the name isolated (FSI..PDI): its right-to-left letters cannot reorder the text
        assert "following \u2068live\u2069 (step 79)" in pg.locator(".cl-status").text_content()
        web_page.screenshot("serve_live")
        print(f"new points on screen {seen:.2f} s after the flush")
        # a resume (a new session going back to step 60) redraws the charts with its line
        log.close()
        log = curvelog.EventLog(tmp_path / "live.log", flush_every=0)
        for s in range(60, 90):
            log.append(s, {"train/loss": 2.0})
        log.flush()
        pg.wait_for_function(
            "() => curvelogView.model.charts[0].resumes.map(r => r.step).join() === '60'",
            timeout=15_000,
        )
        pg.wait_for_function(
            "() => { const xs = curvelogView.panels[0].u.data[0];"
            " return xs[xs.length - 1] === 89; }",
            timeout=15_000,
        )
        web_page.screenshot("serve_live_resumed")
        assert web_page.errors == []
    finally:
        log.close()
        if srv is not None:
            srv.stop()


# --------------------------------------------------------------------------- the command


def _start(*args: str) -> tuple[Any, str]:
    import re
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "curvelog", "serve", *args],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines = [proc.stderr.readline()]
    if lines[0].startswith("Warning:"):
        lines.append(proc.stderr.readline())
    m = re.search(r"http://\S+", lines[-1])
    assert m, lines
    return proc, "\n".join(lines)


def test_cli_serve_prints_its_url_and_serves(tree: Path) -> None:
    proc, out = _start(str(tree), "--port", "0")
    try:
        assert out.startswith("Serving 2 runs at http://127.0.0.1:")
        url = out.split(" at ")[1].split()[0]
        labels = [r["label"] for r in httpx.get(url + "api/runs", timeout=30).json()["runs"]]
        assert labels == ["runs/a/run.log", "runs/big.log"]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_cli_serve_warns_off_loopback(tree: Path) -> None:
    proc, out = _start(str(tree / "a"), "--host", "0.0.0.0", "--port", "0")
    try:
        assert out.startswith("Warning: serving on 0.0.0.0: anyone who can reach this machine")
        assert "Serving 1 run at http://0.0.0.0:" in out
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_cli_serve_errors_are_one_line(tmp_path: Path) -> None:
    from _cli import assert_one_line_error, invoke

    r = invoke("serve", str(tmp_path / "missing"), ok=False)
    assert_one_line_error(r, f"{tmp_path / 'missing'}: no such file or folder")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = invoke("serve", str(tmp_path), "--port", str(port), ok=False)
        assert r.exit_code == 2 and f"127.0.0.1:{port}: cannot listen here" in r.stderr
    # a file that is no run said "Serving 0 runs" and served an empty page
    notes = tmp_path / "notes.txt"
    notes.write_text("not a run\n")
    for path in (str(notes), os.devnull):
        r = invoke("serve", path, "--port", "0", ok=False)
        what = "is not a folder, a curvelog log or a chart bundle (.json)"
        assert_one_line_error(r, f"{path}: {what}")


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_serve_of_an_unreadable_file_says_it_cannot_read_it(tmp_path: Path) -> None:
    """It said "is not a folder, a curvelog log or a chart bundle": what the file is
    cannot be told when it cannot be read (crash QA)."""
    import subprocess
    import sys

    log = tmp_path / "run.log"
    with curvelog.EventLog(log, flush_every=0) as w:
        w.append(0, loss=1.0)
    log.chmod(0)
    try:
        # root reads anything: drop the capabilities that let it (non-root: no-op)
        done = subprocess.run(
            ["setpriv", "--bounding-set=-all", "--inh-caps=-all", sys.executable, "-m",
             "curvelog", "serve", str(log), "--port", "0"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        log.chmod(0o644)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"Error: {log}: cannot read (Permission denied)\n"


def test_a_bundle_named_on_the_command_line_is_served_whatever_its_name(tmp_path: Path) -> None:
    """`compact -o x.json` writes a bundle under any name; named as a root, it is one run
    (in a folder, only *.curves.json are opened, so a scan does not read every file)."""
    from curvelog.pipeline import compact
    from curvelog.web.sources import discover

    bundle = tmp_path / "x.json"
    compact(write_run(tmp_path / "r.log"), bundle)
    assert [s.kind for s in discover([str(tmp_path)])] == ["log"]  # the folder: by name only
    (found,) = discover([str(bundle)])
    assert (found.kind, found.label) == ("bundle", "x.json")


def test_a_registry_root_lists_its_bundles(tree: Path, tmp_path: Path) -> None:
    from curvelog.bundle import build_bundle

    reg = curvelog.Registry(tmp_path / "saved_models")
    bundle = build_bundle(curvelog.read(tree / "a" / "run.log"))
    v = reg.file_bundle("product/P001_all/mlp", bundle)
    srv = Server([str(tmp_path / "saved_models")])
    try:
        runs = _runs(srv)
        assert list(runs) == [f"saved_models/product/P001_all/mlp/v{v.number}/curves.json"]
        (run,) = runs.values()
        assert run["kind"] == "bundle"
        model = srv.get(f"api/model?runs={run['id']}").json()["model"]
        assert [c["id"] for c in model["charts"]] == [c["id"] for c in bundle["charts"]]
        window = srv.get(f"api/window?run={run['id']}&metric=lr&x0=0&x1=9")
        assert window.status_code == 404 and "has no raw steps" in window.json()["error"]
    finally:
        srv.stop()


@pytest.mark.browser
def test_a_hostile_file_name_is_text(web_page: Page, tmp_path: Path) -> None:
    write_run(tmp_path / f"{HOSTILE}.log")
    srv = Server([str(tmp_path)])
    try:
        pg = _open(web_page, srv)
        assert pg.locator(".cl-path").all_text_contents() == [f"{tmp_path.name}/{HOSTILE}.log"]
        assert pg.locator(".cl-title").first.text_content() == "curvelog serve"
        assert HOSTILE in pg.locator("#cl-view .cl-title").text_content()  # the run's name
        assert pg.locator("img").count() == 0
        web_page.screenshot("serve_hostile_name")
        assert web_page.errors == [] and web_page.dialogs == []
    finally:
        srv.stop()


def test_import_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys, curvelog, curvelog.web; "
            "print(sorted(m for m in ('starlette', 'uvicorn', 'matplotlib', 'playwright') "
            "if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("missing", ["uvicorn", "starlette"])
def test_cli_serve_without_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    import sys

    from _cli import assert_one_line_error, invoke

    monkeypatch.setitem(sys.modules, missing, None)  # what an install without [serve] sees
    r = invoke("serve", str(tmp_path), ok=False)
    assert_one_line_error(r, "curvelog serve: needs the serve extra: pip install 'curvelog[serve]'")


# --------------------------------------------------------------------------- following changes


def _write(path: Path, steps: range, value: float, *, close: bool = True) -> Any:
    log = curvelog.EventLog(path, best="loss", flush_every=0)
    for s in steps:
        log.append(s, {"loss": value})
    log.flush()
    if close:
        log.close()
    return log


def _loss(model: dict[str, Any]) -> dict[int, float]:
    (s,) = model["charts"][0]["series"]
    return dict(zip(s["x"], s["y"], strict=True))


def test_a_reload_after_a_resume_shows_the_rewritten_values(tmp_path: Path) -> None:
    """Finding 1: the bundle built before a resume went up through old steps was kept."""
    from curvelog.web.server import Store

    _write(tmp_path / "a.log", range(400), 1.0)
    store = Store([str(tmp_path)])
    (src,) = store.sources().values()
    assert set(_loss(store.model([src.id])["model"]).values()) == {1.0}
    log = _write(tmp_path / "a.log", range(100, 130), 2.0, close=False)
    try:
        store.log(src).poll()
        for s in range(130, 300):
            log.append(s, {"loss": 2.0})
        log.flush()
        store.log(src).poll()
        model = store.model([src.id])["model"]
        got = _loss(model)
        assert {got[s] for s in got if 100 <= s < 300} == {2.0}
        assert {got[s] for s in got if s < 100 or s >= 300} == {1.0}
        assert model["runs"][0]["last_step"] == 299  # the writer's step: polls go on from it
    finally:
        log.close()


def test_a_replaced_log_is_read_afresh(tmp_path: Path) -> None:
    """Finding 2: a log replaced by a bigger one was read at the old offset, or not at all."""
    from curvelog.web.server import Store

    _write(tmp_path / "a.log", range(200), 1.0)
    store = Store([str(tmp_path)])
    (src,) = store.sources().values()
    first = store.model([src.id])["model"]
    _write(tmp_path / "new.tmp", range(3000), 7.0)
    os.replace(tmp_path / "new.tmp", tmp_path / "a.log")
    store.log(src).poll()
    t = store.tail(f"{src.id}:199")["runs"][src.id]
    assert t["structure"] != first["runs"][0]["structure"]  # the page rebuilds
    model = store.model([src.id])["model"]
    assert set(_loss(model).values()) == {7.0} and max(_loss(model)) == 2999
    assert model["runs"][0]["last_step"] == 2999


@pytest.mark.browser
def test_serve_shows_the_values_a_resume_rewrites(web_page: Page, tmp_path: Path) -> None:
    """Finding 1: steps a resumed session wrote again kept their old values on the page."""
    _write(tmp_path / "a.log", range(400), 1.0)
    srv = Server([str(tmp_path)])
    log = None
    try:
        pg = _open(web_page, srv)
        log = _write(tmp_path / "a.log", range(100, 130), 2.0, close=False)
        pg.wait_for_function(
            "() => curvelogView.model.charts[0].resumes.map(r => r.step).join() === '100'",
            timeout=15_000,
        )
        for s in range(130, 300):
            log.append(s, {"loss": 2.0})
        log.flush()
        rewritten = (
            "() => { const s = curvelogView.model.charts[0].series[0];"
            " return s.x.every((x, i) => s.y[i] === (x >= 100 && x < 300 ? 2 : 1))"
            " && s.x.includes(250) && s.x[s.x.length - 1] === 399; }"
        )
        pg.wait_for_function(rewritten, timeout=15_000)
        web_page.screenshot("serve_resume_rewritten")
        pg.reload()
        pg.wait_for_selector("#cl-app[data-live-ready='1']", timeout=30_000)
        assert pg.evaluate(rewritten)
        assert web_page.errors == []
    finally:
        if log is not None:
            log.close()
        srv.stop()


@pytest.mark.browser
def test_serve_draws_a_log_replaced_by_another(web_page: Page, tmp_path: Path) -> None:
    """Finding 2: the page kept drawing the old run, also after a reload."""
    _write(tmp_path / "a.log", range(200), 1.0)
    srv = Server([str(tmp_path)])
    try:
        pg = _open(web_page, srv)
        _write(tmp_path / "new.tmp", range(3000), 7.0)
        os.replace(tmp_path / "new.tmp", tmp_path / "a.log")
        pg.wait_for_function(
            "() => { const s = curvelogView.model.charts[0].series[0];"
            " return s.x[s.x.length - 1] === 2999 && s.y.every(y => y === 7); }",
            timeout=15_000,
        )
        assert "3,000 steps" in pg.locator(".cl-subtitle").text_content()
        assert web_page.errors == []
    finally:
        srv.stop()


def _value(s: int) -> float:
    return {50: math.nan, 244: math.nan, 300: math.inf, 341: -math.inf}.get(s, 10 / (1 + s))


@pytest.mark.browser
def test_serve_marks_nan_and_inf_that_arrive_while_following(
    web_page: Page, tmp_path: Path
) -> None:
    """Finding 5: a live NaN/inf was a gap without a mark, and the subtitle froze."""
    log = curvelog.EventLog(tmp_path / "a.log", best="loss", flush_every=0)
    srv = None
    try:
        for s in range(200):
            log.append(s, {"loss": _value(s)})
        log.flush()
        srv = Server([str(tmp_path)])
        pg = _open(web_page, srv)
        assert pg.locator(".cl-ev").all_text_contents() == ["\u2716 NaN"]
        for s in range(200, 400):
            log.append(s, {"loss": _value(s)})
        log.flush()
        pg.wait_for_function(
            "() => curvelogView.model.charts[0].events.map(e => e.kind + '@' + e.step).join()"
            " === 'nan@50,nan@244,inf@300,-inf@341'",
            timeout=15_000,
        )
        assert pg.locator(".cl-ev").all_text_contents() == [
            "\u2716 NaN \u00d72",
            "\u25b2 +inf",
            "\u25bc \u2212inf",
        ]
        assert pg.locator(".cl-subtitle").text_content().startswith("400 steps")
        web_page.screenshot("serve_live_nan_inf")
        (rid,) = (r["id"] for r in _runs(srv).values())
        tail = srv.get(f"api/tail?runs={rid}:299").json()
        events = next(iter(tail["runs"].values()))["series"]["loss"]["events"]
        assert events == [
            {"kind": "inf", "step": 300, "last": 300, "count": 1},
            {"kind": "-inf", "step": 341, "last": 341, "count": 1},
        ]
        assert web_page.errors == []
    finally:
        log.close()
        if srv is not None:
            srv.stop()


def test_a_root_gone_or_no_longer_a_run_hides_only_itself(tmp_path: Path) -> None:
    """Finding 3: one root removed (or a single-file root emptied) blanked every run."""
    (tmp_path / "runs").mkdir()
    (tmp_path / "gone").mkdir()
    _write(tmp_path / "runs" / "a.log", range(10), 1.0)
    _write(tmp_path / "gone" / "x.log", range(10), 1.0)
    _write(tmp_path / "single.log", range(10), 1.0)
    roots = [str(tmp_path / p) for p in ("runs", "gone", "single.log")]
    srv = Server(roots)
    try:
        assert sorted(_runs(srv)) == ["gone/x.log", "runs/a.log", "single.log"]
        import shutil

        shutil.rmtree(tmp_path / "gone")
        (tmp_path / "single.log").write_bytes(b"")  # a script starting a fresh log
        srv.app.state.store._scanned = 0.0  # the next request walks the roots again
        r = srv.get("api/runs")
        assert r.status_code == 200
        assert [x["label"] for x in r.json()["runs"]] == ["runs/a.log"]
        assert r.json()["missing"] == [
            f"{roots[1]}: no such file or folder",
            f"{roots[2]}: is not a folder, a curvelog log or a chart bundle (.json)",
        ]
        _write(tmp_path / "single.log", range(5), 2.0)  # the fresh log, written
        srv.app.state.store._scanned = 0.0
        assert sorted(_runs(srv)) == ["runs/a.log", "single.log"]
        assert srv.get("api/runs").json()["missing"] == [f"{roots[1]}: no such file or folder"]
    finally:
        srv.stop()


@pytest.mark.browser
def test_serve_unticks_a_drawn_log_that_is_deleted(web_page: Page, tmp_path: Path) -> None:
    """Finding 4: the deleted run stayed drawn, another was ticked, its tail polled (404)."""
    _write(tmp_path / "a.log", range(50), 1.0)
    _write(tmp_path / "b.log", range(100), 2.0)
    srv = Server([str(tmp_path)])
    try:
        pg = _open(web_page, srv)
        assert pg.evaluate("() => curvelogView.model.title") == "a"
        (tmp_path / "a.log").unlink()
        pg.wait_for_function(
            "() => document.querySelectorAll('.cl-path').length === 1", timeout=30_000
        )
        pg.wait_for_function(
            "() => document.querySelector('#cl-view .cl-panel') === null", timeout=15_000
        )
        assert pg.locator(".cl-path").all_text_contents() == [f"{tmp_path.name}/b.log"]
        assert not pg.locator("input[data-run]").is_checked()  # b was never picked
        assert f"{tmp_path.name}/a.log" in pg.locator(".cl-missing").first.text_content()
        assert "tick a run" in pg.locator("#cl-view").text_content()
        # no poll of the gone run: a poll in flight when the file went may still say
        # so once; after that the status stays empty over more than a poll period
        pg.wait_for_function("() => document.querySelector('.cl-status').textContent === ''")
        pg.wait_for_timeout(2500)
        assert pg.locator(".cl-status").text_content() == ""
        web_page.screenshot("serve_drawn_log_deleted")
        pg.locator("input[data-run]").click()  # ticking b draws b
        pg.wait_for_function("() => curvelogView.model.title === 'b'", timeout=15_000)
    finally:
        srv.stop()


@pytest.mark.browser
def test_serve_drops_the_gone_note_when_the_run_comes_back(web_page: Page, tmp_path: Path) -> None:
    """regress2 finding 6: a root moved away and back kept "no longer found" until a click."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    _write(tmp_path / "a" / "one.log", range(50), 1.0)
    _write(tmp_path / "b" / "two.log", range(50), 2.0)
    srv = Server([str(tmp_path / "a"), str(tmp_path / "b")])
    note = "() => document.querySelector('div.cl-missing').textContent"
    try:
        pg = _open(web_page, srv)
        pg.locator("input[data-run]:not(:checked)").click()  # both ticked
        pg.wait_for_function("() => curvelogView.model.runs.length === 2", timeout=15_000)
        (tmp_path / "b").rename(tmp_path / "b_away")
        srv.app.state.store._scanned = 0.0
        pg.wait_for_function(f"() => ({note})().includes('two.log')", timeout=30_000)
        assert pg.evaluate(note) == "no longer found (deleted or moved): \u2068b/two.log\u2069"
        (tmp_path / "b_away").rename(tmp_path / "b")
        srv.app.state.store._scanned = 0.0
        pg.wait_for_function("() => document.querySelectorAll('input[data-run]').length === 2")
        pg.wait_for_function(f"() => ({note})() === ''", timeout=30_000)
        assert pg.locator("li.cl-missing").count() == 0  # "skipped" went too
        # a poll may ask for the gone run's tail before the list drops it: a 404
        assert [e for e in web_page.errors if "status of 404" not in e] == []
    finally:
        srv.stop()


def test_concurrent_first_requests_read_and_build_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 7: 8 requests arriving before the first read ended read the log 8 times."""
    from curvelog.web.server import Store

    _write(tmp_path / "a.log", range(100), 1.0)
    store = Store([str(tmp_path)])
    (src,) = store.sources().values()
    real_read, real_build = curvelog.read, curvelog.build_bundle
    reads: list[str] = []
    builds: list[int] = []
    arrived = threading.Condition()

    def read(path: Any, *a: Any, **kw: Any) -> Any:
        with arrived:  # hold the first read open while the other requests arrive
            reads.append(str(path))
            arrived.notify_all()
            arrived.wait_for(lambda: len(reads) > 1, timeout=1.0)
        return real_read(path, *a, **kw)

    def build(*a: Any, **kw: Any) -> Any:
        builds.append(1)
        return real_build(*a, **kw)

    monkeypatch.setattr(curvelog, "read", read)
    monkeypatch.setattr(curvelog, "build_bundle", build)
    models: list[Any] = []
    threads = [
        threading.Thread(target=lambda: models.append(store.model([src.id]))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(models) == 8 and all(m == models[0] for m in models)
    assert len(reads) == 1 and len(builds) == 1


@pytest.mark.browser
def test_serve_keeps_a_fast_log_light(web_page: Page, tmp_path: Path) -> None:
    """Finding 8: every poll appended up to 2,000 points per line, never re-sampled."""
    rng = np.random.default_rng(11)
    y = np.cumsum(rng.normal(size=81_000))
    y[45_123] = math.nan
    log = curvelog.EventLog(tmp_path / "fast.log", flush_every=0)
    srv = None
    try:
        for s in range(1000):
            log.append(s, {"loss": float(y[s])})
        log.flush()
        srv = Server([str(tmp_path)])
        pg = _open(web_page, srv)
        for k in range(8):  # 8 polls of 10,000 new steps each
            last = 1000 + 10_000 * (k + 1)
            for s in range(last - 10_000, last):
                log.append(s, {"loss": float(y[s])})
            log.flush()
            pg.wait_for_function(
                f"() => {{ const xs = curvelogView.panels[0].u.data[0];"
                f" return xs[xs.length - 1] === {last - 1}; }}",
                timeout=15_000,
            )
        held = pg.evaluate(
            "() => { const s = curvelogView.model.charts[0].series[0]; return [s.x, s.y]; }"
        )
        assert len(held[0]) <= 10_000  # 1,000 + 8 x 2,000 without re-sampling
        finite = [v for v in held[1] if v is not None]
        assert min(finite) == y[np.isfinite(y)].min() and max(finite) == y[np.isfinite(y)].max()
        assert held[1][held[0].index(45_123)] is None  # the NaN kept
        assert web_page.errors == []
    finally:
        log.close()
        if srv is not None:
            srv.stop()


@pytest.mark.browser
def test_serve_keeps_a_diverged_log_light_and_its_nan_run_one_event(
    web_page: Page, tmp_path: Path
) -> None:
    """regress2 finding 4: a run NaN from step 3,000 on was never re-sampled (every NaN
    kept: the page held every step) and its NaN run was cut into one event per poll."""
    log = curvelog.EventLog(tmp_path / "nan.log", flush_every=0)
    srv = None
    try:
        for s in range(1000):
            log.append(s, {"loss": 10 / (1 + s)})
        log.flush()
        srv = Server([str(tmp_path)])
        pg = _open(web_page, srv)
        for k in range(8):  # 8 polls of 10,000 new steps each, NaN from 3,000
            last = 1000 + 10_000 * (k + 1)
            for s in range(last - 10_000, last):
                log.append(s, {"loss": 10 / (1 + s) if s < 3000 else math.nan})
            log.flush()
            pg.wait_for_function(
                f"() => {{ const xs = curvelogView.panels[0].u.data[0];"
                f" return xs[xs.length - 1] === {last - 1}; }}",
                timeout=15_000,
            )
        # re-sampled back under 8,000 once the poll's re-sampling lands
        pg.wait_for_function(
            "() => curvelogView.model.charts[0].series[0].x.length <= 8000", timeout=15_000
        )
        held = pg.evaluate(
            "() => { const s = curvelogView.model.charts[0].series[0]; return [s.x, s.y]; }"
        )
        at = dict(zip(held[0], held[1], strict=True))
        assert at[2999] == 10 / 3000 and at[3000] is None and at[80_999] is None
        events = pg.evaluate(
            "() => curvelogView.model.charts[0].events.map(e => [e.kind, e.step, e.last, e.count])"
        )
        assert events == [["nan", 3000, 80_999, 78_000]]  # one event, as a reload shows
        assert pg.locator(".cl-ev").all_text_contents() == ["\u2716 NaN \u00d778,000"]
        assert web_page.errors == []
    finally:
        log.close()
        if srv is not None:
            srv.stop()


def test_cli_serve_answers_at_any_loopback_address_it_prints(tree: Path) -> None:
    """Finding 6: --host 127.0.0.2 printed a URL whose every request was refused."""
    proc, out = _start(str(tree / "a"), "--host", "127.0.0.2", "--port", "0")
    try:
        assert out.startswith("Serving 1 run at http://127.0.0.2:")  # loopback: no warning
        url = out.split(" at ")[1].split()[0]
        assert httpx.get(url, timeout=30).status_code == 200
        assert httpx.get(url + "api/runs", timeout=30).status_code == 200
        foreign = httpx.get(url + "api/runs", headers={"Host": "evil.example"}, timeout=30)
        assert foreign.status_code == 400  # still no DNS rebinding
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


@pytest.mark.browser
def test_bidi_controls_in_names_are_shown_not_obeyed(web_page: Page, tmp_path: Path) -> None:
    """Finding 10: a RIGHT-TO-LEFT OVERRIDE in a name reversed the UI text after it."""
    rlo = "\u202e"
    with curvelog.EventLog(tmp_path / f"r<b>un{rlo}.log", best="loss", flush_every=0) as log:
        for s in range(20):
            log.append(s, {"loss": 1.0 / (s + 1), f"{rlo}evil": float(s), f"{rlo}evil2": 1.0})
    srv = Server([str(tmp_path)])
    try:
        pg = _open(web_page, srv)
        shown = "r<b>un[U+202E].log"
        assert pg.locator(".cl-runlist label bdi").all_text_contents() == [shown]
        assert pg.locator(".cl-path bdi").all_text_contents() == [f"{tmp_path.name}/{shown}"]
        assert "[U+202E]evil" in pg.locator(".cl-panel h2 bdi").all_text_contents()
        assert rlo not in pg.locator("body").inner_text()  # nowhere obeyed
        web_page.screenshot("serve_bidi_names")
        assert web_page.errors == [] and web_page.dialogs == []
    finally:
        srv.stop()


@pytest.mark.browser
def test_registry_versions_are_named_by_key_and_version(
    web_page: Page, tree: Path, tmp_path: Path
) -> None:
    """Finding 10: every registry version was listed as a bold "curves.json"."""
    from curvelog.bundle import build_bundle

    reg = curvelog.Registry(tmp_path / "saved_models")
    bundle = build_bundle(curvelog.read(tree / "a" / "run.log"))
    v1 = reg.file_bundle("product/P001_all/mlp", bundle).number
    other = build_bundle(curvelog.read(tree / "big.log"))
    v2 = reg.file_bundle("product/P001_all/mlp", other).number
    srv = Server([str(tmp_path / "saved_models")])
    try:
        pg = _open(web_page, srv)
        names = pg.locator(".cl-runlist label bdi").all_text_contents()
        assert names == [f"mlp/v{v1}", f"mlp/v{v2}"]
    finally:
        srv.stop()
