// runwatch dashboard: one WebSocket (snapshot, then numbered deltas) and the JSON API.
// Every piece of run-provided text goes through textContent / setAttribute, never
// innerHTML: run names, score keys and log lines can contain markup.
//
// Epochs are shown counted from 1 everywhere (chart axis, best epoch, timeline, early
// stop): "epoch 18" is the 18th epoch (dir epoch_17/), as the CLI and Pylon's own log
// ("Training stopped early at epoch 18") say it.
"use strict";

(function () {
  // What the server's view model defines once (runwatch.view_model.labels()), from the snapshot:
  // the statuses in order (problems first: the status chips and "sort by status" follow it), the
  // words shown for a status and a reason, the reason of a run that never started, and the sort keys.
  let STATUSES = [];
  let LABELS = { status_labels: {}, reason_labels: {}, not_started_reason: "never_started", not_started_label: "not started", sort_keys: {} };
  // The REST API's older sort names (record fields) in a bookmarked URL: the same keys.
  const SORT_ALIASES = { progress_percentage: "progress", last_update_time: "updated", eta_seconds: "eta", completed_epochs: "epochs", start_time: "started", runner_type: "kind" };
  const ROW_H = 30;
  const OVERSCAN = 8;

  const state = {
    runs: new Map(),          // id -> record
    seq: -1,
    summary: null,
    statusFilter: new Set(),  // empty = all
    reasonFilter: new Set(),  // empty = all
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
    cursor: -1,               // keyboard position in the view
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
  // Table cells: a fixed number of decimals so that columns of tabular figures align.
  function fmtFixed(v) {
    if (v === null || v === undefined) return "";
    if (typeof v !== "number") return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
    return v.toFixed(4);
  }
  function fmtDur(sec) {
    if (sec === null || sec === undefined || !isFinite(sec)) return "";
    sec = Math.max(0, Math.round(sec));
    if (sec < 60) return sec + "s";
    const m = Math.floor(sec / 60);
    if (m < 60) return m + "m";
    const hh = Math.floor(m / 60);
    if (hh < 48) return hh + "h" + (m % 60 ? " " + (m % 60) + "m" : "");
    if (hh < 24 * 7) return Math.floor(hh / 24) + "d" + (hh % 24 ? " " + (hh % 24) + "h" : "");
    return Math.floor(hh / 24) + "d";
  }
  function fmtAgo(t) {
    if (!t) return "never";  // as the CLI says it: nothing was ever written
    return fmtDur(Date.now() / 1000 - t) + " ago";
  }
  function fmtTime(t) {
    if (!t) return "";
    return new Date(t * 1000).toLocaleString();
  }
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }
  function folderOf(run) {
    const i = (run || "").lastIndexOf("/");
    return i < 0 ? "" : run.slice(0, i);
  }
  function leafOf(run) {
    const i = (run || "").lastIndexOf("/");
    return i < 0 ? (run || "") : run.slice(i + 1);
  }
  function reasonOf(r) { return r.reason || null; }
  function reasonLabel(reason) { return reason ? (LABELS.reason_labels[reason] || reason.replace(/_/g, " ")) : ""; }
  function statusLabel(st) { return LABELS.status_labels[st] || st; }
  // A failed run that never started (the record's not_started): its status stays "failed", but it reads apart from a crash.
  function notStarted(r) { return !!r.not_started; }
  // The main metric of a record: its name, direction, best and latest values.
  // The record's main_score is the server's one definition (runwatch.view_model.main_score).
  function mainOf(r) {
    const ms = r.main_score;
    return ms ? { key: ms.key, dir: ms.direction, best: ms.best, latest: ms.latest } : null;
  }
  function arrow(dir) { return dir > 0 ? "↑" : dir < 0 ? "↓" : ""; }
  function dirText(dir) { return dir > 0 ? "higher is better" : dir < 0 ? "lower is better" : "direction unknown"; }

  // ------------------------------------------------------------ view model

  const collator = new Intl.Collator(undefined, { numeric: true });  // one instance: localeCompare with options is slow

  // The one sort (runwatch.view_model.sort_value / sort_records): the same keys, record fields and
  // default directions (the snapshot's sort_keys); missing values last; ties by run name.
  // Names sort as view_model.natural_key does (lower-cased text, numbers as numbers: run_2 before
  // run_10), encoded as one string that compares with < : a text part ends with \0, a number is its
  // digit count then its digits. Each record keeps its keys (a delta brings a new record object),
  // so a sort of 50,000 runs compares strings and numbers only.
  function naturalKey(text) {
    const parts = String(text).split(/(\d+)/);
    let out = "";
    for (let i = 0; i < parts.length; i++) {
      if (i % 2) { const d = parts[i].replace(/^0+(?=\d)/, ""); out += String.fromCharCode(1 + d.length) + d; }
      else out += parts[i].toLowerCase() + "\u0000";
    }
    return out;
  }
  function nameKey(r) { return r._nk !== undefined ? r._nk : (r._nk = naturalKey(r.run || r.config || "")); }
  function sortValueOf(r, key) {
    if (key === "best" || key === "latest") {
      // "Better first": higher-is-better values sort descending, lower-is-better ascending.
      const m = mainOf(r);
      const v = m ? m[key] : null;
      if (typeof v !== "number" || !isFinite(v)) return null;
      return m.dir < 0 ? v : -v;
    }
    if (key === "status") { const i = STATUSES.indexOf(r.status); return i < 0 ? STATUSES.length : i; }
    const spec = LABELS.sort_keys[key];
    const field = spec ? spec.field : key;
    const v = r[field];
    if (typeof v === "string") return field === "run" ? nameKey(r) : naturalKey(v);
    return typeof v === "number" && isFinite(v) ? v : null;
  }
  function sortValue(r, key) {
    if (r._svk !== key) { r._sv = sortValueOf(r, key); r._svk = key; }
    return r._sv;
  }
  function defaultDesc(key) { const spec = LABELS.sort_keys[key]; return !!(spec && spec.descending); }
  // Every run in name order (ties in the order the runs came), kept while no run is added, removed or
  // renamed: the ids, as a delta brings new record objects. Every sort starts from it and is stable,
  // so ties come out by name (as view_model.sort_records) without a name comparison in the sort.
  function nameOrder() {
    if (state.nameOrderFor !== nameVersion) {
      const runs = [...state.runs.values()];
      for (const r of runs) nameKey(r);
      runs.sort((a, b) => (a._nk < b._nk ? -1 : a._nk > b._nk ? 1 : 0));
      state.nameOrder = runs.map((r) => r.id);
      state.nameOrderFor = nameVersion;
    }
    return state.nameOrder;
  }
  // Missing values last, whatever the direction; a stable sort keeps ties in name order.
  function byValue(desc) {
    const d = desc ? -1 : 1;
    return (a, b) => {
      const va = a._sv, vb = b._sv;
      const na = va === null || va === undefined, nb = vb === null || vb === undefined;
      if (na || nb) return na === nb ? 0 : na ? 1 : -1;
      return va < vb ? -d : va > vb ? d : 0;
    };
  }
  // The same order as out.sort(byValue(desc)) for numbers, without a comparison in JavaScript per pair:
  // the values sorted natively, then each run, in name order, into the next free place of its value.
  function sortNumbers(out, desc) {
    const vals = [];
    for (const r of out) if (r._sv !== null && r._sv !== undefined) vals.push(desc ? -r._sv : r._sv);
    const sorted = Float64Array.from(vals).sort();
    const next = new Int32Array(sorted.length).fill(-1);
    const res = new Array(out.length);
    let tail = sorted.length;  // missing values last, in name order
    for (const r of out) {
      if (r._sv === null || r._sv === undefined) { res[tail++] = r; continue; }
      const v = desc ? -r._sv : r._sv;
      let lo = 0, hi = sorted.length;  // the first place of v (-0 and 0 alike, as < compares them)
      while (lo < hi) { const mid = (lo + hi) >> 1; if (sorted[mid] < v) lo = mid + 1; else hi = mid; }
      if (next[lo] < 0) next[lo] = lo;
      res[next[lo]++] = r;
    }
    return res;
  }
  function sortRuns() {
    const ids = nameOrder(), key = state.sortKey;
    const out = new Array(ids.length);
    let numeric = true;
    for (let i = 0; i < ids.length; i++) {
      const v = sortValue((out[i] = state.runs.get(ids[i])), key);
      if (typeof v !== "number" && v !== null && v !== undefined) numeric = false;
    }
    if (key !== "status") return numeric ? sortNumbers(out, state.sortDesc) : out.sort(byValue(state.sortDesc));
    // A handful of statuses: one pass into buckets, in name order within each.
    const buckets = STATUSES.map(() => []);
    buckets.push([]);
    for (const r of out) buckets[r._sv].push(r);
    if (state.sortDesc) buckets.reverse();
    let i = 0;
    for (const b of buckets) for (const r of b) out[i++] = r;
    return out;
  }
  function visible(r) {
    if (state.statusFilter.size && !state.statusFilter.has(r.status)) return false;
    if (state.reasonFilter.size && !state.reasonFilter.has(reasonOf(r) || "")) return false;
    // The search matches the run's name or its reason ("crashed", "never_started", "oom", ...).
    if (state.q && !(r._lc !== undefined ? r._lc : (r._lc = (r.run || "").toLowerCase())).includes(state.q) && !(r.reason || "").includes(state.q)) return false;
    return true;
  }
  // Run id -> its place in the kept sort order.
  function sortedIndex() {
    if (!state.sortedIndex && state.sorted) {
      state.sortedIndex = new Map();
      state.sorted.forEach((r, i) => state.sortedIndex.set(r.id, i));
    }
    return state.sortedIndex;
  }
  // Run id -> its place in the view.
  function viewIndex() {
    if (!state.viewIndex) {
      state.viewIndex = new Map();
      state.view.forEach((item, i) => { if (item.id !== undefined) state.viewIndex.set(item.id, i); });
    }
    return state.viewIndex;
  }
  function itemKey(item) { return item ? (item.id !== undefined ? "r" + item.id : "g" + item.group) : null; }
  function rebuildView() {
    const atCursor = itemKey(state.view[state.cursor]);  // the highlight stays on its run (or nowhere) when rows move
    // Every run in sort order is kept while no record changed and the sort is the same: a filter or
    // a search is then one pass over it, not a sort.
    const sortedFor = state.sortKey + (state.sortDesc ? "-" : "+") + dataVersion;
    if (state.sortedFor !== sortedFor) {
      state.sorted = sortRuns();
      state.sortedFor = sortedFor;
      state.sortedIndex = null;  // made when a delta first asks for it (sortedIndex())
    }
    const rows = [];
    for (const r of state.sorted) if (visible(r)) rows.push(r);
    const view = [];
    if (state.group) {
      const groups = new Map();
      for (const r of rows) {
        const f = r._f !== undefined ? r._f : (r._f = folderOf(r.run));
        if (!groups.has(f)) groups.set(f, []);
        groups.get(f).push(r);
      }
      const names = [...groups.keys()].sort(collator.compare);  // group_2 before group_10
      for (const name of names) {
        const members = groups.get(name);
        const counts = {};
        let never = 0;
        for (const r of members) { counts[r.status] = (counts[r.status] || 0) + 1; if (notStarted(r)) never++; }
        view.push({ group: name, n: members.length, counts, never });
        if (!state.collapsed.has(name)) for (const r of members) view.push(r);
      }
    } else {
      for (const r of rows) view.push(r);
    }
    state.view = view;
    state.viewIndex = null;  // made when first asked for (viewIndex()): a filter need not pay for it
    state.shown = rows.length;
    state.viewDirty = false;
    // The progress labels all as wide as the widest (in ch of tabular figures, one spare): bars of one length.
    // Set on the rows' box, and only when it changes: a new value on the root restyles the whole document.
    let widest = 3;
    for (const r of rows) { const t = progressTextOf(r); if (t.length > widest) widest = t.length; }
    const w = widest + 1 + "ch", rowsEl = $("rows");
    if (rowsEl.style.getPropertyValue("--ptext-w") !== w) rowsEl.style.setProperty("--ptext-w", w);
    if (atCursor !== null) state.cursor = view.findIndex((item) => itemKey(item) === atCursor);
    if (state.cursor >= view.length) state.cursor = view.length - 1;
  }

  // ------------------------------------------------------------ the URL: filters, search, sort, open run

  function writeUrl() {
    const p = new URLSearchParams();
    if (state.statusFilter.size) p.set("status", [...state.statusFilter].join(","));
    if (state.reasonFilter.size) p.set("reason", [...state.reasonFilter].join(","));
    if (state.q) p.set("q", state.q);
    if (state.sortKey !== "run" || state.sortDesc) p.set("sort", (state.sortDesc ? "-" : "") + state.sortKey);
    if (!state.group) p.set("group", "0");
    if (state.openId) p.set("run", state.openId);
    if (window.RunwatchCompare) window.RunwatchCompare.writeUrl(p);  // the compare panel's runs (static/compare.js)
    const hash = p.toString();
    const url = location.pathname + location.search + (hash ? "#" + hash : "");
    if (url !== location.pathname + location.search + location.hash) history.replaceState(null, "", url);
  }
  function readUrl() {
    const p = new URLSearchParams(location.hash.replace(/^#/, ""));
    const list = (k) => (p.get(k) || "").split(",").map((x) => x.trim()).filter(Boolean);
    state.statusFilter = new Set(list("status").filter((x) => /^[a-z_]+$/.test(x)));  // checked against the server's statuses on the snapshot
    state.reasonFilter = new Set(list("reason"));
    state.q = (p.get("q") || "").trim().toLowerCase();
    const sort = p.get("sort") || "run";
    state.sortDesc = sort.startsWith("-");
    state.sortKey = sort.replace(/^-/, "") || "run";
    state.sortKey = SORT_ALIASES[state.sortKey] || state.sortKey;
    state.group = p.get("group") !== "0";
    $("search").value = p.get("q") || "";
    $("group").checked = state.group;
    const run = p.get("run");
    // An agent's ids are hex; a hub's are <cluster>:<agent's id>.
    return run && /^(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}:)?[0-9a-f]+$/.test(run) ? run : null;
  }

  // ------------------------------------------------------------ rendering

  let frame = 0;
  function schedule(viewChanged) {
    if (viewChanged) state.viewDirty = true;
    if (!frame) frame = requestAnimationFrame(render);
  }
  // A person's action (a chip, a sort, the folders, a folder row): what the search box holds counts at
  // once (not after its pause), and the page is drawn in the action's own event, not in a frame later:
  // when the event is over the list, the counts and the chips show the newest filters, whatever was
  // waiting before it.
  let searchTimer = null;
  function applySearch() {
    clearTimeout(searchTimer);
    searchTimer = null;
    const q = $("search").value.trim().toLowerCase();
    if (q !== state.q) { state.q = q; state.cursor = -1; state.viewDirty = true; }
  }
  function update() {
    applySearch();
    state.viewDirty = true;
    if (frame) cancelAnimationFrame(frame);
    render();
  }
  function render() {
    frame = 0;
    // The viewport's place and height, read before this frame writes anything: a read after a
    // write would make the browser lay the page out once more, in the middle of the frame.
    const vp = $("viewport"), top = vp.scrollTop, height = vp.clientHeight;
    if (state.viewDirty) rebuildView();
    renderSummary();
    renderRows(top, height);
    renderOffList();
    writeUrl();
  }

  // The open run left the list (a filter it no longer matches): the panel says so, and no other row is highlighted.
  function renderOffList() {
    const head = $("d-head");
    if (!head || !state.openId) return;
    let note = $("d-offlist");
    const off = state.runs.has(state.openId) && !viewIndex().has(state.openId);
    if (!off) { if (note) note.remove(); return; }
    const r = state.runs.get(state.openId);
    const text = "Not in the list: this run is now " + statusLabel(r.status) + (reasonOf(r) ? " (" + reasonLabel(reasonOf(r)) + ")" : "") + ", which the filter or search hides.";
    if (!note) { note = h("p", { id: "d-offlist", class: "offlist" }); head.prepend(note); }
    if (note.textContent !== text) note.textContent = text;
  }

  function renderSummary() {
    const sm = state.summary;
    renderCounts(sm);
    renderReasons();
    if (sm) {
      // The summary is the server's (runwatch.view_model.summarize), the same as the CLI's.
      setStyle($("overall-fill"), "width", Math.min(100, sm.progress_percentage || 0) + "%");
      setText($("overall-text"), (sm.progress_percentage || 0).toFixed(1) + "% · " + sm.completed_epochs + "/" + sm.total_epochs + " epochs" + (sm.scanning ? " · indexing…" : ""));
      const errs = sm.process_errors ? Object.keys(sm.process_errors) : [];
      setText($("process-errors"), errs.length ? "process sources unreachable: " + errs.join(", ") : "");
      const banner = $("banner");
      if (banner.hidden !== !sm.root_missing) banner.hidden = !sm.root_missing;
      setText(banner, sm.root_missing ? "The project folder is gone (moved, renamed or unmounted). These are the last known states; runwatch rescans as soon as it is back." : "");
    }
    setText($("shown"), (state.shown ?? 0) + " of " + plural(state.runs.size, "run") + " shown");
    for (const el of document.querySelectorAll("#thead [data-sort]")) {
      el.classList.toggle("sorted", el.dataset.sort === state.sortKey);
      el.classList.toggle("desc", el.dataset.sort === state.sortKey && state.sortDesc);
      const sort = el.dataset.sort !== state.sortKey ? "none" : state.sortDesc ? "descending" : "ascending";
      if (el.getAttribute("aria-sort") !== sort) el.setAttribute("aria-sort", sort);
    }
  }
  // Writes that change nothing still restyle and lay out: each is made only when its value differs.
  function setText(el, text) { if (el.textContent !== text) el.textContent = text; }
  function setStyle(el, prop, value) { if (el.style[prop] !== value) el.style[prop] = value; }

  // The status chips, made again only when their counts, the filters or the labels changed.
  function renderCounts(sm) {
    const counts = $("counts");
    const key = JSON.stringify([sm ? [sm.total, sm.by_status, sm.not_started] : null, [...state.statusFilter], [...state.reasonFilter], STATUSES, LABELS.status_labels, LABELS.not_started_label]);
    if (counts._key === key) return;
    counts._key = key;
    counts.textContent = "";
    const all = h("button", { class: "count all" + (state.statusFilter.size ? "" : " active"), type: "button",
      onclick: () => { state.statusFilter.clear(); clearNotStartedPick(); update(); } },
      h("span", { class: "n", text: sm ? String(sm.total) : "–" }), " all");
    counts.appendChild(all);
    for (const st of STATUSES) {
      const n = sm && sm.by_status ? (sm.by_status[st] || 0) : 0;
      const b = h("button", {
        class: "count st-" + st + (state.statusFilter.has(st) ? " active" : ""), type: "button",
        "data-status": st, title: "Show only " + st + " runs (shift-click to add)", "aria-pressed": state.statusFilter.has(st) ? "true" : "false",
        onclick: (ev) => {
          if (ev.shiftKey) { state.statusFilter.has(st) ? state.statusFilter.delete(st) : state.statusFilter.add(st); }
          else if (state.statusFilter.size === 1 && state.statusFilter.has(st) && !clearNotStartedPick()) state.statusFilter.clear();
          else { state.statusFilter.clear(); state.statusFilter.add(st); clearNotStartedPick(); }
          update();
        },
      }, h("span", { class: "dot" }), h("span", { class: "n", text: String(n) }), " " + statusLabel(st));
      counts.appendChild(b);
      const never = st === "failed" && sm ? (sm.not_started || 0) : 0;
      if (never) {  // the failed runs that never started, counted apart: nothing broke there
        const on = notStartedPicked();
        counts.appendChild(h("button", {
          class: "count not-started" + (on ? " active" : ""), type: "button", "data-count": "not-started", "aria-pressed": on ? "true" : "false",
          title: "Of the failed runs, " + never + " never started (launch them again); the others broke",
          onclick: () => {
            const was = notStartedPicked();  // the filters as they are at the click, not as this chip was drawn
            state.statusFilter.clear(); state.reasonFilter.clear();
            if (!was) { state.statusFilter.add("failed"); state.reasonFilter.add(LABELS.not_started_reason); }
            update();
          },
        }, h("span", { class: "n", text: String(never) }), " " + LABELS.not_started_label));
      }
    }
  }

  function notStartedPicked() {
    const why = LABELS.not_started_reason;
    return state.statusFilter.size === 1 && state.statusFilter.has("failed") && state.reasonFilter.size === 1 && state.reasonFilter.has(why);
  }
  // The "not started" count is a status and a reason at once: a status chip or "all" clicked after it drops its reason.
  function clearNotStartedPick() {
    const picked = state.reasonFilter.size === 1 && state.reasonFilter.has(LABELS.not_started_reason);
    if (picked) state.reasonFilter.clear();
    return picked;
  }

  // Reason chips (why a run is failed, stuck...): present reasons only, click to filter.
  function renderReasons() {
    const box = $("reasons");
    // Counted again only when a record changed (every upsert and removal moves verCounter), not per frame.
    if (box._ver !== verCounter) {
      const counts = new Map();
      for (const r of state.runs.values()) {
        const why = reasonOf(r);
        if (why && r.status !== "running" && r.status !== "finished") counts.set(why, (counts.get(why) || 0) + 1);
      }
      box._counts = counts;
      box._ver = verCounter;
    }
    const counts = box._counts;
    const key = [...counts].map(([k, n]) => k + n).join() + [...state.reasonFilter].join();
    if (box._key === key) return;
    box._key = key;
    box.textContent = "";
    if (!counts.size) return;
    box.appendChild(h("span", { class: "muted", text: "why:" }));
    for (const [why, n] of [...counts].sort((a, b) => b[1] - a[1])) {
      box.appendChild(h("button", {
        type: "button", class: "reason-chip r-" + why + (state.reasonFilter.has(why) ? " active" : ""), "data-reason": why,
        "aria-pressed": state.reasonFilter.has(why) ? "true" : "false", title: "Show only runs that are " + reasonLabel(why) + " (shift-click to add)",
        onclick: (ev) => {
          if (ev.shiftKey) { state.reasonFilter.has(why) ? state.reasonFilter.delete(why) : state.reasonFilter.add(why); }
          else if (state.reasonFilter.size === 1 && state.reasonFilter.has(why)) state.reasonFilter.clear();
          else { state.reasonFilter.clear(); state.reasonFilter.add(why); }
          update();
        },
      }, reasonLabel(why) + " ", h("span", { class: "n", text: String(n) })));
    }
  }

  // One element per run (its id) or folder (its name) while it is shown: an element never changes which
  // run it shows, as rows move, come and go. A click always acts on the run it landed on, whatever the
  // list did between the press and the release; a row found by its run (a test's locator, a saved
  // reference) is that run's row or no longer in the page, never another run's.
  const rowEls = new Map();  // itemKey -> element
  function rowEl(key) {
    let el = rowEls.get(key);
    if (el) return el;
    el = h("div", { class: "row", role: "row" });
    el._key = key;
    el.addEventListener("click", () => {
      // The run (or folder) as it is now: the element's key, looked up at the time of the click.
      const k = el._key, at = state.view.findIndex((item) => itemKey(item) === k);
      const item = at >= 0 ? state.view[at] : k[0] === "r" ? state.runs.get(k.slice(1)) : null;
      if (!item) return;
      state.cursor = at;
      activate(item);
    });
    rowEls.set(key, el);
    return el;
  }
  function activate(item) {
    if (item.group !== undefined) {
      state.collapsed.has(item.group) ? state.collapsed.delete(item.group) : state.collapsed.add(item.group);
      update();
    } else openDetail(item.id);
  }

  function groupLabel(name) { return name ? name + "/" : "(top level)"; }

  function fillGroupRow(el, g) {
    el.className = "row group" + (state.collapsed.has(g.group) ? " collapsed" : "");
    el.removeAttribute("data-id");
    el.removeAttribute("data-run");
    el.setAttribute("data-group", g.group);
    el.setAttribute("aria-expanded", state.collapsed.has(g.group) ? "false" : "true");
    el.textContent = "";
    const chips = h("span", { class: "chips" });
    for (const st of STATUSES) {
      if (g.counts[st]) chips.appendChild(h("span", { class: "chip st-" + st, text: g.counts[st] + " " + statusLabel(st) }));
      if (st === "failed" && g.never) chips.appendChild(h("span", { class: "chip not-started", text: g.never + " " + LABELS.not_started_label }));
    }
    el.appendChild(h("div", { class: "c-group" }, h("span", { class: "caret", text: state.collapsed.has(g.group) ? "▸" : "▾" }),
      h("span", { class: "gname", text: groupLabel(g.group) }), h("span", { class: "gcount", text: " " + plural(g.n, "run") }), chips));
  }

  function scoreCell(m, which) {
    const v = m ? m[which] : null;
    if (!m || v === null || v === undefined) return h("div", { class: "c-score c-" + which });
    return h("div", { class: "c-score c-" + which, title: m.key + " (" + dirText(m.dir) + "), " + which },
      h("span", { class: "metric" }, m.key + (arrow(m.dir) ? " " + arrow(m.dir) : "")), " ", h("span", { class: "num", text: fmtFixed(v) }));
  }

  function progressText(r) {
    let t = r.total_epochs ? r.completed_epochs + "/" + r.total_epochs : String(r.completed_epochs);
    if (r.early_stopped) t += " ES";
    const ip = r.in_progress;
    const share = ip && r.status === "running" && ip.iterations ? Math.min(100, Math.round(100 * ip.iteration / ip.iterations)) : 0;
    if (share > 0) t += " +" + share + "%";  // "+0%" says nothing: the epoch has just begun
    return t;
  }
  // ``progressText``, kept on the record (``upsert`` clears it): the label widths and the row both ask for it.
  function progressTextOf(r) { return r._pt !== undefined ? r._pt : (r._pt = progressText(r)); }

  function fillRunRow(el, r, i) {
    el.className = "row run st-" + r.status + (notStarted(r) ? " not-started" : "") + (r.id === state.openId ? " open" : "") + (i === state.cursor ? " cursor" : "");
    el.setAttribute("data-id", r.id);
    el.setAttribute("data-run", r.run || "");
    el.removeAttribute("data-group");
    el.removeAttribute("aria-expanded");
    el.textContent = "";
    const pct = Math.max(0, Math.min(100, r.progress_shown ?? r.progress_percentage ?? 0));  // view_model.run_percentage, as the CLI's bar
    const m = mainOf(r);
    const p = r.process_info;
    const nWarn = (r.warnings || []).length;
    const err = notStarted(r) ? null : r.error_text;  // not started is no error: the reason says it
    const why = reasonOf(r);
    let kind = r.runner_type === "evaluator" ? "eval" : r.runner_type === "multi_stage" ? "multi-stage" : null;
    if (r.runner_type === "multi_stage" && r.stages && r.stages.length)
      kind = r.current_stage !== null && r.current_stage !== undefined ? "stage " + (r.current_stage + 1) + "/" + r.stages.length : r.stages.length + " stages";
    el.appendChild(h("div", { class: "c-run", title: r.run }, state.group ? leafOf(r.run) : r.run,
      kind ? h("span", { class: "kind", text: kind }) : null));
    el.appendChild(h("div", { class: "c-status" }, h("span", { class: "badge st-" + r.status + (notStarted(r) ? " not-started" : ""), text: statusLabel(r.status) }),
      why && r.status !== "running" && r.status !== "finished" ? h("span", { class: "reason r-" + why, text: reasonLabel(why), title: r.reason_detail || reasonLabel(why) }) : null));
    const pt = progressTextOf(r);
    el.appendChild(h("div", { class: "c-progress", title: pct.toFixed(1) + "%" + (r.early_stopped ? " (early stopped)" : "") + (pt.includes("+") ? " · +N%: share of the current epoch done" : "") },
      h("div", { class: "bar" }, h("div", { class: "fill st-" + r.status, style: "width:" + pct + "%" })),
      h("span", { class: "ptext", text: pt })));
    el.appendChild(scoreCell(m, "best"));
    el.appendChild(scoreCell(m, "latest"));
    el.appendChild(h("div", { class: "c-eta" }, r.eta_seconds ? fmtDur(r.eta_seconds) : ""));
    el.appendChild(h("div", { class: "c-updated", title: fmtTime(r.updated) }, fmtAgo(r.updated)));
    el.appendChild(h("div", { class: "c-proc", title: p ? p.cmd : "" }, p ? (p.server || "local") + ":" + (p.job_id ? "job" + p.job_id : p.pid) : ""));
    el.appendChild(h("div", { class: "c-warn", title: [err].concat(r.warnings || []).filter(Boolean).join("\n") },
      err ? h("span", { class: "err", text: "✗" }) : null, nWarn ? h("span", { class: "warn", text: "⚠" + nWarn }) : null));
  }

  // ``scrollTop`` and ``height``: the viewport's, read at the start of the frame. A shorter list than
  // before moves the scroll position up to its end, as the browser will when it lays the page out.
  function renderRows(scrollTop, height) {
    const rowsEl = $("rows");
    const n = state.view.length;
    setStyle($("spacer"), "height", n * ROW_H + "px");
    const empty = $("empty");
    if (empty.hidden !== n > 0) empty.hidden = n > 0;
    if (!n) setText(empty, state.runs.size ? "No run matches the filter or search." : "No runs found under this project's configs folder (yet).");
    const top = Math.max(0, Math.min(scrollTop, n * ROW_H - height));
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(n, Math.ceil((top + height) / ROW_H) + OVERSCAN);
    setStyle(rowsEl, "transform", "translateY(" + first * ROW_H + "px)");
    const count = Math.max(0, last - first);  // a view shorter than the scroll position: nothing to show
    const keys = new Array(count);
    for (let i = 0; i < count; i++) keys[i] = itemKey(state.view[first + i]);
    const shown = new Set(keys);
    for (const [k, el] of rowEls) if (!shown.has(k)) { el.remove(); rowEls.delete(k); }
    // The rows in view order: each element moved only when it is not already in its place.
    let at = rowsEl.firstElementChild;
    for (let i = 0; i < count; i++) {
      const item = state.view[first + i];
      const el = rowEl(keys[i]);
      if (el === at) at = at.nextElementSibling; else rowsEl.insertBefore(el, at);
      const cur = first + i === state.cursor;
      if (el._item === item && el._ver === item._ver && el._open === state.openId && el._grp === state.group && el._cur === cur) continue;
      el._item = item; el._ver = item._ver; el._open = state.openId; el._grp = state.group; el._cur = cur;
      if (item.group !== undefined) { fillGroupRow(el, item); el.classList.toggle("cursor", cur); } else fillRunRow(el, item, first + i);
    }
  }

  // ------------------------------------------------------------ keyboard

  function moveCursor(delta) {
    const n = state.view.length;
    if (!n) return;
    state.cursor = Math.max(0, Math.min(n - 1, (state.cursor < 0 ? (delta > 0 ? -1 : n) : state.cursor) + delta));
    const vp = $("viewport"), top = state.cursor * ROW_H;
    if (top < vp.scrollTop) vp.scrollTop = top;
    else if (top + ROW_H > vp.scrollTop + vp.clientHeight) vp.scrollTop = top + ROW_H - vp.clientHeight;
    schedule(false);
  }
  function onKey(ev) {
    const typing = ev.target && (ev.target.tagName === "INPUT" || ev.target.tagName === "TEXTAREA");
    if (ev.key === "Escape") {
      if (typing) { ev.target.blur(); return; }
      if (state.openId) closeDetail();
      return;
    }
    if (typing) { if (ev.key === "ArrowDown" || ev.key === "Enter") { ev.preventDefault(); ev.target.blur(); moveCursor(1); } return; }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "ArrowDown" || ev.key === "j") { ev.preventDefault(); moveCursor(1); }
    else if (ev.key === "ArrowUp" || ev.key === "k") { ev.preventDefault(); moveCursor(-1); }
    else if (ev.key === "PageDown") { ev.preventDefault(); moveCursor(Math.max(1, Math.floor($("viewport").clientHeight / ROW_H) - 1)); }
    else if (ev.key === "PageUp") { ev.preventDefault(); moveCursor(-Math.max(1, Math.floor($("viewport").clientHeight / ROW_H) - 1)); }
    else if (ev.key === "Home") { ev.preventDefault(); state.cursor = -1; moveCursor(1); }
    else if (ev.key === "End") { ev.preventDefault(); state.cursor = state.view.length; moveCursor(-1); }
    else if (ev.key === "Enter" || ev.key === "o") {
      const item = state.view[state.cursor];
      if (item) { ev.preventDefault(); activate(item); }
    } else if (ev.key === "/") { ev.preventDefault(); $("search").focus(); }
  }

  // ------------------------------------------------------------ connection

  let ws = null, backoff = 500, reconnectTimer = null, everConnected = false, retryAt = 0, countdown = null;

  function setConn(kind, text) {
    const c = $("conn");
    c.className = "conn conn-" + kind;
    c.textContent = text;
    document.body.dataset.conn = kind;
  }

  let verCounter = 0;
  // Grows with every run added or removed and every change that may move a run: the kept sort order is then made again.
  let dataVersion = 0;
  // Grows with every run added, removed or renamed: the kept name order is then made again.
  let nameVersion = 0;
  // The page's keys kept on a record (name and sort keys, progress text, folder, lower-cased name) start
  // empty: a record made from another one ({...old, ...}) must not take its keys.
  function upsert(rec) {
    if (rec._ver !== undefined) rec._nk = rec._sv = rec._svk = rec._pt = rec._lc = rec._f = undefined;  // a copy: a record from the socket has none
    rec._ver = ++verCounter;
    state.runs.set(rec.id, rec);
  }

  function onMessage(ev) {
    let m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    state.lastMessageAt = Date.now();
    if (m.type === "snapshot") {
      if (Array.isArray(m.status_order)) {
        STATUSES = m.status_order;
        for (const st of [...state.statusFilter]) if (!STATUSES.includes(st)) state.statusFilter.delete(st);
      }
      for (const k of Object.keys(LABELS)) if (m[k] !== undefined && m[k] !== null) LABELS[k] = m[k];
      state.runs.clear();
      dataVersion++;
      nameVersion++;
      for (const r of m.runs) upsert(r);
      state.seq = m.seq;
      state.summary = m.summary;
      schedule(true);
      if (state.openId) { renderDetailHead(); refreshDetail(); }
    } else if (m.type === "delta") {
      if (m.seq <= state.seq) return;
      if (m.seq !== state.seq + 1) { resync(); return; }   // missed one: ask for a fresh snapshot
      state.seq = m.seq;
      let touchesOpen = false;
      if (m.added.length || m.removed.length) { dataVersion++; nameVersion++; }
      for (const r of m.added) { upsert(r); if (r.id === state.openId) touchesOpen = true; }
      // A change that keeps a run's place (same status, sort value and match) is applied in
      // place; anything else rebuilds the view once for the frame.
      let rebuild = m.added.length > 0 || m.removed.length > 0;
      for (const r of m.changed) {
        const old = state.runs.get(r.id);
        upsert(r);
        if (r.id === state.openId) touchesOpen = true;
        const same = old && old.status === r.status && old.run === r.run && visible(old) === visible(r)
          && sortValue(old, state.sortKey) === sortValue(r, state.sortKey);
        // Its place in the kept sort order is the same: the new record takes it (else the order is made again).
        if (!old || old.run !== r.run || old.config !== r.config) nameVersion++;
        const j = same && state.sorted ? sortedIndex().get(r.id) : undefined;
        if (j !== undefined && state.sorted[j] === old) state.sorted[j] = r; else dataVersion++;
        if (rebuild) continue;
        const i = viewIndex().get(r.id);
        if (!same || state.viewDirty) rebuild = true;
        else if (i !== undefined) state.view[i] = r;
      }
      for (const id of m.removed) { state.runs.delete(id); verCounter++; }
      state.summary = m.summary;
      document.body.dataset.seq = String(m.seq);
      schedule(rebuild);
      if (touchesOpen) { renderDetailHead(); refreshDetail(); }
    } else if (m.type === "heartbeat") {
      if (m.seq > state.seq) resync();
      schedule(false);
    }
  }

  function resync() {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resync" }));
  }

  function showRetry() {
    const left = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    setConn("down", "disconnected · retry in " + left + "s");
  }

  function connect() {
    clearTimeout(reconnectTimer);
    clearInterval(countdown);
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + location.pathname.replace(/[^/]*$/, "") + "ws";
    setConn("connecting", everConnected ? "reconnecting" : "connecting");
    ws = new WebSocket(url);
    ws.onopen = () => { backoff = 500; everConnected = true; setConn("live", "live"); };
    ws.onmessage = onMessage;
    ws.onclose = () => {
      ws = null;
      const wait = Math.min(15000, backoff) * (0.75 + Math.random() * 0.5);
      backoff = Math.min(15000, backoff * 2);
      retryAt = Date.now() + wait;
      showRetry();
      countdown = setInterval(showRetry, 250);  // counts down to the next try
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
    state.detail = null;
    $("detail").hidden = false;
    document.body.classList.add("with-detail");
    const r = state.runs.get(id);
    $("d-title").textContent = r ? r.run : id;
    $("d-body").textContent = "";
    $("d-body").appendChild(h("div", { id: "d-head" }));
    $("d-body").appendChild(h("p", { class: "muted", text: "loading…" }));
    renderDetailHead();
    schedule(false);
    fetchDetail();
  }
  function closeDetail() {
    state.openId = null;
    state.detail = null;
    $("detail").hidden = true;
    document.body.classList.remove("with-detail");
    schedule(false);
  }
  function refreshDetail() {
    clearTimeout(detailTimer);
    detailTimer = setTimeout(fetchDetail, 100);
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
      const d = await resp.json();
      if (mine !== detailReq || id !== state.openId) return;
      state.detail = d;
      renderDetail(d);
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
    if (value === null || value === undefined || value === "") return null;
    const v = h("span", { class: "v " + (cls || "") });
    if (cls === "dotted" || cls === "path") {
      // Long dotted names and paths may break only after a "." or "/" (a <wbr>, not a changed text).
      const parts = String(value).split(/(?<=[./])/);
      parts.forEach((part, i) => { v.appendChild(document.createTextNode(part)); if (i < parts.length - 1) v.appendChild(document.createElement("wbr")); });
    } else v.textContent = String(value);
    return h("div", { class: "kv" + (cls === "dotted" || cls === "path" ? " wide" : "") }, h("span", { class: "k", text: label }), v);
  }

  // The status line of the detail, from the live record: it moves with the table, not one fetch later.
  function renderDetailHead() {
    const head = $("d-head");
    const r = state.runs.get(state.openId);
    if (!head || !r) return;
    head.textContent = "";
    const pct = Math.min(100, r.progress_shown ?? r.progress_percentage ?? 0);
    const why = reasonOf(r);
    head.appendChild(h("div", { class: "d-status" },
      h("span", { class: "badge st-" + r.status + (notStarted(r) ? " not-started" : ""), text: statusLabel(r.status) }),
      why && r.status !== "running" && r.status !== "finished" ? h("span", { class: "reason r-" + why, text: reasonLabel(why) }) : null,
      h("div", { class: "bar big" }, h("div", { class: "fill st-" + r.status, style: "width:" + pct + "%" })),
      h("span", { class: "ptext", id: "d-progress", text: r.completed_epochs + (r.total_epochs ? "/" + r.total_epochs : "") + " epochs · " + pct.toFixed(1) + "%" })));
    // The reason's words and the error, each once (view_model.run_record: reason_text leaves out what error_text says).
    if (r.reason_text) head.appendChild(h("p", { class: "reason-detail", text: r.reason_text }));
    const err = r.error_text;
    if (err) head.appendChild(h("pre", { class: "error-box", text: err + (r.error_source ? "\n(from " + r.error_source + ")" : "") }));
    if (r.warnings && r.warnings.length) {
      const ul = h("ul", { class: "warnings" });
      for (const w of r.warnings) ul.appendChild(h("li", { text: w }));
      head.appendChild(ul);
    }
    renderOffList();
  }

  function renderDetail(d) {
    const b = $("d-body");
    const det = d.detail || {};
    const live = state.runs.get(d.id);
    // The live record is newer than or as new as the fetched one: its fields win.
    if (live && live.checked_at >= (d.checked_at || 0)) d = Object.assign({}, d, live, { detail: det });
    b.textContent = "";
    $("d-title").textContent = d.run || d.id;
    b.setAttribute("data-seq", String(d.seq));
    b.appendChild(h("div", { id: "d-head" }));
    renderDetailHead();
    const facts = det.facts || {};
    const p = d.process_info;
    const m = mainOf(d);
    const ip = d.in_progress;
    const esBy = { trainer: " (recorded by the trainer)", log: " (from the trainer's log)", replay: " (replayed from the scores)" }[d.early_stop_source] || "";
    b.appendChild(h("section", { class: "facts" },
      kv("runner", facts.runner || d.runner_type, "dotted"),
      kv("type", d.runner_type),
      kv("epochs", d.total_epochs),
      kv("early stopping", facts.early_stopping_patience ? "patience " + facts.early_stopping_patience : null),
      kv("early stopped", d.early_stopped ? "at epoch " + d.early_stopped_at_epoch + esBy : null),
      kv("main metric", m ? m.key + " " + arrow(m.dir) + " (" + dirText(m.dir) + ")" : null),
      kv("best", m && m.best !== null && m.best !== undefined ? fmtNum(m.best) + (d.best_epoch !== null && d.best_epoch !== undefined ? " at epoch " + (d.best_epoch + 1) : "") : null),
      kv("metric class", facts.metric, "dotted"),
      kv("directions", facts.directions ? Object.entries(facts.directions).map(([k, v]) => k + (v > 0 ? " ↑" : " ↓")).join(", ") + (facts.directions_source ? " (" + facts.directions_source + ")" : "") : null),
      kv("stage", d.current_stage !== null && d.current_stage !== undefined ? (d.current_stage + 1) + " of " + (d.stages ? d.stages.length : "?") : null),
      kv("in this epoch", ip && ip.iterations ? (ip.phase || "iteration") + " " + ip.iteration + "/" + ip.iterations : null),
      kv("sessions", (Array.isArray(d.sessions) ? d.sessions.length : d.sessions) > 1 ? (Array.isArray(d.sessions) ? d.sessions.length : d.sessions) + " (resumed)" : null),
      kv("started", fmtTime(d.start_time)),
      kv("last update", d.updated ? fmtTime(d.updated) + " (" + fmtAgo(d.updated) + ")" : "never"),
      kv("ETA", d.eta_seconds ? fmtDur(d.eta_seconds) : null),
      kv("process", p ? (p.server || "local") + " pid " + p.pid + (p.job_id ? " job " + p.job_id : "") + " · " + p.user : null),
      kv("config", d.config, "path"),
      kv("work dir", d.work_dir, "path"),
      kv("config problem", facts.error, "error")));

    if (d.stages && d.stages.length) b.appendChild(stagesTable(d));
    // Problems of the run's per-datapoint data, known once a comparison read its scores files (never read for this).
    if (det.data_warnings && det.data_warnings.length) {
      b.appendChild(h("section", { class: "data-warnings" }, h("h3", { text: "Per-datapoint data" }),
        h("ul", { class: "warnings" }, ...det.data_warnings.map((w) => h("li", { text: w })))));
    }
    const series = det.series || {};
    const metrics = Object.keys(series);
    if (metrics.length) {
      const main = m && series[m.key] ? m.key : metrics[0];
      const ordered = [main].concat(metrics.filter((k) => k !== main));
      const charts = h("section", { class: "charts" }, h("h3", { text: "Validation scores per epoch" }));
      for (const k of ordered.slice(0, 8)) charts.appendChild(chart(k, series[k], d, facts.directions ? facts.directions[k] : (m && k === m.key ? m.dir : undefined), k === main));
      if (ordered.length > 8) charts.appendChild(h("p", { class: "muted", text: (ordered.length - 8) + " more metrics in the scores table" }));
      b.appendChild(charts);
    }
    if (det.timeline && det.timeline.length) b.appendChild(timeline(det.timeline, d));
    const isEval = d.runner_type === "evaluator";
    const table = isEval ? det.scores_table : det.best_scores_table;
    if (table && table.length) {
      const bestAt = !isEval && d.best_epoch !== null && d.best_epoch !== undefined ? d.best_epoch + 1 : null;
      const t = h("table", { class: "scores" }, h("thead", null, h("tr", null, h("th", { text: "score" }), h("th", { text: "value", class: "num" }))));
      const tb = h("tbody");
      for (const row of table) tb.appendChild(h("tr", null, h("td", { text: row.key }), h("td", { class: "num", text: Array.isArray(row.value) ? row.value.map(fmtNum).join(", ") : fmtFixed(row.value) })));
      t.appendChild(tb);
      b.appendChild(h("section", { class: "score-table" }, h("h3", { text: isEval ? "Evaluation scores" : "Best scores" + (bestAt ? " (epoch " + bestAt + ")" : "") }), t));
    }
    // The detail's output_tail: none when it is the log shown below (view_model.run_detail).
    if (Array.isArray(det.output_tail) && det.output_tail.length) {
      b.appendChild(h("section", null, h("h3", { text: "The run's own output (last " + plural(det.output_tail.length, "line") + ")" }), h("pre", { class: "log", text: det.output_tail.join("\n") })));
    }
    if (det.log_tail) {
      const pre = h("pre", { class: "log", text: det.log_tail.lines.join("\n") });
      b.appendChild(h("section", null, h("h3", { text: "Log tail · " + det.log_tail.name }), pre));
      requestAnimationFrame(() => { pre.scrollTop = pre.scrollHeight; });
    }
  }

  function stageEnds(d) {
    // The epoch at which each stage but the last ends, on the run's epoch axis. Stages that run
    // one after another over new epochs add up (the run's total is their sum); stages that share
    // one work dir each train up to their own epochs (the total is the largest). Anything else:
    // no boundary is drawn rather than a wrong one.
    const tots = (d.stages || []).map((st) => st.total_epochs || 0);
    if (tots.length < 2) return [];
    const sum = tots.reduce((a, b) => a + b, 0), max = Math.max(...tots);
    if (d.total_epochs === sum) {
      const ends = [];
      let acc = 0;
      for (const t of tots.slice(0, -1)) { acc += t; ends.push(acc); }
      return ends;
    }
    if (d.total_epochs === max) return [...new Set(tots.slice(0, -1).filter((t) => t > 0 && t < max))];
    return [];
  }

  function stagesTable(d) {
    const t = h("table", { class: "scores stages" }, h("thead", null, h("tr", null,
      h("th", { text: "stage" }), h("th", { text: "runner" }), h("th", { text: "epochs", class: "num" }), h("th", { text: "progress", class: "num" }))));
    const tb = h("tbody");
    for (const st of d.stages) {
      const now = d.current_stage === st.index;
      tb.appendChild(h("tr", { class: now ? "current" : null },
        h("td", { text: (st.index + 1) + (now ? " (now)" : "") }), h("td", { text: (st.runner || "").split(".").pop(), title: st.runner || "" }),
        h("td", { class: "num", text: st.completed_epochs + "/" + (st.total_epochs ?? "?") }),
        h("td", { class: "num", text: (st.progress_percentage || 0).toFixed(0) + "%" })));
    }
    t.appendChild(tb);
    return h("section", { class: "stage-table" }, h("h3", { text: "Stages" }), t);
  }

  // Round tick values (1, 2 or 5 times a power of ten) covering [lo, hi].
  function niceTicks(lo, hi, n) {
    const span = hi - lo;
    const raw = span / Math.max(1, n);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((st) => st >= raw) || 10 * mag;
    const first = Math.ceil(lo / step - 1e-9) * step;
    const ticks = [];
    for (let v = first; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    const decimals = Math.max(0, Math.min(8, -Math.floor(Math.log10(step) + 1e-9) + (step / mag === 2.5 ? 1 : 0)));
    return { ticks, decimals };
  }

  function chart(key, pts, d, direction, isMain) {
    // Labels live in a strip above the plot (never over the curve) and inside the box.
    const W = 520, H = 184, L = 56, R = 14, T = 28, B = 26;
    const xs = pts.map((p) => p[0] + 1);  // epochs counted from 1
    const ys = pts.map((p) => (typeof p[1] === "number" ? p[1] : NaN)).filter(isFinite);
    const total = Math.max(d.total_epochs || 0, xs.length ? Math.max(...xs) : 1, 1);
    let ymin = ys.length ? Math.min(...ys) : 0, ymax = ys.length ? Math.max(...ys) : 1;
    if (ymin === ymax) { ymin -= 0.5 * (Math.abs(ymin) || 1); ymax += 0.5 * (Math.abs(ymax) || 1); }
    const pad = (ymax - ymin) * 0.08; ymin -= pad; ymax += pad;
    const X = (e) => L + (total > 1 ? ((e - 1) / (total - 1)) : 0.5) * (W - L - R);
    const Y = (v) => T + (1 - (v - ymin) / (ymax - ymin)) * (H - T - B);
    const svg = s("svg", { viewBox: "0 0 " + W + " " + H, class: "chart", role: "img", "data-metric": key, "data-points": String(pts.length) });
    svg.appendChild(s("title", null, key));
    const yt = niceTicks(ymin, ymax, 4);
    for (const v of yt.ticks) {
      const y = Y(v);
      svg.appendChild(s("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }));
      svg.appendChild(s("text", { x: L - 6, y: y + 3.5, class: "tick", "text-anchor": "end" }, Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(1) : v.toFixed(yt.decimals)));
    }
    const step = Math.max(1, Math.ceil(total / 8));
    for (let e = 1; e <= total; e += step) {
      const x = X(e);
      svg.appendChild(s("text", { x: x, y: H - 8, class: "tick", "text-anchor": x < L + 10 ? "start" : x > W - R - 10 ? "end" : "middle" }, String(e)));
    }
    for (const end of stageEnds(d)) {
      if (end >= 1 && end < total) {
        const x = X(end + 0.5);
        svg.appendChild(s("line", { x1: x, x2: x, y1: T, y2: H - B, class: "stage-edge" }));
      }
    }
    const valid = pts.filter((p) => typeof p[1] === "number" && isFinite(p[1]));
    if (valid.length) {
      svg.appendChild(s("polyline", { class: "line", points: valid.map((p) => X(p[0] + 1).toFixed(1) + "," + Y(p[1]).toFixed(1)).join(" ") }));
      for (const p of valid) {
        const c = s("circle", { cx: X(p[0] + 1), cy: Y(p[1]), r: 2.5, class: "pt" });
        c.appendChild(s("title", null, "epoch " + (p[0] + 1) + ": " + fmtNum(p[1])));
        svg.appendChild(c);
      }
    }
    const legend = [];
    const bestEpoch = d.best_epoch;
    const bp = valid.find((p) => p[0] === bestEpoch);
    if (bp) {
      svg.appendChild(s("circle", { cx: X(bp[0] + 1), cy: Y(bp[1]), r: 5.5, class: "best" }));
      legend.push(["best-label", "○ " + (isMain ? "best " : "at best epoch ") + fmtNum(bp[1]) + " · epoch " + (bp[0] + 1)]);
    }
    if (d.early_stopped && d.early_stopped_at_epoch) {
      const x = X(d.early_stopped_at_epoch);
      svg.appendChild(s("line", { x1: x, x2: x, y1: T, y2: H - B, class: "es" }));
      legend.push(["es-label", "┆ early stop after epoch " + d.early_stopped_at_epoch]);
    }
    if (stageEnds(d).length) legend.push(["stage-label", "│ stage boundary"]);
    let lx = L;
    for (const [cls, text] of legend) {
      const t = s("text", { x: lx, y: 16, class: cls }, text);
      svg.appendChild(t);
      lx += text.length * 5.6 + 14;  // approximate advance; clamped after layout below
    }
    requestAnimationFrame(() => fitLabels(svg, W));
    const dir = direction > 0 ? " (higher is better)" : direction < 0 ? " (lower is better)" : "";
    return h("figure", { class: "chart-box" }, h("figcaption", { text: key + dir }), svg);
  }

  // Keep every label of a chart inside its box, one after the other, shrinking the last ones if needed.
  function fitLabels(svg, W) {
    if (!svg.isConnected) return;
    const labels = [...svg.querySelectorAll("text.best-label, text.es-label, text.stage-label")];
    let x = 56;
    for (const t of labels) {
      t.setAttribute("x", String(x));
      let w = t.getBBox().width;
      if (x + w > W - 4) {
        t.setAttribute("textLength", String(Math.max(10, W - 4 - x)));
        t.setAttribute("lengthAdjust", "spacingAndGlyphs");
        w = W - 4 - x;
      }
      x += w + 14;
    }
  }

  function timeline(items, d) {
    const durations = items.map((e) => e.duration || 0);
    const max = Math.max(1, ...durations);
    const box = h("div", { class: "timeline" });
    for (const e of items) {
      const hgt = e.duration ? Math.max(4, 40 * e.duration / max) : 4;
      const cls = "tl" + (e.finished ? " done" : " pending") + (e.index === d.best_epoch ? " best" : "");
      box.appendChild(h("div", { class: cls, style: "height:" + hgt + "px",
        title: "epoch " + (e.index + 1) + (e.finished ? " finished " + fmtTime(e.finish_time) : " in progress") + (e.duration ? " · " + fmtDur(e.duration) : "") }));
    }
    return h("section", null, h("h3", { text: "Epoch timeline (bar height = duration; green = best epoch)" }), box);
  }

  // ------------------------------------------------------------ wiring

  function init() {
    $("viewport").addEventListener("scroll", () => schedule(false), { passive: true });
    // The viewport's height changes with the bars above it (chips that wrap), not only with the window.
    if (window.ResizeObserver) new ResizeObserver(() => schedule(false)).observe($("viewport"));
    window.addEventListener("resize", () => schedule(false));
    $("search").addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => { applySearch(); schedule(false); }, 80);
    });
    $("group").addEventListener("change", (ev) => { state.group = ev.target.checked; update(); });
    for (const el of document.querySelectorAll("#thead [data-sort]")) {
      el.setAttribute("tabindex", "0");
      const sortBy = () => {
        const k = el.dataset.sort;
        if (state.sortKey === k) state.sortDesc = !state.sortDesc;
        else { state.sortKey = k; state.sortDesc = defaultDesc(k); }
        update();
      };
      el.addEventListener("click", sortBy);
      el.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); ev.stopPropagation(); sortBy(); } });
    }
    $("d-close").addEventListener("click", closeDetail);
    document.addEventListener("keydown", onKey);
    window.addEventListener("hashchange", () => { const run = readUrl(); schedule(true); if (run && run !== state.openId) openDetail(run); });
    const run = readUrl();
    if (run) openDetail(run);
    connect();
    schedule(true);
  }
  // ------------------------------------------------------------ hub: clusters (runwatch hub)
  // Self-contained: on a hub's page (its summary has `clusters`) each row gets a cluster
  // column, runs of an unreachable agent are marked stale, and a cluster bar shows each
  // cluster's counts and reachability and filters by cluster. An agent's own page is unchanged.
  state.clusterFilter = null;
  const hubMode = () => !!(state.summary && state.summary.clusters);
  const baseVisible = visible;
  visible = (r) => baseVisible(r) && (state.clusterFilter === null || r.cluster === state.clusterFilter);
  const baseFillRunRow = fillRunRow;
  fillRunRow = (el, r, ...rest) => {
    baseFillRunRow(el, r, ...rest);
    if (!hubMode()) return;
    if (r.stale) { el.classList.add("stale"); el.title = "agent " + r.cluster + " unreachable: last known status"; }
    else el.removeAttribute("title");
    el.insertBefore(h("div", { class: "c-cluster", title: r.cluster, text: r.cluster || "" }), el.firstChild);
  };
  const baseRenderSummary = renderSummary;
  renderSummary = () => {
    baseRenderSummary();
    const on = hubMode();
    document.body.classList.toggle("multi-cluster", on);
    const thead = $("thead");
    let head = thead.querySelector(".c-cluster");
    if (on && !head) {
      head = h("div", { class: "c-cluster", "data-sort": "cluster", text: "Cluster", onclick: () => {
        if (state.sortKey === "cluster") state.sortDesc = !state.sortDesc; else { state.sortKey = "cluster"; state.sortDesc = false; }
        update();
      } });
      thead.insertBefore(head, thead.firstChild);
    }
    if (head) { head.hidden = !on; head.classList.toggle("sorted", state.sortKey === "cluster"); head.classList.toggle("desc", state.sortKey === "cluster" && state.sortDesc); }
    let bar = $("clusters");
    if (!bar) { bar = h("div", { id: "clusters", role: "toolbar", "aria-label": "Filter by cluster" }); $("toolbar").after(bar); }
    bar.hidden = !on;
    bar.textContent = "";
    if (!on) return;
    const pick = (name) => { state.clusterFilter = state.clusterFilter === name ? null : name; update(); };
    bar.appendChild(h("button", { class: "cluster all" + (state.clusterFilter === null ? " active" : ""), type: "button", onclick: () => pick(null), text: "all clusters" }));
    for (const [name, c] of Object.entries(state.summary.clusters).sort((a, b) => collator.compare(a[0], b[0]))) {
      const chips = h("span", { class: "chips" });
      for (const st of STATUSES) if (c.by_status && c.by_status[st]) chips.appendChild(h("span", { class: "chip st-" + st, text: c.by_status[st] + " " + st }));
      const down = !c.reachable && c.error;
      bar.appendChild(h("button", {
        class: "cluster" + (state.clusterFilter === name ? " active" : "") + (down ? " down" : ""), type: "button", "data-cluster": name,
        title: down ? "unreachable since " + fmtTime(c.since) + ": " + c.error : (c.url || name), onclick: () => pick(name),
      }, h("span", { class: "cname", text: name }), h("span", { class: "n", text: " " + (c.total || 0) }), chips,
        down ? h("span", { class: "err", text: " unreachable " + fmtAgo(c.since) }) : null));
    }
  };
  // ------------------------------------------------------------ end of hub: clusters

  // ------------------------------------------------------------ compare (static/compare.js)
  // Row checkboxes and a "Compare" action, hyperparameters as columns, and a search that also
  // finds runs by metric name and key=value: compare.js does the work, these are its hooks.
  const cmp = window.RunwatchCompare;
  if (cmp) {
    const visibleBeforeCompare = visible;
    const withoutSearch = (r) => { const q = state.q; state.q = ""; try { return visibleBeforeCompare(r); } finally { state.q = q; } };
    visible = (r) => visibleBeforeCompare(r) || (!!state.q && cmp.matches(r, state.q) && withoutSearch(r));
    const fillBeforeCompare = fillRunRow;
    fillRunRow = (el, r, ...rest) => { fillBeforeCompare(el, r, ...rest); cmp.decorateRow(el, r); };
    cmp.attach({ state, schedule, refresh: () => { for (const el of rowEls.values()) el._item = null; schedule(true); } });
  }

  window.runwatch = state;  // for debugging and browser tests
  Object.defineProperty(state, "sortKeys", { get: () => LABELS.sort_keys });  // the one sort's keys, from the snapshot
  // Feeds a protocol message as if it came from the socket (browser tests measure rendering with it).
  window.runwatchFeed = (m) => onMessage({ data: JSON.stringify(m) });
  init();
})();
