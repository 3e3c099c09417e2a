"""``/api/runs?limit=10000`` repeated: built per request (before) against built once per seq (after).

Generates a Pylon-style tree with known answers, scans it into a LiveIndex once, then asks the
dashboard app (``create_app``, through starlette's test client: the ASGI app, no socket) the same
request over and over, interleaved: "before" empties the app's rows cache first, so that request
builds every record, filters, sorts and encodes as the server did per request before the cache;
"after" is the request as the server now answers it (a look-up while the seq is unchanged).
Every answer is checked equal to the first one. The tree is deleted at the end unless ``--keep``.

    python benchmarks/api_runs_cache.py --runs 10000 --repeat 7
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
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def measure(client: Any, cache: Any, query: str, repeat: int, runs: int) -> None:
    url = "/api/runs?" + query
    before: list[float] = []
    after: list[float] = []
    cache.clear()
    reference = client.get(url).content
    for _ in range(repeat):
        for label, out in (("before", before), ("after", after)):
            if label == "before":
                cache.clear()
            s = time.perf_counter()
            body = client.get(url).content
            out.append(time.perf_counter() - s)
            assert body == reference, f"{label}: a different answer"
    load = os.getloadavg()

    def fmt(xs: list[float]) -> str:
        return f"min {min(xs) * 1000:.0f} ms, median {statistics.median(xs) * 1000:.0f} ms"

    print(f"/api/runs?{query} ({len(reference) / 1e6:.1f} MB, {runs} runs, {repeat} interleaved pairs)")
    print(f"  before (built per request): {fmt(before)}")
    print(f"  after  (built once per seq): {fmt(after)}")
    print(
        f"  ratio of medians: {statistics.median(before) / statistics.median(after):.0f}x; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}", flush=True
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10000)
    ap.add_argument("--max-epochs", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--query", action="append", help="an /api/runs query string (repeatable; default limit=10000)")
    ap.add_argument("--keep", action="store_true", help="keep the generated tree")
    args = ap.parse_args()

    from starlette.testclient import TestClient

    from runwatch.live.index import LiveIndex
    from runwatch.process_info import ProcessSnapshot
    from runwatch.project import Project
    from runwatch.server.app import create_app
    from runwatch.testing.generator import generate_tree

    tmp = tempfile.mkdtemp(prefix="runwatch-rows-")
    try:
        t0 = time.perf_counter()
        tree = generate_tree(os.path.join(tmp, "proj"), args.runs, seed=args.runs, max_epochs=args.max_epochs, min_epochs=2)
        t1 = time.perf_counter()
        index = LiveIndex(Project.at(tree.root), monitor=ProcessSnapshot(processes=list(tree.processes)), use_store=False)
        index.full_scan()
        t2 = time.perf_counter()
        print(f"tree: {len(tree.runs)} runs generated in {t1 - t0:.1f} s, scanned in {t2 - t1:.1f} s", flush=True)
        app = create_app(index, watch=False, allowed_hosts=["testserver"])
        with TestClient(app) as client:
            cache = app.state.rows_cache
            for query in args.query or ["limit=10000"]:
                measure(client, cache, query, args.repeat, len(tree.runs))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"tree kept at {tmp}")


if __name__ == "__main__":
    main()
