"""What runwatch leaves in work dirs and its cache: stale temp files, writes into a replaced dir, store save failures."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import shutil
import time

from runwatch.progress_tracking import TrainerProgressTracker
from runwatch.progress_tracking.progress_store import (
    STALE_TEMP_S,
    ProgressStore,
    remove_stale_temp_files,
)
from runwatch.readers.artifacts import scan_dir
from runwatch.readers.jsonfile import is_own_temp_name
from runwatch.settings import Settings
from runwatch.testing.generator import write_epoch

CFG = {"runner": type("SupervisedSingleTaskTrainer", (), {}), "epochs": 10}
# Issue 19: runwatch writes a progress.json only with progress_json = "missing" (default: none).
WRITES = dataclasses.replace(Settings(), progress_json="missing")


def _run(path, epochs: int = 2) -> str:
    wd = str(path)
    rng = random.Random(0)
    for i in range(epochs):
        write_epoch(wd, i, {"acc": 0.1 * (i + 1)}, None, 4, rng)
    with open(os.path.join(wd, "train_val_0.log"), "w") as f:
        f.write("epoch\n")
    return wd


def _touch(path: str, age_s: float) -> None:
    with open(path, "w") as f:
        f.write("{")
    t = time.time() - age_s
    os.utime(path, (t, t))


# ---------------------------------------------------------------- a: stale temp files


def test_own_temp_names_are_recognised_exactly():
    assert is_own_temp_name(".progress.json.1234.140211.tmp")
    assert is_own_temp_name(".progress.runwatch.json.7.8.tmp")
    assert is_own_temp_name(".progress.json.ab_9XyZ1.tmp")  # mkstemp's fallback
    for other in (
        "progress.json.1.2.tmp",  # no leading dot
        ".progress.json.tmp",
        ".progress.json.1.2.tmp.bak",
        ".progress.jsonx.1.2.tmp",
        ".checkpoint.pt.1.2.tmp",
        ".progress.json.abc.tmp",
        ".progress.json.1.2.3.tmp",
    ):
        assert not is_own_temp_name(other), other


def test_a_scan_removes_only_its_own_old_temp_files(tmp_path):
    wd = _run(tmp_path / "run")
    old = os.path.join(wd, ".progress.json.999.111.tmp")
    old_side = os.path.join(wd, ".progress.runwatch.json.abcd1234.tmp")
    fresh = os.path.join(wd, ".progress.json.999.222.tmp")  # a writer may be at work right now
    foreign = os.path.join(wd, ".other.json.999.111.tmp")
    _touch(old, STALE_TEMP_S + 60)
    _touch(old_side, STALE_TEMP_S + 60)
    _touch(fresh, 5)
    _touch(foreign, STALE_TEMP_S + 60)
    p = TrainerProgressTracker(wd, CFG, settings=WRITES).get_progress()
    assert p.completed_epochs == 2
    left = set(os.listdir(wd))
    assert os.path.basename(old) not in left and os.path.basename(old_side) not in left
    assert {os.path.basename(fresh), os.path.basename(foreign)} <= left
    assert "progress.json" in left


def test_removing_stale_temp_files_tolerates_a_vanished_file(tmp_path):
    wd = str(tmp_path)
    name = ".progress.json.1.2.tmp"
    _touch(os.path.join(wd, name), STALE_TEMP_S * 2)
    listing = scan_dir(wd)
    os.remove(os.path.join(wd, name))  # someone else cleaned up first
    assert remove_stale_temp_files(wd, listing.files) == 0
    _touch(os.path.join(wd, name), STALE_TEMP_S * 2)
    assert remove_stale_temp_files(wd, scan_dir(wd).files) == 1
    assert os.listdir(wd) == []


# ---------------------------------------------------------------- b: a work dir replaced mid-scan


def test_progress_json_is_not_written_into_a_recreated_work_dir(tmp_path):
    wd = _run(tmp_path / "run", epochs=3)
    t = TrainerProgressTracker(wd, CFG, settings=WRITES)
    progress = t.calculate_progress()  # the scan: listed the old dir
    assert progress.completed_epochs == 3
    shutil.rmtree(wd)
    os.makedirs(wd)  # deleted and recreated (a new launch) before the write
    with open(os.path.join(wd, "train_val_0.log"), "w") as f:
        f.write("new launch\n")
    t._save_progress_cache(progress)
    assert "progress.json" not in os.listdir(wd), "the old dir's answer must not land in the new dir"
    # The next scan of the new dir writes the new dir's own answer (none before its first epoch).
    assert t.get_progress(force_refresh=True).completed_epochs == 0
    assert "progress.json" not in os.listdir(wd)
    _run(wd, epochs=1)
    assert t.get_progress(force_refresh=True).completed_epochs == 1
    with open(os.path.join(wd, "progress.json")) as f:
        assert json.load(f)["completed_epochs"] == 1


def test_progress_json_is_written_into_the_same_dir(tmp_path):
    wd = _run(tmp_path / "run", epochs=3)
    t = TrainerProgressTracker(wd, CFG, settings=WRITES)
    progress = t.calculate_progress()
    t._save_progress_cache(progress)
    with open(os.path.join(wd, "progress.json")) as f:
        assert json.load(f)["completed_epochs"] == 3
    assert not any(n.endswith(".tmp") for n in os.listdir(wd))


def test_background_writes_also_check_the_dir(tmp_path):
    from runwatch.progress_tracking.progress_store import background_progress_writes

    wd = _run(tmp_path / "run", epochs=2)
    t = TrainerProgressTracker(wd, CFG, settings=WRITES)
    with background_progress_writes() as writer:
        progress = t.calculate_progress()
        shutil.rmtree(wd)
        os.makedirs(wd)
        assert t._write_in_background(progress)
        writer.finish()
    assert os.listdir(wd) == []


# ---------------------------------------------------------------- c: the store cannot be saved


def test_a_store_that_cannot_be_saved_is_reported(tmp_path, caplog):
    from runwatch.project import Project
    from runwatch.run_status import get_all_run_status
    from runwatch.run_status import engine_for
    from runwatch.testing.generator import generate_tree

    tree = generate_tree(str(tmp_path / "p"), n_runs=6, seed=1)
    project = Project.at(tree.root)
    store_path = project.settings.resolve_cache_dir(tree.root) / "progress-store.pickle"
    store_path.parent.mkdir(parents=True, exist_ok=True)
    if store_path.exists():
        store_path.unlink()
    store_path.mkdir()  # a directory where the store file should be
    configs = [r.config_path for r in tree.runs]
    with caplog.at_level(logging.WARNING, logger="runwatch"):
        out = get_all_run_status(configs, root=tree.root, snapshot=_snapshot(tree))
    assert len(out) == len(configs)
    rs = engine_for(project)  # the project's scan engine keeps the last save's problem
    assert rs.last_store_problem is not None and str(store_path) in rs.last_store_problem
    assert "could not save cache" in rs.last_store_problem
    assert any(str(store_path) in r.getMessage() for r in caplog.records if r.name == "runwatch")
    # Once the path is usable again the next save succeeds and the problem clears.
    store_path.rmdir()
    get_all_run_status(configs, root=tree.root, snapshot=_snapshot(tree), force_refresh=True)
    assert rs.last_store_problem is None
    assert store_path.is_file()


def _snapshot(tree):
    from runwatch.process_info import ProcessSnapshot

    return ProcessSnapshot(processes=list(tree.processes))


def test_store_of_another_version_is_ignored_quietly(tmp_path):
    import pickle

    path = tmp_path / "store.pickle"
    with open(path, "wb") as f:  # a version-3 store: plain pickle, no header
        pickle.dump({"version": 3, "entries": {"/wd": ("x",)}}, f)
    s = ProgressStore(str(path))
    assert len(s) == 0 and s.problem is None
    path.write_bytes(b"")
    s = ProgressStore(str(path))
    assert len(s) == 0 and s.problem is None
    path.write_bytes(ProgressStore.MAGIC + b"garbage")
    s = ProgressStore(str(path))
    assert len(s) == 0 and s.problem is not None and "corrupt" in s.problem
