// runwatch dashboard: one WebSocket (snapshot, then numbered deltas) and the JSON API.
// Every piece of run-provided text goes through textContent / setAttribute, never
// innerHTML: run names, score keys and log lines can contain markup.
"use strict";

(function () {
  const STATUSES = ["running", "stuck", "failed", "queued", "finished", "outdated"];
  const ROW_H = 30;
  const OVERSCAN = 8;

  const state = {
    runs: new Map(),          // id -> record
    seq: -1,
    summary: null,
    statusFilter: new Set(),  // empty = all
    q: "",
    sortKey: "run",
    sortDesc: false,
    group: true,
    collapsed: new Set(),
    view: [],
    viewDirty: true,
    lastMessageAt: null,
    openId: null,
    detail: null,
    detailMetric: null,
  };

  // ------------------------------------------------------------ helpers

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k === "style") el.style.cssText = v;  // CSSOM, allowed by the page's CSP (attributes are not)
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return el;
  }
  const svgNS = "http://www.w3.org/2000/svg";
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(svgNS, tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
    for (const c of children) if (c) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    return el;
  }
  const $ = (id) => document.getElementById(id);

  function fmtNum(v) {
    if (v === null || v === undefined) return "";
    if (typeof v !== "number") return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
    return v.toFixed(a < 10 ? 4 : 2).replace(/\.?0+$/, "") || "0";
  }
  function fmtDur(sec) {
    if (sec === null || sec === undefined || !isFinite(sec)) return "";
    sec = Math.max(0, Math.round(sec));
    if (sec < 60) return sec + "s";
    const m = Math.floor(sec / 60);
    if (m < 60) return m + "m";
    const hh = Math.floor(m / 60);
    if (hh < 48) return hh + "h" + (m % 60 ? " " + (m % 60) + "m" : "");
    return Math.floor(hh / 24) + "d " + (hh % 24) + "h";
  }
  function fmtAgo(t) {
    if (!t) return "";
    return fmtDur(Date.now() / 1000 - t) + " ago";
  }
  function fmtTime(t) {
    if (!t) return "";
    return new Date(t * 1000).toLocaleString();
  }
  function folderOf(run) {
    const i = (run || "").lastIndexOf("/");
    return i < 0 ? "" : run.slice(0, i);
  }
  function leafOf(run) {
    const i = (run || "").lastIndexOf("/");
    return i < 0 ? (run || "") : run.slice(i + 1);
  }

  // ------------------------------------------------------------ view model

  const collator = new Intl.Collator(undefined, { numeric: true });  // one instance: localeCompare with options is slow

  function sortValue(r, key) {
    if (key === "best" || key === "latest") return r.main_score ? r.main_score[key] : null;
    if (key === "status") return STATUSES.indexOf(r.status);
    return r[key];
  }
  function compare(a, b) {
    const k = state.sortKey;
    const va = sortValue(a, k), vb = sortValue(b, k);
    const na = va === null || va === undefined, nb = vb === null || vb === undefined;
    if (na && nb) return collator.compare(a.run || "", b.run || "");
    if (na) return 1;   // missing values last, whatever the direction
    if (nb) return -1;
    let c = typeof va === "string" ? collator.compare(va, vb) : va - vb;
    if (c === 0) c = collator.compare(a.run || "", b.run || "");
    return state.sortDesc ? -c : c;
  }
  function visible(r) {
    if (state.statusFilter.size && !state.statusFilter.has(r.status)) return false;
    // The search matches the run's name or its reason ("crashed", "never_started", "oom", ...).
    if (state.q && !(r.run || "").toLowerCase().includes(state.q) && !(r.reason || "").includes(state.q)) return false;
    return true;
  }
  function rebuildView() {
    const rows = [];
    for (const r of state.runs.values()) if (visible(r)) rows.push(r);
    rows.sort(compare);
    const view = [];
    if (state.group) {
      const groups = new Map();
      for (const r of rows) {
        const f = folderOf(r.run);
        if (!groups.has(f)) groups.set(f, []);
        groups.get(f).push(r);
      }
      const names = [...groups.keys()].sort(collator.compare);  // group_2 before group_10
      for (const name of names) {
        const members = groups.get(name);
        const counts = {};
        for (const r of members) counts[r.status] = (counts[r.status] || 0) + 1;
        view.push({ group: name, n: members.length, counts });
        if (!state.collapsed.has(name)) for (const r of members) view.push(r);
      }
    } else {
      for (const r of rows) view.push(r);
    }
    state.view = view;
    state.viewIndex = new Map();
    view.forEach((item, i) => { if (item.id !== undefined) state.viewIndex.set(item.id, i); });
    state.shown = rows.length;
    state.viewDirty = false;
  }

  // ------------------------------------------------------------ rendering

  let frame = 0;
  function schedule(viewChanged) {
    if (viewChanged) state.viewDirty = true;
    if (!frame) frame = requestAnimationFrame(render);
  }
  function render() {
    frame = 0;
    if (state.viewDirty) rebuildView();
    renderSummary();
    renderRows();
  }

  function renderSummary() {
    const sm = state.summary;
    const counts = $("counts");
    counts.textContent = "";
    const all = h("button", { class: "count all" + (state.statusFilter.size ? "" : " active"), type: "button",
      onclick: () => { state.statusFilter.clear(); schedule(true); } },
      h("span", { class: "n", text: sm ? String(sm.total) : "–" }), " all");
    counts.appendChild(all);
    for (const st of STATUSES) {
      const n = sm && sm.counts ? (sm.counts[st] || 0) : 0;
      const b = h("button", {
        class: "count st-" + st + (state.statusFilter.has(st) ? " active" : ""), type: "button",
        "data-status": st, title: "Show only " + st + " runs (shift-click to add)",
        onclick: (ev) => {
          if (ev.shiftKey) { state.statusFilter.has(st) ? state.statusFilter.delete(st) : state.statusFilter.add(st); }
          else if (state.statusFilter.size === 1 && state.statusFilter.has(st)) state.statusFilter.clear();
          else { state.statusFilter.clear(); state.statusFilter.add(st); }
          schedule(true);
        },
      }, h("span", { class: "dot" }), h("span", { class: "n", text: String(n) }), " " + st);
      counts.appendChild(b);
    }
    if (sm) {
      $("overall-fill").style.width = Math.min(100, sm.progress || 0) + "%";
      $("overall-text").textContent = (sm.progress || 0).toFixed(1) + "% · " + sm.epochs_done + "/" + sm.epochs_total + " epochs" + (sm.scanning ? " · indexing…" : "");
      const errs = sm.process_errors ? Object.keys(sm.process_errors) : [];
      $("process-errors").textContent = errs.length ? "process sources unreachable: " + errs.join(", ") : "";
    }
    $("shown").textContent = (state.shown ?? 0) + " of " + state.runs.size + " runs shown";
    for (const el of document.querySelectorAll("#thead [data-sort]")) {
      el.classList.toggle("sorted", el.dataset.sort === state.sortKey);
      el.classList.toggle("desc", el.dataset.sort === state.sortKey && state.sortDesc);
    }
  }

  const pool = [];
  function rowEl(i) {
    if (pool[i]) return pool[i];
    const el = h("div", { class: "row" });
    el.addEventListener("click", () => {
      const item = el._item;
      if (!item) return;
      if (item.group !== undefined) {
        state.collapsed.has(item.group) ? state.collapsed.delete(item.group) : state.collapsed.add(item.group);
        schedule(true);
      } else openDetail(item.id);
    });
    pool[i] = el;
    return el;
  }

  function fillGroupRow(el, g) {
    el.className = "row group" + (state.collapsed.has(g.group) ? " collapsed" : "");
    el.removeAttribute("data-id");
    el.textContent = "";
    const chips = h("span", { class: "chips" });
    for (const st of STATUSES) if (g.counts[st]) chips.appendChild(h("span", { class: "chip st-" + st, text: g.counts[st] + " " + st }));
    el.appendChild(h("div", { class: "c-group" }, h("span", { class: "caret", text: state.collapsed.has(g.group) ? "▸" : "▾" }),
      h("span", { class: "gname", text: (g.group || "(top level)") + "/" }), h("span", { class: "gcount", text: " " + g.n + " runs" }), chips));
  }

  function fillRunRow(el, r) {
    el.className = "row run st-" + r.status + (r.id === state.openId ? " open" : "");
    el.setAttribute("data-id", r.id);
    el.setAttribute("data-run", r.run || "");
    el.textContent = "";
    const pct = Math.max(0, Math.min(100, r.progress_percentage || 0));
    const epochs = r.total_epochs ? r.completed_epochs + "/" + r.total_epochs : String(r.completed_epochs);
    const ms = r.main_score;
    const p = r.process_info;
    const warns = (r.warnings || []).length + (r.error_message ? 1 : 0);
    el.appendChild(h("div", { class: "c-run", title: r.run }, state.group ? leafOf(r.run) : r.run,
      r.runner_type !== "trainer" ? h("span", { class: "kind", text: r.runner_type === "evaluator" ? "eval" : "multi-stage" }) : null));
    el.appendChild(h("div", { class: "c-status", title: r.reason_detail || "" }, h("span", { class: "badge st-" + r.status, text: r.status }),
      r.reason ? h("span", { class: "reason", text: r.reason.replace(/_/g, " ") }) : null));
    el.appendChild(h("div", { class: "c-progress", title: pct.toFixed(1) + "%" + (r.early_stopped ? " (early stopped)" : "") },
      h("div", { class: "bar" }, h("div", { class: "fill st-" + r.status, style: "width:" + pct + "%" })),
      h("span", { class: "ptext", text: epochs + (r.early_stopped ? " ES" : "") })));
    el.appendChild(h("div", { class: "c-score", title: ms ? ms.key : "" }, ms && ms.best !== null ? fmtNum(ms.best) : ""));
    el.appendChild(h("div", { class: "c-score", title: ms ? ms.key : "" }, ms && ms.latest !== null ? fmtNum(ms.latest) : ""));
    el.appendChild(h("div", { class: "c-eta" }, r.eta_seconds ? fmtDur(r.eta_seconds) : ""));
    el.appendChild(h("div", { class: "c-updated", title: fmtTime(r.last_update_time) }, fmtAgo(r.last_update_time)));
    el.appendChild(h("div", { class: "c-proc", title: p ? p.cmd : "" }, p ? (p.server || "local") + ":" + (p.job_id ? "job" + p.job_id : p.pid) : ""));
    el.appendChild(h("div", { class: "c-warn", title: [r.error_message].concat(r.warnings || []).filter(Boolean).join("\n") },
      warns ? h("span", { class: r.error_message ? "err" : "warn", text: String(warns) }) : ""));
  }

  function renderRows() {
    const vp = $("viewport"), rowsEl = $("rows");
    const n = state.view.length;
    $("spacer").style.height = n * ROW_H + "px";
    const empty = $("empty");
    empty.hidden = n > 0;
    if (!n) empty.textContent = state.runs.size ? "No run matches the filter or search." : "No runs found under this project's configs folder (yet).";
    const first = Math.max(0, Math.floor(vp.scrollTop / ROW_H) - OVERSCAN);
    const last = Math.min(n, Math.ceil((vp.scrollTop + vp.clientHeight) / ROW_H) + OVERSCAN);
    rowsEl.style.transform = "translateY(" + first * ROW_H + "px)";
    const count = last - first;
    while (rowsEl.children.length > count) rowsEl.removeChild(rowsEl.lastChild);
    for (let i = 0; i < count; i++) {
      const item = state.view[first + i];
      const el = rowEl(i);
      if (el.parentNode !== rowsEl) rowsEl.appendChild(el);
      if (el._item === item && el._ver === item._ver && el._open === state.openId && el._grp === state.group) continue;
      el._item = item; el._ver = item._ver; el._open = state.openId; el._grp = state.group;
      if (item.group !== undefined) fillGroupRow(el, item); else fillRunRow(el, item);
    }
  }

  // ------------------------------------------------------------ connection

  let ws = null, backoff = 500, reconnectTimer = null, everConnected = false;

  function setConn(kind, text) {
    const c = $("conn");
    c.className = "conn conn-" + kind;
    c.textContent = text;
    document.body.dataset.conn = kind;
  }

  let verCounter = 0;
  function upsert(rec) { rec._ver = ++verCounter; state.runs.set(rec.id, rec); }

  function onMessage(ev) {
    let m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    state.lastMessageAt = Date.now();
    if (m.type === "snapshot") {
      state.runs.clear();
      for (const r of m.runs) upsert(r);
      state.seq = m.seq;
      state.summary = m.summary;
      schedule(true);
      if (state.openId) refreshDetail();
    } else if (m.type === "delta") {
      if (m.seq <= state.seq) return;
      if (m.seq !== state.seq + 1) { resync(); return; }   // missed one: ask for a fresh snapshot
      state.seq = m.seq;
      let touchesOpen = false;
      for (const r of m.added) { upsert(r); if (r.id === state.openId) touchesOpen = true; }
      // A change that keeps a run's place (same status, sort value and match) is applied in
      // place; anything else rebuilds the view once for the frame.
      let rebuild = m.added.length > 0 || m.removed.length > 0;
      for (const r of m.changed) {
        const old = state.runs.get(r.id);
        upsert(r);
        if (r.id === state.openId) touchesOpen = true;
        if (rebuild) continue;
        const i = state.viewIndex ? state.viewIndex.get(r.id) : undefined;
        const same = old && old.status === r.status && old.run === r.run && visible(old) === visible(r)
          && sortValue(old, state.sortKey) === sortValue(r, state.sortKey);
        if (!same || state.viewDirty) rebuild = true;
        else if (i !== undefined) state.view[i] = r;
      }
      for (const id of m.removed) state.runs.delete(id);
      state.summary = m.summary;
      document.body.dataset.seq = String(m.seq);
      schedule(rebuild);
      if (touchesOpen) refreshDetail();
    } else if (m.type === "heartbeat") {
      if (m.seq > state.seq) resync();
      schedule(false);
    }
  }

  function resync() {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resync" }));
  }

  function connect() {
    clearTimeout(reconnectTimer);
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + location.pathname.replace(/[^/]*$/, "") + "ws";
    setConn("connecting", everConnected ? "reconnecting" : "connecting");
    ws = new WebSocket(url);
    ws.onopen = () => { backoff = 500; everConnected = true; setConn("live", "live"); };
    ws.onmessage = onMessage;
    ws.onclose = () => {
      ws = null;
      const wait = Math.min(15000, backoff) * (0.75 + Math.random() * 0.5);
      backoff = Math.min(15000, backoff * 2);
      setConn("down", "disconnected · retry in " + Math.ceil(wait / 1000) + "s");
      reconnectTimer = setTimeout(connect, wait);
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  setInterval(() => {
    const t = state.lastMessageAt;
    $("updated").textContent = t ? "last update " + fmtDur((Date.now() - t) / 1000) + " ago" : "";
  }, 1000);

  // ------------------------------------------------------------ detail view

  let detailTimer = null, detailReq = 0;
  function openDetail(id) {
    state.openId = id;
    state.detailMetric = null;
    if (location.hash !== "#run=" + id) history.replaceState(null, "", "#run=" + id);
    $("detail").hidden = false;
    document.body.classList.add("with-detail");
    const r = state.runs.get(id);
    $("d-title").textContent = r ? r.run : id;
    $("d-body").textContent = "";
    $("d-body").appendChild(h("p", { class: "muted", text: "loading…" }));
    schedule(false);
    fetchDetail();
  }
  function closeDetail() {
    state.openId = null;
    state.detail = null;
    $("detail").hidden = true;
    document.body.classList.remove("with-detail");
    history.replaceState(null, "", location.pathname + location.search);
    schedule(false);
  }
  function refreshDetail() {
    clearTimeout(detailTimer);
    detailTimer = setTimeout(fetchDetail, 150);
  }
  async function fetchDetail() {
    const id = state.openId;
    if (!id) return;
    const mine = ++detailReq;
    try {
      const resp = await fetch("api/runs/" + encodeURIComponent(id), { headers: { accept: "application/json" } });
      if (mine !== detailReq || id !== state.openId) return;
      if (resp.status === 404) { renderDetailError("This run is no longer in the index."); return; }
      if (!resp.ok) { renderDetailError("Could not load the run (HTTP " + resp.status + ")."); return; }
      state.detail = await resp.json();
      if (mine === detailReq) renderDetail(state.detail);
    } catch (e) {
      if (mine === detailReq) renderDetailError("Could not load the run: " + e);
    }
  }
  function renderDetailError(msg) {
    const b = $("d-body");
    b.textContent = "";
    b.appendChild(h("p", { class: "error", text: msg }));
  }

  function kv(label, value, cls) {
    return value === null || value === undefined || value === "" ? null
      : h("div", { class: "kv" }, h("span", { class: "k", text: label }), h("span", { class: "v " + (cls || ""), text: String(value) }));
  }

  function renderDetail(d) {
    const b = $("d-body");
    const det = d.detail || {};
    b.textContent = "";
    $("d-title").textContent = d.run || d.id;
    b.setAttribute("data-seq", String(d.seq));
    const pct = Math.min(100, d.progress_percentage || 0);
    b.appendChild(h("div", { class: "d-status" },
      h("span", { class: "badge st-" + d.status, text: d.status }),
      h("div", { class: "bar big" }, h("div", { class: "fill st-" + d.status, style: "width:" + pct + "%" })),
      h("span", { class: "ptext", id: "d-progress", text: d.completed_epochs + (d.total_epochs ? "/" + d.total_epochs : "") + " epochs · " + pct.toFixed(1) + "%" })));
    if (d.reason) b.appendChild(h("div", { class: "reason-line", text: d.reason.replace(/_/g, " ") + (d.reason_detail ? ": " + d.reason_detail : "") }));
    if (d.error_message) b.appendChild(h("pre", { class: "error-box", text: d.error_message }));
    if (d.error_line && d.error_line !== d.error_message) b.appendChild(h("pre", { class: "error-box", text: d.error_line + (d.error_source ? "   (" + d.error_source + ")" : "") }));
    if (d.output_tail && d.output_tail.length) b.appendChild(h("pre", { class: "output-tail", text: d.output_tail.join("\n") }));
    if (d.warnings && d.warnings.length) {
      const ul = h("ul", { class: "warnings" });
      for (const w of d.warnings) ul.appendChild(h("li", { text: w }));
      b.appendChild(ul);
    }
    const facts = det.facts || {};
    const p = d.process_info;
    b.appendChild(h("section", { class: "facts" },
      kv("runner", facts.runner || d.runner_type),
      kv("type", d.runner_type),
      kv("epochs", d.total_epochs),
      kv("early stopping", facts.early_stopping_patience ? "patience " + facts.early_stopping_patience : null),
      kv("early stopped at", d.early_stopped ? "epoch " + d.early_stopped_at_epoch : null),
      kv("metric", facts.metric),
      kv("directions", facts.directions ? Object.entries(facts.directions).map(([k, v]) => k + (v > 0 ? " ↑" : " ↓")).join(", ") + (facts.directions_source ? " (" + facts.directions_source + ")" : "") : null),
      kv("stage", d.current_stage !== null && d.current_stage !== undefined ? (d.current_stage + 1) + " of " + (d.stages ? d.stages.length : "?") : null),
      kv("started", fmtTime(d.start_time)),
      kv("last update", d.last_update_time ? fmtTime(d.last_update_time) + " (" + fmtAgo(d.last_update_time) + ")" : null),
      kv("ETA", d.eta_seconds ? fmtDur(d.eta_seconds) : null),
      kv("process", p ? (p.server || "local") + " pid " + p.pid + (p.job_id ? " job " + p.job_id : "") + " · " + p.user : null),
      kv("config", d.config),
      kv("work dir", d.work_dir),
      kv("config problem", facts.error, "error")));

    const series = det.series || {};
    const metrics = Object.keys(series);
    if (metrics.length) {
      const main = d.main_score && series[d.main_score.key] ? d.main_score.key : metrics[0];
      const ordered = [main].concat(metrics.filter((k) => k !== main));
      const charts = h("section", { class: "charts" }, h("h3", { text: "Validation scores per epoch" }));
      for (const k of ordered.slice(0, 8)) charts.appendChild(chart(k, series[k], d, facts.directions ? facts.directions[k] : undefined, k === main));
      if (ordered.length > 8) charts.appendChild(h("p", { class: "muted", text: (ordered.length - 8) + " more metrics in the scores table" }));
      b.appendChild(charts);
    }
    if (det.timeline && det.timeline.length) b.appendChild(timeline(det.timeline, d));
    const table = d.runner_type === "evaluator" ? det.scores_table : det.best_scores_table;
    if (table && table.length) {
      const t = h("table", { class: "scores" }, h("thead", null, h("tr", null, h("th", { text: "score" }), h("th", { text: d.runner_type === "evaluator" ? "value" : "best epoch" }))));
      const tb = h("tbody");
      for (const row of table) tb.appendChild(h("tr", null, h("td", { text: row.key }), h("td", { text: Array.isArray(row.value) ? row.value.map(fmtNum).join(", ") : fmtNum(row.value) })));
      t.appendChild(tb);
      b.appendChild(h("section", null, h("h3", { text: d.runner_type === "evaluator" ? "Evaluation scores" : "Best scores" }), t));
    }
    if (det.log_tail) {
      const pre = h("pre", { class: "log", text: det.log_tail.lines.join("\n") });
      b.appendChild(h("section", null, h("h3", { text: "Log tail · " + det.log_tail.name }), pre));
      requestAnimationFrame(() => { pre.scrollTop = pre.scrollHeight; });
    }
  }

  function chart(key, pts, d, direction, isMain) {
    const W = 520, H = 170, L = 52, R = 12, T = 12, B = 26;
    const xs = pts.map((p) => p[0]), ys = pts.map((p) => (typeof p[1] === "number" ? p[1] : NaN)).filter(isFinite);
    const total = Math.max(d.total_epochs || 0, xs.length ? Math.max(...xs) + 1 : 1);
    let ymin = ys.length ? Math.min(...ys) : 0, ymax = ys.length ? Math.max(...ys) : 1;
    if (ymin === ymax) { ymin -= 0.5 * (Math.abs(ymin) || 1); ymax += 0.5 * (Math.abs(ymax) || 1); }
    const pad = (ymax - ymin) * 0.08; ymin -= pad; ymax += pad;
    const X = (e) => L + (total > 1 ? (e / (total - 1)) : 0.5) * (W - L - R);
    const Y = (v) => T + (1 - (v - ymin) / (ymax - ymin)) * (H - T - B);
    const svg = s("svg", { viewBox: "0 0 " + W + " " + H, class: "chart", role: "img", "data-metric": key, "data-points": String(pts.length) });
    svg.appendChild(s("title", null, key));
    for (let i = 0; i <= 3; i++) {
      const v = ymin + (ymax - ymin) * i / 3, y = Y(v);
      svg.appendChild(s("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }));
      svg.appendChild(s("text", { x: L - 6, y: y + 4, class: "tick", "text-anchor": "end" }, fmtNum(v)));
    }
    const step = Math.max(1, Math.ceil(total / 8));
    for (let e = 0; e < total; e += step) svg.appendChild(s("text", { x: X(e), y: H - 8, class: "tick", "text-anchor": "middle" }, String(e)));
    const valid = pts.filter((p) => typeof p[1] === "number" && isFinite(p[1]));
    if (valid.length) {
      svg.appendChild(s("polyline", { class: "line", points: valid.map((p) => X(p[0]).toFixed(1) + "," + Y(p[1]).toFixed(1)).join(" ") }));
      for (const p of valid) {
        const c = s("circle", { cx: X(p[0]), cy: Y(p[1]), r: 2.5, class: "pt" });
        c.appendChild(s("title", null, "epoch " + p[0] + ": " + fmtNum(p[1])));
        svg.appendChild(c);
      }
    }
    if (d.early_stopped && d.early_stopped_at_epoch) {
      const x = X(d.early_stopped_at_epoch - 1);
      svg.appendChild(s("line", { x1: x, x2: x, y1: T, y2: H - B, class: "es" }));
      const right = x < W - R - 70;  // label beside the line, on whichever side has room
      svg.appendChild(s("text", { x: right ? x + 4 : x - 4, y: T + 10, class: "es-label", "text-anchor": right ? "start" : "end" }, "early stop"));
    }
    const bestEpoch = d.best_epoch;
    const bp = valid.find((p) => p[0] === bestEpoch);
    if (bp) {
      svg.appendChild(s("circle", { cx: X(bp[0]), cy: Y(bp[1]), r: 5.5, class: "best" }));
      const label = s("text", { x: X(bp[0]), y: Y(bp[1]) > T + 24 ? Y(bp[1]) - 9 : Y(bp[1]) + 17, class: "best-label", "text-anchor": "middle" }, (isMain ? "best " : "at best epoch ") + fmtNum(bp[1]));
      svg.appendChild(label);
    }
    const dir = direction > 0 ? " (higher is better)" : direction < 0 ? " (lower is better)" : "";
    return h("figure", { class: "chart-box" }, h("figcaption", { text: key + dir }), svg);
  }

  function timeline(items, d) {
    const durations = items.map((e) => e.duration || 0);
    const max = Math.max(1, ...durations);
    const box = h("div", { class: "timeline" });
    for (const e of items) {
      const hgt = e.duration ? Math.max(4, 40 * e.duration / max) : 4;
      const cls = "tl" + (e.finished ? " done" : " pending") + (e.index === d.best_epoch ? " best" : "");
      box.appendChild(h("div", { class: cls, style: "height:" + hgt + "px",
        title: "epoch " + e.index + (e.finished ? " finished " + fmtTime(e.finish_time) : " in progress") + (e.duration ? " · " + fmtDur(e.duration) : "") }));
    }
    return h("section", null, h("h3", { text: "Epoch timeline (bar height = duration)" }), box);
  }

  // ------------------------------------------------------------ wiring

  function init() {
    $("viewport").addEventListener("scroll", () => schedule(false), { passive: true });
    window.addEventListener("resize", () => schedule(false));
    let searchTimer = null;
    $("search").addEventListener("input", (ev) => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => { state.q = ev.target.value.trim().toLowerCase(); schedule(true); }, 80);
    });
    $("group").addEventListener("change", (ev) => { state.group = ev.target.checked; schedule(true); });
    for (const el of document.querySelectorAll("#thead [data-sort]")) {
      el.addEventListener("click", () => {
        const k = el.dataset.sort;
        if (state.sortKey === k) state.sortDesc = !state.sortDesc;
        else { state.sortKey = k; state.sortDesc = k !== "run" && k !== "status" && k !== "eta_seconds"; }
        schedule(true);
      });
    }
    $("d-close").addEventListener("click", closeDetail);
    document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && state.openId) closeDetail(); });
    const m = /^#run=([0-9a-f]+)$/.exec(location.hash);
    if (m) openDetail(m[1]);
    connect();
    schedule(true);
  }
  window.runwatch = state;  // for debugging and browser tests
  // Feeds a protocol message as if it came from the socket (browser tests measure rendering with it).
  window.runwatchFeed = (m) => onMessage({ data: JSON.stringify(m) });
  init();
})();
