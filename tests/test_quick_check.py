"""The quick check of a new process (progress_tracking/quick_check.py) and its place in the progress store."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace

import pytest

from runwatch.progress_tracking import quick_check
from runwatch.progress_tracking.progress_store import ProgressStore
from runwatch.progress_tracking.trainer_progress_tracker import TrainerProgressTracker
from runwatch.settings import Settings

EXPECTED = ("training_losses.pt", "optimizer_buffer.json", "validation_scores.json")


def _epoch(wd, n: int, score: float) -> None:
    d = wd / f"epoch_{n}"
    d.mkdir()
    (d / "training_losses.pt").write_bytes(b"PK\x03\x04" + b"0" * 20)
    (d / "optimizer_buffer.json").write_text("[]")
    (d / "validation_scores.json").write_text(json.dumps({"aggregated": {"acc": score}, "per_datapoint": {"acc": [score]}}))


def _backdate(wd, age: float = 3600.0) -> None:
    t = time.time() - age
    for dirpath, _dirs, files in os.walk(wd):
        for name in files:
            os.utime(os.path.join(dirpath, name), (t, t))
    for dirpath, _dirs, _files in sorted(os.walk(wd), key=lambda w: -len(w[0])):
        os.utime(dirpath, (t, t))


def _run(tmp_path, epochs_done: int, total: int = 4):
    wd = tmp_path / "logs" / "run"
    wd.mkdir(parents=True)
    (wd / "train_val_0.log").write_text("start\n")
    for n in range(epochs_done):
        _epoch(wd, n, 0.5 + n / 10)
    (wd / "progress.json").write_text(json.dumps({"completed_epochs": epochs_done, "progress_percentage": 100.0 * epochs_done / total}))
    _backdate(wd)
    return wd


def _tracker(wd, store, total: int = 4, **settings) -> TrainerProgressTracker:
    settings.setdefault("kernel_watches", False)
    return TrainerProgressTracker(str(wd), {"epochs": total}, settings=replace(Settings(), **settings), store=store)


def _counting_stats(monkeypatch) -> list[str]:
    seen: list[str] = []
    real = os.stat

    def stat(p, *a, **k):
        seen.append(str(p))
        return real(p, *a, **k)

    monkeypatch.setattr(os, "stat", stat)
    return seen


def _store_path(tmp_path) -> str:
    return str(tmp_path / "cache" / "progress-store.pickle")


def _first_process(tmp_path, wd, **settings):
    os.makedirs(tmp_path / "cache", exist_ok=True)
    store = ProgressStore(_store_path(tmp_path))
    t = _tracker(wd, store, **settings)
    p = t.get_progress()
    assert store.save() is None
    return p, store


def test_a_complete_run_is_checked_with_its_work_dir_and_newest_log(tmp_path, monkeypatch):
    wd = _run(tmp_path, 4)
    p1, store = _first_process(tmp_path, wd)
    entry = store.get(str(wd))
    assert entry.quick is not None and entry.quick[:2] == (("",), ("train_val_0.log",))
    seen = _counting_stats(monkeypatch)
    t = _tracker(wd, ProgressStore(_store_path(tmp_path)))
    p2 = t.get_progress()
    assert p2.to_dict() == p1.to_dict() and p2.completed_epochs == 4
    run_paths = [s for s in seen if s.startswith(str(wd))]
    assert run_paths == [str(wd), str(wd / "train_val_0.log")], run_paths


def test_a_new_tracker_from_the_factory_detects_its_runner_from_the_store(tmp_path, monkeypatch):
    from runwatch.progress_tracking.progress_tracker_factory import create_progress_tracker

    wd = _run(tmp_path, 4)
    os.makedirs(tmp_path / "cache")
    settings = replace(Settings(), kernel_watches=False)
    store = ProgressStore(_store_path(tmp_path))
    p1 = create_progress_tracker(str(wd), {"epochs": 4}, settings=settings, store=store).get_progress()
    assert store.get(str(wd)).quick[4] == (False, True)  # no evaluator's scores file, an epoch_0
    assert store.save() is None
    seen = _counting_stats(monkeypatch)
    lstats: list[str] = []
    real_lstat = os.lstat
    monkeypatch.setattr(os, "lstat", lambda p, *a, **k: lstats.append(str(p)) or real_lstat(p, *a, **k))
    t = create_progress_tracker(str(wd), {"epochs": 4}, settings=settings, store=ProgressStore(_store_path(tmp_path)))
    assert type(t) is TrainerProgressTracker
    assert t.get_progress().to_dict() == p1.to_dict()
    assert [s for s in seen + lstats if s.startswith(str(wd))] == [str(wd), str(wd / "train_val_0.log")]
    # An entry added to the work dir: detection looks again.
    (wd / "evaluation_scores.json").write_text("{}")
    t = create_progress_tracker(str(wd), {"epochs": 4}, settings=settings, store=ProgressStore(_store_path(tmp_path)))
    assert t.get_runner_type() == "evaluator"


def test_an_incomplete_run_adds_its_unfinished_epoch_and_progress_json(tmp_path):
    wd = _run(tmp_path, 2)
    (wd / "epoch_2").mkdir()
    (wd / "epoch_2" / "training_losses.pt").write_bytes(b"PK")
    _backdate(wd)
    _p, store = _first_process(tmp_path, wd)
    dirs, files, _blob, _extra, _found = store.get(str(wd)).quick
    assert dirs == ("", "epoch_2")
    assert set(files) == {"train_val_0.log", "progress.json", "epoch_2/training_losses.pt"}


@pytest.mark.parametrize(
    "change",
    ["append_log", "new_epoch", "frontier_in_place", "progress_json_in_place", "config"],
)
def test_a_changed_run_takes_the_full_path(tmp_path, change):
    wd = _run(tmp_path, 2)
    (wd / "epoch_2").mkdir()
    (wd / "epoch_2" / "optimizer_buffer.json").write_text("[]")
    _backdate(wd)
    p1, store = _first_process(tmp_path, wd)
    assert store.get(str(wd)).quick is not None
    if change == "append_log":
        with open(wd / "train_val_0.log", "a") as f:
            f.write("Traceback (most recent call last):\nValueError: boom\n")
    elif change == "new_epoch":
        for name in EXPECTED:
            if name != "optimizer_buffer.json":
                (wd / "epoch_2" / name).write_text('{"aggregated": {"acc": 0.9}}' if name.endswith(".json") else "PK00")
    elif change == "frontier_in_place":
        (wd / "epoch_2" / "optimizer_buffer.json").write_text("[1]")
    elif change == "progress_json_in_place":
        with open(wd / "progress.json", "r+") as f:
            f.write(" ")
    t = _tracker(wd, ProgressStore(_store_path(tmp_path)), total=5 if change == "config" else 4)
    computed = []
    real = t.calculate_progress
    t.calculate_progress = lambda: computed.append(1) or real()
    p2 = t.get_progress()
    assert computed == [1], "the stored progress must not be reused"
    if change == "append_log":
        assert p2.error_message and "boom" in p2.error_message
    if change == "new_epoch":
        assert p2.completed_epochs == 3
    if change == "config":
        assert p2.total_epochs == 5


def test_an_old_epoch_rewritten_in_place_is_seen_with_refresh_or_without_the_quick_check(tmp_path):
    wd = _run(tmp_path, 4)
    p1, _store = _first_process(tmp_path, wd)
    scores = wd / "epoch_1" / "validation_scores.json"
    before = os.stat(wd / "epoch_1").st_mtime_ns
    scores.write_text(json.dumps({"aggregated": {"acc": 0.99}, "per_datapoint": {"acc": [0.99]}}))
    assert os.stat(wd / "epoch_1").st_mtime_ns == before  # in place: no dir moves
    # The documented policy: a new process trusts finished epochs ...
    quick = _tracker(wd, ProgressStore(_store_path(tmp_path))).get_progress()
    assert quick.best_score == p1.best_score
    # ... until asked to read again, or told not to trust them.
    refreshed = _tracker(wd, ProgressStore(_store_path(tmp_path))).get_progress(force_refresh=True)
    assert refreshed.best_score == {"acc": 0.99}
    full = _tracker(wd, ProgressStore(_store_path(tmp_path)), quick_check=False).get_progress()
    assert full.best_score == {"acc": 0.99}


def test_a_run_written_just_now_gets_no_quick_key_until_it_settles(tmp_path, monkeypatch):
    wd = _run(tmp_path, 4)
    with open(wd / "train_val_0.log", "a") as f:  # written within the settle period of the scan
        f.write("Training finished\n")
    _p, store = _first_process(tmp_path, wd)
    assert store.get(str(wd)).quick is None
    # A later check in a new process, still within the period: the full key, still no quick key.
    store2 = ProgressStore(_store_path(tmp_path))
    t = _tracker(wd, store2)
    t.get_progress()
    assert store2.get(str(wd)).quick is None
    # Once the run is quiet for SETTLE_S, the next full match gives the entry its quick key.
    monkeypatch.setattr(quick_check, "SETTLE_S", 0.0)
    store3 = ProgressStore(_store_path(tmp_path))
    _tracker(wd, store3).get_progress()
    assert store3.get(str(wd)).quick is not None
    assert store3.save() is None
    assert ProgressStore(_store_path(tmp_path)).get(str(wd)).quick is not None


def test_racy_dir_names_mean_no_quick_key(tmp_path):
    wd = _run(tmp_path, 4)
    t = _tracker(wd, None)
    t.get_progress()
    key = t._cache_key
    hint = dict(t._hint, names={"": ("x",)})
    assert quick_check.build(hint, key, {""}, set(), time.time()) is None
    assert quick_check.build(t._hint, key, {""}, set(), time.time()) is not None
    assert quick_check.build(t._hint, key, set(), set(), time.time()) is None  # never without the work dir


def test_a_corrupt_or_other_version_store_is_ignored_and_rebuilt(tmp_path):
    wd = _run(tmp_path, 4)
    os.makedirs(tmp_path / "cache")
    path = _store_path(tmp_path)
    for content in (ProgressStore.MAGIC + b"\x80\x05garbage", b"runwatch-progress-store v4\n" + b"\x80\x05N.", b""):
        with open(path, "wb") as f:
            f.write(content)
        store = ProgressStore(path)
        assert len(store) == 0
        p = _tracker(wd, store).get_progress()
        assert p.completed_epochs == 4
        assert store.save() is None
        again = ProgressStore(path)
        assert again.problem is None and again.get(str(wd)).quick is not None


def test_a_quick_key_of_another_shape_is_never_trusted(tmp_path):
    wd = _run(tmp_path, 4)
    _p, store = _first_process(tmp_path, wd)
    entry = store.get(str(wd))
    dirs, files, blob, extra, found = entry.quick
    assert quick_check.matches(entry.quick, str(wd), lambda: extra)
    assert not quick_check.matches((dirs, files, blob[:-1], extra, found), str(wd), lambda: extra)
    assert not quick_check.matches("nonsense", str(wd), lambda: extra)
    assert not quick_check.matches(entry.quick, str(wd), lambda: ("other",))


def test_a_store_of_the_previous_version_is_read_and_given_quick_keys(tmp_path):
    import pickle

    wd = _run(tmp_path, 4)
    p1, store = _first_process(tmp_path, wd)
    entry = store.get(str(wd))
    old = {"version": 6, "entries": {str(wd): type(entry)(entry.key, entry.progress, entry.details, entry.hint)}}
    old[("entries")][str(wd)].__dict__.pop("quick")
    old[("entries")][str(wd)].__dict__.pop("log_end")
    with open(_store_path(tmp_path), "wb") as f:
        f.write(b"runwatch-progress-store v6\n")
        pickle.dump(old, f)
    store5 = ProgressStore(_store_path(tmp_path))
    assert len(store5) == 1 and store5.get(str(wd)).quick is None
    t = _tracker(wd, store5)
    computed = []
    real = t.calculate_progress
    t.calculate_progress = lambda: computed.append(1) or real()
    assert t.get_progress().to_dict() == p1.to_dict() and computed == []  # its full key held: not read again
    assert store5.get(str(wd)).quick is not None
    assert store5.save() is None
    with open(_store_path(tmp_path), "rb") as f:
        assert f.read().startswith(ProgressStore.MAGIC)


def test_past_the_watch_budget_a_warm_check_in_process_uses_the_quick_key(tmp_path, monkeypatch):
    """A long-lived process whose kernel watches ran out (a 50,000-run tree) checks an unchanged run as a new
    process does: its work dir and newest log, not every epoch; changes in what can still change are seen,
    an old epoch rewritten in place only with ``force_refresh`` (the policy of the kernel watches past a third
    of their budget)."""
    from runwatch.progress_tracking import change_notify

    monkeypatch.setattr(change_notify, "_watch_budget", lambda: 0)
    change_notify.NOTIFIER.clear()
    try:
        wd = _run(tmp_path, 4)
        _p, store = _first_process(tmp_path, wd)
        assert store.get(str(wd)).quick is not None
        t = _tracker(wd, ProgressStore(_store_path(tmp_path)), kernel_watches=True)
        p1 = t.get_progress()
        for _ in range(3):  # past the arming attempts, if any
            assert t.get_progress() is p1
        seen = _counting_stats(monkeypatch)
        assert t.get_progress() is p1
        assert [s for s in seen if s.startswith(str(wd))] == [str(wd), str(wd / "train_val_0.log")]
        scores = wd / "epoch_1" / "validation_scores.json"
        scores.write_text(json.dumps({"aggregated": {"acc": 0.99}, "per_datapoint": {"acc": [0.99]}}))
        assert t.get_progress().best_score == p1.best_score  # in place, in a finished epoch: trusted
        assert t.get_progress(force_refresh=True).best_score == {"acc": 0.99}
        with open(wd / "train_val_0.log", "a") as f:
            f.write("Traceback (most recent call last):\nValueError: boom\n")
        assert "boom" in (t.get_progress().error_message or "")
        # kernel_watches = false keeps every check on the full stats, as documented.
        full = _tracker(wd, ProgressStore(_store_path(tmp_path)), kernel_watches=False)
        full.get_progress()
        seen.clear()
        full.get_progress()
        assert any("epoch_1" in s for s in seen)
    finally:
        change_notify.NOTIFIER.clear()
