"""CPU time of a cold scan per run, against the floor's, in one fresh process (for 1,000 against 10,000 runs).

On a loaded machine wall-clock ratios measure the load; CPU time (user + sys of this process and
of the workers a cold scan forks, ``getrusage``) barely moves with it. One invocation:

1. the tree of ``benchmarks/run.py`` (cached in ``--tree-dir``) is reset to cold (no runwatch
   cache, progress.json as the trainer wrote it) and its files are read once (page cache warm);
2. the floor: a scandir walk of ``logs/`` stating every file plus reading every scores file,
   best of 3, wall and CPU;
3. one cold ``get_all_run_status`` with ``workers`` (1: one process, 0: fanned out), wall and CPU;
   ``--profile`` adds a cProfile of it.

``--code CHECKOUT`` runs another checkout's runwatch (an interleaved A/B: alternate invocations).

    python benchmarks/cold_cpu.py --runs 1000 --workers 1
    python benchmarks/cold_cpu.py --runs 10000 --workers 1
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _sys(who: int) -> float:
    return resource.getrusage(who).ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--tree-dir", default=os.path.join(tempfile.gettempdir(), "runwatch-bench"))
    ap.add_argument("--max-tree-age", type=float, default=12.0)
    ap.add_argument("--workers", type=int, default=1, help="the workers setting (1: one process, 0: fan out)")
    ap.add_argument("--code", default=REPO, help="the checkout whose runwatch scans")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the cold scan")
    ap.add_argument("--profile-out", default=None, help="with --profile, also write the raw pstats to this file")
    args = ap.parse_args(argv)
    sys.path.insert(0, HERE)
    from run import floor_walk, get_tree, import_runwatch_from, read_all, reset_to_cold, scores_files, warm_page_cache

    code = import_runwatch_from(args.code)  # run.py puts this checkout on the path; the scan imports the chosen one
    bt = get_tree(args.tree_dir, args.runs, args.max_tree_age, False)
    reset_to_cold(bt)
    warm_page_cache(bt.root)
    logs = os.path.join(bt.root, "logs")
    files = scores_files(logs)
    floors = []
    for _ in range(3):
        c, t = _cpu(resource.RUSAGE_SELF), time.perf_counter()
        floor_walk(logs)
        read_all(files)
        floors.append((time.perf_counter() - t, _cpu(resource.RUSAGE_SELF) - c))
    floor_wall, floor_cpu = min(w for w, _ in floors), min(c for _, c in floors)
    import runwatch
    from runwatch import ProcessSnapshot, get_all_run_status, load_settings

    code = os.path.dirname(os.path.dirname(os.path.abspath(runwatch.__file__)))

    settings = load_settings(bt.root, workers=args.workers)
    snap = ProcessSnapshot(processes=list(bt.processes))
    configs = [os.path.join(bt.root, e.config_path) for e in bt.expected]
    prof = cProfile.Profile() if args.profile else None
    c0, k0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    s0 = _sys(resource.RUSAGE_SELF) + _sys(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    if prof is not None:
        prof.enable()
    get_all_run_status(configs, root=bt.root, snapshot=snap, settings=settings)
    if prof is not None:
        prof.disable()
    wall = time.perf_counter() - t
    cpu = _cpu(resource.RUSAGE_SELF) - c0 + _cpu(resource.RUSAGE_CHILDREN) - k0
    sys_cpu = _sys(resource.RUSAGE_SELF) + _sys(resource.RUSAGE_CHILDREN) - s0
    n = len(configs)
    print(
        f"{n:,} runs, workers {args.workers}, code {code}: floor+read {floor_wall:.2f} s wall {floor_cpu:.2f} s CPU; "
        f"cold {wall:.2f} s wall {cpu:.2f} s CPU ({sys_cpu:.2f} s of it in the kernel) = {cpu / n * 1000:.2f} ms CPU per run; "
        f"wall ratio {wall / floor_wall:.2f}, CPU ratio {cpu / floor_cpu:.2f}"
    )
    if prof is not None:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(50)
        if args.profile_out:
            prof.dump_stats(args.profile_out)
        print(s.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
