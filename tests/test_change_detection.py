"""Change detection on its own (progress_tracking/change_detection.py), sharing and the compact encodings."""

from __future__ import annotations

import os
import pickle
import time

import pytest

from runwatch.progress_tracking import change_detection
from runwatch.progress_tracking.base_progress_tracker import EpochRecord, RunDetails
from runwatch.progress_tracking.change_detection import Fingerprint, listing_names
from runwatch.progress_tracking.compact import pack_dir_identity, unpack_dir_identity
from runwatch.progress_tracking.progress_store import safe_loads

from test_pylon_sim import project  # noqa: F401  (the fixture: a copy of the simulated Pylon project)


@pytest.fixture(autouse=True)
def _fresh_notifier():
    """Each test starts and ends with no watch and no remembered device types."""
    from runwatch.progress_tracking.change_notify import NOTIFIER

    NOTIFIER.clear()
    yield
    NOTIFIER.clear()


def _no_extra():
    return None


def _read(wd: str) -> tuple[dict, dict]:
    """What a computation reads of ``wd``: the dir (mtime, names) and its one file's (mtime, size)."""
    st = os.stat(wd)
    names = tuple(sorted(os.listdir(wd)))
    f = os.path.join(wd, "scores.json")
    fs = os.stat(f)
    return {wd: (st.st_mtime_ns, names)}, {f: (fs.st_mtime, fs.st_size)}


def _old(path: str, age: float = 60.0) -> None:
    t = time.time() - age
    os.utime(path, (t, t))


def test_settled_key_sees_an_in_place_rewrite_with_stats_only(tmp_path, monkeypatch):
    wd = str(tmp_path)
    (tmp_path / "scores.json").write_text('{"a": 1}')
    _old(str(tmp_path / "scores.json"))
    _old(wd)
    fp = Fingerprint(wd)
    fp.watch(*_read(wd))
    key = fp.key_from_scan(time.time(), _no_extra)
    assert fp.hint["names"] == {}, "an old dir is not racy: no names kept"
    listed: list[str] = []
    real = os.listdir
    monkeypatch.setattr(os, "listdir", lambda p=".": listed.append(p) or real(p))
    assert fp.matches(key, _no_extra) and fp.disk_key(_no_extra) == key
    assert listed == []
    with open(tmp_path / "scores.json", "r+") as f:  # same size, the dir's mtime does not move
        f.write('{"a": 2}')
    assert not fp.matches(key, _no_extra)


def test_racy_dir_keeps_its_names_until_it_settles(tmp_path, monkeypatch):
    wd = str(tmp_path)
    (tmp_path / "scores.json").write_text("{}")
    fp = Fingerprint(wd)
    fp.watch(*_read(wd))
    key = fp.key_from_scan(time.time(), _no_extra)
    assert "" in fp.hint["names"], "just modified: racy"
    before = os.stat(wd).st_mtime_ns
    (tmp_path / "new").write_text("")
    os.utime(wd, ns=(before, before))  # an entry added within the same mtime tick
    assert not fp.matches(key, _no_extra)
    os.unlink(tmp_path / "new")
    os.utime(wd, ns=(before, before))
    assert fp.matches(key, _no_extra)
    monkeypatch.setattr(change_detection, "RACY_WINDOW_S", 0.0)
    settled = fp.settle(key, time.time())
    assert settled is not None and settled[1] == () and fp.hint["names"] == {}
    assert fp.matches(settled, _no_extra)


def test_missing_work_dir_is_awaited(tmp_path):
    wd = str(tmp_path / "not-yet")
    fp = Fingerprint(wd)
    fp.hint = {"missing": True}
    assert fp.awaiting_work_dir
    key = fp.key_from_scan(time.time(), _no_extra)
    assert fp.matches(key, _no_extra)
    os.mkdir(wd)
    assert not fp.matches(key, _no_extra)


def test_extra_inputs_are_part_of_the_key(tmp_path):
    wd = str(tmp_path)
    (tmp_path / "scores.json").write_text("{}")
    fp = Fingerprint(wd)
    fp.watch(*_read(wd))
    key = fp.key_from_scan(time.time(), lambda: ("epochs", 10))
    assert fp.matches(key, lambda: ("epochs", 10))
    assert not fp.matches(key, lambda: ("epochs", 12))


def test_own_files_are_left_out_of_the_names():
    from runwatch.progress_tracking.progress_store import PROGRESS_JSON

    assert listing_names({"a.log": 1, PROGRESS_JSON: 2, f".{PROGRESS_JSON}.123.tmp": 3}, {"epoch_0": 1}) == ("a.log", "epoch_0")


def test_fingerprint_pickles_and_tracker_reports_awaiting(tmp_path):
    from runwatch.progress_tracking import TrainerProgressTracker

    t = TrainerProgressTracker(str(tmp_path / "never"), {"epochs": 3})
    t.get_progress()
    assert t.awaiting_work_dir and t._hint.get("missing")
    clone = pickle.loads(pickle.dumps(t.changes))
    assert clone.hint == t.changes.hint and clone.work_dir == t.work_dir


def test_dir_identity_packs_exactly():
    ident = (2**63 + 5, 2**40 + 7)
    assert unpack_dir_identity(pack_dir_identity(ident, 1_700_000_000_123_456_789)) == (*ident, 1_700_000_000_123_456_789)
    assert pack_dir_identity(None, 1) is None and pack_dir_identity((1, 2), None) is None
    assert pack_dir_identity((2**64, 1), 1) is None  # too wide: unknown, never a wrong identity


def test_run_details_pickle_stays_in_the_store_allow_list():
    d = RunDetails(epochs=[EpochRecord(i, True, 1.0 + i, 1.0, {"acc": i}, i) for i in range(3)], logs=[("a.log", 2.0)])
    data = pickle.dumps(d, protocol=pickle.HIGHEST_PROTOCOL)
    loaded = safe_loads(data)  # the store's unpickler: only allowed classes
    assert "epochs" not in loaded.__dict__ and loaded.epochs[2].scores == {"acc": 2} and loaded == d


def test_state_reset_empties_the_sharing_tables():
    from runwatch import sharing
    from runwatch.state import STATE

    sharing.shared_paths(("epoch_0",))
    sharing.shared_keys({"mean_IoU": 1.0})
    sizes = STATE.sizes()
    assert sizes["sharing.watched_paths"] >= 1 and sizes["sharing.score_keys"] >= 1
    STATE.reset()
    sizes = STATE.sizes()
    assert sizes["sharing.watched_paths"] == 0 and sizes["sharing.score_keys"] == 0


def test_split_dict_is_an_equal_dict():
    from runwatch.sharing import split_dict

    class Holder:
        pass

    d = {"main_metric": "a", "main_best": 1.0, "main_latest": None, "main_direction": 1}
    s = split_dict(Holder, d)
    assert s == d and type(s) is dict and list(s) == list(d)


# ---------------------------------------------------------------- kernel notifications (change_notify.py)


def _age(top) -> None:
    for dirpath, dirs, files in os.walk(top, topdown=False):
        for n in files + dirs:
            _old(os.path.join(dirpath, n))
    _old(str(top))


def _aged_run(tmp_path, epochs=4):
    """A trainer run with every file and dir older than the racy window."""
    import random

    from runwatch.testing.generator import write_epoch

    wd = tmp_path / "run"
    for i in range(epochs):
        write_epoch(str(wd), i, {"mean_IoU": 0.1 * (i + 1)}, None, 4, random.Random(i))
    (wd / "train_val_0.log").write_text("epoch\n")
    _age(wd)
    cfg = {"runner": type("SupervisedSingleTaskTrainer", (), {}), "epochs": 10, "metric": {"class": type("M", (), {"DIRECTIONS": {"mean_IoU": 1}}), "args": {}}}
    return wd, cfg


def _armed_tracker(tmp_path, monkeypatch=None):
    from runwatch.progress_tracking import TrainerProgressTracker

    wd, cfg = _aged_run(tmp_path)
    t = TrainerProgressTracker(str(wd), cfg)
    for _ in range(3):  # computed, matched once, armed
        assert t.get_progress().completed_epochs == 4
    return wd, t


def _counting_stats(monkeypatch):
    calls: list[str] = []
    real = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: calls.append(str(p)) or real(p, *a, **k))
    return calls


def test_an_armed_run_is_checked_with_no_stat(tmp_path, monkeypatch):
    wd, t = _armed_tracker(tmp_path)
    assert t.changes.armed > 0
    calls = _counting_stats(monkeypatch)
    assert t.get_progress().completed_epochs == 4
    assert calls == [], calls


def test_an_armed_run_sees_a_parent_renamed_and_another_tree_in_its_place(tmp_path):
    import shutil

    _, t = _armed_tracker(tmp_path / "proj" / "logs")
    shutil.copytree(tmp_path / "proj", tmp_path / "copy")
    shutil.rmtree(tmp_path / "copy" / "logs" / "run" / "epoch_3")
    _age(tmp_path / "copy")
    os.rename(tmp_path / "proj", tmp_path / "old")
    os.rename(tmp_path / "copy", tmp_path / "proj")
    assert t.get_progress().completed_epochs == 3
    for _ in range(2):
        t.get_progress()
    assert t.changes.armed > 0
    os.unlink(tmp_path / "proj" / "logs" / "run" / "epoch_2" / "validation_scores.json")
    _age(tmp_path / "proj")
    assert t.get_progress().completed_epochs == 2  # armed again on the new tree
    (tmp_path / "unrelated").mkdir()  # an entry off the run's path: no event that concerns it
    t.get_progress()
    t.get_progress()
    assert t.changes.armed > 0 and not t.changes.notify_dirty


def test_an_armed_run_sees_an_old_epochs_scores_rewritten_in_place(tmp_path):
    wd, t = _armed_tracker(tmp_path)
    path = wd / "epoch_0" / "validation_scores.json"
    dir_mtime = os.stat(path.parent).st_mtime_ns
    text = path.read_text()
    with open(path, "r+") as f:
        f.write(text.replace('"mean_IoU": 0.1', '"mean_IoU": 0.9'))
    assert os.stat(path.parent).st_mtime_ns == dir_mtime
    p = t.get_progress()
    assert p.best_epoch == 0 and p.best_score["mean_IoU"] == 0.9


def test_an_armed_run_sees_a_file_removed_from_an_old_epoch(tmp_path):
    wd, t = _armed_tracker(tmp_path)
    os.unlink(wd / "epoch_1" / "optimizer_buffer.json")
    assert t.get_progress().completed_epochs == 1


def test_an_armed_run_sees_its_times_touched_and_its_work_dir_replaced(tmp_path):
    import shutil

    wd, t = _armed_tracker(tmp_path)
    os.utime(wd / "epoch_2" / "validation_scores.json", (1.0, 1.0))  # no write, only the time
    assert t.get_progress().completed_epochs == 4 and t.changes.armed <= 0
    for _ in range(2):
        t.get_progress()
    assert t.changes.armed > 0
    shutil.copytree(wd, tmp_path / "copy")
    shutil.rmtree(wd / "epoch_3")
    os.rename(wd, tmp_path / "gone")
    os.rename(tmp_path / "copy", wd)  # another dir at the same path: same files, different identity
    shutil.rmtree(wd / "epoch_3")
    assert t.get_progress().completed_epochs == 3


def test_network_file_systems_stay_with_stats(tmp_path, monkeypatch):
    from runwatch.progress_tracking import change_notify

    monkeypatch.setattr(change_notify, "LOCAL_TYPES", frozenset())
    wd, t = _armed_tracker(tmp_path)
    assert t.changes.armed <= 0
    calls = _counting_stats(monkeypatch)
    t.get_progress()
    assert len(calls) > 5


def test_kernel_watches_off_and_overflow_fall_back_to_stats(tmp_path, monkeypatch):
    from dataclasses import replace

    from runwatch.progress_tracking import TrainerProgressTracker, change_notify
    from runwatch.settings import Settings

    wd, cfg = _aged_run(tmp_path)
    t = TrainerProgressTracker(str(wd), cfg, settings=replace(Settings(), kernel_watches=False))
    for _ in range(4):
        t.get_progress()
    assert t.changes.armed == 0
    wd2, t2 = _armed_tracker(tmp_path / "b")
    change_notify.NOTIFIER.generation += 1  # as an overflow does: events may have been lost
    calls = _counting_stats(monkeypatch)
    t2.get_progress()
    assert len(calls) > 5


def test_a_forked_child_never_reads_the_parents_queue(tmp_path):
    wd, t = _armed_tracker(tmp_path)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(w, b"1" if t.changes._quiet() is False and t.get_progress().completed_epochs == 4 else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(r, 1) == b"1"
    os.unlink(wd / "epoch_3" / "validation_scores.json")
    assert t.get_progress().completed_epochs == 3  # the parent still got its event


def test_one_read_per_scan_reads_the_queue_once_and_still_sees_earlier_changes(tmp_path, monkeypatch):
    from runwatch.progress_tracking.change_notify import NOTIFIER

    wd, t = _armed_tracker(tmp_path)
    os.unlink(wd / "epoch_3" / "validation_scores.json")  # before the scan: seen by it
    reads: list[int] = []
    real = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(fd) or real(fd, n))
    with NOTIFIER.one_read_per_scan():
        assert t.get_progress().completed_epochs == 3
        for _ in range(3):
            t.get_progress()
    assert len([r for r in reads if r == NOTIFIER._fd]) == 1


def test_a_watched_run_sees_real_writers_rewrite_old_epochs(project):
    """Pylon's simulated trainer writes the run; other processes re-validate old epochs, in place and by rename."""
    import subprocess
    import sys

    from test_pylon_sim import launch, trainer_dict, write_config

    from runwatch import get_all_run_status
    from runwatch.progress_tracking.change_notify import NOTIFIER

    cfg = write_config(project, "kw/run", trainer_dict("kw/run", 3, scores=[0.5, 0.6, 0.7]))
    launch(project, cfg)
    time.sleep(change_detection.RACY_WINDOW_S + 0.2)  # the settled state, which is what gets armed
    for _ in range(3):
        rs = get_all_run_status([cfg], root=str(project), sleep_time=0, find_processes=False)[cfg]
    assert rs.progress.best_epoch == 2 and len(NOTIFIER) > 0, "armed after three looks"
    path = project / "logs/kw/run/epoch_0/validation_scores.json"
    rewrite = "import sys; p = sys.argv[1]; t = open(p).read().replace(sys.argv[2], sys.argv[3]);f = open(p, 'r+'); f.write(t); f.close()"
    subprocess.run([sys.executable, "-c", rewrite, str(path), '"acc": 0.5', '"acc": 0.9'], check=True, timeout=30)
    rs = get_all_run_status([cfg], root=str(project), sleep_time=0, find_processes=False)[cfg]
    assert (rs.progress.best_epoch, rs.progress.best_score["acc"]) == (0, 0.9)
    time.sleep(change_detection.RACY_WINDOW_S + 0.2)
    for _ in range(2):
        get_all_run_status([cfg], root=str(project), sleep_time=0, find_processes=False)
    replace = "import os, sys; p = sys.argv[1]; t = open(p).read().replace(sys.argv[2], sys.argv[3]);open(p + '.new', 'w').write(t); os.replace(p + '.new', p)"
    subprocess.run([sys.executable, "-c", replace, str(path), '"acc": 0.9', '"acc": 0.4'], check=True, timeout=30)
    rs = get_all_run_status([cfg], root=str(project), sleep_time=0, find_processes=False)[cfg]
    assert (rs.progress.best_epoch, rs.progress.best_score["acc"]) == (2, 0.7)


def test_a_run_with_a_linked_file_keeps_its_stats(tmp_path):
    """A log that is a symbolic or hard link can be written through another dir: never armed."""
    from runwatch.progress_tracking import TrainerProgressTracker

    for kind in ("symlink", "hardlink"):
        wd, cfg = _aged_run(tmp_path / kind)
        outside = tmp_path / kind / "elsewhere.log"
        outside.write_text("epoch\n")
        os.unlink(wd / "train_val_0.log")
        (os.symlink if kind == "symlink" else os.link)(outside, wd / "train_val_0.log")
        _age(tmp_path / kind)
        t = TrainerProgressTracker(str(wd), cfg)
        for _ in range(4):
            t.get_progress()
        assert t.changes.armed == -2, kind
        with open(outside, "a") as f:  # written through the other path
            f.write("Traceback (most recent call last):\nRuntimeError: boom\n")
        assert "boom" in (t.get_progress().error_message or ""), kind


def test_beyond_a_third_of_the_watch_budget_a_run_watches_what_can_still_change(tmp_path, monkeypatch):
    """The work dir and its two newest epochs: a new epoch, a log line, a newest epoch's file are seen."""
    from runwatch.progress_tracking import change_notify
    from runwatch.progress_tracking.change_detection import live_dirs

    assert live_dirs({"", "epoch_0", "epoch_1", "epoch_10", "epoch_2", "epoch_10/sub", "other"}) == {"", "epoch_2", "epoch_10", "epoch_10/sub", "other"}
    monkeypatch.setattr(change_notify, "_watch_budget", lambda: 14)  # a full arm (5 dirs) would pass 14 // 3
    wd, t = _armed_tracker(tmp_path)
    assert t.changes.armed > 0
    assert sum(1 for slot in change_notify.NOTIFIER._owner if slot > 0) == 3  # the work dir, epoch_2, epoch_3
    calls = _counting_stats(monkeypatch)
    assert t.get_progress().completed_epochs == 4 and calls == []
    with open(wd / "train_val_0.log", "a") as f:
        f.write("iteration\n")
    assert t.get_progress().completed_epochs == 4 and calls  # the log's write: stats again
    p = wd / "epoch_3" / "validation_scores.json"
    with open(p, "r+") as f:
        f.write(p.read_text().replace('"mean_IoU": 0.4', '"mean_IoU": 0.95'))
    for _ in range(3):
        got = t.get_progress()
    assert got.best_score["mean_IoU"] == 0.95
    from runwatch.testing.generator import write_epoch
    import random

    write_epoch(str(wd), 4, {"mean_IoU": 0.5}, None, 4, random.Random(4))
    assert t.get_progress().completed_epochs == 5


def test_beyond_a_third_of_the_watch_budget_a_complete_run_watches_its_work_dir_alone(tmp_path, monkeypatch):
    """A finished run's epochs can no longer change: its work dir is its one watch (the budget reaches three times
    as many runs); a log line, a new session's log and a resumed epoch are still seen."""
    import random

    from runwatch.progress_tracking import TrainerProgressTracker, change_notify
    from runwatch.testing.generator import write_epoch

    monkeypatch.setattr(change_notify, "_watch_budget", lambda: 14)
    wd, cfg = _aged_run(tmp_path)
    cfg["epochs"] = 4
    t = TrainerProgressTracker(str(wd), cfg)
    for _ in range(3):  # computed, matched once, armed
        assert t.get_progress().completed_epochs == 4
    assert t.changes.armed > 0 and t.changes.live == frozenset({""})
    assert sum(1 for slot in change_notify.NOTIFIER._owner if slot > 0) == 1  # the work dir
    calls = _counting_stats(monkeypatch)
    assert t.get_progress().completed_epochs == 4 and calls == []
    with open(wd / "train_val_0.log", "a") as f:
        f.write("Traceback (most recent call last):\nRuntimeError: boom\n")
    assert "boom" in (t.get_progress().error_message or "")
    for _ in range(3):  # armed again
        t.get_progress()
    write_epoch(str(wd), 4, {"mean_IoU": 0.9}, None, 5, random.Random(4))  # resumed for one more epoch
    assert t.get_progress().completed_epochs == 5


def test_missing_work_dir_under_kernel_watches(tmp_path, monkeypatch):
    """A work dir still missing is armed on its parents (after two looks): later looks stat nothing, and the dir
    appearing (made, or renamed into place) is seen by the next look."""
    from runwatch.progress_tracking.change_notify import NOTIFIER

    for how in ("mkdir", "rename"):
        wd = str(tmp_path / how / "group" / "run_1")
        os.makedirs(os.path.dirname(wd))
        NOTIFIER.drain()  # (an event from before the arming, read after it, would only cost a spurious stat)
        fp = Fingerprint(wd)
        fp.hint = {"missing": True}
        key = fp.key_from_scan(time.time(), _no_extra)
        assert fp.matches(key, _no_extra, notify=True) and fp.armed == -1
        assert fp.matches(key, _no_extra, notify=True) and fp.armed == NOTIFIER.generation
        stats: list[str] = []
        real = os.stat
        monkeypatch.setattr(os, "stat", lambda p, *a, _seen=stats, _real=real, **k: _seen.append(p) or _real(p, *a, **k))
        assert fp.matches(key, _no_extra, notify=True) and stats == []
        monkeypatch.setattr(os, "stat", real)
        if how == "mkdir":
            os.mkdir(wd)
        else:
            os.mkdir(wd + ".tmp")
            os.rename(wd + ".tmp", wd)
        assert not fp.matches(key, _no_extra, notify=True) and fp.armed == 0
