// runwatch: comparing runs on the page (docs/compare.md).
// Select rows (their checkbox), then "Compare": overlaid curves, the hyperparameters that differ,
// per-datapoint score maps, the common-failure map and the hardest datapoints. Everything comes
// from /api/compare/... (the documents `runwatch compare --json` prints); maps are drawn on a canvas.
// The main table gets chosen hyperparameters as columns, and its search finds runs by metric name
// and by key=value. app.js calls the hooks below (attach, visible, decorateRow, writeUrl).
(function () {
  "use strict";
  const COLORS = ["#2f6fde", "#d64545", "#1f9d55", "#e08a00", "#8a5cd1", "#0f9bb0", "#c2185b", "#6d4c41", "#5c6bc0", "#7cb342"];
  const LS_COLS = "runwatch.compare.columns";
  let app = null;          // { state, schedule, refresh } from app.js
  const sel = new Set();   // selected run ids
  let runIndex = null;     // /api/compare/index: { id: { metrics, params } }
  let indexLoading = null;
  let columns = [];        // hyperparameter keys shown in the main table
  try { columns = JSON.parse(localStorage.getItem(LS_COLS) || "[]").filter((x) => typeof x === "string").slice(0, 8); } catch (e) { columns = []; }
  const view = { open: false, ids: [], tab: "curves", metric: null, x: "epoch", log: null, sort: null, mapRun: null, epoch: null, percentile: 25, point: null };
  const timings = {};      // browser tests read how long maps took to fetch and draw

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") el.textContent = v;
      else if (k === "style") el.style.cssText = v;  // CSSOM, allowed by the page's CSP (attributes are not)
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    return el;
  }
  function fmt(v) {
    if (v === null || v === undefined || typeof v !== "number" || !isFinite(v)) return v === null || v === undefined ? "" : String(v);
    const a = Math.abs(v);
    return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(3) : (Number.isInteger(v) ? String(v) : v.toFixed(4));
  }
  function append(el, ...children) { for (const c of children) if (c) el.appendChild(c); }
  // A hyperparameter as written (0.01, 1e-9), shortened only when long.
  function cell(v) { return typeof v === "number" ? (String(v).length <= 10 ? String(v) : fmt(v)) : v === null || v === undefined ? "" : String(v); }
  function arrow(d) { return d > 0 ? " ↑" : d < 0 ? " ↓" : ""; }
  async function api(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== null && v !== undefined && v !== "") q.set(k, v);
    const token = new URLSearchParams(location.search).get("token");
    if (token) q.set("token", token);
    const t0 = performance.now();
    const r = await fetch("api/compare/" + path + "?" + q.toString(), { cache: "no-store" });
    const t1 = performance.now();
    const text = await r.text();
    const t2 = performance.now();
    const body = JSON.parse(text);
    const t3 = performance.now();
    const st = /dur=([0-9.]+)/.exec(r.headers.get("server-timing") || "");
    timings["api:" + path] = { wait: t1 - t0, build: st ? Number(st[1]) : null, body: t2 - t1, parse: t3 - t2, bytes: text.length };
    if (!r.ok) throw new Error(body && body.error ? body.error : "HTTP " + r.status);
    return body;
  }

  // ------------------------------------------------------------ colours: red-yellow-green
  const STOPS = [[215, 48, 39], [254, 224, 139], [26, 152, 80]];
  let RYG = null;
  function rygTable() {
    if (!RYG) { RYG = new Uint8Array(1024 * 3); for (let k = 0; k < 1024; k++) RYG.set(ryg(k / 1023), k * 3); }
    return RYG;
  }
  function ryg(t) {
    t = Math.max(0, Math.min(1, t));
    const i = t < 0.5 ? 0 : 1, f = t < 0.5 ? t * 2 : (t - 0.5) * 2;
    const a = STOPS[i], b = STOPS[i + 1];
    return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
  }

  // ------------------------------------------------------------ the main table: selection, columns, search
  // A hub's page (runwatch hub) merges agents' runs and has no compare endpoints: the panel is the agent's.
  function onHub() { return !!(app && app.state.summary && app.state.summary.clusters); }
  function ensureIndex() {
    if (runIndex || indexLoading || onHub()) return;
    indexLoading = api("index").then((d) => { runIndex = d.runs || {}; indexLoading = null; if (app) app.refresh(); })
      .catch(() => { indexLoading = null; runIndex = {}; });
  }
  // The search also finds runs by a metric name ("mean_IoU") and by key=value ("optimizer.args.lr=0.01",
  // "lr>0.01"): the server answers with the ids it finds (/api/compare/search, the rule of /api/runs?q=
  // and `runwatch status -q`), asked again when the search changes or its answer is 5 s old.
  const search = { q: null, ids: null, at: 0, loading: false, error: null };
  function askSearch(q) {
    search.loading = true;
    api("search", { q }).then((d) => { if (search.q === q) { search.ids = new Set(d.ids || []); search.error = null; } })
      .catch((e) => { if (search.q === q) { search.ids = new Set(); search.error = e.message; } })
      .finally(() => {
        search.loading = false; search.at = Date.now();
        const box = document.getElementById("search");
        if (box) box.title = search.error ? "Search: " + search.error : "";
        if (app) app.refresh();
      });
  }
  function matches(r, q) {
    if (!q || onHub()) return false;
    if (search.q !== q) { search.q = q; search.ids = null; askSearch(q); }
    else if (!search.loading && Date.now() - search.at > 5000) askSearch(q);
    return !!(search.ids && search.ids.has(r.id));
  }
  function baseTemplate() {
    if (!baseTemplate.v) baseTemplate.v = getComputedStyle(document.getElementById("thead")).gridTemplateColumns || "";
    return baseTemplate.v;
  }
  function applyTemplate(el) {
    // Written only when it differs: a write restyles the row even when the value is the same.
    const t = columns.length ? baseTemplate() + " " + columns.map(() => "110px").join(" ") : "";
    if (el.style.gridTemplateColumns !== t) el.style.gridTemplateColumns = t;
  }
  function renderHeadColumns() {
    const thead = document.getElementById("thead");
    for (const el of thead.querySelectorAll(".c-param")) el.remove();
    baseTemplate();
    for (const k of columns) {
      thead.appendChild(h("div", { class: "c-param", title: k + " (click to remove the column)", text: k.split(".").slice(-2).join("."),
        onclick: () => { toggleColumn(k); } }));
    }
    applyTemplate(thead);
  }
  function toggleColumn(k) {
    const i = columns.indexOf(k);
    if (i >= 0) columns.splice(i, 1); else if (columns.length < 8) columns.push(k);
    try { localStorage.setItem(LS_COLS, JSON.stringify(columns)); } catch (e) { /* private mode */ }
    if (columns.length) ensureIndex();
    renderHeadColumns();
    if (app) app.refresh();
    if (view.open && view.tab === "hparams") renderTab();
  }
  function decorateRow(el, r) {
    if (onHub()) { const b = document.getElementById("cmp-open"); if (b) b.parentNode.hidden = true; return; }
    const runCell = el.querySelector(".c-run");
    if (runCell) {
      const box = h("input", { type: "checkbox", class: "cmp-pick", title: "Select for comparing", "aria-label": "Select " + (r.run || "") + " for comparing" });
      box.checked = sel.has(r.id);
      box.addEventListener("click", (ev) => { ev.stopPropagation(); });
      box.addEventListener("change", () => { box.checked ? sel.add(r.id) : sel.delete(r.id); renderButton(); });
      runCell.insertBefore(box, runCell.firstChild);
    }
    applyTemplate(el);
    if (columns.length) {
      const info = runIndex && runIndex[r.id];
      for (const k of columns) {
        const v = info && info.params ? info.params[k] : undefined;
        el.appendChild(h("div", { class: "c-param", title: k + " = " + cell(v), text: cell(v) }));
      }
    }
  }
  function renderButton() {
    const b = document.getElementById("cmp-open");
    if (!b) return;
    b.textContent = "Compare" + (sel.size ? " (" + sel.size + ")" : "");
    b.disabled = sel.size === 0;
    document.getElementById("cmp-clear").hidden = sel.size === 0;
  }
  function writeUrl(p) { if (view.open && view.ids.length) p.set("compare", view.ids.join(",")); }
  function readUrl() {
    const p = new URLSearchParams(location.hash.replace(/^#/, ""));
    const ids = (p.get("compare") || "").split(",").map((x) => x.trim()).filter((x) => /^[0-9a-f]{1,40}$/.test(x));
    if (ids.length && (!view.open || ids.join() !== view.ids.join())) openPanel(ids);
  }

  // ------------------------------------------------------------ the panel
  function openPanel(ids) {
    view.open = true;
    view.ids = ids.slice(0, 200);
    view.metric = null; view.mapRun = view.ids[0]; view.epoch = null; view.point = null; view.sort = null; view.log = null;
    for (const i of view.ids) sel.add(i);
    renderButton();
    document.getElementById("cmp-panel").hidden = false;
    document.body.classList.add("comparing");
    loadMetrics();
    if (app) app.schedule(false);
  }
  function closePanel() {
    view.open = false;
    document.getElementById("cmp-panel").hidden = true;
    document.body.classList.remove("comparing");
    if (app) app.schedule(false);
  }
  function names() {
    const out = {};
    if (app) for (const id of view.ids) { const r = app.state.runs.get(id); out[id] = r ? r.run : id; }
    return out;
  }
  let metricsDoc = null;
  async function loadMetrics() {
    const body = document.getElementById("cmp-body");
    body.textContent = "Loading…";
    try {
      metricsDoc = await api("metrics", { runs: view.ids.join(",") });
    } catch (e) { body.textContent = "Could not compare: " + e.message; return; }
    view.metric = view.metric || metricsDoc.default;
    renderControls();
    renderTab();
  }
  function renderControls() {
    const bar = document.getElementById("cmp-controls");
    bar.textContent = "";
    const list = view.x === "step" ? metricsDoc.step_metrics : metricsDoc.epoch_metrics;
    const metric = h("select", { id: "cmp-metric", "aria-label": "Metric", onchange: (ev) => { view.metric = ev.target.value; view.log = null; renderTab(); } });
    const known = new Set();
    for (const m of list) { known.add(m.name); metric.appendChild(h("option", { value: m.name, text: m.name + arrow(m.direction) + (m.runs < view.ids.length ? " (" + m.runs + "/" + view.ids.length + ")" : "") })); }
    if (view.metric && !known.has(view.metric) && list.length) view.metric = list[0].name;
    metric.value = view.metric || "";
    const x = h("select", { id: "cmp-x", "aria-label": "Curves per", onchange: (ev) => { view.x = ev.target.value; view.metric = null; renderControls(); renderTab(); } },
      h("option", { value: "epoch", text: "per epoch" }), h("option", { value: "step", text: "per step", disabled: metricsDoc.step_metrics.length ? null : true }));
    x.value = view.x;
    if (!view.metric && list.length) { view.metric = list[0].name; metric.value = view.metric; }
    const tabs = h("span", { class: "cmp-tabs", role: "tablist" });
    for (const [k, label] of [["curves", "Curves"], ["hparams", "Hyperparameters"], ["datapoints", "Datapoints"]]) {
      tabs.appendChild(h("button", { type: "button", role: "tab", class: "cmp-tab" + (view.tab === k ? " active" : ""), "data-tab": k, "aria-selected": view.tab === k ? "true" : "false",
        text: label, onclick: () => { view.tab = k; renderControls(); renderTab(); } }));
    }
    bar.append(tabs, h("label", {}, "Metric ", metric), h("label", {}, " ", x));
  }
  function renderTab() {
    if (view.tab === "curves") return renderCurves();
    if (view.tab === "hparams") return renderHparams();
    return renderDatapoints();
  }
  function warnList(ws) {
    if (!ws || !ws.length) return null;
    const ul = h("ul", { class: "cmp-warnings" });
    for (const w of ws.slice(0, 50)) ul.appendChild(h("li", { text: "⚠ " + w }));
    if (ws.length > 50) ul.appendChild(h("li", { text: "⚠ " + (ws.length - 50) + " more" }));
    return ul;
  }

  // ------------------------------------------------------------ curves
  let curvesReq = 0;
  async function renderCurves() {
    const body = document.getElementById("cmp-body");
    const mine = ++curvesReq;
    let d;
    const t0 = performance.now();
    try { d = await api("curves", { runs: view.ids.join(","), metric: view.metric, x: view.x }); } catch (e) { body.textContent = "Could not load the curves: " + e.message; return; }
    if (mine !== curvesReq) return;
    body.textContent = "";
    if (view.log === null) view.log = !!d.log_scale;
    const logBox = h("input", { type: "checkbox", id: "cmp-log" });
    logBox.checked = view.log;
    logBox.addEventListener("change", () => { view.log = logBox.checked; draw(); });
    const bandBox = h("input", { type: "checkbox", id: "cmp-groups" });
    bandBox.checked = true;
    bandBox.addEventListener("change", draw);
    const canvas = h("canvas", { id: "cmp-curves", class: "cmp-chart", role: "img", "aria-label": "Curves of " + (d.metric || "") });
    const legend = h("div", { class: "cmp-legend" });
    append(body, h("div", { class: "cmp-opts" }, h("span", { class: "cmp-dir", text: (d.metric || "no metric") + " — " + (d.direction > 0 ? "higher is better" : d.direction < 0 ? "lower is better" : "direction unknown") + " · ● best" }),
      h("label", {}, logBox, " log scale"), d.groups.length ? h("label", {}, bandBox, " repetitions as mean ± min-max") : null), canvas, legend, warnList(d.warnings));
    const grouped = new Set();
    d.groups.forEach((g) => g.runs.forEach((i) => grouped.add(i)));
    d.groups.forEach((g) => {
      const color = COLORS[(d.runs.findIndex((r) => r.id === g.runs[0]) + COLORS.length) % COLORS.length];
      legend.appendChild(h("span", { class: "cmp-key group" }, h("span", { class: "sw band", style: "background:" + color }),
        h("span", { text: g.name + " — mean of " + g.runs.length + " repetitions" })));
    });
    d.runs.forEach((r, i) => {
      legend.appendChild(h("span", { class: "cmp-key" + (grouped.has(r.id) ? " in-group" : "") }, h("span", { class: "sw", style: "background:" + COLORS[i % COLORS.length] }),
        h("span", { text: r.name + (r.best ? " (best " + fmt(r.best[1]) + ")" : r.points.length ? "" : " (no values)") })));
    });
    function draw() {
      const useGroups = bandBox.checked && d.groups.length > 0;
      const W = Math.max(280, body.clientWidth - 32), H = Math.max(220, Math.min(480, Math.round(W * 0.45)));
      const dpr = window.devicePixelRatio || 1;
      canvas.width = W * dpr; canvas.height = H * dpr; canvas.style.width = W + "px"; canvas.style.height = H + "px";
      const ctx = canvas.getContext("2d");
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, W, H);
      const log = view.log;
      const ty = (v) => (log ? Math.log10(v) : v);
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      const series = [];
      d.runs.forEach((r, i) => { if (!(useGroups && grouped.has(r.id))) series.push({ pts: r.points, color: COLORS[i % COLORS.length], best: r.best }); });
      for (const s of series) for (const [x, y] of s.pts) { if (log && y <= 0) continue; x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, ty(y)); y1 = Math.max(y1, ty(y)); }
      if (useGroups) for (const g of d.groups) for (const p of g.points) { if (log && p[2] <= 0) continue; x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]); y0 = Math.min(y0, ty(p[2])); y1 = Math.max(y1, ty(p[3])); }
      if (!isFinite(x0)) { ctx.fillStyle = "#6b7384"; ctx.fillText("No values of this metric in the selected runs.", 20, 30); return; }
      if (x1 === x0) { x0 -= 1; x1 += 1; }
      if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
      const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
      const L = 62, R = 12, T = 10, B = 28;
      const px = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
      const py = (v) => T + (1 - (ty(v) - y0) / (y1 - y0)) * (H - T - B);
      ctx.font = "11px system-ui, sans-serif"; ctx.strokeStyle = "#e3e6ec"; ctx.fillStyle = "#6b7384"; ctx.lineWidth = 1;
      for (let k = 0; k <= 4; k++) {
        const yv = y0 + (y1 - y0) * k / 4, yy = T + (1 - k / 4) * (H - T - B);
        ctx.beginPath(); ctx.moveTo(L, yy); ctx.lineTo(W - R, yy); ctx.stroke();
        ctx.textAlign = "right"; ctx.fillText(fmt(log ? Math.pow(10, yv) : yv), L - 4, yy + 4);
      }
      ctx.textAlign = "center";
      const whole = series.every((s) => s.pts.every((p) => Number.isInteger(p[0])));
      const nx = whole ? Math.max(1, Math.min(5, Math.round(x1 - x0))) : 4;
      for (let k = 0; k <= nx; k++) {
        const xv = whole ? Math.round(x0 + (x1 - x0) * k / nx) : x0 + (x1 - x0) * k / nx;
        ctx.fillText(whole ? String(xv) : fmt(xv), px(xv), H - 10);
      }
      ctx.textAlign = "right"; ctx.fillText(view.x, W - R, H - 1);
      if (useGroups) d.groups.forEach((g, gi) => {
        const color = COLORS[(d.runs.findIndex((r) => r.id === g.runs[0]) + COLORS.length) % COLORS.length];
        const pts = g.points.filter((p) => !log || p[2] > 0);
        if (!pts.length) return;
        ctx.globalAlpha = 0.18; ctx.fillStyle = color; ctx.beginPath();
        pts.forEach((p, k) => (k ? ctx.lineTo(px(p[0]), py(p[3])) : ctx.moveTo(px(p[0]), py(p[3]))));
        for (let k = pts.length - 1; k >= 0; k--) ctx.lineTo(px(pts[k][0]), py(pts[k][2]));
        ctx.closePath(); ctx.fill(); ctx.globalAlpha = 1;
        ctx.strokeStyle = color; ctx.lineWidth = 2.5; ctx.beginPath();
        pts.forEach((p, k) => (k ? ctx.lineTo(px(p[0]), py(p[1])) : ctx.moveTo(px(p[0]), py(p[1]))));
        ctx.stroke();
        const last = pts[pts.length - 1];
        ctx.fillStyle = color; ctx.textAlign = "left"; ctx.fillText(g.name.split("/").pop() + " (" + g.runs.length + ")", Math.min(px(last[0]) + 4, W - 90), py(last[1]) - 4);
      });
      for (const s of series) {
        const pts = s.pts.filter((p) => !log || p[1] > 0);
        ctx.strokeStyle = s.color; ctx.lineWidth = 1.5; ctx.beginPath();
        pts.forEach((p, k) => (k ? ctx.lineTo(px(p[0]), py(p[1])) : ctx.moveTo(px(p[0]), py(p[1]))));
        ctx.stroke();
        if (pts.length === 1) { ctx.fillStyle = s.color; ctx.fillRect(px(pts[0][0]) - 2, py(pts[0][1]) - 2, 4, 4); }
        if (s.best && (!log || s.best[1] > 0)) {
          ctx.fillStyle = "#fff"; ctx.strokeStyle = s.color; ctx.lineWidth = 2;
          ctx.beginPath(); ctx.arc(px(s.best[0]), py(s.best[1]), 4, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
        }
      }
      timings.curves = performance.now() - t0;
    }
    draw();
  }

  // ------------------------------------------------------------ hyperparameters
  async function renderHparams() {
    const body = document.getElementById("cmp-body");
    let d;
    try { d = await api("hparams", { runs: view.ids.join(","), metric: view.metric, sort: view.sort }); } catch (e) { body.textContent = "Could not load the hyperparameters: " + e.message; return; }
    body.textContent = "";
    const sortBy = (k) => { view.sort = view.sort === k ? "-" + k : k; renderHparams(); };
    const head = h("tr", {}, h("th", { class: "sortable", text: "run", onclick: () => sortBy("name") }),
      h("th", { class: "sortable num best", text: "best " + (d.metric || "") + arrow(d.direction), onclick: () => sortBy("best") }),
      h("th", { class: "sortable num latest", text: "latest", onclick: () => sortBy("latest") }));
    for (const k of d.keys) {
      head.appendChild(h("th", { class: "sortable", title: k }, h("span", { text: k, onclick: () => sortBy(k) }),
        h("button", { type: "button", class: "cmp-col" + (columns.includes(k) ? " on" : ""), title: columns.includes(k) ? "Remove from the runs table" : "Show as a column of the runs table", text: columns.includes(k) ? "−" : "+", onclick: (ev) => { ev.stopPropagation(); toggleColumn(k); } })));
    }
    const key = (view.sort || "").replace(/^-/, "");
    for (const th of head.children) if (th.textContent.replace(/[+−]$/, "").startsWith(key === "name" ? "run" : key) && key) th.classList.add(view.sort.startsWith("-") ? "sorted-desc" : "sorted");
    const tbody = h("tbody");
    for (const row of d.rows) {
      const tr = h("tr", {}, h("td", { class: "run", title: row.name, text: row.name }),
        h("td", { class: "num best", title: row.best_epoch !== null && row.best_epoch !== undefined ? "at epoch " + row.best_epoch : "", text: fmt(row.best) }),
        h("td", { class: "num latest", text: fmt(row.latest) }));
      for (const k of d.keys) tr.appendChild(h("td", { title: k, text: cell(row.params[k]) }));
      tbody.appendChild(tr);
    }
    const constant = Object.entries(d.constant || {});
    append(body,
      d.keys.length ? null : h("p", { class: "muted", text: "No hyperparameter differs among these runs (or none is known for their layout)." }),
      h("div", { class: "cmp-table-wrap" }, h("table", { class: "cmp-table", id: "cmp-hparams" }, h("thead", {}, head), tbody)),
      constant.length ? h("details", { class: "cmp-constant" }, h("summary", { text: constant.length + " hyperparameters are the same in every run" }),
        h("table", { class: "cmp-table" }, h("tbody", {}, ...constant.slice(0, 500).map(([k, v]) => h("tr", {}, h("td", { text: k }), h("td", { text: cell(v) })))))) : null);
  }

  // ------------------------------------------------------------ datapoints: score map, failures, hardest, one datapoint
  function drawMap(canvas, values, side, lo, hi, direction, maxPx) {
    const n = values.length;
    const cellPx = Math.max(1, Math.min(24, Math.floor(maxPx / Math.max(1, side))));
    canvas.width = side * cellPx; canvas.height = side * cellPx;
    canvas.style.width = side * cellPx + "px"; canvas.style.height = side * cellPx + "px";
    canvas._cell = cellPx; canvas._side = side; canvas._n = n;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(side, side);
    const data = img.data;
    const span = hi - lo;
    const lut = rygTable();  // 1024 shades: no colour computed (nor array made) per cell
    const scale = span > 0 ? 1023 / span : 0;
    for (let i = 0; i < side * side; i++) {
      const o = i * 4;
      if (i >= n) { data[o] = 240; data[o + 1] = 242; data[o + 2] = 246; data[o + 3] = 255; continue; }
      const v = values[i];
      if (v === null || v === undefined) { data[o] = 90; data[o + 1] = 90; data[o + 2] = 100; data[o + 3] = 255; continue; }
      let k = span > 0 ? Math.round((v - lo) * scale) : 512;
      if (direction < 0) k = 1023 - k;
      k = k < 0 ? 0 : k > 1023 ? 1023 : k;
      data[o] = lut[k * 3]; data[o + 1] = lut[k * 3 + 1]; data[o + 2] = lut[k * 3 + 2]; data[o + 3] = 255;
    }
    const off = document.createElement("canvas");
    off.width = side; off.height = side;
    off.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, 0, 0, side * cellPx, side * cellPx);
  }
  function indexAt(canvas, ev) {
    const r = canvas.getBoundingClientRect();
    const col = Math.floor((ev.clientX - r.left) / canvas._cell), row = Math.floor((ev.clientY - r.top) / canvas._cell);
    const i = row * canvas._side + col;
    return col >= 0 && col < canvas._side && i >= 0 && i < canvas._n ? i : null;
  }
  function scaleBar(lo, hi, direction, label) {
    const bar = h("div", { class: "cmp-scale" }, h("span", { text: fmt(direction < 0 ? hi : lo) + " worst" }), h("span", { class: "grad" }), h("span", { text: "best " + fmt(direction < 0 ? lo : hi) }));
    return h("div", { class: "cmp-scale-wrap" }, h("span", { class: "muted", text: label }), bar);
  }
  let dpReq = 0;
  async function renderDatapoints() {
    const body = document.getElementById("cmp-body");
    const mine = ++dpReq;
    body.textContent = "";
    const nm = names();
    const runSel = h("select", { id: "cmp-map-run", "aria-label": "Run of the score map" });
    for (const id of view.ids) runSel.appendChild(h("option", { value: id, text: nm[id] }));
    runSel.value = view.mapRun || view.ids[0];
    const epochIn = h("input", { type: "range", id: "cmp-epoch", min: "0", max: "0", value: "0", "aria-label": "Epoch" });
    const epochOut = h("span", { class: "num", id: "cmp-epoch-text" });
    const pctIn = h("input", { type: "range", id: "cmp-pct", min: "1", max: "99", value: String(view.percentile), "aria-label": "Failure percentile" });
    const pctOut = h("span", { class: "num", text: view.percentile + "th" });
    const mapCanvas = h("canvas", { id: "cmp-map", class: "cmp-map", role: "img", "aria-label": "Score map" });
    const failCanvas = h("canvas", { id: "cmp-fail", class: "cmp-map", role: "img", "aria-label": "Common-failure map" });
    const mapInfo = h("div", { class: "cmp-mapinfo" }), failInfo = h("div", { class: "cmp-mapinfo" });
    const hardest = h("div", { class: "cmp-hardest" }), point = h("div", { class: "cmp-point", id: "cmp-point" });
    const warn = h("div", { class: "cmp-warnbox" });
    const maxPx = Math.max(160, Math.min(420, Math.floor((body.clientWidth - 40) / (body.clientWidth > 900 ? 2 : 1))));
    body.append(
      h("div", { class: "cmp-opts" }, h("label", {}, "Run ", runSel), h("label", {}, " Epoch ", epochIn, " ", epochOut), h("label", {}, " Failure below the ", pctIn, " ", pctOut, " percentile")),
      h("div", { class: "cmp-maps" },
        h("figure", {}, h("figcaption", { text: "Score map" }), mapCanvas, mapInfo),
        h("figure", {}, h("figcaption", { text: "Common failures: share of runs in which a datapoint did not fail" }), failCanvas, failInfo)),
      warn, h("div", { class: "cmp-lists" }, hardest, point));
    const epochParam = () => (view.epoch === null ? null : String(view.epoch));
    let mapDoc = null, failDoc = null;
    const showWarnings = () => { warn.textContent = ""; const ws = [].concat(mapDoc ? mapDoc.warnings : [], failDoc ? failDoc.warnings : []); const l = warnList([...new Set(ws)]); if (l) warn.appendChild(l); };
    async function loadMap() {
      const t0 = performance.now();
      try { mapDoc = await api("scoremap", { run: view.mapRun, metric: view.metric, epoch: epochParam() }); } catch (e) { mapInfo.textContent = "Could not load the map: " + e.message; return; }
      if (mine !== dpReq) return;
      const eps = mapDoc.epochs || [];
      epochIn.max = String(Math.max(0, eps.length - 1));
      epochIn.value = String(Math.max(0, eps.indexOf(mapDoc.epoch)));
      epochIn.disabled = eps.length <= 1;
      epochOut.textContent = mapDoc.epoch === null ? "–" : String(mapDoc.epoch);
      const td = performance.now();
      drawMap(mapCanvas, mapDoc.values, mapDoc.side, mapDoc.min, mapDoc.max, mapDoc.direction || 1, maxPx);
      timings.scoremap_draw = performance.now() - td;
      timings.scoremap = performance.now() - t0;
      mapInfo.textContent = "";
      append(mapInfo, h("span", { text: mapDoc.n + " datapoints of " + (mapDoc.metric || "–") + arrow(mapDoc.direction) + ", " + mapDoc.side + "×" + mapDoc.side + " grid · click a cell" }),
        mapDoc.n ? scaleBar(mapDoc.min, mapDoc.max, mapDoc.direction || 1, "") : null);
      showWarnings();
    }
    async function loadFailures() {
      const t0 = performance.now();
      const params = { runs: view.ids.join(","), metric: view.metric, percentile: String(view.percentile), epoch: epochParam() };
      try { [failDoc] = await Promise.all([api("failures", params)]); } catch (e) { failInfo.textContent = "Could not load the failures: " + e.message; return; }
      if (mine !== dpReq) return;
      const td = performance.now();
      drawMap(failCanvas, failDoc.values, failDoc.side, 0, 1, 1, maxPx);
      timings.failures_draw = performance.now() - td;
      timings.failures = performance.now() - t0;
      const never = failDoc.values.filter((v) => v === 0).length;
      failInfo.textContent = "";
      failInfo.append(h("span", { text: failDoc.runs.length + " runs; a score fails when worse than the " + failDoc.percentile + "th percentile (" + fmt(failDoc.threshold) + ") of all their scores" + (failDoc.direction < 0 ? ", lower is better" : "") + "; " + never + " datapoints fail in every run" }),
        scaleBar(0, 1, 1, "share of runs"));
      showWarnings();
      let hd;
      try { hd = await api("hardest", { ...params, count: "15" }); } catch (e) { hardest.textContent = "Could not load the hardest datapoints: " + e.message; return; }
      if (mine !== dpReq) return;
      hardest.textContent = "";
      const tb = h("tbody");
      for (const it of hd.items) tb.appendChild(h("tr", { class: "clickable", onclick: () => showPoint(it.index) }, h("td", { class: "num", text: String(it.index) }), h("td", { class: "num", text: fmt(it.mean) }),
        h("td", { class: "num", text: fmt(it.min) + " – " + fmt(it.max) }), h("td", { class: "num", text: it.failed_in + "/" + hd.runs.length })));
      hardest.append(h("h3", { text: "Hardest datapoints (" + (hd.metric || "–") + ")" }),
        h("table", { class: "cmp-table", id: "cmp-hardest" }, h("thead", {}, h("tr", {}, h("th", { text: "#" }), h("th", { text: "mean" }), h("th", { text: "range" }), h("th", { text: "failed in" }))), tb));
    }
    async function showPoint(i) {
      view.point = i;
      point.textContent = "Loading datapoint " + i + "…";
      let d;
      try { d = await api("datapoint", { runs: view.ids.join(","), index: String(i), metric: view.metric }); } catch (e) { point.textContent = "Could not load datapoint " + i + ": " + e.message; return; }
      point.textContent = "";
      const tb = h("tbody");
      for (const r of d.runs) for (const e of r.epochs) tb.appendChild(h("tr", {}, h("td", { class: "run", text: r.name }), h("td", { class: "num", text: String(e.epoch) }),
        h("td", { class: "num", text: Object.entries(e.scores).map(([k, v]) => (Object.keys(e.scores).length > 1 ? k + "=" : "") + fmt(v)).join(" ") })));
      append(point, h("h3", { text: "Datapoint " + i + ": " + (d.metric || "scores") + " in every run and epoch" }),
        h("table", { class: "cmp-table", id: "cmp-datapoint" }, h("thead", {}, h("tr", {}, h("th", { text: "run" }), h("th", { text: "epoch" }), h("th", { text: "score" }))), tb), warnList(d.warnings));
    }
    for (const c of [mapCanvas, failCanvas]) {
      c.addEventListener("click", (ev) => { const i = indexAt(c, ev); if (i !== null) showPoint(i); });
      c.addEventListener("mousemove", (ev) => {
        const i = indexAt(c, ev);
        const doc = c === mapCanvas ? mapDoc : failDoc;
        c.title = i === null || !doc ? "" : "datapoint " + i + ": " + fmt(doc.values[i]) + (c === failCanvas ? " of the runs did not fail" : "");
      });
    }
    runSel.addEventListener("change", () => { view.mapRun = runSel.value; view.epoch = null; loadMap(); });
    epochIn.addEventListener("input", () => { const eps = (mapDoc && mapDoc.epochs) || []; view.epoch = eps[Number(epochIn.value)]; epochOut.textContent = String(view.epoch); });
    epochIn.addEventListener("change", () => { loadMap(); loadFailures(); });
    pctIn.addEventListener("input", () => { pctOut.textContent = pctIn.value + "th"; });
    pctIn.addEventListener("change", () => { view.percentile = Number(pctIn.value); loadFailures(); });
    await loadMap();  // first: one run's map is on screen while the failures over every run are read
    await loadFailures();
    if (view.point !== null) showPoint(view.point);
  }

  // ------------------------------------------------------------ setup
  function build() {
    const tb = document.getElementById("toolbar");
    if (tb && !document.getElementById("cmp-open")) {
      const open = h("button", { type: "button", id: "cmp-open", class: "cmp-btn", title: "Compare the selected runs (tick their boxes)", disabled: true, text: "Compare",
        onclick: () => { if (sel.size) { openPanel([...sel]); if (app) app.schedule(false); } } });
      const clear = h("button", { type: "button", id: "cmp-clear", class: "cmp-btn link", hidden: true, text: "clear selection", onclick: () => { sel.clear(); renderButton(); if (app) app.refresh(); } });
      tb.insertBefore(h("span", { class: "cmp-actions" }, open, clear), tb.children[1] || null);
    }
    const panel = h("section", { id: "cmp-panel", hidden: true, "aria-label": "Compare runs" },
      h("div", { class: "cmp-head" }, h("h2", { text: "Compare runs" }), h("div", { id: "cmp-controls" }),
        h("button", { type: "button", id: "cmp-close", title: "Close (Esc)", text: "×", onclick: closePanel })),
      h("div", { id: "cmp-body" }));
    document.querySelector("main").appendChild(panel);
    document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && view.open) { ev.stopPropagation(); closePanel(); } }, true);
    window.addEventListener("hashchange", readUrl);
    window.addEventListener("resize", () => { if (view.open && view.tab !== "hparams") renderTab(); });
    if (columns.length) { ensureIndex(); renderHeadColumns(); }
  }

  window.RunwatchCompare = {
    // app.js: attach({ state, schedule, refresh }) once at init
    attach(a) { app = a; build(); readUrl(); },
    matches, decorateRow, writeUrl,
    select(ids) { for (const i of ids) sel.add(i); renderButton(); if (app) app.refresh(); },
    open: openPanel, close: closePanel, timings, view,
  };
})();
