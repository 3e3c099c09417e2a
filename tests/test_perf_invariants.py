"""The behaviours the benchmark's figures rest on, checked without timing anything.

A warm call must not recompute, a new process must start from the store, one new
epoch must recompute one run, and the cheap (mtime-based) cache key must never hide
a change, even one made within the same mtime tick as the scan.
"""

from __future__ import annotations

import json
import os
import random
import time

import pytest

from runwatch import ProcessSnapshot, get_all_run_status
from runwatch.progress_tracking import TrainerProgressTracker
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker
from runwatch.readers.scores import read_aggregated
import runwatch.state
from runwatch.testing.generator import write_epoch

from test_run_status import check_answers


@pytest.fixture
def counting(monkeypatch):
    """Count calculate_progress calls per work dir, across every tracker class."""
    calls: list[str] = []
    for cls in {c for c in _subclasses(BaseProgressTracker)}:
        if "calculate_progress" in cls.__dict__:
            orig = cls.__dict__["calculate_progress"]

            def wrapped(self, _orig=orig):
                calls.append(self.work_dir)
                return _orig(self)

            monkeypatch.setattr(cls, "calculate_progress", wrapped)
    return calls


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _forget_process_state():
    """What a new process has: nothing in memory, only the files under .runwatch-cache."""
    runwatch.state.reset()


def _run(tree):
    paths = {r.rel: r.config_path for r in tree.runs}
    return get_all_run_status(list(paths.values()), root=tree.root, snapshot=ProcessSnapshot(processes=list(tree.processes))), paths


def test_warm_call_does_not_recompute(tree, counting):
    _forget_process_state()
    first, paths = _run(tree)
    assert counting, "the cold call computes"
    counting.clear()
    second, _ = _run(tree)
    third, _ = _run(tree)
    assert counting == []
    check_answers(tree, third, paths)


def test_new_process_starts_from_the_store(tree, counting):
    _forget_process_state()
    _run(tree)
    _forget_process_state()
    counting.clear()
    result, paths = _run(tree)
    launched = {rs.work_dir for rs in result.values() if os.path.isdir(rs.work_dir)}
    assert not (set(counting) & launched), counting
    check_answers(tree, result, paths)


def test_one_new_epoch_recomputes_that_run_only(tree, counting):
    _forget_process_state()
    _run(tree)
    exp = next(r for r in tree.runs if r.scenario == "running")
    wd = os.path.join(tree.root, "logs", *exp.rel.split("/"))
    write_epoch(wd, exp.completed_epochs, {exp.main_key: 0.5}, None, 4, random.Random(0))
    counting.clear()
    result, paths = _run(tree)
    assert set(counting) == {wd}
    assert result[paths[exp.rel]].progress.completed_epochs == exp.completed_epochs + 1


def _tracker_run(tmp_path):
    wd = tmp_path / "run"
    rng = random.Random(0)
    for i in range(3):
        write_epoch(str(wd), i, {"mean_IoU": 0.1 * (i + 1)}, None, 4, rng)
    (wd / "train_val_0.log").write_text("epoch\n")
    cfg = {"runner": type("SupervisedSingleTaskTrainer", (), {}), "epochs": 10, "metric": {"class": type("M", (), {"DIRECTIONS": {"mean_IoU": 1}}), "args": {}}}
    return wd, cfg


def test_change_within_the_same_mtime_tick_is_seen(tmp_path):
    """A dir changed just now keeps its entry names in the key, so a new entry that
    leaves the dir's mtime unchanged (coarse clocks, NFS) is still noticed."""
    wd, cfg = _tracker_run(tmp_path)
    t = TrainerProgressTracker(str(wd), cfg)
    assert t.get_progress().completed_epochs == 3
    assert "" in t._hint["names"], 'a dir modified just now (the work dir itself: "") is racy'
    before = os.stat(wd).st_mtime_ns
    # A new epoch appears; the dir's mtime is set back to what the scan saw.
    write_epoch(str(wd), 3, {"mean_IoU": 0.9}, None, 4, random.Random(1))
    os.utime(wd, ns=(before, before))
    assert t.get_progress().completed_epochs == 4


def test_settled_key_is_stats_only_and_still_exact(tmp_path, monkeypatch):
    wd, cfg = _tracker_run(tmp_path)
    from runwatch.progress_tracking import change_detection

    t = TrainerProgressTracker(str(wd), cfg)
    t.get_progress()
    assert t._hint["names"], "just written: racy"
    monkeypatch.setattr(change_detection, "RACY_WINDOW_S", 0.0)  # as if the window had passed
    t.get_progress()  # matches, then settles
    assert t._hint["names"] == {}
    listed: list[str] = []
    real = os.listdir
    monkeypatch.setattr(os, "listdir", lambda p=".": listed.append(str(p)) or real(p))
    assert t.get_progress().completed_epochs == 3
    assert listed == [], "a settled warm check lists no dir"
    monkeypatch.setattr(os, "listdir", real)
    write_epoch(str(wd), 3, {"mean_IoU": 0.9}, None, 4, random.Random(1))
    assert t.get_progress().completed_epochs == 4


def test_unchanged_progress_json_is_not_rewritten(tmp_path):
    # Issue 19: written only with progress_json = "missing"; runwatch's own file is rewritten
    # only when its content changes, and a fresh tracker (not knowing it wrote it) never touches it.
    from dataclasses import replace

    from runwatch.settings import Settings

    wd, cfg = _tracker_run(tmp_path)
    s = replace(Settings(), progress_json="missing")
    t = TrainerProgressTracker(str(wd), cfg, settings=s)
    t.get_progress()
    st = os.stat(wd / "progress.json")
    t.get_progress(force_refresh=True)
    TrainerProgressTracker(str(wd), cfg, settings=s).get_progress(force_refresh=True)
    st2 = os.stat(wd / "progress.json")
    assert (st.st_ino, st.st_mtime_ns) == (st2.st_ino, st2.st_mtime_ns)
    assert not [n for n in os.listdir(wd) if n.endswith(".tmp")]


def test_small_scores_file_read_from_its_head(tmp_path):
    """per_datapoint is not parsed (it was most of a cold scan), but a file cut short is still refused."""
    p = tmp_path / "validation_scores.json"
    p.write_text('{"aggregated": {"mean_IoU": 0.5}, "per_datapoint": {"mean_IoU": [0.4, 0.6]}}')
    assert read_aggregated(str(p)) == ({"mean_IoU": 0.5}, None)
    p.write_text('{"aggregated": {"mean_IoU": 0.5}, "per_datapoint": {"mean_IoU": [0.4, 0.')
    scores, problem = read_aggregated(str(p))
    assert scores is None and "half-written" in problem and str(p) in problem
    p.write_text('{"aggregated": {"mean_IoU": 0.')
    scores, problem = read_aggregated(str(p))
    assert scores is None and str(p) in problem
    p.write_text(json.dumps({"per_datapoint": {}, "aggregated": {"mae": 1.0}}))  # not first: full parse
    assert read_aggregated(str(p)) == ({"mae": 1.0}, None)


# ---------------------------------------------------------------- what the second round of speedups rests on


def test_unchanged_configs_give_the_same_facts_object(tree):
    """A warm batch read is a stat per config: the facts handed out before come back, until a file changes."""
    from runwatch.configs import read_configs

    paths = [os.path.join(tree.root, r.config_path) for r in tree.runs]
    first = read_configs(paths, root=tree.root)
    second = read_configs(paths, root=tree.root)
    assert all(second[p] is first[p] for p in paths)
    edited = paths[0]
    with open(edited) as f:
        text = f.read()
    time.sleep(0.01)
    with open(edited, "w") as f:
        f.write(text.replace("'epochs':", "'epochs': 1 + 0 *", 1) if "'epochs':" in text else text + "\n# edited\n")
    third = read_configs(paths, root=tree.root)
    assert third[edited] is not first[edited]
    assert all(third[p] is first[p] for p in paths[1:])


def _project(tmp_path, body: str) -> str:
    (tmp_path / "configs").mkdir(exist_ok=True)
    (tmp_path / "logs").mkdir(exist_ok=True)
    cfg = tmp_path / "configs" / "x.py"
    cfg.write_text(body)
    return str(cfg)


def test_elided_seed_lists_change_no_answer(tmp_path, monkeypatch):
    """Long int lists are skipped before parsing; facts equal a full read, and a value derived from one stays exact."""
    from runwatch.configs import read_configs
    from runwatch.configs import loader as loader_module
    from runwatch.configs.evaluator import parse, parse_elided

    seeds = ", ".join(str(1000 + i) for i in range(40))
    used = _project(
        tmp_path, f"seeds = [{seeds}]\nconfig = {{'epochs': len(seeds), 'train_seeds': seeds,\n  'val_seeds': [\n {seeds}\n],\n 'work_dir': './logs/x'}}\n"
    )
    assert parse_elided(open(used, "rb").read(), used)[1]  # the lists were elided...
    f = read_configs([used], root=str(tmp_path), use_cache=False)[used]
    assert f.error is None and f.epochs == 40 and not f.warnings  # ...and the answer is the full read's
    plain = tmp_path / "configs" / "y.py"
    plain.write_text(f"config = {{'epochs': 7, 'train_seeds': [{seeds}], 'work_dir': './logs/y'}}\n")
    elided = read_configs([str(plain)], root=str(tmp_path), use_cache=False)[str(plain)]
    monkeypatch.setattr(loader_module, "parse_elided", lambda source, path: (parse(source, path), False))
    full = read_configs([str(plain)], root=str(tmp_path), use_cache=False)[str(plain)]
    assert elided == full and elided.epochs == 7


def test_list_in_a_string_is_never_elided():
    from runwatch.configs.evaluator import parse_elided

    ints = ", ".join(str(i) for i in range(30))
    src = f"name = 'x = [{ints}]'\n".encode()
    tree, elided = parse_elided(src, "s.py")
    assert not elided and tree.body[0].value.value == f"x = [{ints}]"


def test_store_details_decode_lazily_and_exactly():
    import pickle

    from runwatch.progress_tracking.base_progress_tracker import EpochRecord, RunDetails

    d = RunDetails(epochs=[EpochRecord(i, True, 10.0 + i, 1.0, {"acc": i / 10}, (i, 2)) for i in range(5)], logs=[("a.log", 3.0)], eta_seconds=4.0)
    loaded = pickle.loads(pickle.dumps(d))
    assert "epochs" not in loaded.__dict__  # not decoded until asked for
    assert loaded == d and loaded.epochs[3].scores == {"acc": 0.3}
    assert pickle.loads(pickle.dumps(loaded)) == d  # saved again from the kept blob


def test_json_record_equals_json_safe_of_to_dict():
    from runwatch.progress_tracking.progress_info import ProgressInfo, StageProgress, json_safe
    from runwatch.run_status import RunStatus

    nan, inf = float("nan"), float("inf")
    p = ProgressInfo(3, nan, best_score={"a": {"b": inf}}, latest_score={"a": 1.0}, warnings=["w"], stages=[StageProgress(0, 3, 3, nan, "r")], start_time=inf)
    r = RunStatus(
        "c",
        "w",
        p,
        "running",
        None,
        run="r",
        eta_seconds=-inf,
        headline={"main_metric": "a", "main_best": nan, "main_latest": None, "main_direction": 1},
        checked_at=1.0,
    )
    assert json.dumps(r.to_json_record(), allow_nan=False) == json.dumps(json_safe(r.to_dict()), allow_nan=False)


def test_progress_json_rewritten_only_when_content_changes(tmp_path):
    # Issue 19: only runwatch's own file (known by its identity) is ever rewritten, in the 4-field shape.
    from runwatch.progress_tracking.progress_store import save_progress_json
    from runwatch.progress_tracking.progress_info import ProgressInfo

    path = tmp_path / "progress.json"
    theirs = json.dumps({"completed_epochs": 1, "progress_percentage": 10.0, "early_stopped": False, "early_stopped_at_epoch": None})
    path.write_text(theirs)
    p = ProgressInfo(2, 20.0, total_epochs=10)
    assert save_progress_json(str(tmp_path), p, "missing") == (None, None)
    assert path.read_text() == theirs  # someone else's: never touched
    path.unlink()
    problem, own = save_progress_json(str(tmp_path), p, "missing")
    assert problem is None and own is not None
    assert json.loads(path.read_text()) == {"completed_epochs": 2, "progress_percentage": 20.0, "early_stopped": False, "early_stopped_at_epoch": None}
    ino = os.stat(path).st_ino
    assert save_progress_json(str(tmp_path), p, "missing", own=own) == (None, own)
    assert os.stat(path).st_ino == ino  # same content: not rewritten
    problem, own2 = save_progress_json(str(tmp_path), ProgressInfo(3, 30.0, total_epochs=10), "missing", own=own)
    assert problem is None and own2 != own and json.loads(path.read_text())["completed_epochs"] == 3
