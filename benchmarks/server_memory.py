"""``runwatch serve``'s memory over minutes of requests: RSS over time, and where it goes.

Generates (or reuses) a Pylon-style tree (``benchmarks/run.py``'s generator), starts
``runwatch serve`` on it as its own process and, once the first scan is ready, drives it
for ``--minutes``: in every round ``/api/runs?limit=10000``, ``/api/runs/{id}`` for
``--details`` runs (different ones each round), and a WebSocket connection that reads its
snapshot and leaves. The server's RSS is printed every ``--every`` seconds, with the
round count, and summarised at the end (ready, after the first round, at the end).

``--max-watches N`` sets ``RUNWATCH_MAX_WATCHES`` so that a small tree is served in the
polling (degraded) mode that a very large tree gets from the kernel's watch budget.

``--tracemalloc DIR`` runs the server with ``tracemalloc`` (25 frames, started when the first scan is
ready) and writes, every
``--every`` seconds, the top allocations by traceback compared with the first snapshot
after ready, and the sizes of runwatch's memo tables (``STATE.sizes()``), to DIR.

``--env K=V`` passes more environment to the server (``MALLOC_ARENA_MAX=2``, ...).

    python benchmarks/server_memory.py --tree-dir /tmp/runwatch-mem --runs 3000 --minutes 5 --max-watches 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)


def _get(url: str, timeout: float = 600.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def _rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


async def _ws_snapshot(url: str) -> int:
    import websockets

    async with websockets.connect(url, max_size=None, open_timeout=60) as ws:
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if msg.get("type") == "snapshot":
                return len(msg["runs"])


def _child(root: str, port: int, out_dir: str, every: float) -> None:
    """The server in this process, with tracemalloc and a thread writing snapshots."""
    import tracemalloc

    os.makedirs(out_dir, exist_ok=True)

    def snapper() -> None:
        from runwatch.state import STATE

        base = None
        n = 0
        while True:
            time.sleep(every)
            try:
                h = json.loads(_get(f"http://127.0.0.1:{port}/healthz", 10))
            except Exception:
                continue
            if not h.get("ready"):
                continue
            if not tracemalloc.is_tracing():
                # From the first scan on: the growth after it is the question (and the scan runs at full speed).
                tracemalloc.start(25)
                continue
            snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
            if base is None:
                base = snap
            cur, peak = tracemalloc.get_traced_memory()
            lines = [f"traced {cur / 2**20:.1f} MB (peak {peak / 2**20:.1f} MB) rss {_rss_mb(os.getpid()):.1f} MB", ""]
            lines.append("STATE sizes: " + json.dumps({k: v for k, v in STATE.sizes().items() if v}))
            lines.append("")
            for stat in snap.compare_to(base, "traceback")[:15]:
                lines.append(f"{stat.size_diff / 2**20:+.2f} MB ({stat.count_diff:+d} blocks) now {stat.size / 2**20:.2f} MB")
                lines += ["    " + ln for ln in stat.traceback.format(limit=12)]
            with open(os.path.join(out_dir, f"snap-{n:03d}.txt"), "w") as f:
                f.write("\n".join(lines) + "\n")
            n += 1

    threading.Thread(target=snapper, daemon=True).start()
    from runwatch.cli import main

    main(["serve", root, "--port", str(port), "--no-browser"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree-dir", required=False)
    ap.add_argument("--runs", type=int, default=3000)
    ap.add_argument("--max-epochs", type=int, default=20)
    ap.add_argument("--points", type=int, default=16)
    ap.add_argument("--port", type=int, default=18795)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--every", type=float, default=30.0, help="seconds between RSS samples")
    ap.add_argument("--details", type=int, default=20, help="/api/runs/{id} requests per round")
    ap.add_argument("--pause", type=float, default=0.5, help="seconds between rounds")
    ap.add_argument("--max-watches", type=int, help="RUNWATCH_MAX_WATCHES for the server (forces polling)")
    ap.add_argument("--env", action="append", default=[], help="K=V for the server's environment")
    ap.add_argument("--tracemalloc", metavar="DIR")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        root, port, out_dir, every = args.child
        _child(root, int(port), out_dir, float(every))
        return
    if not args.tree_dir:
        ap.error("--tree-dir is required")
    import run as bench

    bench.GEN_KW.update(max_epochs=args.max_epochs, min_epochs=4, n_points=args.points)
    bt = bench.get_tree(args.tree_dir, args.runs, 48.0, False)
    bench.reset_to_cold(bt)
    n = len(bt.expected)
    env = dict(os.environ, PYTHONPATH=REPO)
    if args.max_watches is not None:
        env["RUNWATCH_MAX_WATCHES"] = str(args.max_watches)
    for kv in args.env:
        k, _, v = kv.partition("=")
        env[k] = v
    base = f"http://127.0.0.1:{args.port}"
    if args.tracemalloc:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", bt.root, str(args.port), args.tracemalloc, str(args.every)]
    else:
        cmd = [sys.executable, "-m", "runwatch.cli", "serve", bt.root, "--port", str(args.port), "--no-browser"]
    t0 = time.perf_counter()
    serve = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    res: dict[str, Any] = {"runs": n, "minutes": args.minutes, "max_watches": args.max_watches, "env": args.env, "samples": []}
    try:
        while True:
            if serve.poll() is not None:
                raise SystemExit("runwatch serve exited: " + serve.stderr.read().decode()[-2000:])
            try:
                h = json.loads(_get(base + "/healthz", 10))
            except Exception:
                h = {}
            if h.get("ready") and h.get("runs") == n:
                break
            time.sleep(0.5)
        res["first_scan_s"] = time.perf_counter() - t0
        res["rss_ready_mb"] = _rss_mb(serve.pid)
        print(f"ready: {n} runs in {res['first_scan_s']:.1f} s, RSS {res['rss_ready_mb']:.0f} MB; watcher {json.dumps(h.get('watch'))}", flush=True)
        ids = [r["id"] for r in json.loads(_get(base + "/api/runs?limit=10000"))["runs"]]
        rng = random.Random(0)
        start = time.perf_counter()
        next_sample = start
        rounds = 0
        while True:
            now = time.perf_counter()
            if now >= next_sample:
                rss = _rss_mb(serve.pid)
                res["samples"].append({"t_s": round(now - start, 1), "rounds": rounds, "rss_mb": round(rss, 1)})
                print(f"  t {now - start:6.0f} s  rounds {rounds:5d}  RSS {rss:7.1f} MB", flush=True)
                if rounds == 1:
                    res["rss_after_first_round_mb"] = rss
                next_sample += args.every
            if now - start >= args.minutes * 60:
                break
            doc = json.loads(_get(base + "/api/runs?limit=10000"))
            assert doc["total"] == n, doc["total"]
            for rid in rng.sample(ids, min(args.details, len(ids))):
                _get(base + "/api/runs/" + urllib.request.quote(rid, safe=""))
            got = asyncio.run(_ws_snapshot(base.replace("http", "ws") + "/ws"))
            assert got == n, got
            rounds += 1
            if rounds == 1:
                res["rss_after_first_round_mb"] = _rss_mb(serve.pid)
            time.sleep(args.pause)
        res["rss_end_mb"] = _rss_mb(serve.pid)
        res["rounds"] = rounds
        print(
            f"RSS: ready {res['rss_ready_mb']:.0f} MB, after one round {res['rss_after_first_round_mb']:.0f} MB, "
            f"after {args.minutes:g} min ({rounds} rounds) {res['rss_end_mb']:.0f} MB",
            flush=True,
        )
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGINT)
            try:
                serve.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
