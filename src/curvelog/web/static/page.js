/* curvelog page: draws a page model (curvelog/web/model.py) with uPlot.
 *
 * Shared by the offline report (everything inlined) and `curvelog serve`
 * (live.js drives it). Every string of the model is user data: it is only
 * ever set with textContent or drawn on a canvas, never parsed as HTML.
 * Nothing here evaluates data.
 */
(function () {
  "use strict";

  var Y_CLAMP = 1e250, LOG_CLAMP = 1e150;
  var MARKERS = { "nan": "x", "inf": "up", "-inf": "down" };
  var GLYPHS = { "nan": "\u2716", "inf": "\u25B2", "-inf": "\u25BC" };
  var KIND_NAMES = { "nan": "NaN", "inf": "+inf", "-inf": "\u2212inf" };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }

  function fmtStep(v) {
    if (v == null || !isFinite(v)) return "";
    var a = Math.abs(v), units = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
    for (var i = 0; i < units.length; i++) {
      if (a >= units[i][0]) return trimNum((v / units[i][0]).toPrecision(4)) + units[i][1];
    }
    return v === Math.round(v) ? String(v) : trimNum(v.toPrecision(3));
  }

  function trimNum(s) {
    if (s.indexOf("e") >= 0) {
      var parts = s.split("e");
      return trimNum(parts[0]) + "e" + parts[1];
    }
    return s.indexOf(".") >= 0 ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
  }

  /* a value as the readout shows it: 6 significant digits (Python's "%.6g") */
  function fmtValue(v) {
    if (v == null) return "\u2014";
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
    var e = Math.floor(Math.log10(Math.abs(v)));
    if (v !== 0 && (e < -4 || e >= 6)) return trimNum(v.toExponential(5));
    return trimNum(v.toPrecision(6));
  }

  /* a y tick: 4 significant digits, so 0.00075 is not "0" */
  function fmtTick(v) {
    if (v == null) return "";
    if (v === 0) return "0";
    var a = Math.abs(v);
    if (a >= 1e6 || a < 1e-4) return trimNum(v.toExponential(2));
    return trimNum(v.toPrecision(4));
  }

  function fmtExactStep(v) { return Math.round(v).toLocaleString("en-US"); }

  /* TensorBoard's debiased EMA; null stays null; kept within the finite range (plot.ema) */
  function ema(y, w) {
    var out = new Array(y.length), last = 0, n = 0, lo = Infinity, hi = -Infinity;
    for (var i = 0; i < y.length; i++) {
      var v = y[i];
      if (v == null || !isFinite(v)) { out[i] = null; continue; }
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      last = last * w + (1 - w) * v;
      n++;
      out[i] = last / (1 - Math.pow(w, n));
    }
    for (var j = 0; j < out.length; j++) {
      if (out[j] != null) out[j] = Math.min(hi, Math.max(lo, out[j]));
    }
    return out;
  }

  function shown(v, logy) {
    if (v == null || !isFinite(v)) return null;
    if (logy) return v <= 0 ? null : Math.min(LOG_CLAMP, Math.max(1 / LOG_CLAMP, v));
    return Math.min(Y_CLAMP, Math.max(-Y_CLAMP, v));
  }

  /* uPlot wants one x array per plot: the union of the series' steps; a series
   * has `undefined` (skipped, drawn through) where it has no point and `null`
   * (a gap) where its value is NaN/inf or not drawable */
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

  function lowerBound(xs, v) {
    var lo = 0, hi = xs.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (xs[mid] < v) lo = mid + 1; else hi = mid; }
    return lo;
  }

  function nearest(xs, v) {
    if (!xs.length) return -1;
    var i = lowerBound(xs, v);
    if (i >= xs.length) return xs.length - 1;
    if (i > 0 && v - xs[i - 1] <= xs[i] - v) return i - 1;
    return i;
  }

  /* ------------------------------------------------------------ overlays */

  function drawMarker(ctx, kind, x, y, r) {
    ctx.beginPath();
    if (MARKERS[kind] === "x") {
      ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r);
      ctx.moveTo(x + r, y - r); ctx.lineTo(x - r, y + r);
      ctx.lineWidth = r * 0.8; ctx.stroke();
      return;
    }
    var d = MARKERS[kind] === "up" ? -1 : 1;
    ctx.moveTo(x, y + d * r); ctx.lineTo(x - r, y - d * r); ctx.lineTo(x + r, y - d * r);
    ctx.closePath(); ctx.fill();
  }

  function drawStar(ctx, x, y, r, fill) {
    ctx.beginPath();
    for (var i = 0; i < 10; i++) {
      var rad = i % 2 ? r * 0.45 : r, a = -Math.PI / 2 + i * Math.PI / 5;
      var px = x + rad * Math.cos(a), py = y + rad * Math.sin(a);
      if (i) ctx.lineTo(px, py); else ctx.moveTo(px, py);
    }
    ctx.closePath();
    ctx.fillStyle = fill; ctx.fill();
    ctx.strokeStyle = "#222"; ctx.lineWidth = 0.8 * uPlot.pxRatio; ctx.stroke();
  }

  /* the note box where it covers the fewest drawn points (plot._place_note, simplified) */
  function placeNote(u, sx, sy, w, h) {
    var pr = uPlot.pxRatio, b = u.bbox, pts = [];
    for (var si = 1; si < u.series.length; si++) {
      if (!u.series[si].show) continue;
      var ys = u.data[si], xs = u.data[0], step = Math.max(1, Math.floor(xs.length / 1500));
      for (var i = 0; i < xs.length; i += step) {
        if (ys[i] == null) continue;
        pts.push([u.valToPos(xs[i], "x", true), u.valToPos(ys[i], "y", true)]);
      }
    }
    var best = null, bestScore = Infinity, order = 0;
    [16, -16, 36, -36, 60, -60].forEach(function (dy) {
      [14, -14, 0, 44, -44].forEach(function (dx) {
        var ox = sx + dx * pr, oy = sy - dy * pr;
        var x0 = dx > 0 ? ox : (dx < 0 ? ox - w : ox - w / 2);
        var y0 = dy > 0 ? oy - h : (dy < 0 ? oy : oy - h / 2);
        var score = 0;
        pts.forEach(function (p) {
          if (p[0] >= x0 - 3 && p[0] <= x0 + w + 3 && p[1] >= y0 - 3 && p[1] <= y0 + h + 3) score++;
        });
        score += 2 * (Math.max(0, b.left - x0) + Math.max(0, x0 + w - b.left - b.width) +
          Math.max(0, b.top - y0) + Math.max(0, y0 + h - b.top - b.height));
        score += Math.hypot(dx, dy) * 0.03 + (order++) * 0.001;
        if (score < bestScore) { bestScore = score; best = [x0, y0]; }
      });
    });
    return best;
  }

  function drawOverlays(u, panel, view) {
    var chart = panel.chart, ctx = u.ctx, b = u.bbox, pr = uPlot.pxRatio;
    var xmin = u.scales.x.min, xmax = u.scales.x.max, logy = view.logy(chart);
    var runOn = function (k) { return !view.hiddenRuns.has(k); };
    ctx.save();
    ctx.beginPath(); ctx.rect(b.left, b.top, b.width, b.height); ctx.clip();
    var evColor = view.model.colors.event;
    chart.events.forEach(function (e) {
      if (!runOn(e.run) || e.last <= e.step || e.last < xmin || e.step > xmax) return;
      var x0 = u.valToPos(e.step, "x", true), x1 = u.valToPos(e.last, "x", true);
      ctx.globalAlpha = 0.06; ctx.fillStyle = evColor;
      ctx.fillRect(x0, b.top, Math.max(x1 - x0, 1), b.height);
    });
    ctx.globalAlpha = 1;
    var steps = chart.resumes.filter(function (r) { return runOn(r.run); });
    var alpha = steps.length <= 12 ? 0.75 : (steps.length <= 40 ? 0.35 : 0.22);
    ctx.setLineDash([4 * pr, 3 * pr]); ctx.lineWidth = 0.9 * pr;
    steps.forEach(function (r) {
      if (r.step < xmin || r.step > xmax) return;
      var x = Math.round(u.valToPos(r.step, "x", true)) + 0.5;
      ctx.globalAlpha = view.model.compare ? alpha * 0.7 : alpha; ctx.strokeStyle = r.color;
      ctx.beginPath(); ctx.moveTo(x, b.top); ctx.lineTo(x, b.top + b.height); ctx.stroke();
    });
    ctx.setLineDash([]); ctx.globalAlpha = 1;
    ctx.restore();
    // events: red marks on the step axis, a red bar along it for a run of them
    ctx.save();
    ctx.beginPath(); ctx.rect(b.left - 8 * pr, b.top, b.width + 16 * pr, b.height + 10 * pr); ctx.clip();
    var axisY = b.top + b.height;
    chart.events.forEach(function (e) {
      if (!runOn(e.run) || e.last < xmin || e.step > xmax) return;
      var x0 = u.valToPos(e.step, "x", true);
      if (e.last > e.step) {
        ctx.globalAlpha = 0.7; ctx.fillStyle = evColor;
        ctx.fillRect(x0, axisY - 2 * pr, u.valToPos(e.last, "x", true) - x0, 4 * pr);
      }
      ctx.globalAlpha = 1; ctx.fillStyle = evColor; ctx.strokeStyle = evColor;
      drawMarker(ctx, e.kind, x0, axisY, 4.5 * pr);
    });
    ctx.restore();
    // the best point: a star, and (for one run) a note beside it
    panel.starPos = [];
    chart.stars.forEach(function (s) {
      var y = shown(s.y, logy);
      if (!runOn(s.run) || y == null || s.x < xmin || s.x > xmax) return;
      var sx = u.valToPos(s.x, "x", true), sy = u.valToPos(y, "y", true);
      if (sy < b.top - 1 || sy > b.top + b.height + 1) return;
      drawStar(ctx, sx, sy, (view.model.compare ? 8 : 9) * pr, s.color);
      panel.starPos.push({ run: s.run, x: sx / pr, y: sy / pr, step: s.x });
      if (!s.note) return;
      var lines = String(s.note).split("\n"), fs = 11 * pr;
      ctx.font = fs + "px sans-serif";
      var w = Math.max.apply(null, lines.map(function (l) { return ctx.measureText(l).width; })) + 10 * pr;
      var h = lines.length * fs * 1.25 + 8 * pr;
      var at = placeNote(u, sx, sy, w, h);
      ctx.save();
      ctx.strokeStyle = "#666"; ctx.lineWidth = 0.7 * pr;
      ctx.beginPath(); ctx.moveTo(sx, sy);
      ctx.lineTo(Math.min(Math.max(sx, at[0]), at[0] + w), Math.min(Math.max(sy, at[1]), at[1] + h)); ctx.stroke();
      ctx.globalAlpha = 0.92; ctx.fillStyle = "#fff"; ctx.fillRect(at[0], at[1], w, h);
      ctx.globalAlpha = 1; ctx.strokeStyle = "#bbb"; ctx.strokeRect(at[0], at[1], w, h);
      ctx.fillStyle = "#222"; ctx.textBaseline = "top"; ctx.textAlign = "left";
      lines.forEach(function (l, i) { ctx.fillText(l, at[0] + 5 * pr, at[1] + 4 * pr + i * fs * 1.25); });
      ctx.restore();
      panel.note = { text: String(s.note), x: at[0] / pr, y: at[1] / pr };
    });
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
      item.appendChild(el("span", null, " " + s.name + " "));
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
    box.appendChild(el("h2", null, chart.title));
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
      item.appendChild(el("span", null, s.name));
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
        { label: chart.xlabel, labelSize: 20, size: 36, values: function (u, splits) { return splits.map(fmtStep); }, grid: { stroke: "#e6e6e6" } },
        { label: chart.ylabel, labelSize: 20, size: axisSize, values: function (u, splits) { return splits.map(fmtTick); }, grid: { stroke: "#e6e6e6" } },
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
    if (lo === hi) return [lo - 1, hi + 1];
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
    head.appendChild(el("h1", "cl-title", m.title));
    if (m.subtitle) head.appendChild(el("span", "cl-subtitle", m.subtitle + (this.smooth > 0 ? "  \u00b7  EMA " + this.smooth + " over the raw line" : "")));
    this.root.appendChild(head);
    this.root.appendChild(this.controls());
    if (m.compare) {
      var runs = el("div", "cl-runs");
      m.runs.forEach(function (r, k) {
        var item = el("button", "cl-item" + (self.hiddenRuns.has(k) ? " cl-off" : ""));
        item.type = "button";
        var sw = el("span", "cl-swatch"); sw.style.borderTopColor = r.color;
        item.appendChild(sw);
        item.appendChild(el("span", null, r.name + (r.note ? "  (" + r.note + ")" : "")));
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

  /* new data in the model's series (serve): redraw, keeping the zoom */
  View.prototype.refresh = function () {
    var self = this;
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
