"""``curvelog serve``: a local web server that lists runs, draws them and follows running logs.

Built on Starlette (routing, request parsing, responses, middleware) served by
uvicorn: both small, typed, maintained, and the standard ASGI pair, so no HTTP
is parsed here by hand. They are the ``[serve]`` extra and are imported only
by this module.

The page is the report's page (``static/page.js``) plus ``static/live.js``,
which asks this server for:

* ``/api/runs``: the runs found under the given paths (rescanned, at most every 2 s);
* ``/api/model?runs=ID,ID``: the page model of those runs (one, or overlaid);
* ``/api/tail?runs=ID:STEP,...``: what each log gained after STEP (polled every second);
* ``/api/window?run=ID&metric=M&x0=&x1=&n=&method=``: one metric re-sampled
  over [x0, x1] from the raw steps in memory (``m4`` at once, ``auto`` to refine).

Runs are named by opaque ids (`curvelog.web.sources`), never by paths.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from ..errors import CurvelogError, ServeError
from .livelog import LiveLog, Window
from .report import asset, render_page
from .sources import Source, discover

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from ..bundle import Bundle

__all__ = ["Store", "create_app", "serve"]

_STATIC: Final[dict[str, tuple[str, str]]] = {
    "draw.js": ("static/draw.js", "text/javascript"),
    "page.js": ("static/page.js", "text/javascript"),
    "live.js": ("static/live.js", "text/javascript"),
    "page.css": ("static/page.css", "text/css"),
    "uPlot.iife.min.js": ("vendor/uPlot.iife.min.js", "text/javascript"),
    "uPlot.min.css": ("vendor/uPlot.min.css", "text/css"),
}
_CSP: Final[str] = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_RESCAN_S: Final[float] = 2.0
_POLL_S: Final[float] = 0.2  # a log is stat'ed at most this often, however many pages ask
_MAX_N: Final[int] = 20_000
_TAIL_N: Final[int] = 2_000


class BadRequest(CurvelogError, ValueError):
    """A request the API cannot answer (unknown run or metric, bad number)."""


def _floats(values: Any) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in values.tolist()]


def _window_json(w: Window) -> dict[str, Any]:
    """JSON has no NaN or inf: they go as null, and a tail's events say which they are."""
    from .model import _events

    out = {"x": w.x.tolist(), "y": _floats(w.y), "raw": w.raw, "method": w.method}
    if w.events:
        out["events"] = _events({"events": w.events})
    return out


class Store:
    """The runs under the roots, each log read once and then followed."""

    def __init__(self, roots: Sequence[str]) -> None:
        self.roots = list(roots)
        self._lock = threading.Lock()
        self._sources: dict[str, Source] = {}
        self._scanned = 0.0
        self._logs: dict[str, LiveLog] = {}
        self._polled: dict[str, float] = {}
        self._run_locks: dict[str, threading.Lock] = {}
        self._bundles: dict[str, tuple[LiveLog, tuple[int, int, int | None], Bundle]] = {}
        #: the roots the last rescan skipped ("PATH: why")
        self.missing: list[str] = []
        # a bad root fails at start, not on the first request
        self._sources = {s.id: s for s in discover(self.roots)}
        self._scanned = time.monotonic()

    def sources(self) -> dict[str, Source]:
        """The runs under the roots, walked again if the last walk is over 2 s old.

        A root gone since the start is skipped and noted in `missing`.
        """
        with self._lock:
            if time.monotonic() - self._scanned > _RESCAN_S:
                missing: list[str] = []
                self._sources = {s.id: s for s in discover(self.roots, missing=missing)}
                self.missing = missing
                self._scanned = time.monotonic()
            return self._sources

    def source(self, rid: str) -> Source:
        """The run with id ``rid``; polls and zooms do not walk the tree, an unknown id may."""
        src = self._sources.get(rid) or self.sources().get(rid)
        if src is None:
            raise BadRequest(f"no run {rid!r}")
        return src

    def _run_lock(self, rid: str) -> threading.Lock:
        """One lock per run: its first read and its bundle are made once, however many
        requests ask at once (the others wait for them instead of reading again)."""
        with self._lock:
            return self._run_locks.setdefault(rid, threading.Lock())

    def log(self, src: Source) -> LiveLog:
        with self._lock:
            live = self._logs.get(src.id)
        if live is not None:
            return live
        with self._run_lock(src.id):
            with self._lock:
                live = self._logs.get(src.id)
            if live is None:  # the first asker reads; the others found it above
                live = LiveLog(src.path)
                with self._lock:
                    self._logs[src.id] = live
                    self._polled[src.id] = time.monotonic()
        return live

    def polled(self, src: Source) -> LiveLog:
        """The log, with whatever its writer appended (stat'ed at most every 0.2 s)."""
        live = self.log(src)
        now = time.monotonic()
        if now - self._polled.get(src.id, 0.0) >= _POLL_S:
            self._polled[src.id] = now
            live.poll()
        return live

    def bundle(self, src: Source) -> tuple[Bundle, LiveLog | None, tuple[int, int | None]]:
        """A run's chart bundle (a log compacted with ``auto``), and for a log the
        (structure, last step) the page drawing it follows from.

        A log's bundle is kept while only appends follow it (the page's polls
        add those); a resume that writes steps again, a new metric or session,
        or a replaced file makes it stale, and the log is read afresh.
        """
        from .. import build_bundle, load_bundle

        if src.kind == "bundle":
            return load_bundle(src.path), None, (0, None)
        live = self.polled(src)
        with self._run_lock(src.id):
            cached = self._bundles.get(src.id)
            if cached is not None and cached[0] is live and cached[1] == live.read_at:
                if live.read_at[:2] == (live.structure, live.rewrites):
                    return cached[2], live, (live.read_at[0], live.read_at[2])
            current = (live.structure, live.rewrites)
            if live.run is None or live.stale or live.read_at[:2] != current:
                live.reload()  # what was read no longer holds: read again
            read_at = live.read_at
            bundle = build_bundle(live.run, method="auto")
            live.run = None  # the columns are all that is kept
            self._bundles[src.id] = (live, read_at, bundle)
        return bundle, live, (read_at[0], read_at[2])

    # ------------------------------------------------------------------ API answers

    def runs(self) -> dict[str, Any]:
        out = []
        for s in sorted(self.sources().values(), key=lambda s: s.label):
            with self._lock:
                live = self._logs.get(s.id)
            out.append({"id": s.id, "label": s.label, "kind": s.kind,
                        "live": bool(live and live.live)})  # fmt: skip
        return {"runs": out, "missing": self.missing}

    def model(self, ids: Sequence[str]) -> dict[str, Any]:
        from ..pipeline import run_names
        from .model import page_model

        srcs = [self.source(i) for i in dict.fromkeys(ids)]
        if not srcs:
            raise BadRequest("no run selected")
        bundles: list[Bundle] = []
        states: list[dict[str, Any]] = []
        for src in srcs:
            b, live, (structure, last_step) = self.bundle(src)
            bundles.append(b)
            states.append({"id": src.id, "kind": src.kind, "structure": structure,
                           "last_step": last_step if live else b["summary"]["last_step"],
                           "live": bool(live and live.live)})  # fmt: skip
        names = run_names(bundles, [s.path for s in srcs])
        model = page_model(bundles, names=names)
        for r, st in zip(model["runs"], states, strict=True):
            r.update(st)
        return {"model": model}

    def tail(self, spec: str) -> dict[str, Any]:
        from .model import subtitle

        out: dict[str, Any] = {}
        for item in filter(None, spec.split(",")):
            rid, _, after = item.partition(":")
            src = self.source(rid)
            if src.kind != "log":
                continue
            live = self.polled(src)
            step = _int(after) if after not in ("", "null") else None
            cached = self._bundles.get(rid)
            resumes = [r["step"] for r in cached[2].get("resumes") or ()] if cached else []
            out[rid] = {
                "structure": live.structure,
                "last_step": live.last_step,
                "live": live.live,
                "best": live.best(),
                "subtitle": subtitle(live.steps, live.sessions, resumes),
                "series": {m: _window_json(w) for m, w in live.after(step, _TAIL_N).items()},
            }
        return {"runs": out}

    def window(self, rid: str, metric: str, x0: float, x1: float, n: int, method: str) -> Any:
        src = self.source(rid)
        if src.kind != "log":
            raise BadRequest(f"run {rid!r} is a bundle: it has no raw steps")
        live = self.log(src)
        if metric not in live.columns:
            raise BadRequest(f"run {rid!r} has no metric {metric!r}")
        if method not in ("m4", "auto"):
            raise BadRequest(f"method must be m4 or auto, not {method!r}")
        return _window_json(live.window(metric, x0, x1, n, method))


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"not an integer: {text[:40]!r}") from None


def _float(text: str | None, name: str) -> float:
    try:
        v = float(text if text is not None else "")
    except ValueError:
        raise BadRequest(f"{name} must be a number") from None
    if not math.isfinite(v):
        raise BadRequest(f"{name} must be finite")
    return v


def _headers() -> dict[str, str]:
    return {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store", "X-Frame-Options": "DENY"}  # fmt: skip


def create_app(
    roots: Sequence[str], *, hosts: Sequence[str] = ("127.0.0.1", "localhost")
) -> Starlette:
    """The ASGI app for ``roots`` (for tests and embedding; `serve` runs it).

    :param hosts: the Host headers accepted (``*`` for any): a page on another
        site cannot reach this server through DNS rebinding.
    """
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    store = Store(roots)
    empty = {"title": "curvelog", "subtitle": "", "compare": False, "runs": [], "charts": [],
             "options": {"logy": None, "logx": False, "smooth": 0.0}, "colors": {}}  # fmt: skip
    page = render_page(empty, inline=False, live=True)

    def answer(fn: Callable[[Request], Any]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            try:
                body = fn(request)
            except BadRequest as e:
                return JSONResponse({"error": str(e)}, status_code=404, headers=_headers())
            except CurvelogError as e:
                return JSONResponse({"error": str(e)}, status_code=422, headers=_headers())
            return JSONResponse(body, headers=_headers())

        return endpoint

    def index(request: Request) -> Response:
        return HTMLResponse(page, headers={**_headers(), "Content-Security-Policy": _CSP})

    def static(request: Request) -> Response:
        entry = _STATIC.get(request.path_params["name"])
        if entry is None:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(asset(entry[0]), media_type=entry[1], headers=_headers())

    def window(request: Request) -> Any:
        q = request.query_params
        n = _int(q.get("n", "2000"))
        return store.window(q.get("run", ""), q.get("metric", ""), _float(q.get("x0"), "x0"),
                            _float(q.get("x1"), "x1"), max(16, min(n, _MAX_N)),
                            q.get("method", "m4"))  # fmt: skip

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/runs", answer(lambda r: store.runs())),
        Route(
            "/api/model", answer(lambda r: store.model(r.query_params.get("runs", "").split(",")))
        ),
        Route("/api/tail", answer(lambda r: store.tail(r.query_params.get("runs", "")))),
        Route("/api/window", answer(window)),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.store = store
    return app


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    roots: Sequence[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    echo: Callable[[str], None] = print,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Run the server until interrupted; prints its URL (with ``port=0``, a free port).

    :raises PathError: a root that does not exist.
    :raises ServeError: starlette or uvicorn is not installed, or the port cannot be bound.
    """
    import socket

    try:
        import starlette  # noqa: F401  (create_app needs it)
        import uvicorn
    except ImportError:
        raise ServeError(
            "curvelog serve", "needs the serve extra: pip install 'curvelog[serve]'"
        ) from None
    shown = f"[{host}]" if ":" in host else host
    # the printed URL names the address bound: its Host header must be accepted too
    # (127.0.0.2 is loopback as well); Host headers are compared without the port
    hosts = list(dict.fromkeys(["127.0.0.1", "localhost", "[::1]", shown]))
    if not _loopback(host):
        echo(f"Warning: serving on {host}: anyone who can reach this machine can read these runs "
             "(curvelog serve has no login)")  # fmt: skip
        hosts = ["*"]
    app = create_app(roots, hosts=hosts)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ServeError(f"{host}:{port}", f"cannot listen here ({e.strerror or e})") from None
    sock.listen(128)  # connections wait in the backlog until uvicorn's loop runs
    bound = sock.getsockname()[1]
    url = f"http://{shown}:{bound}/"
    n = len(app.state.store.sources())
    echo(f"Serving {n} run{'' if n == 1 else 's'} at {url} (Ctrl+C to stop)")
    if ready is not None:
        ready(url)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
