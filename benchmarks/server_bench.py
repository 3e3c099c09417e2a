"""The live server at lab scale: epoch-to-client latency, fan-out under load, CPU and memory.

The server runs as its own process (``run_server`` in ``python -c``, exactly what
``runwatch serve`` runs), on a generated tree with known answers; this script writes
epochs into the tree and listens with real WebSocket clients:

    latency     an epoch's files written on disk -> a WebSocket client holds the delta
                naming that run (inotify; p50 / p95 / max over ``--samples`` epochs)
    fan-out     ``--clients`` clients while ``--rate`` epochs per second are written for
                ``--duration`` s: every client must receive every delta (contiguous seq
                numbers, no resync) and end with exactly the server's records
    cpu         the server process's user+system CPU seconds (psutil) during fan-out
    memory      tracemalloc growth of a LiveIndex over the tree, per tracked run, split
                into the score series it keeps and everything else (in a child process
                traced from its start: see memory_child); plus the server process's RSS
                growth over its first scan

    python benchmarks/server_bench.py --runs 1000 --out docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import pickle
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

START, END = "<!-- SERVER-TABLE -->", "<!-- /SERVER-TABLE -->"


# ---------------------------------------------------------------- the tree and the writer


class EpochWriter:
    """Appends finished epochs to running trainers, as a trainer would (scores file last)."""

    def __init__(self, tree: Any, seed: int = 0) -> None:
        from runwatch.testing.generator import write_epoch

        self._write_epoch = write_epoch
        self.tree = tree
        self.rng = random.Random(seed)
        self.runs = [r for r in tree.runs if r.kind == "trainer" and r.status == "running" and r.current_stage is None]
        if not self.runs:
            raise SystemExit("the generated tree has no running trainer to write epochs to; use more --runs")
        self.next = {r.rel: r.completed_epochs for r in self.runs}
        self.i = 0

    def write(self) -> str:
        """One more epoch of the next run in turn; returns its name."""
        r = self.runs[self.i % len(self.runs)]
        self.i += 1
        n = self.next[r.rel]
        self.next[r.rel] = n + 1
        wd = os.path.join(self.tree.root, "logs", *r.rel.split("/"))
        self._write_epoch(wd, n, {r.main_key: round(0.5 + n / 1000.0, 6), "loss": 0.3}, None, 4, self.rng)
        with open(os.path.join(wd, "train_val_0.log"), "a") as f:
            f.write(f"[INFO] epoch {n} done\n")
        return r.rel


# ---------------------------------------------------------------- the server process


class ServerProcess:
    """``run_server`` in a subprocess, with the tree's processes as its process source."""

    def __init__(self, root: str, procs_file: str, name: str | None = None) -> None:
        code = (
            "import pickle, sys\n"
            "from runwatch.process_info import ProcessSnapshot\n"
            "from runwatch.server import run_server\n"
            f"procs = pickle.load(open({procs_file!r}, 'rb'))\n"
            f"run_server({root!r}, port=0, monitor=ProcessSnapshot(processes=procs), name={name!r}, "
            "on_ready=lambda url: print('READY', url, flush=True))\n"
        )
        self.p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        line = self.p.stdout.readline() if self.p.stdout else ""
        if not line.startswith("READY "):
            err = self.p.stderr.read() if self.p.stderr and self.p.poll() is not None else ""
            raise SystemExit(f"server did not start: {line!r} {err}")
        self.url = line.split()[1].rstrip("/") + "/"
        import psutil

        self.proc = psutil.Process(self.p.pid)

    @property
    def ws_url(self) -> str:
        return "ws://" + self.url.split("://", 1)[1] + "ws"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=60) as r:
            return json.loads(r.read())

    def cpu(self) -> float:
        t = self.proc.cpu_times()
        return t.user + t.system

    def rss(self) -> int:
        return int(self.proc.memory_info().rss)

    def stop(self) -> None:
        import signal

        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def wait_scanned(srv: ServerProcess, n: int, timeout: float = 1800.0) -> float:
    t0 = time.monotonic()
    while True:
        hz = srv.get("healthz")
        if not hz["scanning"] and hz["runs"] == n:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"first scan not done after {timeout:.0f} s: {hz}")
        time.sleep(0.2)


# ---------------------------------------------------------------- measurements


async def measure_latency(srv: ServerProcess, writer: EpochWriter, samples: int) -> list[float]:
    from websockets.asyncio.client import connect

    out = []
    async with connect(srv.ws_url, max_size=None) as ws:
        json.loads(await ws.recv())
        for _ in range(samples):
            t0 = time.perf_counter()
            rel = await asyncio.to_thread(writer.write)
            want = writer.next[rel]
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if m["type"] == "delta" and any(r["run"] == rel and r["completed_epochs"] >= want for r in m["changed"]):
                    break
            out.append(time.perf_counter() - t0)
            await asyncio.sleep(0.1 + writer.rng.random() * 0.1)  # not in phase with the debounce
    return out


def _strip(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k != "checked_at"}


async def measure_fanout(srv: ServerProcess, writer: EpochWriter, clients: int, rate: float, duration: float) -> dict[str, Any]:
    """Every client must see every delta (contiguous seqs, no resync) and end equal to the server."""
    from websockets.asyncio.client import connect

    conns = []
    for i in range(0, clients, 20):
        conns += await asyncio.gather(*(connect(srv.ws_url, max_size=None, open_timeout=60) for _ in range(min(20, clients - i))))
    stop = asyncio.Event()

    async def listen(ws: Any) -> dict[str, Any]:
        snap = json.loads(await ws.recv())
        state = {r["id"]: r for r in snap["runs"]}
        seqs = [snap["seq"]]
        resyncs = 0
        while True:
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
            except TimeoutError:
                if stop.is_set():
                    return {"seqs": seqs, "state": state, "resyncs": resyncs}
                continue
            if m["type"] == "snapshot":
                resyncs += 1
                state = {r["id"]: r for r in m["runs"]}
                seqs.append(m["seq"])
            elif m["type"] == "delta":
                for r in m["added"] + m["changed"]:
                    state[r["id"]] = r
                for rid in m["removed"]:
                    state.pop(rid, None)
                seqs.append(m["seq"])

    listeners = [asyncio.create_task(listen(c)) for c in conns]
    await asyncio.sleep(1.0)  # every snapshot delivered before the clock starts
    seq0 = srv.get("healthz")["seq"]
    cpu0, t0 = srv.cpu(), time.perf_counter()
    writes = 0
    lag = 0.0
    while time.perf_counter() - t0 < duration:
        target = t0 + writes / rate
        now = time.perf_counter()
        if target > now:
            await asyncio.sleep(target - now)
        else:
            lag = max(lag, now - target)
        await asyncio.to_thread(writer.write)
        writes += 1
    write_s = time.perf_counter() - t0
    # Let the last debounce window and the deltas drain.
    settle0 = time.perf_counter()
    final = srv.get("api/runs?limit=10000")
    while True:
        await asyncio.sleep(1.0)
        again = srv.get("api/runs?limit=10000")
        if again["seq"] == final["seq"]:
            break
        final = again
    cpu1, t1 = srv.cpu(), time.perf_counter()
    stop.set()
    results = await asyncio.gather(*listeners)
    for c in conns:
        await c.close()
    server_state = {r["id"]: _strip(r) for r in final["runs"]}
    bad = 0
    for res in results:
        s = res["seqs"]
        ok = res["resyncs"] == 0 and s == list(range(s[0], s[0] + len(s))) and s[-1] == final["seq"]
        ok = ok and {k: _strip(v) for k, v in res["state"].items()} == server_state
        bad += not ok
    deltas = final["seq"] - seq0
    return {
        "clients": clients,
        "writes": writes,
        "write_s": write_s,
        "rate": writes / write_s,
        "writer_lag_s": lag,
        "deltas": deltas,
        "delivered": sum(len(r["seqs"]) - 1 for r in results),
        "expected_deliveries": deltas * clients,
        "clients_incomplete": bad,
        "resyncs": sum(r["resyncs"] for r in results),
        "settle_s": t1 - settle0,
        "cpu_s": cpu1 - cpu0,
        "wall_s": t1 - t0,
    }


from runwatch.testing.memory import deep_size  # noqa: E402

SERIES_PARTS = ("score series: per-epoch scores dicts", "score series: EpochRecord objects and their lists")


def measure_memory(root: str, procs_file: str) -> dict[str, Any]:
    """The memory figures, measured in a fresh child process (see ``memory_child``)."""
    cmd = [sys.executable, "-X", "tracemalloc", os.path.abspath(__file__), "--memory-child", root, procs_file]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    if out.returncode != 0:
        raise SystemExit(f"memory measurement failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory_child(root: str, procs_file: str) -> dict[str, Any]:
    """tracemalloc growth of a LiveIndex's first scan, per run, and what it is made of.

    "The score series" is what a chart of a run needs: its per-epoch scores dicts and
    the per-epoch records (index, finished, times) holding them. Everything else per
    run is "beyond the series", the figure the 4 KiB target is about. A second figure is
    taken after a full sweep once the racy window has passed: keys of dirs the scan saw
    change "just now" keep their entry names until then (see BaseProgressTracker._settle).

    Runs in a process started with ``-X tracemalloc``, after one uncached read of every
    config, so that the figure is per run and exact:

    * traced from interpreter start, tracemalloc credits a table rebuilt in the window
      (the interpreter's interned strings, whose free slots parsing configs uses up) with
      the copy it replaces; traced from later, a rebuild counted its whole new size
      (about 1 MiB, ~1 KiB per run at 1,000 runs), growth that is not there;
    * the read pays once what a process pays once (lazy imports; that table growing to
      the size parsing needs), which is not a cost per run. The scan measured still
      reads every config itself: the read keeps nothing.
    """
    import tracemalloc

    import runwatch.configs.cache as config_cache
    from runwatch.configs import read_configs
    from runwatch.project import Project
    from runwatch.live.index import LiveIndex
    from runwatch.process_info import ProcessSnapshot
    from runwatch.progress_tracking.change_detection import RACY_WINDOW_S

    if not tracemalloc.is_tracing():
        raise SystemExit("run with -X tracemalloc")
    with open(procs_file, "rb") as f:
        processes = pickle.load(f)
    project = Project.at(root)
    read_configs(project.discover_configs(), root=project.root, settings=project.settings, use_cache=False)
    config_cache.clear_memory_caches()
    gc.collect()
    base = tracemalloc.take_snapshot()
    idx = LiveIndex(Project.at(root), monitor=ProcessSnapshot(processes=processes), use_store=False)
    idx.full_scan()
    gc.collect()
    after = tracemalloc.take_snapshot()
    n = len(idx)
    grown = sum(s.size_diff for s in after.compare_to(base, "filename"))
    series = _series_size(idx)
    del after
    time.sleep(RACY_WINDOW_S + 0.5)
    idx.sweep(full=True)
    gc.collect()
    settled = tracemalloc.take_snapshot()
    grown_settled = sum(s.size_diff for s in settled.compare_to(base, "filename"))
    series_settled = _series_size(idx)
    del settled, base
    # Deep sizes last: reading an object's __dict__ makes CPython build it, which
    # would count in a snapshot taken afterwards.
    parts = _memory_parts(idx, config_cache)
    epochs_kept = sum(len(_epochs(e)) for e in idx.entries.values())
    return {
        "runs": n,
        "epochs_kept": epochs_kept,
        "tracemalloc_per_run": grown / n,
        "series_per_run": series / n,
        "beyond_series_per_run": (grown - series) / n,
        "settled_beyond_series_per_run": (grown_settled - series_settled) / n,
        "parts_per_run": {k: v / n for k, v in parts.most_common()},
    }


def _series_size(idx: Any) -> int:
    """Deep size of every run's score series (scores dicts, epoch records and their lists)."""
    seen: set[int] = set()
    total = 0
    for e in idx.entries.values():
        d = e.status.details if e.status is not None else None
        if d is not None:
            total += sum(deep_size(ep.scores, seen) for ep in d.epochs) + deep_size(d.epochs, seen)
    return total


def _epochs(e: Any) -> list[Any]:
    d = e.status.details if e.status is not None else None
    return list(d.epochs) if d is not None else []


def _memory_parts(idx: Any, config_cache: Any) -> Counter[str]:
    """Deep sizes of what the index holds, by part; an object reachable from two parts counts for the first.

    The index keeps no JSON records (they are built per request), so there is no part for them.
    """
    seen: set[int] = {id(idx), id(idx.project), id(idx.project.settings), id(idx.snapshot), id(idx.engine.process_map)}
    parts: Counter[str] = Counter()
    entries = list(idx.entries.values())
    for e in entries:
        for ep in _epochs(e):
            parts[SERIES_PARTS[0]] += deep_size(ep.scores, seen)
    for e in entries:
        d = e.status.details if e.status is not None else None
        if d is not None:
            parts[SERIES_PARTS[1]] += deep_size(d.epochs, seen)
    for e in entries:
        parts["ConfigFacts"] += deep_size(e.facts, seen)
    for e in entries:
        parts["RunStatus, ProgressInfo, RunDetails (logs, headline)"] += deep_size(e.status, seen)
    trackers = idx.engine._trackers  # the scan engine keeps each run's tracker
    for e in entries:
        parts["tracker rest (cache key, hints, memos)"] += deep_size(trackers.get(e.config), seen)
    parts["Entry, ids, index dicts"] += deep_size(trackers, seen)
    for e in entries:
        parts["Entry, ids, index dicts"] += deep_size(e, seen)
    parts["Entry, ids, index dicts"] += deep_size(idx.entries, seen) + deep_size(idx.by_rel, seen)
    parts["config reader's in-process cache (core)"] += deep_size([config_cache._CACHES, config_cache._SHARED, config_cache._DEPS_DECODED], seen)
    return parts


# ---------------------------------------------------------------- report


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def table(res: dict[str, Any], cmd: str) -> str:
    lat, fan, mem = res.get("latency_ms"), res.get("fanout"), res.get("memory")
    rows = [
        f"Command: `{cmd}`  ",
        f"Machine: {res['machine']}; tree: {res['runs']} runs (generated, seed {res['seed']}); server: `run_server` in its own process, inotify.",
        "",
    ]
    rows += ["| what | target | measured |", "|---|---|---|"]
    if lat:
        rows.append(
            f"| epoch written on disk → WebSocket client holds the delta ({lat['n']} epochs) | p95 ≤ 250 ms | "
            f"p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms, max {lat['max']:.0f} ms |"
        )
    if fan:
        rows.append(
            f"| {fan['clients']} WebSocket clients, {fan['rate']:.1f} epochs/s written for {fan['write_s']:.0f} s | all deltas delivered, CPU stated | "
            f"{fan['delivered']:,} of {fan['expected_deliveries']:,} deliveries ({fan['deltas']} deltas × {fan['clients']}), "
            f"{fan['clients_incomplete']} clients incomplete, {fan['resyncs']} resyncs; server CPU {fan['cpu_s']:.1f} s over {fan['wall_s']:.1f} s "
            f"= {100 * fan['cpu_s'] / fan['wall_s']:.0f}% of one core |"
        )
    if "idle_cpu_pct" in res:
        rows.append(f"| server idle (sweep every 5 s) | | {res['idle_cpu_pct']:.1f}% of one core |")
    if mem:
        rows.append(
            f"| memory per tracked run (tracemalloc from process start, {mem['runs']} runs, {mem['epochs_kept']} epochs kept) | ≤ 4 KiB beyond the score series | "
            f"{mem['tracemalloc_per_run'] / 1024:.1f} KiB in all: score series (scores dicts + epoch records) {mem['series_per_run'] / 1024:.1f} KiB, "
            f"beyond the series {mem['beyond_series_per_run'] / 1024:.1f} KiB after the first scan, "
            f"{mem['settled_beyond_series_per_run'] / 1024:.1f} KiB once keys settled (after a full sweep past the 2 s racy window) |"
        )
    if "rss_per_run" in res:
        rows.append(f"| server process RSS growth over its first scan, per run | | {res['rss_per_run'] / 1024:.1f} KiB ({res['first_scan_s']:.0f} s scan) |")
    if mem:
        rows += ["", "Where the memory per run goes once settled (deep sizes; an object shared by two parts counts once, for the first):", ""]
        rows += ["| part | bytes per run |", "|---|---|"]
        rows += [f"| {k} | {v:,.0f} |" for k, v in mem["parts_per_run"].items()]
    return "\n".join(rows) + "\n"


def write_out(path: str, text: str) -> None:
    block = f"{START}\n{text}{END}"
    old = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
    if START in old and END in old:
        new = old[: old.index(START)] + block + old[old.index(END) + len(END) :]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1000, help="runs in the generated tree")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--samples", type=int, default=60, help="epochs timed for the latency figure")
    ap.add_argument("--clients", type=int, default=100, help="WebSocket clients during fan-out")
    ap.add_argument("--rate", type=float, default=50.0, help="epochs written per second during fan-out")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of writing during fan-out")
    ap.add_argument("--skip", nargs="*", default=[], choices=["latency", "fanout", "memory"], help="phases to leave out")
    ap.add_argument("--dir", help="where to generate the tree (default: a temporary dir, removed after)")
    ap.add_argument("--out", help="write the table into this markdown file, between the SERVER-TABLE markers")
    ap.add_argument("--json", help="write the raw results as JSON to this file")
    ap.add_argument("--memory-child", nargs=2, metavar=("ROOT", "PROCS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(*args.memory_child)))
        return 0

    from runwatch.testing.generator import generate_tree

    work = args.dir or tempfile.mkdtemp(prefix="runwatch-server-bench-")
    res: dict[str, Any] = {"runs": args.runs, "seed": args.seed, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"}
    try:
        root = os.path.join(work, "proj")
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        # Runs of up to 100 epochs, so that running trainers have room for the epochs written below.
        tree = generate_tree(root, n_runs=args.runs, seed=args.seed, n_seeds=100, max_epochs=100)
        print(f"generated {len(tree.runs)} runs in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        procs_file = os.path.join(work, "procs.pkl")
        with open(procs_file, "wb") as f:
            pickle.dump(list(tree.processes), f)
        writer = EpochWriter(tree, args.seed)
        if "memory" not in args.skip:
            # First, on the tree as generated, so the figure is the same with or without the
            # server phases; then the config cache it wrote goes, so the server starts cold.
            res["memory"] = measure_memory(root, procs_file)
            print(f"memory: {json.dumps(res['memory'])}", file=sys.stderr)
            from runwatch.project import Project

            shutil.rmtree(Project.at(root).settings.resolve_cache_dir(root), ignore_errors=True)
        if not {"latency", "fanout"} <= set(args.skip):
            srv = ServerProcess(root, procs_file)
            try:
                rss0 = srv.rss()
                res["first_scan_s"] = wait_scanned(srv, len(tree.runs))
                gc.collect()
                res["rss_per_run"] = (srv.rss() - rss0) / len(tree.runs)
                print(f"server scanned {len(tree.runs)} runs in {res['first_scan_s']:.1f} s", file=sys.stderr)
                c0, t_idle = srv.cpu(), time.perf_counter()
                time.sleep(10.0)
                res["idle_cpu_pct"] = 100 * (srv.cpu() - c0) / (time.perf_counter() - t_idle)
                if "latency" not in args.skip:
                    lat = asyncio.run(measure_latency(srv, writer, args.samples))
                    ms = [x * 1000 for x in lat]
                    res["latency_ms"] = {"n": len(ms), "p50": statistics.median(ms), "p95": pct(ms, 0.95), "max": max(ms), "all": ms}
                    print(f"latency: p50 {res['latency_ms']['p50']:.0f} ms, p95 {res['latency_ms']['p95']:.0f} ms", file=sys.stderr)
                if "fanout" not in args.skip:
                    res["fanout"] = asyncio.run(measure_fanout(srv, writer, args.clients, args.rate, args.duration))
                    print(f"fan-out: {json.dumps(res['fanout'])}", file=sys.stderr)
            finally:
                srv.stop()
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    cmd = "python benchmarks/server_bench.py " + " ".join(a for a in (argv if argv is not None else sys.argv[1:]) if a)
    text = table(res, cmd.strip())
    print(text)
    if args.out:
        write_out(args.out, text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
    fan = res.get("fanout")
    return 1 if fan and fan["clients_incomplete"] else 0


if __name__ == "__main__":
    sys.exit(main())
