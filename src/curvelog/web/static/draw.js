/* curvelog page: formats, the EMA and the canvas overlays (best star and note,
 * NaN/inf markers and bands, resume lines), shared by page.js and the report.
 *
 * Text is drawn on the canvas or set with textContent; nothing is parsed as HTML.
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

  /* Names (files, runs, metrics) are user data: their bidi controls are shown as
   * "[U+202E]" rather than obeyed (a right-to-left override in a file name would
   * reverse it, and the text after it, so it could pose as another name), and a
   * name is isolated from the text around it: a <bdi> element, or FSI..PDI in a
   * plain string, so its right-to-left letters cannot reorder that text. */
  var BIDI = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

  function shownName(s) {
    return String(s).replace(BIDI, function (c) { return "[U+" + c.charCodeAt(0).toString(16).toUpperCase() + "]"; });
  }

  function nameEl(cls, s) { return el("bdi", cls, shownName(s)); }

  function isolated(s) { return "\u2068" + shownName(s) + "\u2069"; }

  function fmtStep(v) {
    if (v == null || !isFinite(v)) return "";
    var a = Math.abs(v), units = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
    for (var i = 0; i < units.length; i++) {
      if (a >= units[i][0]) return trimNum((v / units[i][0]).toPrecision(4)) + units[i][1];
    }
    return v === Math.round(v) ? String(v) : trimNum(v.toPrecision(3));
  }

  /* the x ticks: as fmtStep where its short label names each tick exactly and
   * tells the ticks apart, else the exact steps ("1,499,995", "15,025", "10.25"):
   * a narrow zoom deep into a long run does not read "1.5M" at every tick, nor a
   * tick at 15,025 "15.03k" */
  function fmtSteps(splits, incr) {
    var short = splits.map(fmtStep), ok = true;
    splits.forEach(function (v, i) {
      if (v == null || !isFinite(v)) return;
      if (!near(shortValue(short[i]), v) || (i && short[i] === short[i - 1])) ok = false;
    });
    if (ok) return short;
    var dec = 0; // the fewest decimals that name every tick exactly
    while (dec < 6 && !splits.every(function (v) { return v == null || !isFinite(v) || near(Number(v.toFixed(dec)), v); })) dec++;
    return splits.map(function (v) {
      return v == null || !isFinite(v) ? "" : v.toLocaleString("en-US", { minimumFractionDigits: dec, maximumFractionDigits: dec });
    });
  }

  /* the value a fmtStep label names ("15.03k": 15030) */
  function shortValue(label) {
    var mult = { k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[label.slice(-1)];
    return mult ? parseFloat(label.slice(0, -1)) * mult : parseFloat(label);
  }

  /* equal but for float rounding (a split uPlot computed as 0.30000000000000004) */
  function near(a, b) { return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)); }

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
    // as plot draws them (plot/_style.py): dashed up to dashed_resumes steps, else
    // solid and faint (the dashes of many close lines line up into stripes)
    var distinct = new Set(steps.map(function (r) { return r.step; })).size;
    var dashed = distinct <= view.model.dashed_resumes;
    var alpha = steps.length <= 12 ? 0.75 : (dashed ? 0.35 : 0.14);
    ctx.setLineDash(dashed ? [4 * pr, 3 * pr] : []);
    ctx.lineWidth = 0.9 * pr;
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
      var lines = shownName(s.note).split("\n"), fs = 11 * pr;
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

  window.CurvelogDraw = {
    KIND_NAMES: KIND_NAMES, GLYPHS: GLYPHS, el: el, shownName: shownName, nameEl: nameEl, isolated: isolated, fmtStep: fmtStep, fmtSteps: fmtSteps, fmtValue: fmtValue, fmtTick: fmtTick,
    fmtExactStep: fmtExactStep, ema: ema, shown: shown, nearest: nearest, drawOverlays: drawOverlays,
  };
})();
