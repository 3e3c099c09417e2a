"""The dashboard page's single actions at 50,000 runs, in Chromium, old page against new, interleaved.

Serves the page from a real ``runwatch serve`` app (in-process, on a small project tree), takes
the real WebSocket snapshot it sends, and grows it to ``--runs`` records (copies of the real
records, renamed as ``benchmarks/run.py``'s generator names them: ``trainers/group_2/run_7041``)
fed to the page through its own message handler, as a snapshot from the socket would be. Then it
clicks through filters, the search, sorts and the folder grouping, each timed in the page from the
input event to the frame after the one that re-rendered (two animation frames: the re-render,
style, layout and paint are all in it), and reports every single action, min / median / max.

With ``--base DIR`` (a checkout of the old code, e.g. ``git worktree add /tmp/page-base main``) each
round loads the page twice, once with each checkout's ``runwatch/static`` files (swapped in by the
browser, the server and its data the same), in alternating order. ``--trace`` records one more
round of the new page with Chromium's tracing and prints where the main thread's time went per
action (script, style, layout, paint, GC).

    python benchmarks/page_actions.py --root /tmp/tree/tree-1000-v4/project --base /tmp/page-base --rounds 3
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

CHROMIUM = os.environ.get("RUNWATCH_CHROMIUM", "/usr/bin/chromium")
# The page comes from the route below: Chromium would otherwise refuse its socket to 127.0.0.1.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-features=LocalNetworkAccessChecks"]

# In the page: from the action to the frame after the one that re-rendered.
_AFTER_FRAMES = "new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"
_SEARCH = "const s = document.getElementById('search'); s.value = %s; s.dispatchEvent(new Event('input')); await new Promise((r) => setTimeout(r, 81))"

# (name, JavaScript, milliseconds of the page's own wait to leave out). Every action is undone by a
# later one, so that each round starts from the same state.
ACTIONS: list[tuple[str, str, float]] = [
    ("filter failed", "document.querySelector('#counts .count.st-failed').click()", 0),
    ("filter all", "document.querySelector('#counts .count.all').click()", 0),
    ("filter running", "document.querySelector('#counts .count.st-running').click()", 0),
    ("filter all 2", "document.querySelector('#counts .count.all').click()", 0),
    ("search", _SEARCH % "'group_1'", 81),
    ("search cleared", _SEARCH % "''", 81),
    ("sort status", "document.querySelector('#thead [data-sort=status]').click()", 0),
    ("sort progress", "document.querySelector('#thead [data-sort=progress]').click()", 0),
    ("sort best", "document.querySelector('#thead [data-sort=best]').click()", 0),
    ("sort updated", "document.querySelector('#thead [data-sort=updated]').click()", 0),
    ("sort run", "document.querySelector('#thead [data-sort=run]').click()", 0),
    ("sort run desc", "document.querySelector('#thead [data-sort=run]').click()", 0),
    ("sort run asc", "document.querySelector('#thead [data-sort=run]').click()", 0),
    ("folders off", "document.getElementById('group').click()", 0),
    ("filter failed flat", "document.querySelector('#counts .count.st-failed').click()", 0),
    ("filter all flat", "document.querySelector('#counts .count.all').click()", 0),
    ("folders on", "document.getElementById('group').click()", 0),
    ("scroll middle", "const v = document.getElementById('viewport'); v.scrollTop = v.scrollHeight / 2", 0),
    ("scroll top", "document.getElementById('viewport').scrollTop = 0", 0),
]


def grow_snapshot(snap: dict[str, Any], n: int) -> dict[str, Any]:
    """The snapshot with ``n`` records: copies of its own, each with a fresh id and run number."""
    from runwatch.view_model import summarize

    base = [r for r in snap["runs"] if r.get("run")]
    runs = []
    for j in range(n):
        r = dict(base[j % len(base)])
        r["id"] = f"{j:05x}{r['id']}"[:16]
        r["run"] = re.sub(r"run_\d+$", f"run_{j}", r["run"])
        runs.append(r)
    assert len({r["id"] for r in runs}) == n
    out = dict(snap)
    out["runs"] = runs
    out["seq"] = 10**9  # above the server's: its heartbeats and deltas leave these records alone
    out["summary"] = dict(snap["summary"], **summarize(runs))
    return out


def static_of(checkout: str) -> dict[str, bytes]:
    d = os.path.join(checkout, "runwatch", "static")
    return {name: open(os.path.join(d, name), "rb").read() for name in os.listdir(d)}


def open_page(browser: Any, url: str, files: dict[str, bytes], size: tuple[int, int], doc_json: str) -> tuple[Any, float]:
    """A page at ``url`` with ``files`` for its static files, fed the grown snapshot; (page, ms to show it)."""
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def swap(route: Any) -> None:
        path = route.request.url.split("?", 1)[0].split("/", 3)[3]
        name = "index.html" if path == "" else path[len("static/") :] if path.startswith("static/") else None
        if name in files:
            resp = route.fetch()
            route.fulfill(response=resp, body=files[name])
        else:
            route.continue_()

    page.route("**/*", swap)
    page.goto(url)
    page.wait_for_selector("#conn.conn-live")
    deadline = time.monotonic() + 60
    while not page.evaluate("() => window.runwatch.runs.size > 0 && document.querySelectorAll('#rows .row').length > 0"):
        if time.monotonic() > deadline:
            raise SystemExit("the page showed no runs")
        time.sleep(0.05)
    took = page.evaluate(
        "async (doc) => { const t0 = performance.now(); window.runwatchFeed(JSON.parse(doc)); await " + _AFTER_FRAMES + "; return performance.now() - t0; }",
        doc_json,
    )
    n = json.loads(doc_json)["summary"]["total"]
    assert page.evaluate("(n) => window.runwatch.runs.size === n && document.querySelector('#counts .count.all .n').textContent === String(n)", n)
    # Chromium's long animation frames (over 50 ms): where a slow action's frame went, without tracing's overhead.
    page.evaluate(
        "() => { window.__loaf = []; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__loaf.push([e.startTime, e.duration, e.renderStart, e.styleAndLayoutStart]); }).observe({ type: 'long-animation-frame' }); }"
    )
    page.wait_for_timeout(300)
    if errors:
        raise SystemExit(f"page errors: {errors}")
    return page, took


def run_actions(page: Any) -> tuple[dict[str, float], dict[str, list[float]]]:
    """(ms per action, its long frames' ms in [task before rendering, animation-frame callbacks (the page's
    render), style + layout + paint]) for each action."""
    out, frames = {}, {}
    for name, js, wait in ACTIONS:
        t0, t1 = page.evaluate(f"async () => {{ const t0 = performance.now(); {js}; await {_AFTER_FRAMES}; return [t0, performance.now()]; }}")
        out[name] = t1 - t0 - wait
        page.wait_for_timeout(60)
        parts = [0.0, 0.0, 0.0]
        for start, dur, render, style in page.evaluate("(t) => window.__loaf.filter((e) => e[0] + e[1] > t[0] && e[0] < t[1])", [t0, t1]):
            if render and style:
                parts[0] += render - start
                parts[1] += style - render
                parts[2] += start + dur - style
        frames[name] = [round(x, 1) for x in parts]
    return out, frames


# The renderer main thread's trace events, grouped into what they are.
_KIND = {
    "FunctionCall": "script",
    "EvaluateScript": "script",
    "v8.evaluateModule": "script",
    "FireAnimationFrame": "script",
    "EventDispatch": "script",
    "TimerFire": "script",
    "RunMicrotasks": "script",
    "UpdateLayoutTree": "style",
    "ScheduleStyleRecalculation": None,
    "Layout": "layout",
    "PrePaint": "paint",
    "Paint": "paint",
    "PaintImage": "paint",
    "Layerize": "paint",
    "UpdateLayer": "paint",
    "UpdateLayerTree": "paint",
    "CompositeLayers": "paint",
    "Commit": "paint",
    "MinorGC": "gc",
    "MajorGC": "gc",
    "V8.GC_SCAVENGER": "gc",
    "HitTest": "hit test",
}


def trace_breakdown(browser: Any, page: Any) -> dict[str, dict[str, float]]:
    """Each action once more under Chromium's tracing: ms of the main thread by kind (outermost events only)."""
    res: dict[str, dict[str, float]] = {}
    for name, js, wait in ACTIONS:
        browser.start_tracing(page=page, categories=["devtools.timeline", "disabled-by-default-devtools.timeline", "v8", "blink.user_timing"])
        page.evaluate(f"async () => {{ performance.mark('a0'); {js}; await {_AFTER_FRAMES}; performance.mark('a1'); }}")
        events = json.loads(browser.stop_tracing())["traceEvents"]
        main = {e["tid"] for e in events if e.get("name") == "thread_name" and e.get("args", {}).get("name") == "CrRendererMain"}
        marks = {e["name"]: e["ts"] for e in events if e.get("name") in ("a0", "a1") and e.get("ph") in ("R", "I", "i", "n", "b", "e")}
        t0, t1 = marks.get("a0", 0), marks.get("a1", float("inf"))
        spans = sorted((e["ts"], e["ts"] + e.get("dur", 0), e["name"]) for e in events if e.get("tid") in main and e.get("ph") == "X" and t0 <= e["ts"] <= t1)
        kinds: dict[str, float] = collections.defaultdict(float)
        # Per kind: the union of that kind's spans (nested events of one kind counted once).
        by_kind: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
        for a, b, n in spans:
            k = _KIND.get(n)
            if k:
                by_kind[k].append((a, b))
        for k, iv in by_kind.items():
            end = -1.0
            for a, b in iv:
                if b > end:
                    kinds[k] += (b - max(a, end)) / 1000
                    end = b
        kinds["wall"] = (t1 - t0) / 1000 - wait
        res[name] = {k: round(v, 1) for k, v in kinds.items()}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, help="a project tree for the server (its snapshot's records are copied)")
    ap.add_argument("--runs", type=int, default=50000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--base", help="a checkout of the old page to measure against, interleaved")
    ap.add_argument("--size", default="1400x900")
    ap.add_argument("--trace", action="store_true", help="also trace one round of each page and print the main thread's time by kind")
    ap.add_argument("--screenshots", help="a folder for screenshots of the new page at 1400x900, 1000x700 and 600x800")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from runwatch.process_info import ProcessSnapshot
    from runwatch.server import BackgroundServer

    size = tuple(int(x) for x in args.size.split("x"))
    variants = [("new", static_of(REPO))]
    if args.base:
        variants.insert(0, ("old", static_of(args.base)))
    times: dict[str, dict[str, list[float]]] = {v: collections.defaultdict(list) for v, _ in variants}
    shown: dict[str, list[float]] = collections.defaultdict(list)
    loaf: dict[str, dict[str, list[list[float]]]] = {v: collections.defaultdict(list) for v, _ in variants}
    traces: dict[str, Any] = {}
    with BackgroundServer(args.root, sweep_interval=3600, monitor=ProcessSnapshot(processes=[])) as srv, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        # The server's own snapshot, as its socket sends it.
        page = browser.new_page()
        frames: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
        page.goto(srv.url)
        page.wait_for_selector("#conn.conn-live")
        deadline = time.monotonic() + 120
        while not any('"snapshot"' in f[:200] for f in frames):
            if time.monotonic() > deadline:
                raise SystemExit("the server sent no snapshot")
            page.wait_for_timeout(50)  # not time.sleep: playwright's sync API delivers events only inside its own calls
        snap = json.loads(next(f for f in frames if '"snapshot"' in f[:200]))
        page.close()
        doc = grow_snapshot(snap, args.runs)
        doc_json = json.dumps(doc)
        print(f"{args.runs} records from {len(snap['runs'])} real ones: {len(doc_json) / 2**20:.1f} MB; load {os.getloadavg()[0]:.1f}", flush=True)
        for rnd in range(args.rounds):
            order = variants if rnd % 2 == 0 else variants[::-1]
            for v, files in order:
                page, took = open_page(browser, srv.url, files, size, doc_json)
                shown[v].append(took)
                took_ms, frames = run_actions(page)
                for name, ms in took_ms.items():
                    times[v][name].append(ms)
                    loaf[v][name].append(frames[name])
                if args.trace and rnd == args.rounds - 1:
                    traces[v] = trace_breakdown(browser, page)
                page.close()
            print(f"round {rnd + 1}: load {os.getloadavg()[0]:.1f}", flush=True)
        if args.screenshots:
            os.makedirs(args.screenshots, exist_ok=True)
            for w, hgt in ((1400, 900), (1000, 700), (600, 800)):
                page, _ = open_page(browser, srv.url, variants[-1][1], (w, hgt), doc_json)
                page.screenshot(path=os.path.join(args.screenshots, f"page-{w}x{hgt}.png"))
                page.close()
        browser.close()
    print("\nsnapshot fed to frame: " + ", ".join(f"{v} {statistics.median(xs):.0f} ms" for v, xs in shown.items()))
    print(f"\n{'action':<20}" + "".join(f" | {v + ' min/med/max (all)':<44}" for v, _ in variants))
    over = {v: 0 for v, _ in variants}
    total = {v: 0 for v, _ in variants}
    for name, _, _ in ACTIONS:
        line = f"{name:<20}"
        for v, _ in variants:
            xs = times[v][name]
            over[v] += sum(x >= 200 for x in xs)
            total[v] += len(xs)
            line += f" | {min(xs):4.0f} {statistics.median(xs):4.0f} {max(xs):4.0f} ({' '.join(f'{x:.0f}' for x in xs)})".ljust(47)
        print(line)
    for v, _ in variants:
        allx = [x for xs in times[v].values() for x in xs]
        print(f"{v}: {total[v]} actions, median {statistics.median(allx):.0f} ms, max {max(allx):.0f} ms, {over[v]} at or over 200 ms")
    print("\nlong frames (over 50 ms), median ms per action: task before rendering / the page's render (animation-frame callbacks) / style, layout and paint")
    for name, _, _ in ACTIONS:
        print(
            f"  {name:<20}" + "".join(f" | {v}: " + " / ".join(f"{statistics.median(f[k] for f in loaf[v][name]):.0f}" for k in range(3)) for v, _ in variants)
        )
    for v, tr in traces.items():
        print(f"\ntrace of the {v} page (ms on the main thread, outermost events by kind):")
        for name, kinds in tr.items():
            print(f"  {name:<20} " + "  ".join(f"{k} {x:.0f}" for k, x in sorted(kinds.items(), key=lambda kv: -kv[1])))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"times": times, "long_frames": loaf, "shown_ms": shown, "traces": traces, "runs": args.runs, "size": args.size}, f, indent=1)


if __name__ == "__main__":
    main()
