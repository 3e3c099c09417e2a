"""The page's datapoints tab in Chromium, the first time and from the cache: where its time goes.

10 generated evaluator runs of 50,000 datapoints each (the files of compare_bench.py: 11 MB, ``acc``,
``loss`` and a 20-class ``class_IoU`` per datapoint) are served by ``runwatch serve``'s app; Chromium
(headless, ``--no-sandbox --disable-gpu --disable-background-networking``) opens the compare panel over
all of them on its datapoints tab. For each map the page records (``RunwatchCompare.timings``) the time
until the answer's headers (the server's work), reading the body, decoding it and drawing the canvas.

"First time" is a fresh server with an empty datapoint cache (memory and disk): every scores file is
read. "Cached" is the same tab opened again. Each mode is measured ``--repeat`` times, interleaved
(cold, warm, cold, warm...), medians reported.

    python benchmarks/compare_page_bench.py [--runs 10] [--datapoints 50000] [--repeat 5] [--viewport 1280x800]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from compare_bench import evaluator, write_scores  # noqa: E402

from runwatch.layout import Project  # noqa: E402
from runwatch.settings import load_settings  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def build(root: str, runs: int, datapoints: int, classes: int) -> list[str]:
    os.makedirs(os.path.join(root, "configs"), exist_ok=True)
    project = Project(root, load_settings(root))
    names = [f"eval_{k}" for k in range(runs)]
    for k, name in enumerate(names):
        write_scores(os.path.join(project.logs_root, name, "evaluation_scores.json"), datapoints, classes, k)
        with open(os.path.join(root, "configs", name + ".py"), "w") as f:
            f.write(f"config = {{'runner': BaseEvaluator, 'work_dir': './logs/{name}'}}\nfrom x import BaseEvaluator\n")
        evaluator(project, name)
    return names


def measure(browser: Any, url: str, n_runs: int, viewport: tuple[int, int]) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    try:
        page.goto(url)
        page.wait_for_selector("#conn.conn-live")
        deadline = time.time() + 120
        while page.evaluate("window.runwatch.runs.size") < n_runs and time.time() < deadline:
            time.sleep(0.05)
        ids = page.evaluate("() => [...window.runwatch.runs.values()].map(r => r.id)")
        page.evaluate("(ids) => { window.RunwatchCompare.view.tab = 'datapoints'; window.RunwatchCompare.open(ids); }", ids)
        while page.evaluate("() => window.RunwatchCompare.timings.scoremap === undefined || window.RunwatchCompare.timings.failures === undefined"):
            if time.time() > deadline:
                raise SystemExit("the page never drew the maps")
            time.sleep(0.02)
        return dict(page.evaluate("() => JSON.parse(JSON.stringify(window.RunwatchCompare.timings))"))
    finally:
        page.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--datapoints", type=int, default=50_000)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--viewport", default="1280x800")
    ap.add_argument("--json", action="store_true", help="print the raw timings as one JSON line instead of the table")
    args = ap.parse_args()
    viewport = tuple(int(x) for x in args.viewport.split("x"))
    from playwright.sync_api import sync_playwright

    from runwatch import reset
    from runwatch.process_info import ProcessSnapshot
    from runwatch.server import BackgroundServer

    tmp = tempfile.mkdtemp(prefix="rw-compare-page-")
    root = os.path.join(tmp, "proj")
    build(root, args.runs, args.datapoints, args.classes)
    results: dict[str, list[dict[str, Any]]] = {"first time": [], "cached": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(args.repeat):
            shutil.rmtree(os.path.join(root, ".runwatch-cache", "datapoints"), ignore_errors=True)
            reset()  # every process-wide memo, the datapoint cache included
            with BackgroundServer(root, sweep_interval=3600, monitor=ProcessSnapshot(processes=[])) as srv:
                results["first time"].append(measure(browser, srv.url, args.runs, viewport))  # type: ignore[arg-type]
                results["cached"].append(measure(browser, srv.url, args.runs, viewport))  # type: ignore[arg-type]
        browser.close()
    shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        import json

        print(json.dumps(results))
        return

    def med(mode: str, *path: str) -> float:
        vals = []
        for t in results[mode]:
            v: Any = t
            for k in path:
                v = v.get(k) if isinstance(v, dict) else None
            if isinstance(v, int | float):
                vals.append(float(v))
        return statistics.median(vals) if vals else float("nan")

    print(f"Chromium {args.viewport}, {args.runs} runs x {args.datapoints} datapoints, medians of {args.repeat}; load average {os.getloadavg()[0]:.1f}")
    print("| measure | first time | cached |")
    print("|---|---|---|")
    for label, doc, total, draw in (("score map", "scoremap", "scoremap", "scoremap_draw"), ("common-failure map", "failures", "failures", "failures_draw")):
        row = [f"{med(m, total):.0f} ms" for m in ("first time", "cached")]
        print(f"| {label}: on screen (fetch, decode, draw) | {row[0]} | {row[1]} |")
        for part, key in (
            ("answer's headers (request to response)", "wait"),
            ("of which the document's build", "build"),
            ("body read", "body"),
            ("decode", "parse"),
        ):
            row = [f"{med(m, 'api:' + doc, key):.1f} ms" for m in ("first time", "cached")]
            print(f"| &nbsp; {part} | {row[0]} | {row[1]} |")
        row = [f"{med(m, draw):.1f} ms" for m in ("first time", "cached")]
        print(f"| &nbsp; canvas draw | {row[0]} | {row[1]} |")
        print(f"| &nbsp; answer size | {med('first time', 'api:' + doc, 'bytes') / 1e3:.0f} kB | |")


if __name__ == "__main__":
    main()
