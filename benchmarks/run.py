"""runwatch at lab scale: cold, warm and new-process status of generated trees, against a floor.

Every figure is a ratio to a floor measured in the same invocation on the same tree,
so the numbers mean the same thing on a laptop, a workstation or NFS:

    floor        a plain ``os.scandir`` walk of ``logs/`` that stats every file once
    floor+read   the floor plus reading every scores file once (whole file)

and every answer runwatch gives is checked against the generator's expected answer
for every run: a fast wrong answer fails the benchmark.

    python benchmarks/run.py --runs 1000 10000 --out docs/BENCHMARKS.md

Trees are generated once and reused between invocations (``--tree-dir``); a tree
older than ``--max-tree-age`` hours is regenerated, because its expected statuses
("running" = a log younger than a day) depend on the clock.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

TREE_FORMAT = 4  # bump when the generator parameters below change
GEN_KW: dict[str, Any] = {"max_epochs": 100, "min_epochs": 4, "n_points": 100, "n_seeds": 100, "groups": 20}


# ---------------------------------------------------------------- tree cache


@dataclass
class BenchTree:
    root: str
    n_runs: int
    generated_at: float
    generation_s: float
    expected: list[Any]  # ExpectedRun
    processes: list[Any]  # ProcessInfo
    progress_json: dict[str, bytes] = field(default_factory=dict)  # as the trainer wrote them

    @property
    def meta_path(self) -> str:
        return os.path.join(os.path.dirname(self.root), "expected.pickle")

    def save(self) -> None:
        # A plain dict: loadable whatever module name this script runs under.
        with open(self.meta_path, "wb") as f:
            pickle.dump(dict(self.__dict__), f)

    @classmethod
    def load(cls, path: str) -> BenchTree:
        with open(path, "rb") as f:
            return cls(**pickle.load(f))


def import_runwatch_from(code: str) -> str:
    """Put the checkout ``code`` first on the path (this one off it), before anything imported runwatch, so an
    A/B benchmark measures the code it names; returns its absolute path."""
    code = os.path.abspath(code)
    sys.path[:] = [code] + [p for p in sys.path if os.path.abspath(p or ".") != REPO]
    assert "runwatch" not in sys.modules
    return code


def get_tree(tree_dir: str, n_runs: int, max_age_h: float, regenerate: bool) -> BenchTree:
    """The cached tree of ``n_runs`` runs, generated when missing, stale or asked for."""
    from runwatch.testing.generator import generate_tree

    base = os.path.join(tree_dir, f"tree-{n_runs}-v{TREE_FORMAT}")
    meta = os.path.join(base, "expected.pickle")
    if not regenerate and os.path.exists(meta):
        bt = BenchTree.load(meta)
        if time.time() - bt.generated_at < max_age_h * 3600:
            return bt
        print(f"  tree {base} is {(time.time() - bt.generated_at) / 3600:.1f} h old: regenerating", flush=True)
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    root = os.path.join(base, "project")
    print(f"  generating {n_runs} runs under {root} ...", flush=True)
    t = time.perf_counter()
    tree = generate_tree(root, n_runs, seed=n_runs, **GEN_KW)
    gen_s = time.perf_counter() - t
    settle_dirs(os.path.join(root, "logs"))
    pj: dict[str, tuple[bytes, int, int]] = {}
    for dirpath, _dirs, files in os.walk(os.path.join(root, "logs")):
        if "progress.json" in files:
            p = os.path.join(dirpath, "progress.json")
            with open(p, "rb") as f:
                st = os.fstat(f.fileno())
                pj[p] = (f.read(), st.st_mtime_ns, os.stat(dirpath).st_mtime_ns)
    bt = BenchTree(root, n_runs, tree.now, gen_s, tree.runs, tree.processes, pj)
    bt.save()
    print(f"  generated in {gen_s:.0f} s", flush=True)
    return bt


def settle_dirs(logs: str) -> None:
    """Each folder's mtime set to its newest entry's, as its writers left it (the generator writes in
    seconds what runs wrote over days: its folders would otherwise all read as changed just now)."""
    for dirpath, dirs, files in os.walk(logs, topdown=False):
        newest = 0
        for name in (*dirs, *files):
            try:
                newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime_ns)
            except OSError:
                pass
        if newest:
            os.utime(dirpath, ns=(newest, newest))


def reset_to_cold(bt: BenchTree) -> None:
    """No runwatch caches at all: no cache dir, progress.json as the trainer wrote it."""
    shutil.rmtree(os.path.join(bt.root, ".runwatch-cache"), ignore_errors=True)
    for dirpath, _dirs, files in os.walk(os.path.join(bt.root, "logs")):
        if "progress.runwatch.json" in files:
            os.unlink(os.path.join(dirpath, "progress.runwatch.json"))
    for path, saved in bt.progress_json.items():
        data, mtime_ns, dir_mtime_ns = saved if isinstance(saved, tuple) else (saved, None, None)
        with open(path, "wb") as f:
            f.write(data)
        if mtime_ns is not None:  # as the trainer wrote it: its time too (a fresh mtime reads as a write just now)
            os.utime(path, ns=(mtime_ns, mtime_ns))
            os.utime(os.path.dirname(path), ns=(dir_mtime_ns, dir_mtime_ns))


def warm_page_cache(root: str) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as f:
                while f.read(1 << 20):
                    pass


# ---------------------------------------------------------------- floor


def floor_walk(logs: str) -> tuple[int, int]:
    """The floor: one scandir per dir, one stat per file. Returns (dirs, files)."""
    n_dirs = n_files = 0
    stack = [logs]
    while stack:
        d = stack.pop()
        n_dirs += 1
        with os.scandir(d) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    e.stat()
                    n_files += 1
    return n_dirs, n_files


def scores_files(logs: str) -> list[str]:
    out = []
    for dirpath, _dirs, files in os.walk(logs):
        for name in ("validation_scores.json", "evaluation_scores.json"):
            if name in files:
                out.append(os.path.join(dirpath, name))
    return out


def read_all(paths: list[str]) -> int:
    total = 0
    for p in paths:
        with open(p, "rb") as f:
            total += len(f.read())
    return total


def best_of(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


# ---------------------------------------------------------------- exactness


def check_records(expected: list[Any], records: dict[str, dict[str, Any]], with_processes: bool) -> list[str]:
    """Every run's answer (a RunStatus.to_dict() record, keyed by run name) against the generator's."""
    problems: list[str] = []
    for exp in expected:
        d = records.get(exp.rel)
        if d is None:
            problems.append(f"{exp.rel}: missing from the output")
            continue
        want_status = exp.status if with_processes or exp.status != "stuck" else "failed"
        got = (
            d["status"],
            d["completed_epochs"],
            d["total_epochs"],
            round(d["progress_percentage"], 6),
            d["early_stopped"],
            d["early_stopped_at_epoch"],
            d["runner_type"],
        )
        want = (want_status, exp.completed_epochs, exp.total_epochs, round(exp.progress_percentage, 6), exp.early_stopped, exp.early_stopped_at_epoch, exp.kind)
        if exp.kind == "evaluator" and exp.completed_epochs == 0 and exp.scenario.endswith("never_launched"):
            want = want[:6] + (d["runner_type"],)  # a never-launched evaluator may be undetectable: type is not asserted
        if got != want:
            problems.append(f"{exp.rel} ({exp.scenario}): got {got}, want {want}")
            continue
        if exp.best_value is not None:
            best, latest = d.get("best_score") or {}, d.get("latest_score") or {}
            if best.get(exp.main_key) != exp.best_value or latest.get(exp.main_key) != exp.latest_value:
                problems.append(f"{exp.rel}: best/latest {best.get(exp.main_key)}/{latest.get(exp.main_key)}, want {exp.best_value}/{exp.latest_value}")
        if exp.has_error and not d.get("error_message"):
            problems.append(f"{exp.rel}: expected an error message")
        if exp.current_stage is not None and d.get("current_stage") != exp.current_stage:
            problems.append(f"{exp.rel}: stage {d.get('current_stage')}, want {exp.current_stage}")
    return problems


# ---------------------------------------------------------------- worker (runs in a fresh process)


def worker(meta: str, repeat: int, profile: str | None, workers: int, cold_only: bool) -> None:
    """Cold then warm in one fresh process; prints one JSON line of timings and problems.

    ``workers`` is the project setting (0: fan a cold scan out over every usable CPU,
    1: one process). ``cold_only`` stops after the cold scan and its check.
    """
    bt = BenchTree.load(meta)
    t_import = time.perf_counter()
    from runwatch import ProcessSnapshot, get_all_run_status, load_settings

    import_s = time.perf_counter() - t_import
    settings = load_settings(bt.root, workers=workers)
    snap = ProcessSnapshot(processes=list(bt.processes))
    configs = [os.path.join(bt.root, e.config_path) for e in bt.expected]

    def scan() -> dict[str, Any]:
        return get_all_run_status(configs, root=bt.root, snapshot=snap, settings=settings)

    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
    cpu = os.times()
    t = time.perf_counter()
    cold = scan()
    cold_s = time.perf_counter() - t
    cpu_end = os.times()
    # CPU seconds of this process and of the workers it forked (reaped, hence counted).
    cold_cpu_s = sum(cpu_end[:4]) - sum(cpu[:4])
    if profiler is not None:
        profiler.stop()
        with open(profile + ".cold.txt", "w") as f:
            f.write(profiler.output_text(unicode=False, color=False, show_all=False))
    records = {rs.run: rs.to_dict() for rs in cold.values()}
    problems = check_records(bt.expected, records, with_processes=True)
    if cold_only:
        print(json.dumps({"cold_s": cold_s, "cold_cpu_s": cold_cpu_s, "n": len(configs), "problems": problems[:20], "n_problems": len(problems)}))
        return
    # A warm call right after the cold scan still lists the dirs the scan itself wrote
    # (progress.json) within the racy window; the steady state, what a dashboard refresh
    # sees, starts RACY_WINDOW_S later. Both are reported; the table's figure is steady.
    from runwatch.progress_tracking.change_detection import RACY_WINDOW_S

    t = time.perf_counter()
    scan()
    warm_racy_s = time.perf_counter() - t
    time.sleep(RACY_WINDOW_S + 0.1)
    warm_times = []
    for i in range(max(repeat, 2)):
        if profiler is not None and i == max(repeat, 2) - 1:
            profiler = __import__("pyinstrument").Profiler(interval=0.0002)
            profiler.start()
        t = time.perf_counter()
        warm = scan()
        warm_times.append(time.perf_counter() - t)
        if profiler is not None and i == max(repeat, 2) - 1:
            profiler.stop()
            with open(profile + ".warm.txt", "w") as f:
                f.write(profiler.output_text(unicode=False, color=False, show_all=False))
    problems += check_records(bt.expected, {rs.run: rs.to_dict() for rs in warm.values()}, with_processes=True)
    # The config part of a cold scan, on its own: every config read statically in one
    # process with no cache (what a one-process cold scan spends on configs).
    from runwatch.configs import read_configs

    one = load_settings(bt.root, workers=1)
    t = time.perf_counter()
    read_configs(configs, root=bt.root, settings=one, use_cache=False)
    configs_s = time.perf_counter() - t
    print(
        json.dumps(
            {
                "cold_s": cold_s,
                "cold_cpu_s": cold_cpu_s,
                "configs_s": configs_s,
                "warm_s": min(warm_times),
                "warm_racy_s": warm_racy_s,
                "import_s": import_s,
                "n": len(configs),
                "problems": problems[:20],
                "n_problems": len(problems),
            }
        )
    )


STANDIN = """
import json, sys
from runwatch import Project, get_all_run_status
root = sys.argv[1]
configs = Project.at(root).discover_configs()
result = get_all_run_status(configs, root=root)
json.dump({"runs": [rs.to_dict() for rs in result.values()]}, sys.stdout)
"""


def status_command(root: str) -> tuple[list[str], str]:
    """``runwatch status --json`` when the CLI exists, else the same scan in a plain interpreter."""
    # The console script beside this interpreter (a venv's, as a user runs it) before PATH's: a pyenv
    # shim found on PATH is a bash script that adds 0.1-0.2 s to every start.
    beside = os.path.join(os.path.dirname(sys.executable), "runwatch")
    exe = beside if os.path.isfile(beside) and os.access(beside, os.X_OK) else shutil.which("runwatch")
    if exe is not None:
        probe = subprocess.run([exe, "status", "--help"], capture_output=True, text=True)
        if probe.returncode == 0 and "--json" in probe.stdout:
            return [exe, "status", "--json", "--root", root, "--no-ssh"] if "--no-ssh" in probe.stdout else [
                exe,
                "status",
                "--json",
                "--root",
                root,
            ], "runwatch status --json"
    return [sys.executable, "-c", STANDIN, root], "stand-in: python -c 'get_all_run_status(discover_configs())' (runwatch CLI not available)"


def parse_status_output(out: str) -> dict[str, dict[str, Any]]:
    data = json.loads(out)
    runs = data["runs"] if isinstance(data, dict) else data
    return {r["run"]: r for r in runs}


# ---------------------------------------------------------------- driver


def bench_one(bt: BenchTree, repeat: int, profile_dir: str | None) -> dict[str, Any]:
    logs = os.path.join(bt.root, "logs")
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # Warm the page cache (every file of the project read once) and count the tree;
    # every figure below is page-cache-warm.
    warm_page_cache(bt.root)
    n_dirs, n_files = floor_walk(logs)
    files = scores_files(logs)
    scores_bytes = read_all(files)
    floor_s = best_of(lambda: floor_walk(logs), repeat)
    read_s = best_of(lambda: read_all(files), repeat)
    res: dict[str, Any] = {
        "runs": len(bt.expected),
        "dirs": n_dirs,
        "files": n_files,
        "scores_files": len(files),
        "scores_mb": scores_bytes / 1e6,
        "floor_s": floor_s,
        "read_s": read_s,
        "generation_s": bt.generation_s,
    }
    colds, singles, warms, racy, problems = [], [], [], [], []

    def run_worker(workers: int, cold_only: bool, prof: str | None) -> dict[str, Any]:
        reset_to_cold(bt)
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", bt.meta_path, "--repeat", str(repeat), "--workers", str(workers)]
        cmd += (["--cold-only"] if cold_only else []) + (["--profile", prof] if prof else [])
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if p.returncode != 0:
            raise SystemExit(f"worker failed:\n{p.stderr}")
        w = json.loads(p.stdout.strip().splitlines()[-1])
        problems.extend(w["problems"])
        return w

    for i in range(repeat):
        # One process first (its figure is the one-core ratio), then the default (fanned out):
        # the default's run is last, so the caches it leaves are what "new process" starts from.
        w1 = run_worker(1, True, None)
        singles.append((w1["cold_s"], w1["cold_cpu_s"]))
        prof = os.path.join(profile_dir, f"profile-{bt.n_runs}") if profile_dir and i == 0 else None
        w = run_worker(0, False, prof)
        if prof is None or repeat == 1:  # profiled runs are slower; keep them out of the figures
            colds.append((w["cold_s"], w["configs_s"], w["cold_cpu_s"]))
            warms.append(w["warm_s"])
            racy.append(w["warm_racy_s"])
    res["cold_s"], res["cold_configs_s"], res["cold_cpu_s"] = min(colds)
    res["cold_single_s"], res["cold_single_cpu_s"] = min(singles)
    res["warm_same_s"] = min(warms)
    res["warm_racy_s"] = min(racy)
    from runwatch.forking import usable_cpus, worker_count
    from runwatch.run_status.fanout import MIN_RUNS_PER_WORKER

    res["cold_processes"] = worker_count(len(bt.expected), MIN_RUNS_PER_WORKER)
    res["usable_cpus"] = usable_cpus()
    # The on-disk caches are now those of the last worker: a new process starts warm from them.
    cmd, label = status_command(bt.root)
    res["new_process_cmd"] = label
    new_times = []
    for _ in range(repeat):
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        new_times.append(time.perf_counter() - t)
        if p.returncode not in (0, 1):  # a CLI may exit 1 when some run failed
            raise SystemExit(f"{label} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    problems += check_records(bt.expected, parse_status_output(p.stdout), with_processes=False)[:20]
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import runwatch"], env=env, check=True)
    res["python_import_s"] = time.perf_counter() - t
    res["warm_new_s"] = min(new_times)
    res["problems"] = problems
    fr = floor_s + read_s
    res["cold_ratio"] = res["cold_s"] / fr
    res["cold_single_ratio"] = res["cold_single_s"] / fr
    res["warm_same_ratio"] = res["warm_same_s"] / floor_s
    res["warm_new_ratio"] = res["warm_new_s"] / floor_s
    return res


TARGETS = [("cold_ratio", 2.0), ("warm_same_ratio", 0.1), ("warm_new_ratio", 1.0)]


def render(results: list[dict[str, Any]], argv: list[str]) -> str:
    import multiprocessing

    lines = [
        "| runs | files | floor (s) | floor + read scores (s) | cold (s) | cold / (floor+read) | cold, one process (s) | one process / (floor+read) | configs alone, one process (s) | warm same process (s) | warm / floor | warm within 2 s of cold (s) | warm new process (s) | new process / floor | exact |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ok = "yes" if not r["problems"] else f"NO ({len(r['problems'])})"
        lines.append(
            f"| {r['runs']:,} | {r['files']:,} | {r['floor_s']:.3f} | {r['floor_s'] + r['read_s']:.3f} | {r['cold_s']:.3f} ({r['cold_processes']} processes) | **{r['cold_ratio']:.2f}** (<= 2.0)"
            f" | {r['cold_single_s']:.3f} | {r['cold_single_ratio']:.2f} | {r['cold_configs_s']:.3f}"
            f" | {r['warm_same_s']:.4f} | **{r['warm_same_ratio']:.3f}** (<= 0.1) | {r.get('warm_racy_s', float('nan')):.4f} | {r['warm_new_s']:.3f} | **{r['warm_new_ratio']:.2f}** (<= 1.0) | {ok} |"
        )
    machine = f"{platform.platform()}, Python {platform.python_version()}, {multiprocessing.cpu_count()} CPUs ({results[0]['usable_cpus'] if results else '?'} usable)"
    lines += [
        "",
        f"Command: `python {' '.join(['benchmarks/run.py'] + argv)}`  ",
        f"Machine: {machine}  ",
        'Page cache: warm (every file read once before measuring, the floor included): "cold" means no runwatch caches at all '
        "(no `.runwatch-cache/`, progress.json as the trainer wrote it, a fresh process), not a cold OS page cache.  ",
        f"New process measured with: {results[0]['new_process_cmd'] if results else '-'}  ",
        "Each figure is the best of `--repeat` runs; floor = `os.scandir` walk of `logs/` stat-ing every file once (one process).  ",
        "cold = the default (`workers = 0`: a cold scan fans out over the usable CPUs, see docs/api.md); cold, one process = `workers = 1`.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, nargs="+", default=[1000, 10000], help="tree sizes (runs) to benchmark")
    ap.add_argument("--tree-dir", default=os.path.join(tempfile.gettempdir(), "runwatch-bench"), help="where generated trees are kept between invocations")
    ap.add_argument("--max-tree-age", type=float, default=12.0, help="hours before a cached tree is regenerated")
    ap.add_argument("--regenerate", action="store_true", help="generate the trees again")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is reported")
    ap.add_argument("--profile", metavar="DIR", help="also write pyinstrument profiles of one cold and one warm scan to DIR")
    ap.add_argument("--out", help="write the table (markdown) to this file, between the BENCHMARK-TABLE markers if present")
    ap.add_argument("--json", help="write the raw results as JSON to this file")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--cold-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.repeat, args.profile, args.workers, args.cold_only)  # in worker mode --profile is a file prefix
        return 0
    raw_argv = sys.argv[1:] if argv is None else argv
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
    results = []
    for n in args.runs:
        print(f"{n} runs:", flush=True)
        bt = get_tree(args.tree_dir, n, args.max_tree_age, args.regenerate)
        r = bench_one(bt, args.repeat, os.path.abspath(args.profile) if args.profile else None)
        results.append(r)
        print(
            f"  floor {r['floor_s']:.3f} s, floor+read {r['floor_s'] + r['read_s']:.3f} s; cold {r['cold_s']:.3f} s = {r['cold_ratio']:.2f}x "
            f"(one process {r['cold_single_s']:.3f} s = {r['cold_single_ratio']:.2f}x, configs alone {r['cold_configs_s']:.3f} s); "
            f"warm {r['warm_same_s'] * 1000:.1f} ms = {r['warm_same_ratio']:.3f}x; new process {r['warm_new_s']:.3f} s = {r['warm_new_ratio']:.2f}x; "
            f"problems {len(r['problems'])}",
            flush=True,
        )
        for p in r["problems"][:10]:
            print("   ", p)
    table = render(results, raw_argv)
    print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    if args.out:
        write_table(args.out, table)
    failed = [f"{r['runs']} runs: {k} {r[k]:.3f} > {lim}" for r in results for k, lim in TARGETS if r[k] > lim]
    wrong = [r["runs"] for r in results if r["problems"]]
    for msg in failed:
        print("TARGET MISSED:", msg)
    if wrong:
        print("WRONG ANSWERS for", wrong)
    return 1 if wrong else 0


BEGIN, END = "<!-- BENCHMARK-TABLE -->", "<!-- /BENCHMARK-TABLE -->"


def write_table(path: str, table: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace the table between the markers, keeping the prose around it; create the file if needed."""
    text = open(path).read() if os.path.exists(path) else f"# Benchmarks\n\n{begin}\n{end}\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{table}\n{end}{tail}"
    else:
        text += f"\n{begin}\n{table}\n{end}\n"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def start_serve(root: str, port: int, env: dict[str, str], stderr: Any = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """``runwatch serve ROOT`` on ``port`` in its own session (stopped with ``stop_serve``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "runwatch.cli", "serve", root, "--port", str(port), "--no-browser"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,
    )


def stop_serve(serve: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Ctrl-C to the server's session; killed if it has not stopped within ``timeout`` seconds."""
    if serve.poll() is None:
        os.killpg(serve.pid, signal.SIGINT)
        try:
            serve.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
