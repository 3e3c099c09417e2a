"""A one-shot ``runwatch status --json`` with and without the running agent, on a generated tree.

Starts ``runwatch serve`` on the tree (its own process), waits for its first scan, then runs
``runwatch status --json`` alternately through the agent and with ``RUNWATCH_NO_AGENT=1``
(a scan from the progress store the agent keeps), each a fresh process, interpreter start
included; every answer is checked against the generator's manifest.

    python benchmarks/agent.py --tree-dir /tmp/runwatch-bench --runs 10000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

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
    args = ap.parse_args()
    bt = bench.get_tree(args.tree_dir, args.runs, 48.0, False)
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("RUNWATCH_NO_AGENT", None)
    cmd = [sys.executable, "-m", "runwatch.cli", "status", "--json", "--root", bt.root]
    t0 = time.perf_counter()
    serve = subprocess.Popen(
        [sys.executable, "-m", "runwatch.cli", "serve", bt.root, "--port", str(args.port), "--no-browser"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        from runwatch.cli_agent import ask
        from runwatch.layout import Project

        project = Project.at(bt.root)
        while ask(project, {"command": "status", "paths": [], "format": "json", "sort": "run"}) is None:
            if serve.poll() is not None:
                raise SystemExit("runwatch serve exited")
            time.sleep(0.5)
        print(f"agent ready after {time.perf_counter() - t0:.1f} s (its first scan)", flush=True)
        times: dict[str, list[float]] = {"agent": [], "scan": []}
        problems: list[str] = []
        for _ in range(args.rounds):
            for name in ("agent", "scan"):
                e = dict(env, RUNWATCH_NO_AGENT="1") if name == "scan" else env
                t = time.perf_counter()
                p = subprocess.run(cmd, env=e, capture_output=True, text=True)
                times[name].append(time.perf_counter() - t)
                records = {r["run"]: r for r in json.loads(p.stdout)["runs"]}
                problems += bench.check_records(bt.expected, records, with_processes=False)[:5]
        for name, ts in times.items():
            print(f"{name}: min {min(ts) * 1000:.0f} ms, median {statistics.median(ts) * 1000:.0f} ms ({', '.join(f'{t * 1000:.0f}' for t in ts)})")
        print("exact" if not problems else f"WRONG: {problems[:5]}")
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGINT)
            serve.wait(timeout=30)


if __name__ == "__main__":
    main()
