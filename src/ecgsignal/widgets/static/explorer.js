/* ecgsignal static explorers: the browser-side half of ecgsignal.widgets.static.
 *
 * Python precomputes a cube (every state the controls can reach) and draws it as one plotly
 * figure whose sliders and buttons use method "skip"; this script listens to their events
 * (plotly_sliderchange, plotly_buttonclicked) and restyles the figure with the chosen slice.
 * No kernel, no server, no network: it needs only the page's plotly.js.
 *
 * Encodings (all arrays C-ordered, little-endian, base64):
 *   signals, noise : float32 (B, 12, T) millivolts
 *   maps           : uint8, |attribution| averaged over time bins and divided by the map's own
 *                    maximum, times 255 (the true maximum is in `scale`)
 */
(function () {
  "use strict";
  if (window.ECGX && window.ECGX.version === 1) { return; }

  function bytes(b64) {
    var bin = atob(b64), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out;
  }
  function floats(b64) {
    var b = bytes(b64);
    return new Float32Array(b.buffer, 0, b.length >> 2);
  }
  function heat(q, off, nRows, nCols) {
    var z = new Array(nRows);
    for (var r = 0; r < nRows; r++) {
      var row = new Array(nCols);
      for (var c = 0; c < nCols; c++) { row[c] = q[off + r * nCols + c] / 255; }
      z[r] = row;
    }
    return z;
  }
  /* Each lead drawn in its own row (row i centred at y = i, the axis reversed), null between. */
  function beatLines(sig, off, nLeads, T, t, k, mask) {
    var x = [], y = [];
    for (var i = 0; i < nLeads; i++) {
      if (mask && !mask[i]) { continue; }
      for (var j = 0; j < T; j++) { x.push(t[j]); y.push(i - k * sig[off + i * T + j]); }
      x.push(null); y.push(null);
    }
    return {x: x, y: y};
  }
  function num(v, d) {
    return (v === null || v === undefined || !isFinite(v)) ? "n/a" : Number(v).toFixed(d);
  }
  function val(v) { return (v === null || v === undefined) ? NaN : v; }
  function mark(gd, st) { gd.setAttribute("data-ecgx-state", JSON.stringify(st)); }
  function menuIndex(e) { return (e && e.menu) ? e.menu._index : -1; }
  function sliderIndex(e) { return (e && e.slider) ? e.slider._index : -1; }
  /* Phones: below NARROW px of width the two panels stack (map above, plot below), every menu
   * gets a row of its own (the lead buttons become a drop-down: a row of 13 buttons cannot
   * wrap), the slider spans the width, and the title moves below plotly's modebar. Sizes are
   * in px from the top of the figure; `map` and `plot2` are the two panels'
   * shares of the plot area, `legendY` where the legend sits in the plot area. */
  var NARROW = 600;
  var PHONE = {
    randomization: {titleLines: 4, top: 195, plot: 600, bottom: 150, map: [0.42, 1],
                    plot2: [0, 0.30], legendY: 0.30, legendAnchor: "top", sliderPx: 55},
    perturbation: {titleLines: 3, top: 215, plot: 620, bottom: 170, map: [0.48, 1],
                   plot2: [0, 0.26], legendY: 0.27, legendAnchor: "bottom", sliderPx: 80}
  };
  function pick(obj, path) {
    return path.split(".").reduce(function (o, k) { return o === undefined ? o : o[k]; }, obj);
  }
  function phoneLayout(gd, kind) {
    var P = PHONE[kind], L = gd.layout, upd = {}, H = P.top + P.plot + P.bottom;
    upd.height = H;
    upd["margin.t"] = P.top; upd["margin.b"] = P.bottom; upd["margin.l"] = 44; upd["margin.r"] = 8;
    upd["xaxis.domain"] = [0, 1]; upd["xaxis2.domain"] = [0, 1];
    upd["yaxis.domain"] = P.map; upd["yaxis2.domain"] = P.plot2;
    upd["title.y"] = 1 - 44 / H; upd["title.yanchor"] = "top"; upd["title.font.size"] = 11;
    /* the whole menu array is replaced: plotly leaves stale buttons behind when only a menu's
       type is relayouted */
    upd.updatemenus = (L.updatemenus || []).map(function (m, i) {
      var c = JSON.parse(JSON.stringify(m));
      c.x = 0; c.xanchor = "left"; c.yanchor = "top";
      c.y = 1 + (P.top - (52 + 15 * P.titleLines + 38 * i)) / P.plot;
      if (c.type === "buttons") { c.type = "dropdown"; c.direction = "down"; }
      return c;
    });
    upd["sliders[0].x"] = 0; upd["sliders[0].len"] = 1;
    upd["sliders[0].y"] = -P.sliderPx / P.plot;
    upd["legend.x"] = 1; upd["legend.xanchor"] = "right";
    upd["legend.y"] = P.legendY; upd["legend.yanchor"] = P.legendAnchor;
    upd["legend.font.size"] = 9;
    return upd;
  }
  /* The wide layout's values of the keys phoneLayout changes, to switch back. */
  function saved(gd, upd) {
    var out = {};
    Object.keys(upd).forEach(function (k) {
      var v = pick(gd.layout, k.replace(/\[(\d+)\]/g, ".$1"));
      out[k] = (v === undefined) ? null : v;
    });
    return out;
  }
  function adapt(gd, kind, redraw) {
    var w = gd.clientWidth || (gd.parentNode && gd.parentNode.clientWidth) || 0;
    var narrow = w > 0 && w < NARROW;
    if (narrow === !!gd._ecgxNarrow) { return; }
    var upd = phoneLayout(gd, kind);
    if (!gd._ecgxWide) {
      gd._ecgxWide = saved(gd, upd);
      gd._ecgxWide.updatemenus = JSON.parse(JSON.stringify(gd.layout.updatemenus || []));
    }
    gd._ecgxNarrow = narrow;
    var to = narrow ? upd : gd._ecgxWide;
    (to.updatemenus || []).forEach(function (m, i) {      /* keep the current choices */
      m.active = gd.layout.updatemenus[i].active;
    });
    /* plotly's HTML fixed the heights of the figure's div and of its wrapper */
    gd.style.height = to.height + "px";
    if (gd.parentNode && /px$/.test(gd.parentNode.style.height || "")) {
      gd.parentNode.style.height = to.height + "px";
    }
    Plotly.relayout(gd, {updatemenus: []});  /* a menu whose type changes keeps stale buttons */
    Plotly.relayout(gd, to);
    redraw();
  }
  /* Title parts: one line each on a phone, one line on a wide screen. */
  function lines(gd, parts) { return parts.join(gd._ecgxNarrow ? "<br>" : " · "); }
  /* Figures drawn before the page's layout settles keep a stale width: refit once loaded, and
   * switch between the wide and the phone layout whenever the width crosses NARROW. */
  function fit(gd, kind, redraw) {
    var go = function () {
      if (gd.isConnected) { adapt(gd, kind, redraw); Plotly.Plots.resize(gd); }
    };
    if (document.readyState === "complete") { go(); } else { window.addEventListener("load", go); }
    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { if (gd.isConnected) { adapt(gd, kind, redraw); } }, 100);
    });
  }

  /* Layer randomisation: method x stage x beat -> map, Spearman(|a|) to the trained map. */
  function randomization(gd, D) {
    var q = bytes(D.maps), sig = floats(D.signals);
    var M = D.methods.length, S = D.stages.length, B = D.n_beats, L = D.leads.length;
    var W = D.tb.length, T = D.t.length;
    var st = {method: 0, beat: 0, stage: 0};
    function i3(m, s, b) { return (m * S + s) * B + b; }
    function sim(m, s, b) { return val(D.similarity[i3(m, s, b)]); }
    function draw(beatChanged) {
      var m = st.method, s = st.stage, b = st.beat, k = i3(m, s, b);
      Plotly.restyle(gd, {z: [heat(q, k * L * W, L, W)]}, [D.tr.heatmap]);
      if (beatChanged) {
        var ln = beatLines(sig, b * L * T, L, T, D.t, D.line_scale[b]);
        Plotly.restyle(gd, {x: [ln.x], y: [ln.y]}, [D.tr.beat]);
      }
      var xs = [], cur = [], lo = [], hi = [], mean = [];
      for (var j = 0; j < S; j++) {
        var vals = [];
        for (var bb = 0; bb < B; bb++) { var v = sim(m, j, bb); if (isFinite(v)) { vals.push(v); } }
        xs.push(j);
        cur.push(isFinite(sim(m, j, b)) ? sim(m, j, b) : null);
        lo.push(vals.length ? Math.min.apply(null, vals) : null);
        hi.push(vals.length ? Math.max.apply(null, vals) : null);
        mean.push(vals.length ? vals.reduce(function (a, c) { return a + c; }, 0) / vals.length : null);
      }
      var now = sim(m, s, b);
      Plotly.restyle(gd, {x: [xs, xs, xs, xs, [s]],
                          y: [hi, lo, mean, cur, [isFinite(now) ? now : null]]},
                     [D.tr.hi, D.tr.lo, D.tr.mean, D.tr.cur, D.tr.marker]);
      var p = D.probs_target[s * B + b];
      Plotly.relayout(gd, {"title.text":
        lines(gd, ["<b>" + D.methods[m] + "</b>", s + " of " + (S - 1) + " stages randomised" +
                   (s > 0 ? " (down to " + D.stages[s] + ")" : " (trained model)")]) +
        "<br><span style='font-size:0.85em'>" +
        lines(gd, [D.beat_labels[b] + " · p(" + D.class_names[D.targets[b]] + ") = " + num(p, 2),
                   "Spearman |a| vs trained = " + num(now, 2) +
                   " · max |a| = " + num(D.scale[k], 4)]) + "</span>"});
      mark(gd, st);
    }
    gd.on("plotly_sliderchange", function (e) {
      if (sliderIndex(e) !== D.ctl.stage || e.slider.active === st.stage) { return; }
      st.stage = e.slider.active;
      draw(false);
    });
    gd.on("plotly_buttonclicked", function (e) {
      var i = menuIndex(e);
      if (i === D.ctl.method) { st.method = e.active; draw(false); }
      else if (i === D.ctl.beat) { st.beat = e.active; draw(true); }
    });
    draw(true);
    fit(gd, "randomization", function () { draw(true); });
  }

  /* Lead perturbation: beat x lead set x kind x strength -> perturbed beat, probabilities, map. */
  function perturbation(gd, D) {
    var q = bytes(D.maps), sig = floats(D.signals), eps = floats(D.noise);
    var NL = D.lead_set_names.length, K = D.kinds.length, G = D.strengths[0].length;
    var C = D.class_names.length, L = D.leads.length, W = D.tb.length, T = D.t.length;
    var st = {beat: 0, lead_set: D.initial.lead_set, kind: D.initial.kind,
              strength: D.initial.strength};
    function ci(b, l, k, g) { return ((b * NL + l) * K + k) * G + g; }
    /* x' = gain * x + offset + sd * eps on the chosen leads: ecgsignal.widgets.artefacts. */
    function perturbed(b, l, k, g) {
      var c = D.coefficients[k][g], mask = D.lead_sets[l], off = b * L * T;
      var out = new Float32Array(L * T);
      for (var i = 0; i < L; i++) {
        for (var j = 0; j < T; j++) {
          var v = sig[off + i * T + j];
          out[i * T + j] = mask[i] ? c[0] * v + c[1] + c[2] * eps[off + i * T + j] : v;
        }
      }
      return out;
    }
    function strengthLabels(k) {
      var key = "sliders[" + D.ctl.strength + "]", upd = {};
      upd[key + ".currentvalue.prefix"] = D.kinds[k] + " strength (" + D.units[k] + "): ";
      for (var g = 0; g < G; g++) {
        upd[key + ".steps[" + g + "].label"] = String(D.strengths[k][g]);
      }
      Plotly.relayout(gd, upd);
    }
    function draw() {
      var b = st.beat, l = st.lead_set, k = st.kind, g = st.strength, idx = ci(b, l, k, g);
      Plotly.restyle(gd, {z: [heat(q, idx * L * W, L, W)]}, [D.tr.heatmap]);
      var p = perturbed(b, l, k, g);
      var ln = beatLines(p, 0, L, T, D.t, D.line_scale[b]);
      var orig = beatLines(sig, b * L * T, L, T, D.t, D.line_scale[b], D.lead_sets[l]);
      Plotly.restyle(gd, {x: [ln.x, orig.x], y: [ln.y, orig.y]}, [D.tr.beat, D.tr.orig]);
      var probs = D.probs.slice(idx * C, idx * C + C);
      var ref = D.reference_probs.slice(b * C, b * C + C);
      Plotly.restyle(gd, {y: [probs, ref]}, [D.tr.bars, D.tr.ref]);
      var tc = D.targets[b], colors = [];
      for (var c = 0; c < C; c++) { colors.push(c === tc ? D.colors.target : D.colors.other); }
      Plotly.restyle(gd, {"marker.color": [colors]}, [D.tr.bars]);
      Plotly.relayout(gd, {"title.text":
        lines(gd, ["<b>" + D.method + "</b> on " + D.beat_labels[b], "perturb " +
                   D.lead_set_names[l] + ": " + D.kinds[k] + " " + D.strengths[k][g] + " " +
                   D.units[k]]) +
        "<br><span style='font-size:0.85em'>p(" + D.class_names[tc] + ") " +
        num(ref[tc], 3) + " → " + num(probs[tc], 3) + " · max |a| = " + num(D.scale[idx], 4) +
        "</span>"});
      mark(gd, st);
    }
    gd.on("plotly_sliderchange", function (e) {
      if (sliderIndex(e) !== D.ctl.strength || e.slider.active === st.strength) { return; }
      st.strength = e.slider.active;
      draw();
    });
    gd.on("plotly_buttonclicked", function (e) {
      var i = menuIndex(e);
      if (i === D.ctl.lead_set) { st.lead_set = e.active; }
      else if (i === D.ctl.kind) { st.kind = e.active; strengthLabels(st.kind); }
      else if (i === D.ctl.beat) { st.beat = e.active; }
      else { return; }
      draw();
    });
    strengthLabels(st.kind);
    draw();
    fit(gd, "perturbation", draw);
  }

  window.ECGX = {version: 1, randomization: randomization, perturbation: perturbation,
                 _bytes: bytes, _floats: floats};
})();
