"""A one-shot ``runwatch status --json`` with and without the running agent, on a generated tree.

Starts ``runwatch serve`` on the tree (its own process), waits for its first scan, then runs
``runwatch status --json`` alternately through the agent and with ``RUNWATCH_NO_AGENT=1``
(a scan from the progress store the agent keeps), each a fresh process, interpreter start
included; every answer is checked against the generator's manifest. A new process is the real ``runwatch``
console script beside the interpreter (``runwatch/cli_entry.py``: the agent asked before any heavy import;
not a pyenv shim), its stdout a file or a pipe the benchmark reads; "old entry" rows time
``python -m runwatch.cli`` (click and the CLI imported first, the agent's bytes through the socket) on the same
tree in the same sitting. CPU is the child's user+sys (``resource.getrusage``).

    python benchmarks/agent.py --tree-dir /tmp/runwatch-bench --runs 10000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)


def main() -> None:
    import run as bench

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree-dir", required=True)
    ap.add_argument("--runs", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--port", type=int, default=18765)
    ap.add_argument("--max-epochs", type=int, default=None, help="another tree: trainers of 4..N epochs (default: benchmarks/run.py's)")
    ap.add_argument("--no-table", action="store_true", help="skip the table rows (rich draws every row: ~40 s at 10,000 runs)")
    args = ap.parse_args()
    if args.max_epochs is not None:
        bench.GEN_KW.update(max_epochs=args.max_epochs, n_points=16)
    bt = bench.get_tree(args.tree_dir, args.runs, 48.0, False)
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("RUNWATCH_NO_AGENT", None)
    old_cmd = [sys.executable, "-m", "runwatch.cli", "status", "--json", "--root", bt.root]
    t0 = time.perf_counter()
    serve = bench.start_serve(bt.root, args.port, env)
    try:
        from runwatch.cli_agent import ask
        from runwatch.project import Project

        project = Project.at(bt.root)
        while ask(project, {"command": "status", "paths": [], "format": "json", "sort": "run"}) is None:
            if serve.poll() is not None:
                raise SystemExit("runwatch serve exited")
            time.sleep(0.5)
        print(f"agent ready after {time.perf_counter() - t0:.1f} s (its first scan)", flush=True)
        import urllib.request

        from runwatch.agent_client import ask as ask_raw

        health: dict[str, Any] = {}
        for _ in range(600):  # the watcher places its watches after the first scan
            with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/healthz", timeout=30) as r:
                health = json.loads(r.read())
            if (health.get("watch") or {}).get("walk_s"):
                break
            time.sleep(1)
        print("watches:", json.dumps(health.get("watch")), flush=True)
        # The answer alone, from this (warm) process: the agent's catch-up, the document, the transfer.
        inproc, rechecked = [], []
        for _ in range(args.rounds * 2):
            t = time.perf_counter()
            got = ask_raw(project.root, project.settings, {"command": "status", "paths": [], "format": "json", "sort": "run", "terminal": {}})
            inproc.append(time.perf_counter() - t)
            assert got is not None
            rechecked.append(got[0].get("rechecked"))
        print(
            f"in-process answer (catch-up + document + transfer): min {min(inproc) * 1000:.1f} ms, median {statistics.median(inproc) * 1000:.1f} ms;"
            f" runs re-evaluated per answer: {rechecked}",
            flush=True,
        )
        # The real console script beside this interpreter (not a pyenv shim: that adds 0.1-0.2 s of bash per start);
        # PYTHONPATH puts this checkout's code first.
        script = os.path.join(os.path.dirname(sys.executable), "runwatch")
        entry = [script] if os.path.exists(script) else [sys.executable, "-m", "runwatch"]
        print(f"entry: {' '.join(entry)}", flush=True)
        cmd = [*entry, "status", "--json", "--root", bt.root]
        times: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        out_file = os.path.join(args.tree_dir, "bench-agent-out.json")

        def timed(name: str, argv: list[str], env_: dict[str, str], to_file: bool = False) -> subprocess.CompletedProcess[bytes]:
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            if to_file:
                with open(out_file, "wb") as f:
                    p = subprocess.run(argv, env=env_, stdout=f, stderr=subprocess.PIPE, check=True)
                with open(out_file, "rb") as f:
                    p.stdout = f.read()
            else:
                p = subprocess.run(argv, env=env_, capture_output=True, check=True)
            times.setdefault(name, []).append(time.perf_counter() - t)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.setdefault(name, []).append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
            return p

        same_bytes = 0
        problems: list[str] = []
        outputs: dict[str, dict[str, Any]] = {}
        differ = 0
        for _ in range(args.rounds):
            timed("interpreter alone (python -c pass)", [sys.executable, "-c", "pass"], env)
            timed("start-up alone (runwatch --version)", [*entry, "--version"], env)
            timed("start-up alone, old entry (python -m runwatch.cli --version)", [sys.executable, "-m", "runwatch.cli", "--version"], env)
            e = dict(env, COLUMNS="200")
            if not args.no_table:
                timed("agent, table (stdout a pipe)", [*entry, "status", "--root", bt.root], e)
                timed("agent, old entry, table", [sys.executable, "-m", "runwatch.cli", "status", "--root", bt.root], e)
            old = timed("agent, old entry (python -m runwatch.cli)", old_cmd, env)
            to_file = timed("agent (stdout a file)", cmd, env, to_file=True)
            same_bytes += to_file.stdout == old.stdout
            for name in ("agent (stdout a pipe)", "scan"):
                p = timed(name, cmd, dict(env, RUNWATCH_NO_AGENT="1") if name == "scan" else env)
                records = {r["run"]: r for r in json.loads(p.stdout)["runs"]}
                problems += bench.check_records(bt.expected, records, with_processes=False)[:5]
                outputs[name] = {k: {f: v for f, v in r.items() if f != "checked_at"} for k, r in records.items()}
            differ += sum(1 for k in outputs["scan"] if outputs["agent (stdout a pipe)"].get(k) != outputs["scan"][k])
        print(f"output: {len(to_file.stdout):,} bytes")
        for name, ts in times.items():
            if not ts:
                continue
            print(
                f"{name}: wall min {min(ts) * 1000:.0f} ms, median {statistics.median(ts) * 1000:.0f} ms ({', '.join(f'{t * 1000:.0f}' for t in ts)});"
                f" CPU (user+sys) median {statistics.median(cpu[name]) * 1000:.0f} ms"
            )
        print(f"records that differ between the agent's answer and the scan's: {differ}")
        print(f"rounds where the new entry printed the very bytes of the old one (through the agent): {same_bytes} of {args.rounds}")
        print(f"load average: {os.getloadavg()}")
        print("exact against the generator" if not problems else f"against the generator ({len(problems)}, both ways): {problems[:3]}")
    finally:
        bench.stop_serve(serve, timeout=30)


if __name__ == "__main__":
    main()
