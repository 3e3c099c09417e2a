"""Faults: SIGKILL mid-write (progress.json, runwatch's own store, a whole scan), disk full,
read-only file systems. The next start must be correct and nothing may be left corrupt.

Disk full and read-only use real tmpfs mounts (we are root in CI containers); where
mounting is not permitted the tests skip and say so rather than simulate.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from runwatch import Project
from runwatch.progress_tracking.progress_store import ProgressStore
from runwatch.readers.jsonfile import write_json_atomic

from .helpers import all_progress_json_parse, messages, mismatches, pick, scan, small_tree, work_dir


def _kill_loop(target, args, n: int, rng: random.Random, max_delay: float) -> int:
    """Start ``target`` n times, SIGKILL each after a random delay; return how many died by the kill."""
    ctx = mp.get_context("fork")
    killed = 0
    for _ in range(n):
        p = ctx.Process(target=target, args=args)
        p.start()
        time.sleep(rng.uniform(0.0, max_delay))
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        killed += p.exitcode == -signal.SIGKILL
    return killed


def _write_progress_forever(path: str) -> None:
    i = 0
    while True:
        i += 1
        write_json_atomic(path, {"completed_epochs": i, "progress_percentage": 50.0, "pad": ["x" * 100] * (5000 + i % 7)})


def test_sigkill_during_progress_json_write(tmp_path, budget, tally):
    path = str(tmp_path / "progress.json")
    write_json_atomic(path, {"completed_epochs": 0, "progress_percentage": 0.0})
    rng = random.Random(1)
    n = int(budget(25, 400))
    killed = 0
    for _ in range(n):
        killed += _kill_loop(_write_progress_forever, (path,), 1, rng, 0.05)
        with open(path) as f:
            data = json.load(f)  # old or new, never a mix
        assert isinstance(data["completed_epochs"], int)
    tally["faults_sigkill_progress_json"] += killed
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    tally["temp_files_left_by_sigkill"] += len(leftovers)
    assert killed == n


def _save_store_forever(path: str, tree_root: str) -> None:
    from runwatch.progress_tracking.progress_info import ProgressInfo

    store = ProgressStore(path)
    i = 0
    while True:
        i += 1
        for k in range(400):
            store.put(f"/wd/{k}", ("key", i, k), ProgressInfo(i, 1.0, warnings=["w" * 200]), None, {"names": tuple(range(50))})
        assert store.save() is None


def test_sigkill_during_store_save_then_next_start_is_exact(tmp_path, budget, tally):
    tree = small_tree(str(tmp_path / "p"))
    assert mismatches(tree, scan(tree)) == []  # a real store exists now
    path = str(Project.at(tree.root).settings.resolve_cache_dir(tree.root) / "progress-store.pickle")
    assert os.path.exists(path)
    rng = random.Random(2)
    n = int(budget(15, 300))
    killed = 0
    for _ in range(n):
        killed += _kill_loop(_save_store_forever, (path, tree.root), 1, rng, 0.3)
        store = ProgressStore(path)
        assert store.problem is None, store.problem  # atomic replace: never a torn file
    tally["faults_sigkill_store_save"] += killed
    # A fresh process (new module state) answers exactly with whatever store was left.
    procs = tmp_path / "procs.pickle"
    procs.write_bytes(pickle.dumps(tree.processes))
    out = subprocess.run(
        [sys.executable, "-c", _FRESH_SCAN, tree.root, json.dumps([r.config_path for r in tree.runs]), str(procs)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=os.getcwd(),
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    by_rel = {r.rel: got[r.config_path] for r in tree.runs}
    bad = [f"{r.rel}: {by_rel[r.rel]}" for r in tree.runs if by_rel[r.rel][:3] != [r.status, r.completed_epochs, r.total_epochs]]
    assert bad == []


_FRESH_SCAN = """
import json, pickle, sys
from runwatch import get_all_run_status, ProcessSnapshot
root, configs = sys.argv[1], json.loads(sys.argv[2])
with open(sys.argv[3], "rb") as f:
    snap = ProcessSnapshot(processes=pickle.load(f))
res = get_all_run_status(configs, root=root, system_monitor=snap)
print(json.dumps({c: [r.status, r.progress.completed_epochs, r.progress.total_epochs] for c, r in res.items()}))
"""


def _scan_forever(root: str, configs: list[str]) -> None:
    from runwatch import get_all_run_status

    while True:
        get_all_run_status(configs, root=root, force_refresh=True)
        for c in configs:
            wd = os.path.join(root, "logs", c[len("configs/") : -3])
            try:
                os.unlink(os.path.join(wd, "progress.json"))
            except OSError:
                pass


def test_sigkill_during_scan(tmp_path, budget, tally):
    """Kill whole scans (each rewriting every progress.json and the store) at random points."""
    tree = small_tree(str(tmp_path / "p"), n_runs=26)
    configs = [r.config_path for r in tree.runs]
    rng = random.Random(3)
    n = int(budget(12, 200))
    killed = _kill_loop(_scan_forever, (tree.root, configs), n, rng, 0.6)
    tally["faults_sigkill_scan"] += killed
    assert all_progress_json_parse(tree.root) == []
    assert mismatches(tree, scan(tree)) == []
    assert all_progress_json_parse(tree.root) == []


# ----------------------------------------------------------------- disk full / read-only


@contextmanager
def tmpfs(path: str, size: str) -> Iterator[str]:
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here ({r.stderr.strip()}); disk-full/read-only not tested")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], capture_output=True)


def _fill(path: str) -> None:
    """Fill the file system until ENOSPC."""
    with open(os.path.join(path, "filler"), "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    for i in range(10000):  # and the last blocks / inodes
        try:
            with open(os.path.join(path, f"f{i}"), "wb") as f:
                f.write(b"\0" * 512)
        except OSError:
            break


def _copy_tree(tree, dest: str):
    shutil.copytree(tree.root, dest, symlinks=True)
    tree.root = dest
    return tree


def _write_setting(root: str, line: str) -> None:
    with open(os.path.join(root, "runwatch.toml"), "a") as f:
        f.write(line + "\n")


def test_disk_full(tmp_path, tally):
    tree = small_tree(str(tmp_path / "src"))
    with tmpfs(str(tmp_path / "mnt"), "16m") as mnt:
        tree = _copy_tree(tree, os.path.join(mnt, "p"))
        victim = pick(tree, "finished")
        pj = os.path.join(work_dir(tree, victim.rel), "progress.json")
        os.unlink(pj)  # runwatch will want to write it (issue 19: only with progress_json = "missing")
        _write_setting(tree.root, 'progress_json = "missing"')
        _fill(mnt)
        tally["faults_disk_full"] += 1
        by_rel = scan(tree)
        assert mismatches(tree, by_rel) == []
        assert "could not write" in messages(by_rel[victim.rel]), messages(by_rel[victim.rel])
        assert all_progress_json_parse(tree.root) == []
        assert not [n for n in os.listdir(work_dir(tree, victim.rel)) if n.endswith(".tmp")]


def test_read_only_project(tmp_path, tally):
    tree = small_tree(str(tmp_path / "src"))
    with tmpfs(str(tmp_path / "mnt"), "16m") as mnt:
        tree = _copy_tree(tree, os.path.join(mnt, "p"))
        victim = pick(tree, "finished")
        os.unlink(os.path.join(work_dir(tree, victim.rel), "progress.json"))
        _write_setting(tree.root, 'progress_json = "missing"')  # issue 19: runwatch writes one only then
        r = subprocess.run(["mount", "-o", "remount,ro", mnt], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        with pytest.raises(OSError):
            open(os.path.join(mnt, "probe"), "w")
        tally["faults_read_only"] += 1
        by_rel = scan(tree)
        assert mismatches(tree, by_rel) == []
        assert "could not write" in messages(by_rel[victim.rel]) and "Read-only" in messages(by_rel[victim.rel])
        again = scan(tree)  # the in-process store still works without a file
        assert mismatches(tree, again) == []
