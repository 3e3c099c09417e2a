"""Comparing runs at real sizes: per-datapoint files of tens of MB, many runs, long curves.

Generated files (the shape Pylon's scores files have, written with the standard library's
``json.dump`` as Pylon writes them) stand in for real runs; every document is built by
``runwatch.compare.views`` and encoded as the server sends it (orjson):

    decoder     one 50,000-datapoint scores file: json.loads vs orjson.loads vs msgspec (interleaved, median)
    score map   the score map of one 50,000-datapoint epoch: the first time (read, decoded, columns
                written to the disk cache), from the memory cache, from the disk cache (a new process)
    failures    the common-failure map over 10 runs x 50,000 datapoints: first time and cached
    curves      overlaid curves of 50 runs x 200 epochs (with repetition groups)
    memory      the cache's bytes against its setting (compare_cache_mb) after every file was read
    page        (with Chromium) the score map and the failure map fetched, decoded and drawn on the page

    python benchmarks/compare_bench.py [--datapoints 50000] [--classes 20] [--runs 10] [--repeat 5] [--no-browser]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from runwatch.compare.cache import DatapointCache  # noqa: E402
from runwatch.compare.runs import CompareRun  # noqa: E402
from runwatch.compare.views import curves_doc, failure_map_doc, score_map_doc  # noqa: E402
from runwatch.layout import Project  # noqa: E402
from runwatch.settings import load_settings  # noqa: E402


def write_scores(path: str, n: int, classes: int, seed: int) -> int:
    rng = random.Random(seed)
    acc = [round(min(1.0, max(0.0, 0.7 + 0.4 * (0.5 - ((i * 2654435761) % 4294967296) / 4294967296.0) + rng.uniform(-0.05, 0.05))), 6) for i in range(n)]
    per = {
        "acc": acc,
        "loss": [round(1 - a, 6) for a in acc],
        "class_IoU": [[round(a * rng.uniform(0.8, 1.0), 6) for _ in range(classes)] for a in acc],
    }
    agg = {"acc": sum(acc) / n, "loss": 1 - sum(acc) / n, "class_IoU": [sum(c) / n for c in zip(*per["class_IoU"])]}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"aggregated": agg, "per_datapoint": per}, f)
    return os.path.getsize(path)


def encode(doc: Any) -> bytes:
    import orjson

    return orjson.dumps(doc)


def timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:.1f} ms"


def evaluator(project: Project, name: str) -> CompareRun:
    return CompareRun(
        name, name, name, os.path.join(project.logs_root, name), "finished", "evaluator", {"acc": 1, "loss": -1}, epochs=[(0, {})], project=project
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datapoints", type=int, default=50_000)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="rw-compare-bench-")
    root = os.path.join(tmp, "proj")
    os.makedirs(os.path.join(root, "configs"))
    project = Project(root, load_settings(root))
    sizes = [write_scores(os.path.join(project.logs_root, f"eval_{k}", "evaluation_scores.json"), args.datapoints, args.classes, k) for k in range(args.runs)]
    runs = [evaluator(project, f"eval_{k}") for k in range(args.runs)]
    rows: list[tuple[str, str, str]] = []
    print(f"{args.runs} files of {args.datapoints} datapoints ({2 + args.classes} metrics), {statistics.mean(sizes) / 1e6:.1f} MB each", file=sys.stderr)

    # Decoders, interleaved.
    with open(runs[0].scores_files()[0][1], "rb") as f:
        data = f.read()
    import orjson

    decoders: dict[str, Any] = {"json (standard library)": json.loads, "orjson": orjson.loads}
    try:
        import msgspec

        decoders["msgspec"] = msgspec.json.decode
    except ImportError:
        pass
    times: dict[str, list[float]] = {k: [] for k in decoders}
    for _ in range(args.repeat):
        for k, fn in decoders.items():
            times[k].append(timed(lambda fn=fn: fn(data)))
    base = statistics.median(times["json (standard library)"])
    for k, ts in times.items():
        rows.append((f"decode one file ({len(data) / 1e6:.1f} MB): {k}", med(ts), f"{base / statistics.median(ts):.1f}x the standard library"))

    # Score map: first time (read + decode + columns + disk cache), memory, disk.
    first, memory, disk = [], [], []
    for i in range(args.repeat):
        cache = DatapointCache(os.path.join(tmp, f"cache{i}"), 512 << 20, 4 << 30)
        first.append(timed(lambda c=cache: encode(score_map_doc(c, runs[0], "acc"))))
        memory.append(timed(lambda c=cache: encode(score_map_doc(c, runs[0], "acc"))))
        fresh = DatapointCache(os.path.join(tmp, f"cache{i}"), 512 << 20, 4 << 30)
        disk.append(timed(lambda c=fresh: encode(score_map_doc(c, runs[0], "acc"))))
    rows.append((f"score map, {args.datapoints} datapoints, first time (read, decode, cache)", med(first), "target < 1 s"))
    rows.append(("score map from the memory cache", med(memory), "target < 100 ms"))
    rows.append(("score map from the disk cache (a new process)", med(disk), "target < 100 ms"))

    # Common failures over every run.
    cold, warm, other = [], [], []
    for i in range(args.repeat):
        cache = DatapointCache(os.path.join(tmp, f"fcache{i}"), 1 << 30, 8 << 30)
        cold.append(timed(lambda c=cache: encode(failure_map_doc(c, runs, "acc", 25.0))))
        warm.append(timed(lambda c=cache: encode(failure_map_doc(c, runs, "acc", 40.0))))
        other.append(timed(lambda c=cache: encode(failure_map_doc(c, runs, "class_IoU[7]", 25.0))))
    rows.append((f"common-failure map, {args.runs} runs x {args.datapoints}, first time (only its metric decoded)", med(cold), "target < 1 s"))
    rows.append(("common-failure map again, another percentile (cached)", med(warm), ""))
    rows.append(("common-failure map of another metric, first time", med(other), "its list decoded, merged into the cached tables"))

    # Curves: 50 runs x 200 epochs, repetitions of 5.
    rng = random.Random(1)
    many = [
        CompareRun(
            f"r{k}",
            f"exp/lr{k // 5}_run_{k % 5}",
            f"k{k}",
            "/x",
            "finished",
            "trainer",
            {"acc": 1, "loss": -1},
            epochs=[(e, {"acc": 0.5 + 0.3 * (1 - 0.98**e) + rng.uniform(-0.01, 0.01), "loss": 1.0 / (e + 1)}) for e in range(200)],
        )
        for k in range(50)
    ]
    ct = [timed(lambda: encode(curves_doc(many, "acc"))) for _ in range(args.repeat)]
    rows.append(("overlaid curves, 50 runs x 200 epochs (10 repetition groups)", med(ct), "target < 300 ms"))

    # Memory: every column of every file through a cache bounded at 64 MB.
    bound = 64 << 20
    cache = DatapointCache(None, bound, 0)
    gc.collect()
    total = 0
    for r in runs:
        t = cache.get(r.scores_files()[0][1])
        total += t.nbytes
    rows.append(
        (
            f"cache memory after reading {total / 1e6:.0f} MB of columns (bound 64 MB)",
            f"{cache.used_bytes / 1e6:.1f} MB",
            f"{len(cache)} of {args.runs} tables kept",
        )
    )

    if not args.no_browser:
        rows += page_timings(root, runs)

    print("| measure | time | note |")
    print("|---|---|---|")
    for a, b, c in rows:
        print(f"| {a} | {b} | {c} |")


def page_timings(root: str, runs: list[CompareRun]) -> list[tuple[str, str, str]]:
    """The page: open the datapoints tab over every run; the maps' fetch + decode + draw, first time and again."""
    chromium = "/usr/bin/chromium"
    if not os.path.exists(chromium):
        return []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return []
    from runwatch.process_info import ProcessSnapshot
    from runwatch.server import BackgroundServer

    # The evaluators need configs for the server to list them.
    for r in runs:
        with open(os.path.join(root, "configs", r.name + ".py"), "w") as f:
            f.write(f"config = {{'runner': BaseEvaluator, 'work_dir': './logs/{r.name}'}}\nfrom x import BaseEvaluator\n")
    out = []
    with BackgroundServer(root, sweep_interval=3600, monitor=ProcessSnapshot(processes=[])) as srv, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        for label in ("first time", "from the cache"):
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(srv.url)
            page.wait_for_selector("#conn.conn-live")
            deadline = time.time() + 60
            while page.evaluate("window.runwatch.runs.size") < len(runs) and time.time() < deadline:
                time.sleep(0.05)
            ids = page.evaluate("() => [...window.runwatch.runs.values()].map(r => r.id)")
            page.evaluate("(ids) => { window.RunwatchCompare.open(ids); window.RunwatchCompare.view.tab = 'datapoints'; }", ids)
            page.click("[data-tab=datapoints]")
            while page.evaluate("() => window.RunwatchCompare.timings.scoremap === undefined || window.RunwatchCompare.timings.failures === undefined"):
                if time.time() > deadline:
                    raise SystemExit("the page never drew the maps")
                time.sleep(0.02)
            t = page.evaluate("() => window.RunwatchCompare.timings")
            out.append((f"page: score map fetched, decoded and drawn ({label})", f"{t['scoremap']:.0f} ms", "Chromium, 1280x800"))
            out.append((f"page: common-failure map over {len(runs)} runs ({label})", f"{t['failures']:.0f} ms", "after the score map"))
            page.close()
        browser.close()
    return out


if __name__ == "__main__":
    main()
