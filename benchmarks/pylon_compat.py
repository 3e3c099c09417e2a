"""What ``runwatch.pylon`` adds to a scan: Pylon's call against runwatch's own, interleaved on one tree.

Both answer the same runs from the same processes: runwatch's ``get_all_run_status``
with a ``ProcessSnapshot``, and ``runwatch.pylon.get_all_run_status`` called as Pylon's
viewer backend calls it (positionally) with a monitor shaped like Pylon's
``SystemMonitor`` (the same processes as Pylon ``ProcessInfo`` records). After one cold
scan each, warm scans alternate A, B, B, A... in one process, and the medians are
compared; the statuses must be equal.

    python benchmarks/pylon_compat.py --runs 2000 --rounds 9
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import runwatch
import runwatch.pylon
from runwatch.testing.generator import EVAL_SCENARIOS, TRAINER_SCENARIOS, generate_tree


@dataclass
class PylonProcessInfo:
    pid: str
    user: str
    cmd: str
    start_time: str


class PylonShapedMonitor:
    def __init__(self, gpus: list[dict[str, object]]) -> None:
        self.connected_gpus = gpus
        self.disconnected_gpus: list[dict[str, object]] = []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    root = os.path.join(tempfile.mkdtemp(prefix="runwatch-pylon-bench-"), "project")
    tree = generate_tree(root, n_runs=args.runs, seed=1, scenarios=TRAINER_SCENARIOS + EVAL_SCENARIOS, multi_stage=0)
    os.chdir(root)  # Pylon's paths are relative to the current folder
    by_server: dict[str, list[PylonProcessInfo]] = {}
    for p in tree.processes:
        lstart = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(p.start_time or tree.now))
        by_server.setdefault(p.server or "localhost", []).append(PylonProcessInfo(str(p.pid), p.user, p.cmd, lstart))
    monitor = PylonShapedMonitor([{"server": s, "index": 0, "connected": True, "processes": recs} for s, recs in by_server.items()])
    snapshot = tree.snapshot()
    configs = [f"./configs/{r.rel}.py" for r in tree.runs]

    def core() -> dict[str, str]:
        return {k: s.status for k, s in runwatch.get_all_run_status(configs, sleep_time=86400, outdated_days=30, root=".", snapshot=snapshot).items()}

    def pylon() -> dict[str, str]:
        return {k: s.status for k, s in runwatch.pylon.get_all_run_status(configs, 100, 86400, 30, monitor).items()}

    assert core() == pylon(), "the two calls disagree"
    times: dict[str, list[float]] = {"core": [], "pylon": []}
    for i in range(args.rounds):
        order = (("core", core), ("pylon", pylon)) if i % 2 == 0 else (("pylon", pylon), ("core", core))
        for name, fn in order:
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    a, b = statistics.median(times["core"]), statistics.median(times["pylon"])
    print(f"{args.runs} runs, {args.rounds} rounds: warm scan median runwatch {a * 1000:.0f} ms, runwatch.pylon {b * 1000:.0f} ms, ratio {b / a:.2f}")


if __name__ == "__main__":
    main()
