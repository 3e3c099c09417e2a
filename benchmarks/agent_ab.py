"""A new ``runwatch status --json`` through the agent: this checkout against another, interleaved, each a fresh process.

Both agents must be running on the same tree first, each from its own checkout (the old code's socket is in the
project's cache dir, this one's under ``$XDG_RUNTIME_DIR`` or ``$TMPDIR``, so both answer on one tree)::

    PYTHONPATH=<old checkout> python -m runwatch.cli serve ROOT --port 18771 --no-browser &
    PYTHONPATH=.              python -m runwatch.cli serve ROOT --port 18772 --no-browser &
    python benchmarks/agent_ab.py --root ROOT --base <old checkout> --rounds 10

Runs the real ``runwatch`` console script beside this interpreter (not a pyenv shim), PYTHONPATH choosing the
code, with stdout a file and a pipe this script reads, alternately old and new in every round; plus the
interpreter alone (``python -c pass``, and ``-S``: no ``site``, no ``.pth`` hooks) and this code's entry under
``python -S``. Prints wall min / median and the child's CPU (user+sys, ``resource.getrusage``) per variant.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, help="the project both agents serve")
    ap.add_argument("--base", required=True, help="the other checkout")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--out", default=None, help="the file stdout goes to (default: beside --root)")
    args = ap.parse_args()
    py = sys.executable
    script = os.path.join(os.path.dirname(py), "runwatch")
    entry = [script] if os.path.exists(script) else [py, "-m", "runwatch"]
    root = os.path.abspath(args.root)

    def env(path: str) -> dict[str, str]:
        e = dict(os.environ, PYTHONPATH=path)
        e.pop("RUNWATCH_NO_AGENT", None)
        return e

    status = [*entry, "status", "--json", "--root", root]
    bare = (
        f"import sys; sys.path[:0] = [{REPO!r}]; sys.argv = ['runwatch', 'status', '--json', '--root', {root!r}]; from runwatch.cli_entry import main; main()"
    )
    cases = {
        "python -c pass": ([py, "-c", "pass"], env(REPO), "file"),
        "python -S -c pass": ([py, "-S", "-c", "pass"], env(REPO), "file"),
        "new, under python -S (no site) > file": ([py, "-S", "-c", bare], env(REPO), "file"),
        "old: runwatch status --json > file": (status, env(os.path.abspath(args.base)), "file"),
        "new: runwatch status --json > file": (status, env(REPO), "file"),
        "old: runwatch status --json | reader": (status, env(os.path.abspath(args.base)), "pipe"),
        "new: runwatch status --json | reader": (status, env(REPO), "pipe"),
    }
    out = args.out or os.path.join(os.path.dirname(root), "agent-ab-out.json")
    wall: dict[str, list[float]] = {k: [] for k in cases}
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    size: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, (argv, e, mode) in cases.items():
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            if mode == "file":
                with open(out, "wb") as f:
                    p = subprocess.run(argv, env=e, stdout=f, cwd="/")
                size[name] = os.path.getsize(out)
            else:
                p = subprocess.run(argv, env=e, stdout=subprocess.PIPE, cwd="/")
                size[name] = len(p.stdout)
            wall[name].append(time.perf_counter() - t)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
            if p.returncode != 0:
                raise SystemExit(f"{name}: exit code {p.returncode}")
    for name in cases:
        ts = wall[name]
        print(
            f"{name:40s} wall min {min(ts) * 1e3:5.0f} ms, median {statistics.median(ts) * 1e3:5.0f} ms;"
            f" CPU median {statistics.median(cpu[name]) * 1e3:4.0f} ms; {size[name]:,} bytes"
        )
    print("load average", os.getloadavg())


if __name__ == "__main__":
    main()
