"""``runwatch serve`` on a very large generated tree: first complete scan, memory, the REST API and the page.

Generates (or reuses) a Pylon-style tree with known answers, starts ``runwatch serve`` on it as
its own process, and measures:

    first scan      from the process's start to ``/healthz`` saying ready (every run listed)
    RSS             the server process's resident memory when ready and ``--settle`` s later
    watches         what ``/healthz`` says of the kernel watches (watched / polled folders, budget)
    /api/runs       ``/api/runs?limit=10000`` latency (min / median of ``--requests``) and size
    page            in Chromium (playwright): first contentful paint, every run shown (the
                    WebSocket snapshot applied), then a status filter, the search box and a
                    sort by column: each from the click to the frame after the re-render
                    (median of ``--repeat``)

    python benchmarks/server_scale.py --tree-dir /tmp/runwatch-scale --runs 50000 --max-epochs 20

Fewer epochs than ``benchmarks/run.py``'s trees keep a 50,000-run tree at about 4.5 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

CHROMIUM = os.environ.get("RUNWATCH_CHROMIUM", "/usr/bin/chromium")


def _get(url: str, timeout: float = 600.0) -> tuple[bytes, float]:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body = r.read()
    return body, time.perf_counter() - t


def _health(base: str) -> dict[str, Any] | None:
    try:
        return json.loads(_get(base + "/healthz", 10)[0])
    except Exception:
        return None


def _rss(pid: int) -> int:
    import psutil

    return psutil.Process(pid).memory_info().rss


# In the page: the time from an action to the frame after the one that re-rendered.
_AFTER_FRAMES = "new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"


def measure_api(base: str, total: int, requests: int) -> dict[str, Any]:
    times, size, body = [], 0, b""
    for _ in range(requests):
        body, dt = _get(base + "/api/runs?limit=10000")
        times.append(dt)
        size = len(body)
    doc = json.loads(body)
    assert len(doc["runs"]) == min(10000, total) and doc["total"] == total, (len(doc["runs"]), doc["total"])
    print(f"/api/runs?limit=10000: min {min(times) * 1000:.0f} ms, median {statistics.median(times) * 1000:.0f} ms, {size / 2**20:.1f} MB", flush=True)
    return {"min_s": min(times), "median_s": statistics.median(times), "bytes": size, "all_s": [round(t, 3) for t in times]}


def measure_page(base: str, total: int, repeat: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1500, "height": 950})
        t = time.perf_counter()
        page.goto(base + "/", wait_until="commit")
        # Polled from here: the page's CSP forbids the eval that wait_for_function needs.
        shown = f"() => {{ const n = document.querySelector('#counts .count.all .n'); return !!n && n.textContent === '{total}' && document.querySelectorAll('#rows .row').length > 0; }}"
        while not page.evaluate(shown):
            if time.perf_counter() - t > 600:
                raise SystemExit("the page did not show every run within 600 s")
            time.sleep(0.05)
        out["all_rows_shown_s"] = time.perf_counter() - t
        out["all_rows_shown_in_page_ms"] = page.evaluate("performance.now()")
        out["first_contentful_paint_ms"] = page.evaluate("(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null")
        out["heap_mb"] = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null")

        def timed(js: str) -> float:
            return float(page.evaluate(f"async () => {{ const t0 = performance.now(); {js}; await {_AFTER_FRAMES}; return performance.now() - t0; }}"))

        filt, unfilt, search, sort_status, sort_run, group_off = [], [], [], [], [], []
        for _ in range(repeat):
            # A status filter (the "failed" count button) and back to all.
            filt.append(timed("document.querySelector('#counts .count.st-failed').click()"))
            unfilt.append(timed("document.querySelector('#counts .count.all').click()"))
            # The search box: its own 80 ms debounce is left out of the figure.
            search.append(
                timed(
                    "const s = document.getElementById('search'); s.value = 'group_1'; s.dispatchEvent(new Event('input')); await new Promise((r) => setTimeout(r, 81))"
                )
                - 81
            )
            timed("const s = document.getElementById('search'); s.value = ''; s.dispatchEvent(new Event('input')); await new Promise((r) => setTimeout(r, 81))")
            sort_status.append(timed("document.querySelector('#thead [data-sort=status]').click()"))
            sort_run.append(timed("document.querySelector('#thead [data-sort=run]').click()"))
            group_off.append(timed("document.getElementById('group').click()"))
            timed("document.getElementById('group').click()")
        for name, xs in (
            ("filter_status_ms", filt),
            ("filter_all_ms", unfilt),
            ("search_ms", search),
            ("sort_status_ms", sort_status),
            ("sort_run_ms", sort_run),
            ("group_toggle_ms", group_off),
        ):
            out[name] = {"median": statistics.median(xs), "max": max(xs), "all": [round(x, 1) for x in xs]}
        # Scrolling to the middle of the list: the rows drawn for it.
        out["scroll_ms"] = timed("const v = document.getElementById('viewport'); v.scrollTop = v.scrollHeight / 2; v.dispatchEvent(new Event('scroll'))")
        browser.close()
    return out


def main() -> None:
    import run as bench

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree-dir", help="where the generated tree is kept (required unless --attach)")
    ap.add_argument("--runs", type=int, default=50000)
    ap.add_argument("--max-epochs", type=int, default=20)
    ap.add_argument("--points", type=int, default=16, help="datapoints per scores file")
    ap.add_argument("--port", type=int, default=18790)
    ap.add_argument("--requests", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--settle", type=float, default=60.0, help="seconds after ready at which RSS is read again")
    ap.add_argument("--no-page", action="store_true")
    ap.add_argument("--hold", type=float, default=0.0, help="keep the server running this many seconds after measuring (for --attach runs)")
    ap.add_argument("--attach", metavar="URL", help="measure /api/runs and the page of a server already running there (no tree, no scan)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if args.attach:
        total = json.loads(_get(args.attach + "/healthz")[0])["runs"]
        res = {"runs": total, "load_before": os.getloadavg(), "api_runs_limit_10000": measure_api(args.attach, total, args.requests)}
        if not args.no_page:
            res["page"] = measure_page(args.attach, total, args.repeat)
            print("page:", json.dumps(res["page"]), flush=True)
        res["load_after"] = os.getloadavg()
        print("load", res["load_before"], "->", res["load_after"])
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=1, default=str)
        return
    bench.GEN_KW.update(max_epochs=args.max_epochs, min_epochs=4, n_points=args.points)
    bt = bench.get_tree(args.tree_dir, args.runs, 48.0, False)
    bench.reset_to_cold(bt)
    n = len(bt.expected)
    env = dict(os.environ, PYTHONPATH=REPO)
    base = f"http://127.0.0.1:{args.port}"
    res: dict[str, Any] = {"runs": n, "max_epochs": args.max_epochs, "load_before": os.getloadavg()}
    t0 = time.perf_counter()
    serve = bench.start_serve(bt.root, args.port, env, stderr=subprocess.PIPE)
    try:
        peak = 0
        while True:
            h = _health(base)
            if serve.poll() is not None:
                raise SystemExit("runwatch serve exited: " + serve.stderr.read().decode()[-2000:])
            if h is not None and h.get("ready") and h.get("runs") == n:
                break
            peak = max(peak, _rss(serve.pid))
            time.sleep(0.5)
        res["first_scan_s"] = time.perf_counter() - t0
        res["rss_ready_mb"] = _rss(serve.pid) / 2**20
        res["rss_peak_during_scan_mb"] = peak / 2**20
        res["load_at_ready"] = os.getloadavg()
        print(f"ready: {n} runs in {res['first_scan_s']:.1f} s, RSS {res['rss_ready_mb']:.0f} MB", flush=True)
        # Wait for the watcher's first walk (it follows the first scan).
        deadline = time.time() + 600
        while time.time() < deadline:
            h = _health(base) or {}
            w = h.get("watch") or {}
            if w.get("walk_s"):
                break
            time.sleep(1)
        res["healthz"] = h
        print("watch:", json.dumps(h.get("watch")), flush=True)
        res["api_runs_limit_10000"] = measure_api(base, n, args.requests)
        if not args.no_page:
            res["page"] = measure_page(base, n, args.repeat)
            print("page:", json.dumps(res["page"]), flush=True)
        remaining = args.settle - (time.perf_counter() - t0 - res["first_scan_s"])
        if remaining > 0:
            time.sleep(remaining)
        res["rss_settled_mb"] = _rss(serve.pid) / 2**20
        res["load_after"] = os.getloadavg()
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=1, default=str)
        print(f"RSS {args.settle:.0f} s after ready: {res['rss_settled_mb']:.0f} MB; load {res['load_after']}", flush=True)
        if args.hold > 0:
            print(f"holding the server at {base} for {args.hold:.0f} s", flush=True)
            time.sleep(args.hold)
    finally:
        bench.stop_serve(serve)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1, default=str)


if __name__ == "__main__":
    main()
