"""A new ``runwatch status --json`` process on an unchanged project, without an agent: calls per run and time.

Two figures per tree (generated Pylon-style trees of ``benchmarks/run.py``, cached in ``--tree-dir``):

1. **File-system calls per unchanged run** (machine-independent), counted with ``strace -f -y``:
   the calls of one ``runwatch status --json`` process that name a path of the project (as an
   argument or through a file descriptor) divided by the runs, once with the default settings (the
   quick check, docs/api.md) and once with ``quick_check = false`` (every stat of the full key, what a
   new process paid before). The process's other calls (the interpreter, imports, the local process
   lookup under ``/proc``) are reported apart: they do not grow with the project.
2. **Time** against the floor of ``benchmarks/run.py`` (an ``os.scandir`` walk of ``logs/`` stating
   every file), interleaved round by round: wall and CPU (user + sys, ``RUSAGE_CHILDREN`` for the
   process, ``RUSAGE_SELF`` for the floor), with ``runwatch --version`` (start-up alone) in each round.
   CPU ratios are steadier than wall ones on a loaded machine.

Before measuring, the project's store is settled: a cold ``status`` and a second one (runs whose files
had just moved get their quick key at a later look, see quick_check.SETTLE_S).

    python benchmarks/new_process.py --runs 1000 10000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for p in (REPO, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

from run import floor_walk, get_tree, warm_page_cache  # noqa: E402
from syscalls import FS_CALLS  # noqa: E402

# The console script's own entry (runwatch.cli_entry: what ``runwatch`` runs), with the checkout first on the path.
CLI = "import sys; sys.path.insert(0, {repo!r}); from runwatch.cli_entry import main; sys.argv[0] = 'runwatch'; sys.exit(main())"
ENV = dict(os.environ, RUNWATCH_NO_AGENT="1", PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
ENV.pop("PYTHONDONTWRITEBYTECODE", None)  # start-up as installed: modules from their cached bytecode


def cli(*args: str, repo: str = REPO) -> list[str]:
    return [sys.executable, "-c", CLI.format(repo=repo), *args]


def status_cmd(root: str, *extra: str, repo: str = REPO) -> list[str]:
    return cli("status", "--json", "--root", root, "--no-ssh", *extra, repo=repo)


def run_quiet(cmd: list[str]) -> None:
    p = subprocess.run(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode not in (0, 1):
        raise SystemExit(f"{cmd[3:]} failed ({p.returncode}):\n{p.stderr[-2000:]}")


def set_quick(root: str, on: bool) -> None:
    path = os.path.join(root, "runwatch.toml")
    if on:
        if os.path.exists(path):
            os.unlink(path)
    else:
        with open(path, "w") as f:
            f.write("quick_check = false\n")


_PATH = re.compile(r'"([^"]*)"|<([^>]*)>')


def count_calls(cmd: list[str], root: str) -> tuple[int, int, dict[str, int]]:
    """(calls naming a path under ``root``, other file-system calls, project calls by name)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "trace")
        subprocess.run(
            ["strace", "-f", "-y", "-qq", "-o", out, "-e", "trace=" + ",".join(sorted(FS_CALLS)), "--", *cmd],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        project = other = 0
        by_name: dict[str, int] = {}
        prefix = root.rstrip("/") + "/"
        with open(out, errors="replace") as f:
            for line in f:
                m = re.match(r"^\d+\s+(\w+)\(", line)
                if m is None or m.group(1) not in FS_CALLS:
                    continue
                paths = [a or b for a, b in _PATH.findall(line.split(") = ", 1)[0])]
                if any(p == root or p.startswith(prefix) for p in paths):
                    project += 1
                    by_name[m.group(1)] = by_name.get(m.group(1), 0) + 1
                else:
                    other += 1
    return project, other, by_name


def _cost(who: int, fn: Any, *args: Any) -> tuple[float, float]:
    """(wall s, CPU s used by ``who``, a ``resource.RUSAGE_*``) of ``fn(*args)``."""
    before = resource.getrusage(who)
    t = time.perf_counter()
    fn(*args)
    wall = time.perf_counter() - t
    after = resource.getrusage(who)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall s, CPU s of the child and its children)."""
    return _cost(resource.RUSAGE_CHILDREN, run_quiet, cmd)


def floor_timed(logs: str) -> tuple[float, float]:
    return _cost(resource.RUSAGE_SELF, floor_walk, logs)


def bench(root: str, n: int, rounds: int, strace: bool, baseline: str | None = None) -> dict[str, object]:
    logs = os.path.join(root, "logs")
    warm_page_cache(root)
    res: dict[str, object] = {"runs": n}
    set_quick(root, True)
    run_quiet(status_cmd(root))  # cold when the store is of another version
    run_quiet(status_cmd(root))  # quick keys for runs that had just moved
    base_root = None
    if baseline:
        # The baseline code on its own copy of the tree (times and all): its store is of another version.
        base_root = os.path.join(os.path.dirname(os.path.dirname(root)), "baseline-copy", "project")
        shutil.rmtree(os.path.dirname(base_root), ignore_errors=True)
        shutil.copytree(root, base_root, symlinks=True)
        os.unlink(os.path.join(base_root, "runwatch.toml")) if os.path.exists(os.path.join(base_root, "runwatch.toml")) else None
        run_quiet(status_cmd(base_root, repo=baseline))
        run_quiet(status_cmd(base_root, repo=baseline))
        if strace and shutil.which("strace"):
            proj, other, names = count_calls(status_cmd(base_root, repo=baseline), base_root)
            res["calls_baseline"] = proj / n
            res["calls_baseline_by_name"] = {k: round(v / n, 2) for k, v in sorted(names.items(), key=lambda kv: -kv[1])}
    if strace and shutil.which("strace"):
        for label, on in (("quick", True), ("full", False)):
            set_quick(root, on)
            proj, other, names = count_calls(status_cmd(root), root)
            res[f"calls_{label}"] = proj / n
            res[f"calls_{label}_by_name"] = {k: round(v / n, 2) for k, v in sorted(names.items(), key=lambda kv: -kv[1])}
            res[f"other_calls_{label}"] = other
        set_quick(root, True)
        _p, other_v, _ = count_calls(cli("--version"), root)
        res["other_calls_version"] = other_v
    rows: dict[str, list[tuple[float, float]]] = {"floor": [], "quick": [], "full": [], "version": []}
    if base_root is not None:
        rows["baseline"] = []
    for _ in range(rounds):
        if base_root is not None:
            rows["baseline"].append(timed(status_cmd(base_root, repo=baseline or REPO)))
        rows["floor"].append(floor_timed(logs))
        set_quick(root, True)
        rows["quick"].append(timed(status_cmd(root)))
        set_quick(root, False)
        rows["full"].append(timed(status_cmd(root)))
        set_quick(root, True)
        rows["version"].append(timed(cli("--version")))
    for k, v in rows.items():
        res[f"{k}_wall"] = [round(w, 3) for w, _ in v]
        res[f"{k}_cpu"] = [round(c, 3) for _, c in v]
    for k in [k for k in rows if k != "floor"]:
        res[f"{k}_wall_ratio"] = (
            min(w for w, _ in rows[k]) / min(w for w, _ in rows["floor"]),
            statistics.median(w for w, _ in rows[k]) / statistics.median(w for w, _ in rows["floor"]),
        )
        res[f"{k}_cpu_ratio"] = (
            min(c for _, c in rows[k]) / min(c for _, c in rows["floor"]),
            statistics.median(c for _, c in rows[k]) / statistics.median(c for _, c in rows["floor"]),
        )
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--tree-dir", default=os.path.join(tempfile.gettempdir(), "runwatch-bench"))
    ap.add_argument("--max-tree-age", type=float, default=12.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-strace", action="store_true")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--baseline", metavar="CHECKOUT", help="also time another checkout's runwatch (on a copy of the tree), interleaved")
    args = ap.parse_args(argv)
    results = []
    for n in args.runs:
        bt = get_tree(args.tree_dir, n, args.max_tree_age, False)
        r = bench(bt.root, len(bt.expected), args.rounds, not args.no_strace, os.path.abspath(args.baseline) if args.baseline else None)
        results.append(r)
        print(json.dumps(r), flush=True)
        if "calls_quick" in r:
            print(
                f"{r['runs']:,} runs: project calls per run {r['calls_quick']:.2f} quick, {r['calls_full']:.2f} full (quick_check = false), baseline {r.get('calls_baseline', float('nan')):.2f}"
            )
        for k in ("quick", "full", "baseline", "version"):
            if f"{k}_wall_ratio" not in r:
                continue
            (wmin, wmed), (cmin, cmed) = r[f"{k}_wall_ratio"], r[f"{k}_cpu_ratio"]
            print(f"  {k:8s} / floor: wall min {wmin:.2f} median {wmed:.2f}; CPU min {cmin:.2f} median {cmed:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
