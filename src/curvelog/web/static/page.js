/* curvelog page: draws a page model (curvelog/web/model.py) with uPlot.
 *
 * Shared by the offline report (everything inlined) and `curvelog serve`
 * (live.js drives it). Every string of the model is user data: it is only
 * ever set with textContent or drawn on a canvas, never parsed as HTML.
 * Nothing here evaluates data.
 */
(function () {
  "use strict";

  var D = window.CurvelogDraw;
  var el = D.el, nameEl = D.nameEl, shownName = D.shownName, fmtStep = D.fmtStep, fmtValue = D.fmtValue, fmtTick = D.fmtTick;
  var fmtExactStep = D.fmtExactStep, ema = D.ema, shown = D.shown, nearest = D.nearest;
  var drawOverlays = D.drawOverlays, KIND_NAMES = D.KIND_NAMES, GLYPHS = D.GLYPHS;

  function joinData(chart, view) {
    var seen = new Set(), logx = view.model.options.logx;
    chart.series.forEach(function (s) { s.x.forEach(function (x) { if (!logx || x > 0) seen.add(x); }); });
    var xs = Float64Array.from(seen).sort();
    var at = new Map();
    for (var i = 0; i < xs.length; i++) at.set(xs[i], i);
    var data = [xs], logy = view.logy(chart), w = view.smooth;
    chart.series.forEach(function (s) {
      var ys = w > 0 ? [s.y, ema(s.y, w)] : [s.y];
      ys.forEach(function (src) {
        var col = new Array(xs.length);
        for (var k = 0; k < s.x.length; k++) {
          var i = at.get(s.x[k]);
          if (i !== undefined) col[i] = shown(src[k], logy); // step 0 has no place on a log axis
        }
        data.push(col);
      });
    });
    return data;
  }

  function axisSize(u, values, axisIdx, cycle) {
    var axis = u.axes[axisIdx];
    if (cycle > 1) return axis._size;
    var size = axis.ticks.size + axis.gap, longest = "";
    (values || []).forEach(function (v) { if (v != null && String(v).length > longest.length) longest = String(v); });
    if (longest) {
      u.ctx.font = axis.font[0];
      size += u.ctx.measureText(longest).width / uPlot.pxRatio;
    }
    return Math.ceil(size);
  }

  /* ------------------------------------------------------------ readout */

  function eventAt(chart, s, step) {
    for (var i = 0; i < chart.events.length; i++) {
      var e = chart.events[i];
      if (e.run === s.run && e.metric === s.metric && step >= e.step && step <= e.last) return KIND_NAMES[e.kind];
    }
    return "NaN/inf";
  }

  function updateReadout(u, panel, view) {
    var box = panel.readout, left = u.cursor.left;
    box.textContent = "";
    if (left == null || left < 0) {
      return;
    }
    var xv = u.posToVal(left, "x");
    panel.chart.series.forEach(function (s, i) {
      if (!panel.visible[i] || view.hiddenRuns.has(s.run) || !s.x.length) return;
      var k = nearest(s.x, xv);
      var item = el("span");
      var sw = el("span", "cl-swatch"); sw.style.borderTopColor = s.color;
      item.appendChild(sw);
      item.appendChild(document.createTextNode(" "));
      item.appendChild(nameEl(null, s.name));
      item.appendChild(document.createTextNode(" "));
      var v = s.y[k];
      item.appendChild(el("b", "cl-value", v == null ? eventAt(panel.chart, s, s.x[k]) : fmtValue(v)));
      item.appendChild(el("span", null, " @ step " + fmtExactStep(s.x[k])));
      item.setAttribute("data-step", String(s.x[k]));
      box.appendChild(item);
    });
  }

  /* ------------------------------------------------------------ panels */

  function makePanel(view, chart, index) {
    var box = el("section", "cl-panel");
    box.setAttribute("data-chart", chart.id);
    var h2 = el("h2");
    h2.appendChild(nameEl(null, chart.title));
    box.appendChild(h2);
    var holder = el("div", "cl-chart");
    box.appendChild(holder);
    var panel = { chart: chart, index: index, box: box, visible: chart.series.map(function () { return true; }) };
    panel.readout = el("div", "cl-readout");
    var legend = el("div", "cl-legend");
    var multi = chart.series.length > 1;
    chart.series.forEach(function (s, i) {
      if (!multi && !chart.events.length) return;
      var item = el("button", "cl-item");
      item.type = "button";
      var sw = el("span", "cl-swatch");
      sw.style.borderTopColor = s.color;
      if (s.dash.length) sw.style.borderTopStyle = "dashed";
      item.appendChild(sw);
      item.appendChild(nameEl(null, s.name));
      item.addEventListener("click", function () {
        panel.visible[i] = !panel.visible[i];
        item.classList.toggle("cl-off", !panel.visible[i]);
        view.applyVisibility(panel);
      });
      legend.appendChild(item);
    });
    var counts = {};
    chart.events.forEach(function (e) { if (!view.hiddenRuns.has(e.run)) counts[e.kind] = (counts[e.kind] || 0) + e.count; });
    Object.keys(counts).forEach(function (k) {
      legend.appendChild(el("span", "cl-ev", GLYPHS[k] + " " + KIND_NAMES[k] + (counts[k] > 1 ? " \u00d7" + counts[k].toLocaleString("en-US") : "")));
    });
    box.appendChild(legend);
    box.appendChild(panel.readout);
    panel.holder = holder;
    return panel;
  }

  function uplotOptions(view, panel, width) {
    var chart = panel.chart, logy = view.logy(chart), w = view.smooth;
    var series = [{ label: chart.xlabel }];
    chart.series.forEach(function (s, i) {
      var on = panel.visible[i] && !view.hiddenRuns.has(s.run);
      var dash = s.dash.length ? s.dash : undefined;
      var dots = { show: s.dots, size: 5, fill: s.color, stroke: s.color };
      if (w > 0) {
        series.push({ label: s.name + " (raw)", stroke: s.color, width: 0.8, alpha: 0.25, dash: dash, points: dots, show: on, spanGaps: false });
        series.push({ label: s.name, stroke: s.color, width: 1.7, dash: dash, points: { show: false }, show: on, spanGaps: false });
      } else {
        series.push({ label: s.name, stroke: s.color, width: s.width, dash: dash, points: dots, show: on, spanGaps: false });
      }
    });
    return {
      width: width, height: 280,
      legend: { show: false },
      series: series,
      scales: {
        x: { time: false, distr: view.model.options.logx ? 3 : 1 },
        y: { distr: logy ? 3 : 1, log: 10 },
      },
      axes: [
        { label: shownName(chart.xlabel), labelSize: 20, size: 36, values: function (u, splits, axisIdx, space, incr) { return D.fmtSteps(splits, incr); }, grid: { stroke: "#e6e6e6" } },
        { label: shownName(chart.ylabel), labelSize: 20, size: axisSize, values: function (u, splits) { return splits.map(fmtTick); }, grid: { stroke: "#e6e6e6" } },
      ],
      cursor: { drag: { x: true, y: false, setScale: true }, points: { size: 6 } },
      hooks: {
        draw: [function (u) { drawOverlays(u, panel, view); }],
        setCursor: [function (u) { updateReadout(u, panel, view); }],
        setScale: [function (u, key) { if (key === "x") view.onScale(panel, u.scales.x.min, u.scales.x.max); }],
      },
    };
  }

  function attachGestures(view, panel) {
    var u = panel.u, over = u.over;
    over.parentNode.addEventListener("mousedown", function (ev) {
      if (!ev.shiftKey || ev.button !== 0) return;
      ev.stopPropagation(); ev.preventDefault();
      var x0 = ev.clientX, lo = u.scales.x.min, hi = u.scales.x.max, wpx = over.clientWidth || 1;
      function move(e) {
        var dv = (e.clientX - x0) * (hi - lo) / wpx;
        view.setRange(lo - dv, hi - dv);
      }
      function up() { window.removeEventListener("mousemove", move); window.removeEventListener("mouseup", up); }
      window.addEventListener("mousemove", move);
      window.addEventListener("mouseup", up);
    }, true);
    over.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var lo = u.scales.x.min, hi = u.scales.x.max, rect = over.getBoundingClientRect();
      var f = (ev.clientX - rect.left) / (rect.width || 1), at = lo + f * (hi - lo);
      if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
        var d = (ev.shiftKey ? ev.deltaY : ev.deltaX) / (rect.width || 1) * (hi - lo);
        view.setRange(lo + d, hi + d);
        return;
      }
      var k = ev.deltaY > 0 ? 1.25 : 0.8;
      view.setRange(at - (at - lo) * k, at + (hi - at) * k);
    }, { passive: false });
    over.addEventListener("dblclick", function () { view.resetRange(); });
  }

  /* ------------------------------------------------------------ the view */

  function View(root, model, hooks) {
    this.root = root;
    this.hooks = hooks || {};
    this.hiddenRuns = new Set();
    this.panels = [];
    this.syncing = false;
    this.setModel(model, false);
  }

  View.prototype.logy = function (chart) {
    return this.logyMode === "auto" ? chart.logy : this.logyMode === "log";
  };

  View.prototype.fullRange = function () {
    var lo = Infinity, hi = -Infinity, logx = this.model.options.logx;
    this.model.charts.forEach(function (c) {
      c.series.forEach(function (s) {
        if (!s.x.length) return;
        var first = logx ? s.x.find(function (x) { return x > 0; }) : s.x[0];
        if (first !== undefined) lo = Math.min(lo, first);
        hi = Math.max(hi, s.x[s.x.length - 1]);
      });
      c.events.forEach(function (e) { if (!logx || e.step > 0) lo = Math.min(lo, e.step); hi = Math.max(hi, e.last); });
    });
    if (lo > hi) return null;
    if (lo === hi) {  // a step each side, or more where a double cannot tell them apart
      var one = Math.max(1, Math.abs(lo) * 1e-12);
      return logx ? [lo / 2, hi * 2] : [lo - one, hi + one];
    }
    if (logx) return [lo, hi];
    var pad = (hi - lo) * 0.02;
    return [lo - pad, hi + pad];
  };

  /* every panel to the zoom, or to the shared range of all data (as the PNG) */
  View.prototype.applyRange = function () {
    var r = this.zoom || this.fullRange();
    if (!r) return;
    this.syncing = true;
    this.panels.forEach(function (p) { p.u.setScale("x", { min: r[0], max: r[1] }); });
    this.syncing = false;
  };

  View.prototype.onScale = function (panel, lo, hi) {
    if (this.syncing) return;
    var full = this.fullRange();
    this.zoom = full && lo <= full[0] && hi >= full[1] ? null : [lo, hi];
    this.syncing = true;
    var self = this;
    this.panels.forEach(function (p) { if (p !== panel) p.u.setScale("x", { min: lo, max: hi }); });
    this.syncing = false;
    if (this.hooks.onZoom) this.hooks.onZoom(this, this.zoom);
    self.root.setAttribute("data-x-range", lo + "," + hi);
  };

  View.prototype.setRange = function (lo, hi) {
    if (this.panels.length) this.panels[0].u.setScale("x", { min: lo, max: hi });
  };

  View.prototype.resetRange = function () {
    var full = this.fullRange();
    this.zoom = null;
    if (full) this.setRange(full[0], full[1]);
  };

  View.prototype.applyVisibility = function (panel) {
    var self = this, w = this.smooth > 0 ? 2 : 1;
    panel.chart.series.forEach(function (s, i) {
      var on = panel.visible[i] && !self.hiddenRuns.has(s.run);
      for (var j = 0; j < w; j++) panel.u.setSeries(1 + i * w + j, { show: on });
    });
    panel.u.redraw(false);
  };

  View.prototype.setModel = function (model, keepRange) {
    this.model = model;
    if (this.logyMode == null) {
      var o = model.options.logy;
      this.logyMode = o === true ? "log" : (o === false ? "linear" : "auto");
      this.smooth = model.options.smooth || 0;
    }
    if (!keepRange) this.zoom = null;
    this.render();
  };

  View.prototype.render = function () {
    var self = this;
    this.panels.forEach(function (p) { p.u.destroy(); });
    this.panels = [];
    this.root.textContent = "";
    var m = this.model;
    var head = el("div", "cl-head");
    var h1 = el("h1", "cl-title");
    h1.appendChild(nameEl(null, m.title));
    head.appendChild(h1);
    this.subtitleEl = el("span", "cl-subtitle", this.subtitle());
    if (m.subtitle) head.appendChild(this.subtitleEl);
    this.root.appendChild(head);
    this.root.appendChild(this.controls());
    if (m.compare) {
      var runs = el("div", "cl-runs");
      m.runs.forEach(function (r, k) {
        var item = el("button", "cl-item" + (self.hiddenRuns.has(k) ? " cl-off" : ""));
        item.type = "button";
        var sw = el("span", "cl-swatch"); sw.style.borderTopColor = r.color;
        item.appendChild(sw);
        item.appendChild(nameEl(null, r.name));
        if (r.note) { item.appendChild(document.createTextNode("  ")); item.appendChild(nameEl(null, "(" + r.note + ")")); }
        item.addEventListener("click", function () {
          if (self.hiddenRuns.has(k)) self.hiddenRuns.delete(k); else self.hiddenRuns.add(k);
          self.render();
        });
        runs.appendChild(item);
      });
      this.root.appendChild(runs);
    }
    var grid = el("div", "cl-grid");
    this.root.appendChild(grid);
    if (!m.charts.length) { grid.appendChild(el("div", "cl-empty", "no charts")); return; }
    m.charts.forEach(function (chart, i) { var p = makePanel(self, chart, i); grid.appendChild(p.box); self.panels.push(p); });
    this.panels.forEach(function (p) {
      var width = Math.max(300, p.holder.clientWidth || 430);
      p.u = new uPlot(uplotOptions(self, p, width), joinData(p.chart, self), p.holder);
      attachGestures(self, p);
      updateReadout(p.u, p, self);
    });
    this.applyRange();
    if (typeof ResizeObserver !== "undefined") {
      if (this.resizer) this.resizer.disconnect();
      this.resizer = new ResizeObserver(function () {
        self.panels.forEach(function (p) {
          var w = Math.max(300, p.holder.clientWidth);
          if (p.u && Math.abs(p.u.width - w) > 2) p.u.setSize({ width: w, height: 280 });
        });
      });
      this.panels.forEach(function (p) { self.resizer.observe(p.holder); });
    }
    this.root.setAttribute("data-ready", "1");
    if (!window.curvelogReadyAt) window.curvelogReadyAt = performance.now(); // tools/bench_report.py
  };

  View.prototype.subtitle = function () {
    return this.model.subtitle + (this.smooth > 0 ? "  \u00b7  EMA " + this.smooth + " over the raw line" : "");
  };

  /* new data in the model's series, and its steps in the subtitle (serve): redraw, keeping the zoom */
  View.prototype.refresh = function () {
    var self = this;
    if (this.subtitleEl) this.subtitleEl.textContent = this.subtitle();
    this.panels.forEach(function (p) { p.u.setData(joinData(p.chart, self), false); });
    this.applyRange();
  };

  View.prototype.controls = function () {
    var self = this, bar = el("div", "cl-controls");
    var lab = el("label", null, "y axis ");
    var sel = el("select");
    sel.id = "cl-logy";
    [["auto", "auto"], ["linear", "linear"], ["log", "log"]].forEach(function (o) {
      var opt = el("option", null, o[1]); opt.value = o[0]; sel.appendChild(opt);
    });
    sel.value = this.logyMode;
    sel.addEventListener("change", function () { self.logyMode = sel.value; self.render(); });
    lab.appendChild(sel);
    bar.appendChild(lab);
    var sm = el("label", null, "smoothing ");
    var range = el("input");
    range.type = "range"; range.min = "0"; range.max = "0.99"; range.step = "0.01"; range.id = "cl-smooth";
    range.value = String(this.smooth);
    var val = el("span", null, this.smooth.toFixed(2));
    range.addEventListener("input", function () { val.textContent = Number(range.value).toFixed(2); });
    range.addEventListener("change", function () { self.smooth = Number(range.value); self.render(); });
    sm.appendChild(range); sm.appendChild(val);
    bar.appendChild(sm);
    bar.appendChild(el("span", "cl-help", "drag to zoom \u00b7 shift+drag or wheel to pan and zoom \u00b7 double-click to reset \u00b7 click a legend entry to hide it"));
    var reset = el("button", "cl-item", "reset zoom");
    reset.type = "button";
    reset.addEventListener("click", function () { self.resetRange(); });
    bar.appendChild(reset);
    if (this.hooks.controls) this.hooks.controls(bar);
    return bar;
  };

  window.CurvelogPage = {
    mount: function (root, model, hooks) { var v = new View(root, model, hooks); window.curvelogView = v; return v; },
    fmtValue: fmtValue, fmtStep: fmtStep, ema: ema, el: el,
  };

  function readJSON(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var config = readJSON("cl-config") || {};
    if (config.live) return; // live.js mounts the page
    window.CurvelogPage.mount(document.getElementById("cl-app"), readJSON("cl-data"));
  });
})();
