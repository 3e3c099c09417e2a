"""The live index and its watcher: a change recomputes only the runs it touches."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time

import pytest

from runwatch.project import Project
from runwatch.live import LiveIndex, Watcher, detect_polling, run_id
from runwatch.live.watcher import filesystem_type
from runwatch.process_info import ProcessInfo, ProcessSnapshot
from runwatch.testing.generator import generate_tree, write_epoch


class SwitchableMonitor:
    """A process source whose answer a test changes between sweeps (the ProcessMonitor protocol)."""

    def __init__(self, snap: ProcessSnapshot) -> None:
        self.snap = snap

    def snapshot(self, project):
        return self.snap


def make_index(tree, **kw) -> LiveIndex:
    idx = LiveIndex(Project.at(tree.root), monitor=SwitchableMonitor(ProcessSnapshot(processes=list(tree.processes))), use_store=False, **kw)
    idx.full_scan()
    return idx


def record_of(idx: LiveIndex, rel: str) -> dict:
    return idx.entries[idx.by_rel[rel]].record


def first(tree, scenario: str):
    return next(r for r in tree.runs if r.scenario == scenario)


def add_epoch(tree, rel: str) -> int:
    """Finish the epoch a running trainer is writing, plus the next one's first file; returns epochs now done."""
    wd = os.path.join(tree.root, "logs", *rel.split("/"))
    exp = tree.by_rel()[rel]
    n = exp.completed_epochs
    key = exp.main_key
    write_epoch(wd, n, {key: 0.5 + n / 100.0, "loss": 0.3}, None, 4, random.Random(n))
    with open(os.path.join(wd, "train_val_0.log"), "a") as f:
        f.write(f"[INFO] epoch {n} done\n")
    exp.completed_epochs = n + 1
    return n + 1


def test_full_scan_matches_every_expected_answer(tree):
    idx = make_index(tree)
    assert len(idx) == len(tree.runs)
    assert idx.seq == 1
    wrong = []
    for exp in tree.runs:
        rec = record_of(idx, exp.rel)
        if (rec["status"], rec["completed_epochs"]) != (exp.status, exp.completed_epochs):
            wrong.append((exp.rel, exp.scenario, rec["status"], rec["completed_epochs"], exp.status, exp.completed_epochs))
    assert not wrong
    s = idx.summary()
    assert s["total"] == len(tree.runs)
    assert sum(s["by_status"].values()) == len(tree.runs)
    assert s["by_status"]["stuck"] == sum(1 for r in tree.runs if r.status == "stuck") > 0


def test_ids_are_opaque_and_stable(tree):
    idx = make_index(tree)
    for eid, e in idx.entries.items():
        assert len(eid) == 12 and all(c in "0123456789abcdef" for c in eid)
        assert "/" not in eid and eid == run_id(e.rel)
        assert idx.entries[eid].record["id"] == eid


def test_new_epoch_on_disk_changes_only_that_run(tree):
    idx = make_index(tree)
    exp = first(tree, "running")
    before = record_of(idx, exp.rel)["completed_epochs"]
    done = add_epoch(tree, exp.rel)
    wd = os.path.join(tree.root, "logs", *exp.rel.split("/"))
    delta = idx.apply_changes([os.path.join(wd, f"epoch_{done - 1}", "validation_scores.json"), os.path.join(wd, "train_val_0.log")])
    assert delta is not None and delta.seq == 2
    assert [r["run"] for r in delta.changed] == [exp.rel]
    assert delta.changed[0]["completed_epochs"] == before + 1 == done
    assert delta.added == [] and delta.removed == []
    assert delta.summary["seq"] == 2
    # The same paths again: nothing changed, no delta, no new sequence number.
    assert idx.apply_changes([os.path.join(wd, "train_val_0.log")]) is None
    assert idx.seq == 2


def test_unrelated_and_own_files_make_no_delta(tree):
    idx = make_index(tree)
    exp = first(tree, "finished")
    wd = os.path.join(tree.root, "logs", *exp.rel.split("/"))
    with open(os.path.join(wd, "progress.json"), "a") as f:
        f.write(" ")
    assert idx.apply_changes([os.path.join(wd, "progress.json"), os.path.join(tree.root, "logs", "nobody", "x.log"), "/elsewhere/file"]) is None
    assert idx.seq == 1


def test_config_added_and_removed(tree):
    idx = make_index(tree)
    src = os.path.join(tree.root, "configs", first(tree, "finished").rel + ".py")
    new = os.path.join(tree.root, "configs", "trainers", "new_folder", "fresh.py")
    os.makedirs(os.path.dirname(new))
    shutil.copy(src, new)
    d = idx.apply_changes([new])
    assert d is not None and [r["run"] for r in d.added] == ["trainers/new_folder/fresh"]
    assert d.added[0]["status"] == "failed" and "never launched" in (d.added[0]["error_message"] or "")
    os.remove(new)
    d2 = idx.apply_changes([new])
    assert d2 is not None and d2.removed == [run_id("trainers/new_folder/fresh")] and d2.seq == d.seq + 1
    assert "trainers/new_folder/fresh" not in idx.by_rel


def test_config_folder_removed_and_moved_back(tree):
    idx = make_index(tree)
    folder = os.path.join(tree.root, "configs", "evals", "group_1")
    members = {r.rel for r in tree.runs if r.rel.startswith("evals/group_1/")}
    assert members
    moved = os.path.join(tree.root, "elsewhere")
    shutil.move(folder, moved)
    d = idx.apply_changes([folder])
    assert d is not None and set(d.removed) == {run_id(r) for r in members}
    shutil.move(moved, folder)
    d2 = idx.apply_changes([folder])
    assert d2 is not None and {r["run"] for r in d2.added} == members


def test_changed_config_is_reread(tree):
    idx = make_index(tree)
    exp = first(tree, "running")
    cfg = os.path.join(tree.root, "configs", exp.rel + ".py")
    with open(cfg) as f:
        text = f.read()
    with open(cfg, "w") as f:
        f.write(text.replace(f"'epochs': {exp.total_epochs},", f"'epochs': {exp.total_epochs + 50},"))
    d = idx.apply_changes([cfg])
    assert d is not None and d.changed[0]["total_epochs"] == exp.total_epochs + 50


def test_sweep_catches_a_log_going_quiet(tree):
    clock = [time.time()]
    idx = make_index(tree, clock=lambda: clock[0])
    running = {r.rel for r in tree.runs if r.status == "running"}
    assert idx.sweep() is None  # nothing changed yet
    clock[0] += 2 * 86400  # a day and more later, nobody wrote a thing
    d = idx.sweep()
    assert d is not None
    changed = {r["run"]: r["status"] for r in d.changed}
    assert running <= set(changed)
    assert all(changed[r] != "running" for r in running)


def test_sweep_sees_a_process_appear(tree):
    idx = make_index(tree)
    exp = first(tree, "failed")
    assert record_of(idx, exp.rel)["status"] == "failed"
    proc = ProcessInfo(pid=4242, user="me", cmd=f"python main.py --config-filepath configs/{exp.rel}.py", start_time=1.0, server="gpu-2", config_rel=exp.rel)
    idx.monitor.snap = ProcessSnapshot(processes=list(tree.processes) + [proc])
    d = idx.sweep()
    assert d is not None
    rec = next(r for r in d.changed if r["run"] == exp.rel)
    assert rec["status"] == "stuck" and rec["process_info"]["pid"] == 4242


def test_unreachable_process_source_is_reported_not_hidden(tree):
    idx = make_index(tree)
    idx.monitor.snap = ProcessSnapshot(processes=list(tree.processes), errors={"gpu-9": "timed out"})
    d = idx.sweep()
    assert d is not None and d.summary["process_errors"] == {"gpu-9": "timed out"}
    failed = [r for r in d.changed if r["status"] == "failed"]
    assert failed and all(any("gpu-9" in w for w in r["warnings"]) for r in failed)


MOUNTS = """\
/dev/sda1 / ext4 rw 0 0
server:/export /mnt/lab nfs4 rw 0 0
/dev/sdb1 /mnt/lab/local\\040disk xfs rw 0 0
sshfs#me@h: /home/me/remote fuse.sshfs rw 0 0
"""


def test_network_filesystems_are_detected_from_mounts():
    assert filesystem_type("/mnt/lab/proj/logs", MOUNTS) == "nfs4"
    assert detect_polling("/mnt/lab/proj/logs", mounts_text=MOUNTS)
    assert not detect_polling("/mnt/lab/local disk/proj", mounts_text=MOUNTS)  # longest mount point wins
    assert not detect_polling("/srv/proj", mounts_text=MOUNTS)
    assert detect_polling("/srv/proj", "/home/me/remote/x", mounts_text=MOUNTS)
    assert not detect_polling("/mnt/labx/p", mounts_text=MOUNTS)  # a prefix of a name is not a mount


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_watcher_delivers_a_delta_for_an_epoch_written_on_disk(tree, polling):
    async def scenario() -> list:
        deltas: list = []
        got = asyncio.Event()
        loop = asyncio.get_running_loop()
        idx = make_index(tree)

        def on_delta(d):
            deltas.append(d)
            loop.call_soon_threadsafe(got.set)

        idx.on_delta = on_delta
        w = Watcher(idx, polling=polling, sweep_interval=3600, poll_delay_ms=100)
        assert w.mode == ("polling" if polling else "inotify")
        task = asyncio.create_task(w.run())
        await asyncio.sleep(0.5)  # the watch is set up
        exp = first(tree, "running")
        await asyncio.to_thread(add_epoch, tree, exp.rel)
        try:
            await asyncio.wait_for(got.wait(), timeout=15)
        finally:
            w.stop()
            await asyncio.wait_for(task, timeout=10)
        return deltas

    deltas = asyncio.run(scenario())
    exp = first(tree, "running")
    recs = [r for d in deltas for r in d.changed if r["run"] == exp.rel]
    assert recs and recs[-1]["completed_epochs"] == exp.completed_epochs
    assert [d.seq for d in deltas] == sorted({d.seq for d in deltas})


def test_watcher_picks_up_a_logs_folder_created_later(tmp_path):
    tree = generate_tree(str(tmp_path / "p"), n_runs=6, seed=3)
    logs = os.path.join(tree.root, "logs")
    shutil.move(logs, str(tmp_path / "hidden_logs"))

    async def scenario():
        idx = make_index(tree)
        assert not any(e.record["status"] == "running" for e in idx.entries.values())
        w = Watcher(idx, polling=False, sweep_interval=0.3)
        task = asyncio.create_task(w.run())
        await asyncio.sleep(0.5)
        await asyncio.to_thread(shutil.move, str(tmp_path / "hidden_logs"), logs)
        deadline = time.time() + 15
        while time.time() < deadline and not any(e.record["status"] == "running" for e in idx.entries.values()):
            await asyncio.sleep(0.1)
        w.stop()
        await asyncio.wait_for(task, timeout=10)
        return idx

    idx = asyncio.run(scenario())
    assert any(e.record["status"] == "running" for e in idx.entries.values())


# The target is 4 KiB per run beyond the score series (docs/server.md); measured at 3.8-4.0 KiB, so a
# regression past the target fails. One-time costs of the process (the config reader's modules, the
# checked opener's openat2 binding) are paid before the first snapshot: they are not per run.
BEYOND_SERIES_BOUND = 4 * 1024

# Run in a child process started with -X tracemalloc: traced from interpreter start,
# tracemalloc credits a table the interpreter rebuilds during the scan (its interned
# strings, whose free slots parsing configs uses up) with the copy it replaces; traced
# from later it counted the whole new table (1-2 MiB, up to 1 KiB per run here), growth
# that is not there. The uncached read first pays what a process pays once (lazy
# imports, that table growing) and keeps nothing: the scan still reads every config.
_MEMORY_CHILD = """
import gc, json, pickle, sys, tracemalloc
from runwatch.configs import read_configs
from runwatch.project import Project
from runwatch.live import LiveIndex
from runwatch.process_info import ProcessSnapshot
from runwatch.testing.memory import deep_size

root, procs_file = sys.argv[1], sys.argv[2]
assert tracemalloc.is_tracing()
project = Project.at(root)
read_configs(project.discover_configs(), root=project.root, settings=project.settings, use_cache=False)
# Once per process, not per run: the checked opener's openat2 binding (ctypes, ~200 KB).
import os
from runwatch.readers.open_nolink import open_nolink
from runwatch.readers.safe_open import _FLAGS
_fd = open_nolink(os.path.abspath(procs_file), _FLAGS)
if _fd is not None:
    os.close(_fd)
gc.collect()
base = tracemalloc.take_snapshot()
idx = LiveIndex(Project.at(root), monitor=ProcessSnapshot(processes=pickle.load(open(procs_file, "rb"))), use_store=False)
idx.full_scan()
gc.collect()
after = tracemalloc.take_snapshot()
grown = sum(s.size_diff for s in after.compare_to(base, "filename"))
seen = set()
series = epochs_kept = 0
for e in idx.entries.values():
    details = e.status.details if e.status is not None else None
    if details is not None:
        series += sum(deep_size(ep.scores, seen) for ep in details.epochs)
        series += deep_size(details.epochs, seen)
        epochs_kept += len(details.epochs)
print(json.dumps({"runs": len(idx), "grown": grown, "series": series, "epochs_kept": epochs_kept}))
"""


@pytest.mark.slow
def test_measure_memory_per_run_beyond_the_score_series_on_2000_runs(tmp_path, capsys):
    """Memory per tracked run (tracemalloc) beyond the score series, and the times, reported.

    The score series is what a run's charts need: its per-epoch scores dicts plus the
    per-epoch records holding them (index, finished, times), so it grows with epochs;
    the rest is per run and must stay small. Times are printed, never asserted.
    """
    import json
    import pickle
    import subprocess
    import sys

    tree = generate_tree(str(tmp_path / "p"), n_runs=2000, seed=2, n_seeds=100, max_epochs=20)
    procs_file = str(tmp_path / "procs.pkl")
    with open(procs_file, "wb") as f:
        pickle.dump(list(tree.processes), f)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p))
    out = subprocess.run(
        [sys.executable, "-X", "tracemalloc", "-c", _MEMORY_CHILD, tree.root, procs_file], capture_output=True, text=True, env=env, timeout=1800, check=False
    )
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout.strip().splitlines()[-1])
    n, grown, series = m["runs"], m["grown"], m["series"]
    per_run, series_per_run = grown / n, series / n
    beyond = per_run - series_per_run
    # The times, untraced, on a cold config cache (the child's scan wrote one).
    shutil.rmtree(Project.at(tree.root).settings.resolve_cache_dir(tree.root), ignore_errors=True)
    t0 = time.perf_counter()
    idx = make_index(tree)
    scan_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    idx.sweep(full=False)
    sweep_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    idx.sweep(full=True)
    full_sweep_s = time.perf_counter() - t0
    exp = first(tree, "running")
    add_epoch(tree, exp.rel)
    wd = os.path.join(tree.root, "logs", *exp.rel.split("/"))
    t0 = time.perf_counter()
    d = idx.apply_changes([os.path.join(wd, f"epoch_{exp.completed_epochs - 1}", "validation_scores.json")])
    change_ms = (time.perf_counter() - t0) * 1000
    assert d is not None and [r["run"] for r in d.changed] == [exp.rel]
    with capsys.disabled():
        print(
            f"\n{n} runs, {m['epochs_kept']} epochs kept: {beyond / 1024:.1f} KiB per run beyond the score series "
            f"(series {series_per_run / 1024:.1f} KiB, all {per_run / 1024:.1f} KiB; tracemalloc, {grown / 2**20:.1f} MiB total); "
            f"cold scan {scan_s:.1f} s; light sweep {sweep_s * 1000:.0f} ms; full sweep {full_sweep_s:.1f} s; one changed run {change_ms:.1f} ms"
        )
    assert n == len(tree.runs)
    assert m["epochs_kept"] > 5 * n, "the tree must have a real series to set apart"
    assert 0 < series < grown
    assert beyond < BEYOND_SERIES_BOUND, f"{beyond / 1024:.1f} KiB per run beyond the score series (bound {BEYOND_SERIES_BOUND / 1024:.0f} KiB)"


def test_first_scan_in_batches_fills_in_progressively(tree):
    idx = LiveIndex(Project.at(tree.root), use_store=False)
    seen = []
    idx.on_delta = lambda d: seen.append((d.seq, len(d.added), d.summary["scanning"], d.summary["total"]))
    idx.full_scan(batch=10)
    n = len(tree.runs)
    assert [s[0] for s in seen] == list(range(1, len(seen) + 1))
    assert len(seen) == -(-n // 10) and sum(s[1] for s in seen) == n
    assert all(s[2] for s in seen[:-1]) and seen[-1][2] is False and seen[-1][3] == n
    assert idx.scanning is False and idx.summary()["scanning"] is False


def test_ready_only_once_the_first_scan_is_committed(tree):
    """Not ready before the scan begins, nor while its last batch is evaluated (not yet committed)."""
    idx = LiveIndex(Project.at(tree.root), use_store=False)
    assert idx.ready is False and idx.summary()["ready"] is False
    during = []
    real_scan = idx.engine.scan

    def watching_scan(*a, **kw):
        during.append((idx.scanning, idx.ready, len(idx), idx.summary()["ready"]))
        return real_scan(*a, **kw)

    idx.engine.scan = watching_scan
    seen = []
    idx.on_delta = lambda d: seen.append((d.summary["scanning"], d.summary["ready"], d.summary["total"]))
    idx.full_scan(batch=10)
    n = len(tree.runs)
    # Every batch, the last included, is evaluated while the index still says scanning and not ready.
    assert during and all(d[0] is True and d[1] is False and d[3] is False for d in during)
    assert all(not s[1] for s in seen[:-1]) and seen[-1] == (False, True, n)
    assert idx.ready is True and idx.summary()["ready"] is True
