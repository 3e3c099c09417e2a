"""Cold scans fanned out over forked workers give exactly the one-process answers.

Every check runs in a fresh interpreter: forking is refused while other threads are
alive, and an earlier test in this pytest process may have left one (an SSH loop, a
server), which would quietly turn the fan-out into a serial scan and the test into one
that cannot fail. Each script also reports whether its workers really ran.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from runwatch.forking import fork_map, split, worker_count
from runwatch.testing import generate_tree

from test_run_status import check_answers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Every script: small shares (5 runs per worker), and ``forks`` records each cold scan's
# workers (True: it sent its results) before their results are adopted.
SPY = textwrap.dedent(
    """
    import runwatch.run_status.fanout as fanout
    fanout.MIN_RUNS_PER_WORKER = 5
    forks = []
    real_adopt = fanout.ColdWorkers.adopt

    taken = []  # runs taken from the parts of the worker that died
    redone = []  # runs no part covered, redone by the scanning process

    def spy(self, *a):
        results = [ok for ok, _ in self._streams.results()]
        forks.append(results)
        got = real_adopt(self, *a)
        dead = [i for i, ok in enumerate(results) if not ok]
        taken.append(self.received_from[dead[0]] if dead else None)
        redone.append(len(got[1]))
        return got

    fanout.ColdWorkers.adopt = spy
    """
)


SCRIPT = SPY + textwrap.dedent(
    """
    import json, os, sys
    from runwatch import ProcessSnapshot, get_all_run_status, load_settings
    from runwatch.process_info import ProcessInfo
    import runwatch.forking as forking
    import runwatch.run_status.fanout as fanout
    from runwatch.progress_tracking.trainer_progress_tracker import TrainerProgressTracker

    root, workers, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    spec = json.load(open(os.path.join(root, "..", "spec.json")))
    parent = os.getpid()
    marker = os.path.join(root, "..", f"first-{parent}")  # (beside spec.json, in the tests' own folder)

    def first():  # true in one process only: the first to ask
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return True
        except FileExistsError:
            return False

    real_worker = fanout._worker
    if mode == "crash":  # a worker takes a chunk and dies before sending anything
        fanout.PART_RUNS = 4

        def dying(share, project, send, claims):
            if os.getpid() != parent and first():
                claims.take()
                os._exit(3)
            return real_worker(share, project, send, claims)

        fanout._worker = dying
    if mode == "crash_mid":  # a worker sends its first chunk (of 4 runs), then dies with its second done but not sent
        import time
        fanout.PART_RUNS = 4

        def dying_later(share, project, send, claims):
            if os.getpid() == parent or not first():
                return real_worker(share, project, send, claims)
            sent = []

            def send_then_die(part):
                if sent:
                    time.sleep(1.0)  # (the first part leaves through the child's sender thread)
                    os._exit(3)
                send(part)
                sent.append(part)

            return real_worker(share, project, send_then_die, claims)

        fanout._worker = dying_later
    calls = []
    real_calc = TrainerProgressTracker.calculate_progress

    def counted(self):
        calls.append(self.work_dir)
        return real_calc(self)

    settings = load_settings(root, workers=workers)
    snap = ProcessSnapshot(processes=[ProcessInfo(**p) for p in spec["processes"]])
    first = get_all_run_status(spec["configs"], root=root, snapshot=snap, settings=settings)
    TrainerProgressTracker.calculate_progress = counted
    second = get_all_run_status(spec["configs"], root=root, snapshot=snap, settings=settings)
    strip = lambda rs: {k: v for k, v in rs.to_dict().items() if k != "checked_at"}
    json.dump({
        "order": list(first),
        "first": {c: strip(rs) for c, rs in first.items()},
        "second_same": all(strip(first[c]) == strip(second[c]) for c in first),
        "recomputed_on_second_call": len(calls),
        "forks": forks,
        "taken_from_dead_worker": taken[0] if taken else None,
        "redone": redone[0] if redone else None,
    }, sys.stdout)
    """
)


def _spec(tree) -> dict:
    return {
        "configs": [r.config_path for r in tree.runs],
        "processes": [dataclasses.asdict(p) for p in tree.processes],
    }


def _run(root: str, workers: int, mode: str = "plain") -> dict:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", SCRIPT, root, str(workers), mode], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """Two identical cold trees (a cold scan rewrites progress.json: each variant gets its own)."""
    base = tmp_path_factory.mktemp("fanout")
    tree = generate_tree(str(base / "a" / "proj"), n_runs=60, seed=11, max_epochs=12)
    spec = _spec(tree)
    for name in ("a", "b", "c", "d", "e"):
        if name != "a":
            shutil.copytree(base / "a", base / name, symlinks=True)
        (base / name / "spec.json").write_text(json.dumps(spec))
    return tree, {name: str(base / name / "proj") for name in ("a", "b", "c", "d", "e")}


def _paths_relative(result: dict, tree_root: str, other_root: str) -> dict:
    """Records of a copy of the tree, with its root spelled as the original's."""
    return json.loads(json.dumps(result).replace(other_root, tree_root))


def test_fanned_out_cold_scan_is_exactly_the_serial_one(trees):
    tree, roots = trees
    serial = _run(roots["a"], 1)
    fanned = _run(roots["b"], 3)
    assert serial["forks"] == [] and fanned["forks"] == [[True, True]]  # two workers and this process really did the work
    assert fanned["order"] == [r.config_path for r in tree.runs]  # the caller's order, whatever came back first
    assert _paths_relative(fanned["first"], roots["a"], roots["b"]) == serial["first"]
    _check_expected(tree, fanned["first"])
    # The workers' trackers were adopted: the next call in this process recomputes nothing.
    assert fanned["recomputed_on_second_call"] == 0 and fanned["second_same"]
    # ...and the store they were adopted into lets a new process start warm: no fork, same answers.
    again = _run(roots["b"], 3)
    assert again["forks"] == [] and again["first"] == fanned["first"]


def _check_expected(tree, records: dict) -> None:
    class Run:  # check_answers reads RunStatus-like objects
        def __init__(self, d):
            self.status = d["status"]
            self.progress = type("Progress", (), d)

    by_rel = {r.rel: r.config_path for r in tree.runs}
    check_answers(tree, {c: Run(d) for c, d in records.items()}, by_rel)


def test_a_worker_that_dies_is_redone_in_the_parent(trees):
    tree, roots = trees
    serial = _run(roots["a"], 1)
    crashed = _run(roots["c"], 3, mode="crash")
    assert [sorted(f) for f in crashed["forks"]] == [[False, True]]
    # the chunk it took is redone here (unless this process and the other worker took every chunk before
    # it started: a machine loaded enough to hold a child back that long)
    assert crashed["redone"] in (4, 0)
    assert _paths_relative(crashed["first"], roots["a"], roots["c"]) == serial["first"]
    assert crashed["recomputed_on_second_call"] == 0


def test_a_worker_that_dies_midway_has_the_chunk_it_held_redone(trees):
    """The chunks a worker sent before it died are taken; the one it took and never sent is redone here."""
    tree, roots = trees
    serial = _run(roots["a"], 1)
    shutil.rmtree(os.path.join(roots["c"], ".runwatch-cache"), ignore_errors=True)  # cold again
    crashed = _run(roots["c"], 3, mode="crash_mid")
    assert [sorted(f) for f in crashed["forks"]] == [[False, True]]
    assert crashed["taken_from_dead_worker"] == 4 and crashed["redone"] == 4
    assert _paths_relative(crashed["first"], roots["a"], roots["c"]) == serial["first"]
    assert crashed["recomputed_on_second_call"] == 0


CLI_SCRIPT = SPY + textwrap.dedent(
    """
    import contextlib, io, json, os, sys
    import runwatch.run_status.fanout as fanout
    from runwatch.cli import main

    root, workers = sys.argv[1], sys.argv[2]
    with open(os.path.join(root, "runwatch.toml"), "w") as f:
        f.write(f"workers = {workers}\\n")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            main(["status", "--json", "--root", root, "--no-ssh"])
        except SystemExit as e:
            assert e.code in (0, None, 1), e.code
    runs = [{k: v for k, v in r.items() if k not in ("checked_at", "process_info")} for r in json.loads(buf.getvalue())["runs"]]
    print(json.dumps({"forks": forks, "runs": runs}))
    """
)


def test_cli_status_fans_a_cold_scan_out_with_the_same_answers(trees):
    """``runwatch status`` forks before its process sources start threads, and sorts as before."""
    tree, roots = trees
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = {}
    for name, workers in (("d", 1), ("e", 3)):
        p = subprocess.run([sys.executable, "-c", CLI_SCRIPT, roots[name], str(workers)], capture_output=True, text=True, env=env, timeout=300)
        assert p.returncode == 0, p.stderr[-3000:]
        out[name] = json.loads(p.stdout)
    assert out["d"]["forks"] == [] and out["e"]["forks"] == [[True, True]]
    assert out["e"]["runs"] == _paths_relative(out["d"]["runs"], roots["e"], roots["d"])
    assert {r["run"] for r in out["e"]["runs"]} >= {r.rel for r in tree.runs}


CONFIGS_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from runwatch import load_settings
    from runwatch.configs import reader
    import runwatch.forking as forking

    root = sys.argv[1]
    paths = json.load(open(os.path.join(root, "..", "spec.json")))["configs"]
    paths = [os.path.join(root, p) for p in paths]
    serial = reader.read_configs(paths, root=root, settings=load_settings(root, workers=1), use_cache=False)
    reader.PARALLEL_MIN = 2
    forks = []
    real = forking.fork_map

    def spy(fn, shares, local=None):
        res = real(fn, shares, local)
        forks.append([ok for ok, _ in res])
        return res

    forking.fork_map = spy
    forked = reader.read_configs(paths, root=root, settings=load_settings(root, workers=2), use_cache=False)
    print(json.dumps({"forks": forks, "same_order": list(forked) == list(serial), "equal": all(forked[p] == serial[p] for p in paths)}))
    """
)


def test_forked_config_reading_gives_the_serial_answers(trees):
    _, roots = trees
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", CONFIGS_SCRIPT, roots["a"]], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout)
    assert out == {"forks": [[True, True]], "same_order": True, "equal": True}


def test_fork_map_order_errors_and_the_local_share():
    def square_or_fail(share):
        if share == [3]:
            raise ValueError("three")
        return [x * x for x in share]

    if threading.active_count() > 1:  # see the module docstring: then fork_map runs nothing in children
        res = fork_map(square_or_fail, [[1], [2], [4]], local=lambda s: "here")
        assert res == [(True, "here"), (False, "not forked"), (False, "not forked")]
        return
    res = fork_map(square_or_fail, [[1], [2], [3], [4]], local=lambda s: ("here", s))
    assert res[0] == (True, ("here", [1]))
    assert res[1] == (True, [4]) and res[3] == (True, [16])
    assert res[2][0] is False and "ValueError: three" in res[2][1]


def test_a_live_thread_means_no_fork():
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert worker_count(10_000, 10) == 1
        assert fork_map(lambda s: s, [[1], [2]]) == [(True, [1]), (False, "not forked")]
    finally:
        stop.set()
        t.join()


def test_split_keeps_order_and_sizes():
    assert split(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert split([1], 4) == [[1]]
    assert worker_count(50, 100) == 1


SLOW_WORKERS_SCRIPT = SPY + textwrap.dedent(
    """
    import os, sys, time
    from runwatch import get_all_run_status, load_settings
    import json

    root = sys.argv[1]
    real_worker = fanout._worker

    def slow(share, *a):
        time.sleep(60)  # a worker still busy when its parent is killed
        return real_worker(share, *a)

    fanout._worker = slow
    spec = json.load(open(os.path.join(root, "..", "spec.json")))
    print("scanning", flush=True)
    get_all_run_status(spec["configs"], root=root, settings=load_settings(root, workers=3))
    """
)


def test_workers_die_with_a_killed_parent(trees):
    """kill -9 of a scan leaves no worker behind (still scanning, still writing progress.json)."""
    import psutil

    _, roots = trees
    shutil.rmtree(os.path.join(roots["c"], ".runwatch-cache"), ignore_errors=True)  # cold again
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WORKERS_SCRIPT, roots["c"]], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "scanning"
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 30
        while len(parent.children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = parent.children()
        assert len(workers) == 2
    finally:
        proc.kill()
        proc.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"workers outlived their parent: {alive}"


STREAM_SCRIPT = textwrap.dedent(
    """
    import json, os
    from runwatch.fork_stream import fork_stream

    def work(share, send):
        for i in range(0, len(share), 2):
            if share[i] == "boom":
                raise RuntimeError("a bug")
            send(share[i : i + 2])

    got = {}
    with fork_stream(work, [list("abcdef"), ["x", "y", "boom", "z"], ["big" * 400_000]]) as streams:
        while (parts := streams.take(wait=True)) is not None:
            for index, part in parts:
                got.setdefault(index, []).extend(part)
        results = streams.results()
    print(json.dumps({"got": {str(k): len(v) if k == 2 else v for k, v in got.items()}, "ok": [ok for ok, _ in results], "why": results[1][1]}))
    """
)


def test_fork_stream_parts_in_order_and_a_failure_midway():
    """Each child's parts arrive in order (one larger than the pipe too); one that raises keeps what it sent."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", STREAM_SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout)
    assert out["got"] == {"0": list("abcdef"), "1": ["x", "y"], "2": 1}
    assert out["ok"] == [True, False, True] and "RuntimeError: a bug" in out["why"]
