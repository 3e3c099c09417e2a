"""Two checkouts of runwatch, interleaved on one tree: cold, warm and new-process scans.

A machine shared with other work moves every timing; running the two codes one after
the other, alternately, on the same tree and in the same minutes is what makes their
figures comparable. Each round removes the tree's ``.runwatch-cache`` and runs, per
code, one process that scans cold, waits out the racy window and scans warm seven
times (the first warm scans of a run set its kernel watches), then a new process that
scans once from the store.

    python benchmarks/ab.py --a ../old-checkout --b . --tree /tmp/runwatch-bench/tree-1000-v3/project

The tree: one made by ``benchmarks/run.py`` (``--tree-dir``), or any project; ``--with-processes``
passes the generator's processes as ``benchmarks/run.py`` does (a tree of ``run.py`` only).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

_SCANS = r"""
import json, pickle, sys, time
from runwatch import Project, ProcessSnapshot, get_all_run_status
root = sys.argv[1]
configs = Project.at(root).discover_configs()
kw = {"find_processes": False}
if len(sys.argv) > 2:  # the generator's processes, as benchmarks/run.py passes them
    with open(sys.argv[2], "rb") as f:
        kw = {"snapshot": ProcessSnapshot(processes=list(pickle.load(f)["processes"]))}
times = []
for i in range(8):
    t = time.perf_counter()
    get_all_run_status(configs, root=root, **kw)
    times.append(time.perf_counter() - t)
    if i == 0:
        time.sleep(2.1)  # past the racy window, as a long-lived process would be
print(json.dumps(times))
"""

_ONE = "import sys; from runwatch import Project, get_all_run_status; get_all_run_status(Project.at(sys.argv[1]).discover_configs(), root=sys.argv[1], find_processes=False)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="checkout A (a folder holding runwatch/)")
    ap.add_argument("--b", required=True, help="checkout B")
    ap.add_argument("--tree", required=True, help="the project to scan")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--with-processes", action="store_true", help="pass the generator's processes (the tree's expected.pickle), as benchmarks/run.py does")
    args = ap.parse_args()
    codes = {"A": os.path.abspath(args.a), "B": os.path.abspath(args.b)}
    out: dict[str, list[dict[str, object]]] = {k: [] for k in codes}
    for _ in range(args.rounds):
        for name, path in codes.items():
            shutil.rmtree(os.path.join(args.tree, ".runwatch-cache"), ignore_errors=True)
            env = dict(os.environ, PYTHONPATH=path)
            extra = [os.path.join(os.path.dirname(args.tree), "expected.pickle")] if args.with_processes else []
            p = subprocess.run([sys.executable, "-c", _SCANS, args.tree, *extra], env=env, capture_output=True, text=True, check=True)
            times = json.loads(p.stdout)
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", _ONE, args.tree], env=env, check=True)
            out[name].append({"cold": times[0], "warm": times[1:], "new_process": time.perf_counter() - t})
    for name, rounds in out.items():
        cold = sorted(r["cold"] for r in rounds)  # type: ignore[misc]
        first = sorted(r["warm"][0] for r in rounds)  # type: ignore[index]
        steady = sorted(min(r["warm"]) for r in rounds)  # type: ignore[arg-type]
        new = sorted(r["new_process"] for r in rounds)  # type: ignore[misc]
        fmt = lambda xs: ", ".join(f"{x:.3f}" for x in xs)  # noqa: E731
        print(f"{name} ({codes[name]}): cold {fmt(cold)} s; first warm {fmt(first)} s; steady warm {fmt(steady)} s; new process {fmt(new)} s")


if __name__ == "__main__":
    main()
