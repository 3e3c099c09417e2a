"""File-system calls per unchanged run in a warm scan, counted with ``strace -c``.

A machine-independent figure: however fast or slow the disk, CPU or NFS server, a
warm look at a project costs this many system calls per run that did not change.

How it is measured, so that the interpreter's start-up, the imports and the first
scan are not counted:

1. a 2,000-run tree is generated with ``runwatch.testing.generator`` (the same trees
   as ``benchmarks/run.py``, cached in ``--tree-dir``);
2. a preparing process scans it cold, waits out the racy window (``RACY_WINDOW_S``)
   and scans again, so the progress store on disk is settled;
3. two measured processes do the same thing, each under ``strace -f -c``: load, a
   first scan (from the store), wait out the racy window, then ``--base`` warm scans
   for one and ``--base + --extra`` for the other. The difference between the two
   counts is what ``--extra`` warm scans cost, divided by ``--extra`` and by the number
   of runs.

The warm scan is ``runwatch.get_all_run_status(configs, root=..., find_processes=False)``
in the same process, with the project's store on and the default settings.

    python benchmarks/syscalls.py --runs 2000 --out docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for p in (REPO, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

# System calls that touch the file system (names as strace prints them on Linux).
FS_CALLS = frozenset(
    """stat lstat fstat newfstatat fstatat64 statx access faccessat faccessat2 open openat openat2 close
    read pread64 readv write pwrite64 writev getdents getdents64 readlink readlinkat lseek
    rename renameat renameat2 unlink unlinkat mkdir mkdirat rmdir utimensat fsync fdatasync
    getxattr lgetxattr fgetxattr statfs fstatfs chdir fchdir getcwd""".split()
)
BEGIN, END = "<!-- SYSCALL-TABLE -->", "<!-- /SYSCALL-TABLE -->"


def child(meta: str, warm: int, overrides: dict[str, object], one_read: bool) -> None:
    """One measured process: a first scan, the racy window waited out, ``warm`` warm scans."""
    from run import BenchTree

    bt = BenchTree.load(meta)
    from runwatch import get_all_run_status, load_settings

    try:
        from runwatch.progress_tracking.change_detection import RACY_WINDOW_S
    except ImportError:  # before change detection had its own module
        from runwatch.progress_tracking.base_progress_tracker import RACY_WINDOW_S

    configs = [os.path.join(bt.root, e.config_path) for e in bt.expected]
    settings = load_settings(bt.root, **overrides) if overrides else None
    get_all_run_status(configs, root=bt.root, find_processes=False, settings=settings)
    time.sleep(RACY_WINDOW_S + 0.2)
    if one_read:  # as a scan engine would: the event queue read once per scan
        from runwatch.progress_tracking.change_notify import NOTIFIER

        for _ in range(warm):
            with NOTIFIER.one_read_per_scan():
                get_all_run_status(configs, root=bt.root, find_processes=False, settings=settings)
        return
    for _ in range(warm):
        get_all_run_status(configs, root=bt.root, find_processes=False, settings=settings)


def strace_counts(cmd: list[str], out_path: str) -> dict[str, int]:
    """Calls per syscall name made by ``cmd`` and every thread and process it starts."""
    subprocess.run(["strace", "-f", "-c", "-o", out_path, "--", *cmd], check=True)
    counts: dict[str, int] = {}
    with open(out_path) as f:
        for line in f:
            parts = line.split()
            # % time, seconds, usecs/call, calls, [errors,] syscall
            if len(parts) in (5, 6) and re.fullmatch(r"[\d.]+", parts[0]) and parts[-1] != "total":
                counts[parts[-1]] = int(parts[3])
    return counts


def measure(meta: str, n_runs: int, base: int, extra: int, flags: list[str]) -> dict[str, float]:
    """Per-syscall calls per run and warm scan (the difference of two measured processes)."""
    me = os.path.abspath(__file__)
    env_cmd = [sys.executable, me, *flags, "--child", meta]
    subprocess.run([*env_cmd, "1"], check=True)  # prepare: the store settled on disk
    with tempfile.TemporaryDirectory() as tmp:
        a = strace_counts([*env_cmd, str(base)], os.path.join(tmp, "a.txt"))
        b = strace_counts([*env_cmd, str(base + extra)], os.path.join(tmp, "b.txt"))
    per = {}
    for name in set(a) | set(b):
        d = (b.get(name, 0) - a.get(name, 0)) / extra / n_runs
        if abs(d) >= 0.0005:
            per[name] = d
    return per


def render(per: dict[str, float], n_runs: int, command: str, stats_only: bool) -> str:
    fs = {k: v for k, v in per.items() if k in FS_CALLS}
    other = {k: v for k, v in per.items() if k not in FS_CALLS}
    which = "`kernel_watches = false`" if stats_only else "default settings"
    if "one-read-per-scan" in command:
        which += ", the event queue read once per scan"
    lines = [
        f"File-system calls per unchanged run in a warm scan ({n_runs:,} runs, {which}): **{sum(fs.values()):.2f}**",
        "",
        "| call | per run |",
        "|---|---:|",
    ]
    lines += [f"| `{k}` | {v:.2f} |" for k, v in sorted(fs.items(), key=lambda kv: -kv[1])]
    if other:
        lines.append(f"| other calls (not file-system: {', '.join(sorted(other))}) | {sum(other.values()):.2f} |")
    lines += ["", f"Command: `{command}`"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2000, help="tree size (runs)")
    ap.add_argument("--tree-dir", default=os.path.join(tempfile.gettempdir(), "runwatch-bench"), help="where generated trees are kept")
    ap.add_argument("--max-tree-age", type=float, default=12.0, help="hours before a cached tree is regenerated")
    ap.add_argument("--base", type=int, default=1, help="warm scans in the first measured process")
    ap.add_argument("--extra", type=int, default=3, help="more warm scans in the second")
    ap.add_argument("--no-kernel-watches", action="store_true", help="measure with kernel_watches = false (stats only)")
    ap.add_argument("--one-read-per-scan", action="store_true", help="wrap each warm scan in NOTIFIER.one_read_per_scan(), as a scan engine can")
    ap.add_argument("--max", type=float, help="exit 1 when the figure is above this")
    ap.add_argument("--out", help="write the table to this markdown file, between the SYSCALL-TABLE markers")
    ap.add_argument("--child", nargs=2, metavar=("META", "WARM"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), {"kernel_watches": False} if args.no_kernel_watches else {}, args.one_read_per_scan)
        return 0
    if shutil.which("strace") is None:
        print("strace is not installed (apt-get install strace)", file=sys.stderr)
        return 2
    from run import get_tree

    bt = get_tree(args.tree_dir, args.runs, args.max_tree_age, False)
    n = len(bt.expected)
    flags = [f for f, on in (("--no-kernel-watches", args.no_kernel_watches), ("--one-read-per-scan", args.one_read_per_scan)) if on]
    per = measure(bt.meta_path, n, args.base, args.extra, flags)
    raw = sys.argv[1:] if argv is None else argv
    table = render(per, n, "python benchmarks/syscalls.py " + " ".join(a for a in raw if a != "--out" and not a.endswith(".md")), args.no_kernel_watches)
    print(table)
    if args.out:
        from run import write_table

        write_table(args.out, table, BEGIN, END)
    total = sum(v for k, v in per.items() if k in FS_CALLS)
    return 1 if args.max is not None and total > args.max else 0


if __name__ == "__main__":
    sys.exit(main())
