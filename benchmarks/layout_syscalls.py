"""File-system calls per unchanged run in a warm scan, per layout, on copies of real run folders.

The same method as ``benchmarks/syscalls.py`` (two processes under ``strace -f -c``: load, a first
scan, the racy window waited out, then ``--base`` and ``--base + --extra`` warm scans; the difference
divided by ``--extra`` and the number of runs), with ``kernel_watches = false`` by default (stats only:
the figure a network file system sees), on ``--copies`` copies of one real run folder per layout:

    python benchmarks/layout_syscalls.py --copies 100 \\
        huggingface=/path/to/outputs/run ultralytics=/path/to/runs/detect/train \\
        timm=/path/to/output/train/2026... mmengine=/path/to/work_dirs/cfg keras=/path/to/keras_run

The folders are what the real frameworks wrote (tests/layout_writers/*.py write such runs).
"""

from __future__ import annotations

import argparse
import os
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

from syscalls import FS_CALLS, strace_counts  # noqa: E402


def child(root: str, warm: int, kernel_watches: bool) -> None:
    from runwatch import get_all_run_status, load_settings
    from runwatch.layout import Project
    from runwatch.layouts import discover_runs
    from runwatch.progress_tracking.change_detection import RACY_WINDOW_S

    settings = load_settings(root, kernel_watches=kernel_watches)
    keys = discover_runs(Project.at(root, settings))
    get_all_run_status(keys, root=root, find_processes=False, settings=settings)
    time.sleep(RACY_WINDOW_S + 0.2)
    for _ in range(warm):
        get_all_run_status(keys, root=root, find_processes=False, settings=settings)


def measure(root: str, n_runs: int, base: int, extra: int, kernel_watches: bool) -> float:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", root]
    flag = [] if not kernel_watches else ["--kernel-watches"]
    subprocess.run([*cmd, "1", *flag], check=True)  # the store settled on disk
    with tempfile.TemporaryDirectory() as tmp:
        a = strace_counts([*cmd, str(base), *flag], os.path.join(tmp, "a.txt"))
        b = strace_counts([*cmd, str(base + extra), *flag], os.path.join(tmp, "b.txt"))
    return sum((b.get(k, 0) - a.get(k, 0)) for k in FS_CALLS) / extra / n_runs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="*", metavar="LAYOUT=FOLDER", help="one real run folder per layout")
    ap.add_argument("--copies", type=int, default=100)
    ap.add_argument("--base", type=int, default=1)
    ap.add_argument("--extra", type=int, default=3)
    ap.add_argument("--kernel-watches", action="store_true", help="measure with kernel watches on (default: stats only)")
    ap.add_argument("--child", nargs=2, metavar=("ROOT", "WARM"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), args.kernel_watches)
        return 0
    rows = []
    for spec in args.runs:
        layout, _, src = spec.partition("=")
        with tempfile.TemporaryDirectory() as root:
            for i in range(args.copies):
                shutil.copytree(src, os.path.join(root, "runs", f"{layout}_{i:04d}"), symlinks=True)
            per = measure(root, args.copies, args.base, args.extra, args.kernel_watches)
        rows.append((layout, per))
        print(f"{layout}: {per:.2f} file-system calls per unchanged run and warm scan", flush=True)
    which = "kernel watches on" if args.kernel_watches else "`kernel_watches = false`, stats only"
    print(f"\n| layout | calls per unchanged run ({args.copies} copies, {which}) |\n|---|---:|")
    for layout, per in rows:
        print(f"| {layout} | {per:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
