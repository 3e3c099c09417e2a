"""What finding a run's process by where it works costs a snapshot of this machine's processes.

A process no command line matched, that may train (a python interpreter, a launcher), has its cwd and
the files it holds open read (``processes/open_paths.py``: one listing of ``/proc/<pid>/fd`` and a
``readlink`` per descriptor). This starts N python processes holding K files open each (outside the
project, so none matches), and measures one ``LocalSource.collect`` with that reading on and off,
interleaved A/B: a fresh match cache each time (a one-shot ``runwatch status``), and a warm cache
(``runwatch serve``: an unmatched process is read again every ``PATH_RECHECK_S``). The system calls are
counted where they are made (``os.listdir`` / ``os.readlink`` of ``/proc``).

    python3 benchmarks/process_paths.py [--procs 50] [--fds 50] [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from runwatch.processes import local, open_paths
from runwatch.processes.local import LocalSource
from runwatch.processes.matching import CommandMatcher
from runwatch.project import Project

HOLD = "import sys, tempfile, time; fs = [tempfile.TemporaryFile() for _ in range(int(sys.argv[1]))]; time.sleep(600)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=50)
    ap.add_argument("--fds", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=15)
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="rw-paths-")
    run = os.path.join(root, "k1")
    os.makedirs(os.path.join(run, "ckpt"))
    with open(os.path.join(run, "log.csv"), "w") as f:
        f.write("epoch,loss\n0,1.0\n")
    open(os.path.join(run, "ckpt", "m.keras"), "wb").close()
    project = Project.at(root)
    procs = [subprocess.Popen([sys.executable, "-c", HOLD, str(a.fds)]) for _ in range(a.procs)]
    calls = {"listdir": 0, "readlink": 0}
    real_listdir, real_readlink = os.listdir, os.readlink

    def listdir(p: str = ".") -> list[str]:
        if str(p).startswith("/proc/"):
            calls["listdir"] += 1
        return real_listdir(p)

    def readlink(p: str, *args: object, **kw: object) -> str:
        if str(p).startswith("/proc/"):
            calls["readlink"] += 1
        return real_readlink(p, *args, **kw)  # type: ignore[arg-type]

    try:
        time.sleep(2.0)
        on = CommandMatcher.reads_paths
        off = property(lambda self: False)
        times: dict[str, list[float]] = {k: [] for k in ("fresh, paths off", "fresh, paths on", "warm, paths off", "warm, paths on")}
        counted: dict[str, dict[str, int]] = {}
        warm = {"off": LocalSource(gpus=False), "on": LocalSource(gpus=False)}
        for r in range(a.rounds):
            for mode in ("off", "on") if r % 2 == 0 else ("on", "off"):
                CommandMatcher.reads_paths = on if mode == "on" else off  # type: ignore[method-assign]
                for kind in ("fresh", "warm"):
                    src = LocalSource(gpus=False) if kind == "fresh" else warm[mode]
                    calls.update(listdir=0, readlink=0)
                    os.listdir, os.readlink = listdir, readlink  # type: ignore[assignment]
                    open_paths.os.listdir, open_paths.os.readlink = listdir, readlink  # type: ignore[attr-defined]
                    t = time.perf_counter()
                    src.collect(project)
                    times[f"{kind}, paths {mode}"].append(time.perf_counter() - t)
                    os.listdir, os.readlink = real_listdir, real_readlink  # type: ignore[assignment]
                    counted[f"{kind}, paths {mode}"] = dict(calls)
            time.sleep(0.05)
        CommandMatcher.reads_paths = on  # type: ignore[method-assign]
        print(f"{a.procs} python processes holding {a.fds} files each; PATH_RECHECK_S = {local.PATH_RECHECK_S}; {a.rounds} rounds, interleaved")
        print("| snapshot | median ms | /proc listings | /proc readlinks (last round) |")
        print("|---|---|---|---|")
        for k, ts in times.items():
            c = counted[k]
            print(f"| {k} | {statistics.median(ts) * 1000:.1f} | {c['listdir']} | {c['readlink']} |")
    finally:
        for p in procs:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
