"""Hostile config files, each small, each once able to take minutes or gigabytes, and a runner
that reads one in a fresh process under a real memory limit (``resource.setrlimit``) and a
time limit, reporting seconds, peak memory and what came back.

``python -m tests.torture.hostile_cases [PYTHONPATH]`` prints the table quoted in
docs/RELIABILITY.md (run it once with this tree and once with an older one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

GOOD = (
    "from runners.trainers.supervised_single_task_trainer import SupervisedSingleTaskTrainer\nconfig = {'runner': SupervisedSingleTaskTrainer, 'epochs': 7}\n"
)

# name -> config text (after GOOD: `config` is set first, so its facts must still read).
CASES: dict[str, str] = {
    "pow of a big int": "x = 10 ** 9999\ny = x ** 9999\n",
    "squaring loop": "x = 3\nfor i in range(64):\n    x = x * x\n",
    "shift loop": "x = 1\nfor i in range(5000):\n    x = x << 99999\n",
    "zfill": "x = 'a'.zfill(10 ** 9)\n",
    "replace": "s = 'a' * 99999\nx = s.replace('a', s)\n",
    "join": "s = 'a' * 99999\nx = s.join([s] * 99999)\n",
    "format width from an argument": "x = '{:{}}'.format(1, 10 ** 9)\n",
    "% width from an argument": "x = '%*d' % (10 ** 9, 1)\n",
    "str of a shared list": "a = ['a' * 99999] * 99999\nx = str(a)\n",
    "sum of lists": "x = sum([[0] * 99999] * 99999, [])\n",
    "append loop": "l = []\nfor i in range(99999):\n    l.append('a' * 99999 + str(i))\n",
    "walk of a shared list": "a = [0] * 99999\nb = [a] * 99999\nx = max(b)\n",
    "f-string of a shared list": "a = ['a' * 99999] * 99999\nx = f'{a}'\n",
    "insert loop": "l = list(range(99999))\nfor i in range(99999):\n    l.insert(0, i)\n    l.pop()\n",
    "membership loop": "l = list(range(99999))\nfor i in range(99999):\n    x = -1 in l\n",
    "deepcopy loop": "import copy\nx = [[0] * 99999] * 99999\nfor i in range(99999):\n    y = copy.deepcopy(x)\n",
    "dict splat loop": "d = dict(zip(range(99999), range(99999)))\nfor i in range(99999):\n    y = {**d}\n",
    "big-int decimal loop": "x = 10 ** 4000\nfor i in range(99999):\n    y = f'{x}'\n",
}
# Built, not literal: bigger than the source budgets.
BIG_CASES: dict[str, str] = {
    "2 MB of simple statements": "a=1\n" * 500_000,
    "5 MB file": "x = 1  " + "#" * (5 * 1024 * 1024) + "\n",
}

_PEAK = r"""
def peak_mb():
    # VmHWM: this process's own peak (ru_maxrss would count the parent it was forked from).
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
"""

_RUNNER = (
    _PEAK
    + r"""
import json, os, resource, sys, time
limit = int(sys.argv[3])
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from runwatch.configs.reader import read_config
t = time.monotonic()
try:
    f = read_config(sys.argv[1], root=sys.argv[2], use_cache=False)
    out = {"epochs": f.epochs, "error": f.error, "warnings": f.warnings}
except MemoryError:
    out = {"crash": "MemoryError"}
out["seconds"] = round(time.monotonic() - t, 3)
out["peak_mb"] = peak_mb()
print(json.dumps(out))
"""
)


def write_project(root: str) -> None:
    from runwatch.testing.generator import write_project_sources

    os.makedirs(os.path.join(root, "configs", "h"), exist_ok=True)
    write_project_sources(root)


def write_case(root: str, name: str, text: str | None = None) -> str:
    body = text if text is not None else GOOD + (CASES.get(name) or BIG_CASES[name])
    path = os.path.join(root, "configs", "h", "".join(c if c.isalnum() else "_" for c in name) + ".py")
    with open(path, "w") as f:
        f.write(body)
    return path


def read_in_subprocess(path: str, root: str, *, memory_bytes: int = 2 << 30, timeout: float = 60, pythonpath: str | None = None) -> dict:
    """Read one config in a fresh interpreter under RLIMIT_AS and a wall-clock limit."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    t = time.monotonic()
    try:
        r = subprocess.run(
            [sys.executable, "-c", _RUNNER, path, root, str(memory_bytes)], capture_output=True, text=True, timeout=timeout, env=env, cwd=root, check=False
        )
    except subprocess.TimeoutExpired:
        return {"timeout": True, "seconds": round(time.monotonic() - t, 1)}
    if r.returncode != 0 or not r.stdout.strip():
        return {"crash": (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1], "seconds": round(time.monotonic() - t, 1)}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:  # pragma: no cover - a measuring tool
    import tempfile

    pythonpath = sys.argv[1] if len(sys.argv) > 1 else None
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 60
    with tempfile.TemporaryDirectory() as tmp:
        write_project(tmp)
        for name in [*CASES, *BIG_CASES]:
            got = read_in_subprocess(write_case(tmp, name), tmp, timeout=timeout, pythonpath=pythonpath)
            if got.get("timeout"):
                shown = f"> {timeout:.0f} s (killed)"
            elif "crash" in got:
                shown = f"{got['seconds']} s, crashed: {got['crash'][:60]}"
            else:
                shown = f"{got['seconds']} s, {got['peak_mb']} MB, epochs={got['epochs']}"
            print(f"| {name} | {shown} |", flush=True)


if __name__ == "__main__":  # pragma: no cover
    main()
