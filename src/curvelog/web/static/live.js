/* curvelog serve: the run list, following running logs, and zoom re-sampling.
 *
 * Draws with page.js. Every name the server sends is set with textContent.
 * The server is asked only for JSON; nothing it sends is evaluated.
 */
(function () {
  "use strict";

  var P = window.CurvelogPage, el = P.el, D = window.CurvelogDraw;
  var POLL_MS = 1000, ZOOM_WAIT_MS = 120;
  /* a followed line past LIVE_MAX points is re-sampled (M4, extremes and NaN/inf
   * kept) back to LIVE_N by the server: a fast log must not grow the page's arrays,
   * and the redraw each poll costs, without bound */
  var LIVE_MAX = 8000, LIVE_N = 2000;
  var state = { runs: [], missing: [], gone: [], selected: [], view: null, model: null, base: null, zoomSeq: 0, polling: false, thinning: false };

  function api(path, params) {
    var q = new URLSearchParams(params || {}).toString();
    return fetch("api/" + path + (q ? "?" + q : ""), { cache: "no-store" }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body && body.error ? body.error : "HTTP " + r.status);
        return body;
      });
    });
  }

  function status(text) { state.statusEl.textContent = text; }

  /* ------------------------------------------------------------ the run list */

  /* the name in bold in the run list: the file's name, or for a registry version
   * (every one is a "curves.json") its key's last part and version: "mlp/v3" */
  function shortName(label) {
    var parts = label.split("/"), last = parts.pop();
    return last === "curves.json" && parts.length >= 2 ? parts.slice(-2).join("/") : last;
  }

  function renderRuns() {
    var ul = state.listEl;
    ul.textContent = "";
    state.runs.forEach(function (r) {
      var li = el("li");
      var lab = el("label");
      var box = el("input");
      box.type = "checkbox";
      box.checked = state.selected.indexOf(r.id) >= 0;
      box.setAttribute("data-run", r.id);
      box.addEventListener("change", function () {
        state.gone = [];
        state.noteEl.textContent = "";
        if (box.checked) state.selected.push(r.id);
        else state.selected = state.selected.filter(function (x) { return x !== r.id; });
        loadModel();
      });
      lab.appendChild(box);
      lab.appendChild(document.createTextNode(" "));
      lab.appendChild(D.nameEl(null, shortName(r.label)));
      lab.appendChild(document.createTextNode(" "));
      if (r.live) lab.appendChild(el("span", "cl-live", "\u25CF live"));
      li.appendChild(lab);
      var path = el("span", "cl-path");
      path.appendChild(D.nameEl(null, r.label));
      if (r.kind === "bundle") path.appendChild(document.createTextNode(" (bundle)"));
      li.appendChild(path);
      ul.appendChild(li);
    });
    if (!state.runs.length) ul.appendChild(el("li", "cl-empty", "no logs or bundles found under the given paths"));
    state.missing.forEach(function (m) { ul.appendChild(el("li", "cl-missing", "skipped " + D.isolated(m))); });
  }

  /* `first`: the page's first list, where the first run is ticked. Later, a
   * ticked run that is gone (deleted, moved) is unticked, the page says so and
   * draws what stays ticked, or nothing: never another run the user did not pick */
  function loadRuns(first) {
    return api("runs").then(function (body) {
      var labels = new Map(state.runs.map(function (r) { return [r.id, r.label]; }));
      state.runs = body.runs;
      state.missing = body.missing || [];
      var known = new Set(body.runs.map(function (r) { return r.id; }));
      var gone = state.selected.filter(function (id) { return !known.has(id); });
      state.selected = state.selected.filter(function (id) { return known.has(id); });
      if (first && !state.selected.length && body.runs.length) state.selected = [body.runs[0].id];
      renderRuns();
      // the note names the runs unticked as gone until they are listed again
      var listed = new Set(body.runs.map(function (r) { return r.label; }));
      state.gone = state.gone.concat(gone.map(function (id) { return { id: id, label: labels.get(id) || id }; }))
        .filter(function (g) { return !known.has(g.id) && !listed.has(g.label); });
      state.noteEl.textContent = state.gone.length ? "no longer found (deleted or moved): " + state.gone.map(function (g) { return D.isolated(g.label); }).join(", ") : "";
      if (!gone.length) return;
      return loadModel();
    });
  }

  /* ------------------------------------------------------------ the charts */

  function copySeries(model) {
    return model.charts.map(function (c) { return c.series.map(function (s) { return { x: s.x.slice(), y: s.y.slice() }; }); });
  }

  function loadModel() {
    if (!state.selected.length) {
      state.model = null;
      status("");
      if (state.view) { state.view.panels.forEach(function (p) { p.u.destroy(); }); state.view = null; }
      state.mainEl.textContent = "";
      state.mainEl.appendChild(el("div", "cl-empty", "tick a run to draw it; tick several to overlay them"));
      return Promise.resolve();
    }
    var ids = state.selected.slice();
    status("loading " + ids.length + (ids.length === 1 ? " run" : " runs") + " (a big log is read once, then followed)");
    return api("model", { runs: ids.join(",") }).then(function (body) {
      if (ids.join(",") !== state.selected.join(",")) return; // the selection changed meanwhile
      state.model = body.model;
      state.base = copySeries(body.model);
      if (state.view) state.view.setModel(body.model, false);
      else state.view = P.mount(state.mainEl, body.model, { onZoom: onZoom });
      status("");
    }).catch(function (e) { status("error: " + e.message); });
  }

  /* ------------------------------------------------------------ following */

  var NONE = { x: [], y: [] };

  /* the points of `line` past step `after` replaced by the tail's (a resume
   * rewrites steps the page already drew); true if anything changed */
  function splice(line, after, add) {
    var i = after == null ? 0 : upperBound(line.x, after);
    if (i === line.x.length && !add.x.length) return false;
    line.x.length = i; line.y.length = i;
    for (var j = 0; j < add.x.length; j++) { line.x.push(add.x[j]); line.y.push(add.y[j]); }
    return true;
  }

  /* the same for the NaN/inf marks of one series: those past `after` are the tail's
   * (a run of them that went on past `after` was written again: cut at `after`).
   * `prev` is the step of the line's last point up to `after`, `first` the tail's
   * first: a run that ends at `prev` and goes on from `first` (a diverged run
   * followed live) stays one event, as a reloaded page shows it */
  function spliceEvents(chart, run, metric, after, add, prev, first) {
    var mine = function (e) { return e.run === run && e.metric === metric; };
    var key = function (evs) { return JSON.stringify(evs.filter(mine)); };
    var before = key(chart.events);
    chart.events = chart.events.filter(function (e) { return !mine(e) || (after != null && e.step <= after); });
    chart.events.forEach(function (e) {
      if (mine(e) && e.last > after) { e.count = Math.min(e.count, after - e.step + 1); e.last = after; }
    });
    add.forEach(function (e, i) {
      var on = i === 0 && prev != null && e.step === first && chart.events.filter(function (o) {
        return mine(o) && o.kind === e.kind && o.last === prev;
      })[0];
      if (on) { on.last = e.last; on.count += e.count; return; }
      chart.events.push({ kind: e.kind, step: e.step, last: e.last, count: e.count, run: run, metric: metric });
    });
    return key(chart.events) !== before;
  }

  function upperBound(xs, v) {
    var lo = 0, hi = xs.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (xs[mid] <= v) lo = mid + 1; else hi = mid; }
    return lo;
  }

  function poll() {
    var m = state.model;
    if (!m || state.polling) return Promise.resolve();
    var spec = m.runs.filter(function (r) { return r.kind === "log"; }).map(function (r) { return r.id + ":" + (r.last_step == null ? "" : r.last_step); });
    if (!spec.length) return Promise.resolve();
    state.polling = true;
    return api("tail", { runs: spec.join(",") }).then(function (body) {
      if (state.model !== m) return;
      var rebuild = false, grew = false, marked = false;
      m.runs.forEach(function (r, k) {
        var t = body.runs[r.id];
        if (!t) return;
        if (t.structure !== r.structure) { rebuild = true; return; }
        var after = r.last_step; // the tail holds every point past it: they replace the page's
        r.last_step = t.last_step;
        r.live = t.live;
        if (!m.compare && t.subtitle != null && t.subtitle !== m.subtitle) { m.subtitle = t.subtitle; grew = true; }
        m.charts.forEach(function (c, ci) {
          c.series.forEach(function (s, si) {
            if (s.run !== k) return;
            var add = t.series[s.metric] || NONE, base = state.base[ci][si];
            var p = after == null ? 0 : upperBound(base.x, after), prev = p ? base.x[p - 1] : null;
            if (splice(base, after, add)) grew = true;
            splice(s, after, add);
            if (spliceEvents(c, k, s.metric, after, add.events || [], prev, add.x[0])) marked = true;
          });
          if (t.best) {
            c.stars.forEach(function (st) {
              if (st.run !== k || !c.series.some(function (s) { return s.run === k && s.metric === t.best.metric; })) return;
              st.x = t.best.step; st.y = t.best.value;
              if (st.note != null) st.note = "best " + t.best.metric + " = " + P.fmtValue(Number(t.best.value.toPrecision(4))) + "\nat step " + t.best.step.toLocaleString("en-US");
            });
          }
        });
      });
      if (rebuild) return loadModel();
      if (marked && state.view) state.view.render(); // new marks, and the legend counts them
      else if (grew && state.view) state.view.refresh();
      if (grew) thin(m);
      var following = m.runs.filter(function (r) { return r.live; });
      status(following.length ? "following " + following.map(function (r) {
        return D.isolated(r.name) + " (step " + (r.last_step == null ? "\u2014" : r.last_step.toLocaleString("en-US")) + ")";
      }).join(", ") : "");
      state.lastPoll = Date.now();
      document.getElementById("cl-app").setAttribute("data-polls", String((Number(document.getElementById("cl-app").getAttribute("data-polls")) || 0) + 1));
    }).catch(function (e) {
      status("error: " + e.message);
      return loadRuns().catch(function () {}); // a run gone since the last list: untick it, stop asking for it
    }).finally(function () { state.polling = false; });
  }

  /* every followed line held past LIVE_MAX points, re-sampled by the server over
   * what the page holds; points a poll added meanwhile (past the window) are kept */
  function thin(m) {
    if (state.thinning || !state.view) return;
    var jobs = [];
    m.charts.forEach(function (c, ci) {
      c.series.forEach(function (s, si) {
        var run = m.runs[s.run], base = state.base[ci][si];
        if (run.kind !== "log" || base.x.length <= LIVE_MAX) return;
        jobs.push(api("window", { run: run.id, metric: s.metric, x0: base.x[0], x1: base.x[base.x.length - 1], n: LIVE_N, method: "m4" })
          .then(function (w) { return { ci: ci, si: si, w: w }; }, function () { return null; }));
      });
    });
    if (!jobs.length) return;
    state.thinning = true;
    Promise.all(jobs).then(function (results) {
      if (state.model !== m) return;
      results.forEach(function (r) {
        if (!r || !r.w.x.length) return;
        var base = state.base[r.ci][r.si], i = upperBound(base.x, r.w.x[r.w.x.length - 1]);
        if (r.w.x.length >= i) return; // not smaller than what it would replace
        state.base[r.ci][r.si] = { x: r.w.x.concat(base.x.slice(i)), y: r.w.y.concat(base.y.slice(i)) };
      });
      resample(state.view, state.view.zoom, ++state.zoomSeq, "m4"); // the lines drawn, from the new base
    }).finally(function () { state.thinning = false; });
  }

  /* ------------------------------------------------------------ zoom */

  function onZoom(view, zoom) {
    var seq = ++state.zoomSeq;
    setTimeout(function () { if (seq === state.zoomSeq) resample(view, zoom, seq, "m4"); }, ZOOM_WAIT_MS);
  }

  function resample(view, zoom, seq, method) {
    var m = state.model;
    if (!m) return;
    if (!zoom) {
      m.charts.forEach(function (c, ci) { c.series.forEach(function (s, si) { s.x = state.base[ci][si].x.slice(); s.y = state.base[ci][si].y.slice(); }); });
      view.refresh();
      return;
    }
    var jobs = [];
    m.charts.forEach(function (c, ci) {
      var width = (view.panels[ci] && view.panels[ci].u.bbox.width / uPlot.pxRatio) || 800;
      c.series.forEach(function (s, si) {
        var run = m.runs[s.run];
        if (!run || run.kind === "bundle") return;
        jobs.push(api("window", { run: run.id, metric: s.metric, x0: zoom[0], x1: zoom[1], n: Math.round(width * 4), method: method }).then(function (w) {
          return { ci: ci, si: si, w: w };
        }, function () { return null; }));
      });
    });
    if (!jobs.length) return;
    var t0 = performance.now();
    Promise.all(jobs).then(function (results) {
      if (seq !== state.zoomSeq || state.model !== m) return; // the view moved on
      var coarse = false;
      results.forEach(function (r) {
        if (!r) return;
        var base = state.base[r.ci][r.si], s = m.charts[r.ci].series[r.si], x = [], y = [];
        var lo = r.w.x.length ? r.w.x[0] : zoom[0], hi = r.w.x.length ? r.w.x[r.w.x.length - 1] : zoom[1];
        for (var i = 0; i < base.x.length && base.x[i] < lo; i++) { x.push(base.x[i]); y.push(base.y[i]); }
        for (var j = 0; j < r.w.x.length; j++) { x.push(r.w.x[j]); y.push(r.w.y[j]); }
        for (var k = 0; k < base.x.length; k++) if (base.x[k] > hi) { x.push(base.x[k]); y.push(base.y[k]); }
        s.x = x; s.y = y;
        if (r.w.method === "m4") coarse = true;
      });
      view.refresh();
      var root = document.getElementById("cl-app");
      root.setAttribute("data-window", method + ":" + Math.round(performance.now() - t0));
      if (coarse && method === "m4") { // refine with curvelog's sampler once the view rests
        setTimeout(function () { if (seq === state.zoomSeq) resample(view, zoom, seq, "auto"); }, 400);
      }
    });
  }

  /* ------------------------------------------------------------ start */

  document.addEventListener("DOMContentLoaded", function () {
    var app = document.getElementById("cl-app");
    app.textContent = "";
    var layout = el("div", "cl-layout");
    var side = el("aside", "cl-side");
    side.appendChild(el("h1", "cl-title", "curvelog serve"));
    state.statusEl = el("div", "cl-status");
    side.appendChild(state.statusEl);
    state.noteEl = el("div", "cl-missing");
    side.appendChild(state.noteEl);
    state.listEl = el("ul", "cl-runlist");
    side.appendChild(state.listEl);
    state.mainEl = el("div", "cl-main");
    state.mainEl.id = "cl-view";
    layout.appendChild(side);
    layout.appendChild(state.mainEl);
    app.appendChild(layout);
    loadRuns(true).then(loadModel).then(function () {
      app.setAttribute("data-live-ready", "1");
      setInterval(poll, POLL_MS);
      setInterval(function () { loadRuns().catch(function (e) { status("error: " + e.message); }); }, 5000);
    }).catch(function (e) { status("error: " + e.message); });
  });
})();
