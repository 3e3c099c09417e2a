"""One running agent, several clients: a new ``runwatch status --json`` from each install, interleaved.

What a new process through the agent costs depends mostly on the interpreter it starts: a development checkout
(an editable install's import finder, whatever ``.pth`` hooks the environment adds) costs more than a wheel
installed in a virtual environment. Start one agent on a tree first (``runwatch serve ROOT``), make the installs
to compare (e.g. ``pip wheel --no-deps -w W <checkout>``, ``python -m venv V``, ``V/bin/pip install --no-deps
W/*.whl``: the path through the agent imports no third-party package), then::

    python benchmarks/agent_clients.py --root ROOT --rounds 15 \\
        --client dev=/usr/bin/runwatch --client wheel=/tmp/venv/bin/runwatch \\
        --client dev-base=/usr/bin/runwatch:PYTHONPATH=<old checkout>

Each ``--client NAME=SCRIPT[:VAR=VALUE]`` is a console script (its own interpreter, from its ``#!`` line), run
with stdout a file (emptied before the clock starts) and a pipe this script reads, alternately in every round; the
interpreter of each script alone (``-c pass``) is timed in the same rounds. Prints wall min / median and the
child's CPU (user+sys, ``resource.getrusage``) median per variant, and every answer's size (all must be equal).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import time


def _interpreter(script: str) -> str:
    with open(script, "rb") as f:
        first = f.readline().decode().strip()
    if not first.startswith("#!"):
        raise SystemExit(f"{script}: no #! line")
    return first[2:].strip().split()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, help="the project the agent serves")
    ap.add_argument("--client", action="append", required=True, help="NAME=SCRIPT[:VAR=VALUE]")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--out", default=None, help="the file stdout goes to (default: beside --root)")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    out = args.out or os.path.join(os.path.dirname(root), "agent-clients.out")
    base_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RUNWATCH_NO_AGENT")}
    variants: dict[str, tuple[list[str], dict[str, str]]] = {}
    for spec in args.client:
        name, _, rest = spec.partition("=")
        script, _, var = rest.partition(":")
        env = dict(base_env)
        if var:
            k, _, v = var.partition("=")
            env[k] = v
        variants[f"{name}: interpreter alone"] = ([_interpreter(script), "-c", "pass"], env)
        variants[name] = ([script, "status", "--json", "--root", root], env)
    times: dict[str, dict[str, list[float]]] = {k: {"file": [], "pipe": [], "cpu": []} for k in variants}
    sizes: dict[str, int] = {}
    loads = []
    for _ in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for name, (cmd, env) in variants.items():
            for mode in ("file", "pipe"):
                f = open(out, "wb") if mode == "file" else None
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                if f is not None:
                    with f:
                        p = subprocess.run(cmd, stdout=f, stderr=subprocess.PIPE, env=env)
                    n = os.path.getsize(out)
                else:
                    p = subprocess.run(cmd, capture_output=True, env=env)
                    n = len(p.stdout)
                wall = time.perf_counter() - t0
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                if p.returncode != 0:
                    raise SystemExit(f"{name}: exit {p.returncode}: {p.stderr.decode(errors='replace')[-500:]}")
                times[name][mode].append(wall)
                times[name]["cpu"].append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
                sizes[name] = n
    answers = {n for k, n in sizes.items() if not k.endswith("interpreter alone")}
    if len(answers) != 1:
        raise SystemExit(f"the answers differ in size: {sizes}")
    print(f"{args.rounds} rounds, load average {min(loads):.1f}-{max(loads):.1f}, answers of {answers.pop():,} bytes")
    print("| variant | stdout a file (min / median) | a pipe (min / median) | CPU (median) |")
    print("|---|---|---|---|")
    for name, t in times.items():
        ms = lambda xs: f"{min(xs) * 1e3:.0f} / {statistics.median(xs) * 1e3:.0f} ms"  # noqa: E731
        print(f"| {name} | {ms(t['file'])} | {ms(t['pipe'])} | {statistics.median(t['cpu']) * 1e3:.0f} ms |")


if __name__ == "__main__":
    main()
