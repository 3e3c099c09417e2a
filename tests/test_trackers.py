"""Trackers on hand-built work dirs: epochs, early stopping, evaluators, multi-stage, caching."""

from __future__ import annotations

import json
import os
import random
import time

import pytest

from runwatch import (
    EvaluatorProgressTracker,
    MultiStageProgressTracker,
    ProgressInfo,
    TrainerProgressTracker,
    check_epoch_finished,
    create_progress_tracker,
    detect_runner_type,
    get_session_progress,
)
from runwatch.progress_tracking import read_progress_json
from runwatch.testing.generator import write_epoch


class SemanticSegmentationMetric:
    DIRECTIONS = {"mean_IoU": 1, "loss": -1}


class SupervisedSingleTaskTrainer:
    pass


class BaseEvaluator:
    pass


def trainer_config(epochs=10, patience=None, directions=None):
    metric = type("M", (), {"DIRECTIONS": directions or {"mean_IoU": 1}})
    c = {"runner": SupervisedSingleTaskTrainer, "epochs": epochs, "metric": {"class": metric, "args": {}}}
    if patience is not None:
        c["early_stopping"] = {"class": object, "args": {"enabled": True, "epochs": patience}}
    return c


def make_run(wd, values, key="mean_IoU", log=True):
    os.makedirs(wd, exist_ok=True)
    rng = random.Random(0)
    for i, v in enumerate(values):
        write_epoch(str(wd), i, {key: v} if not isinstance(v, dict) else v, None, 4, rng)
    if log:
        (wd / "train_val_0.log").write_text("epoch\n")


def test_consecutive_epochs_and_scores(tmp_path):
    wd = tmp_path / "run"
    make_run(wd, [0.1, 0.3, 0.2])
    p = TrainerProgressTracker(str(wd), trainer_config(10)).get_progress()
    assert p.completed_epochs == 3
    assert p.total_epochs == 10
    assert p.progress_percentage == pytest.approx(30.0)
    assert p.best_score == {"mean_IoU": 0.3}
    assert p.latest_score == {"mean_IoU": 0.2}
    assert p.best_epoch == 1
    assert p.runner_type == "trainer"
    assert not p.early_stopped


def test_partial_epoch_and_gap_warning(tmp_path):
    wd = tmp_path / "run"
    make_run(wd, [0.1, 0.2, 0.3, 0.4])
    os.remove(wd / "epoch_1" / "optimizer_buffer.json")
    (wd / "epoch_1" / "optimizer_buffer.json").write_text("")  # empty = not finished
    p = TrainerProgressTracker(str(wd), trainer_config(10)).get_progress()
    assert p.completed_epochs == 1
    assert p.warnings and any("gap" in w for w in p.warnings)


def test_early_stopping_detected(tmp_path):
    wd = tmp_path / "run"
    make_run(wd, [0.1, 0.5, 0.4, 0.45, 0.3])  # best at epoch 1, 3 non-improving epochs
    p = TrainerProgressTracker(str(wd), trainer_config(10, patience=3)).get_progress()
    assert p.early_stopped
    assert p.early_stopped_at_epoch == 5
    assert p.progress_percentage == 100.0
    assert p.completed_epochs == 5


def test_not_early_stopped_before_patience(tmp_path):
    wd = tmp_path / "run"
    make_run(wd, [0.1, 0.5, 0.4, 0.45])
    t = TrainerProgressTracker(str(wd), trainer_config(10, patience=3))
    p = t.get_progress()
    assert not p.early_stopped and not t.is_complete()


def test_incomparable_scores_count_towards_patience(tmp_path):
    wd = tmp_path / "run"
    dirs = {"mean_IoU": 1, "loss": -1}
    vals = [
        {"mean_IoU": 0.5, "loss": 0.5},
        {"mean_IoU": 0.6, "loss": 0.6},  # incomparable: IoU better, loss worse
        {"mean_IoU": 0.4, "loss": 0.4},  # incomparable
    ]
    make_run(wd, vals)
    p = TrainerProgressTracker(str(wd), trainer_config(10, patience=2, directions=dirs)).get_progress()
    assert p.early_stopped and p.early_stopped_at_epoch == 3
    assert p.best_score == vals[0]


def test_nested_scores_and_lists(tmp_path):
    wd = tmp_path / "run"
    dirs = {"depth": {"l1": -1}, "seg": {"class_IoU": 1}}
    vals = [
        {"depth": {"l1": 0.5}, "seg": {"class_IoU": [0.1, 0.2]}},
        {"depth": {"l1": 0.4}, "seg": {"class_IoU": [0.2, 0.3]}},
        {"depth": {"l1": 0.45}, "seg": {"class_IoU": [0.2, 0.1]}},
    ]
    make_run(wd, vals)
    p = TrainerProgressTracker(str(wd), trainer_config(10, directions=dirs)).get_progress()
    assert p.best_score == vals[1] and p.best_epoch == 1


def test_error_message_from_traceback(tmp_path):
    wd = tmp_path / "run"
    make_run(wd, [0.1], log=False)
    (wd / "train_val_0.log").write_text("ok\n")
    (wd / "train_val_1.log").write_text("starting\nTraceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n    f()\nKeyError: 'mean_IoU'\n")
    os.utime(wd / "train_val_0.log", (time.time() - 100, time.time() - 100))
    p = TrainerProgressTracker(str(wd), trainer_config(10)).get_progress()
    assert p.error_message == "KeyError: 'mean_IoU'"


def test_never_launched_trainer(tmp_path):
    p = TrainerProgressTracker(str(tmp_path / "nope"), trainer_config(5)).get_progress()
    assert p.completed_epochs == 0 and "never launched" in p.error_message


def test_evaluator_binary_and_tolerant(tmp_path):
    wd = tmp_path / "ev"
    wd.mkdir()
    t = EvaluatorProgressTracker(str(wd), {"runner": BaseEvaluator})
    assert t.get_progress().progress_percentage == 0.0
    (wd / "evaluation_scores.json").write_text('{"aggregated": {"acc": 0.9}, "per_datapoint": {"acc": [0.8, ')
    p = t.get_progress()
    assert p.completed_epochs == 0
    assert p.warnings and ("half-written" in p.warnings[0] or "malformed" in p.warnings[0])
    (wd / "evaluation_scores.json").write_text('{"aggregated": {"acc": 0.9}, "per_datapoint": {"acc": [0.8]}}')
    p = t.get_progress()
    assert p.completed_epochs == 1 and p.progress_percentage == 100.0
    assert p.best_score == p.latest_score == {"acc": 0.9}
    assert not (wd / "progress.json").exists()  # evaluators write none


def test_multi_stage(tmp_path):
    wd = tmp_path / "ms"
    make_run(wd, [0.1, 0.2, 0.3, 0.4])
    config = [dict(trainer_config(3)), dict(trainer_config(5))]
    t = create_progress_tracker(str(wd), config)
    assert isinstance(t, MultiStageProgressTracker)
    p = t.get_progress()
    assert p.runner_type == "multi_stage"
    # Issue 19: both stages train in this one work dir, each resuming up to its own epochs: 5 in all, not 8.
    assert p.total_epochs == 5 and p.completed_epochs == 4
    assert p.current_stage == 1
    assert [s.completed_epochs for s in p.stages] == [3, 4]
    assert p.progress_percentage == pytest.approx(80.0)


def test_detection_order_and_fail_fast(tmp_path):
    wd = tmp_path / "r"
    wd.mkdir()
    (wd / "config.json").write_text("{}")
    (wd / "git_0.log").write_text("")
    with pytest.raises(ValueError) as e:
        detect_runner_type(str(wd), {"model": 1, "dataset": 2})
    msg = str(e.value)
    assert str(wd) in msg and "config.json" in msg and "'model'" in msg and "Expected patterns" in msg
    assert detect_runner_type(str(wd), {"runner": BaseEvaluator}) == "evaluator"
    assert detect_runner_type(str(wd), {"epochs": 3}) == "trainer"
    (wd / "epoch_0").mkdir()
    assert detect_runner_type(str(wd), {"runner": BaseEvaluator}) == "trainer"  # artifacts first
    (wd / "evaluation_scores.json").write_text("{}")
    assert detect_runner_type(str(wd), None) == "evaluator"
    with pytest.raises(ValueError):
        detect_runner_type(str(tmp_path / "missing"), None)


def test_cache_invalidated_by_new_epoch(tmp_path):
    wd = tmp_path / "run"
    make_run(wd, [0.1, 0.2])
    t = TrainerProgressTracker(str(wd), trainer_config(10))
    assert t.get_progress().completed_epochs == 2
    # Age the dirs so the key is trusted, then check the cache is used...
    old = time.time() - 100
    for d in wd.iterdir():
        os.utime(d, (old, old))
    t.get_progress(force_refresh=True)
    assert t._cache_key is not None
    calls = []
    orig = t.calculate_progress
    t.calculate_progress = lambda: calls.append(1) or orig()
    assert t.get_progress().completed_epochs == 2 and calls == []
    # ...and that a new epoch is seen on the very next call.
    write_epoch(str(wd), 2, {"mean_IoU": 0.3}, None, 4, random.Random(0))
    assert t.get_progress().completed_epochs == 3 and calls == [1]
    # A file growing in the frontier epoch is seen too.
    write_epoch(str(wd), 3, {"mean_IoU": 0.4}, None, 4, random.Random(0), files=("training_losses.pt", "validation_scores.json"))
    (wd / "epoch_3" / "optimizer_buffer.json").write_text("")
    for d in wd.iterdir():
        os.utime(d, (old, old))
    assert t.get_progress().completed_epochs == 3
    t.get_progress(force_refresh=True)
    (wd / "epoch_3" / "optimizer_buffer.json").write_text("[]")
    assert t.get_progress().completed_epochs == 4


TRAINER_FIELDS = {"completed_epochs", "progress_percentage", "early_stopped", "early_stopped_at_epoch"}


def _missing_policy():
    from dataclasses import replace

    from runwatch.settings import Settings

    return replace(Settings(), progress_json="missing")


def test_progress_json_written_atomically_and_read_back(tmp_path):
    # Issue 19: only with progress_json = "missing", only where the run has none, only the trainer's 4 fields.
    wd = tmp_path / "run"
    make_run(wd, [0.1, 0.2])
    p = TrainerProgressTracker(str(wd), trainer_config(4), settings=_missing_policy()).get_progress()
    data = json.loads((wd / "progress.json").read_text())
    assert set(data) == TRAINER_FIELDS
    assert data == {"completed_epochs": 2, "progress_percentage": 50.0, "early_stopped": False, "early_stopped_at_epoch": None}
    back, problem = read_progress_json(str(wd))
    assert problem is None and back.completed_epochs == p.completed_epochs
    assert not [n for n in os.listdir(wd) if n.endswith(".tmp")]


def test_progress_json_policies(tmp_path):
    # Issue 19 changed this: the default writes nothing; "legacy" and "full" are older names of
    # "missing" (4 fields, no sidecar), since a 16-key file breaks Pylon's own strict reader.
    from dataclasses import replace

    from runwatch.settings import Settings

    for policy in ("legacy", "full"):
        wd = tmp_path / policy
        make_run(wd, [0.1, 0.2])
        TrainerProgressTracker(str(wd), trainer_config(4), settings=replace(Settings(), progress_json=policy)).get_progress()
        assert set(json.loads((wd / "progress.json").read_text())) == TRAINER_FIELDS
        assert not (wd / "progress.runwatch.json").exists()
    for policy in (None, "off"):
        wd2 = tmp_path / f"run-{policy}"
        make_run(wd2, [0.1])
        s = Settings() if policy is None else replace(Settings(), progress_json=policy)
        TrainerProgressTracker(str(wd2), trainer_config(4), settings=s).get_progress()
        assert not (wd2 / "progress.json").exists()


def test_unwritable_progress_json_is_a_warning(tmp_path, monkeypatch):
    wd = tmp_path / "run"
    make_run(wd, [0.1])
    import runwatch.readers.jsonfile as jf

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(jf.os, "link", refuse)
    p = TrainerProgressTracker(str(wd), trainer_config(4), settings=_missing_policy()).get_progress()
    assert p.completed_epochs == 1
    assert any("could not write" in w for w in p.warnings)
    assert not (wd / "progress.json").exists()
    assert not [n for n in os.listdir(wd) if n.endswith(".tmp")]


def test_someone_elses_progress_json_is_never_touched(tmp_path):
    # A directory (or any file runwatch did not write) where progress.json would go: left alone, no warning.
    wd = tmp_path / "run"
    make_run(wd, [0.1])
    (wd / "progress.json").mkdir()
    p = TrainerProgressTracker(str(wd), trainer_config(4), settings=_missing_policy()).get_progress()
    assert p.completed_epochs == 1
    assert (wd / "progress.json").is_dir()
    assert not [n for n in os.listdir(wd) if n.endswith(".tmp")]


@pytest.mark.parametrize(
    "data",
    [
        {"completed_epochs": 5, "progress_percentage": 50.0, "early_stopped": False, "early_stopped_at_epoch": None},
        {"completed_epochs": 5, "progress_percentage": 50, "early_stopped": False, "early_stopped_at_epoch": None, "total_epochs": 10},
        {
            "completed_epochs": 5,
            "progress_percentage": 50.0,
            "early_stopped": True,
            "early_stopped_at_epoch": 5,
            "runner_type": "trainer",
            "total_epochs": 10,
            "future": 1,
        },
    ],
)
def test_from_dict_variants(data):
    p = ProgressInfo.from_dict(data)
    assert p.completed_epochs == 5 and p.progress_percentage == 50.0
    assert ProgressInfo.from_dict(p.to_dict()) == p


@pytest.mark.parametrize("bad", [{}, {"completed_epochs": "5", "progress_percentage": 1.0}, [], {"completed_epochs": -1, "progress_percentage": 0}])
def test_from_dict_rejects_garbage(bad):
    with pytest.raises(ValueError):
        ProgressInfo.from_dict(bad)


def test_check_epoch_finished_load_check(tmp_path):
    wd = tmp_path / "run"
    make_run(wd, [0.1])
    e = str(wd / "epoch_0")
    files = ["training_losses.pt", "optimizer_buffer.json", "validation_scores.json"]
    assert check_epoch_finished(e, files, check_load=True)
    (wd / "epoch_0" / "training_losses.pt").write_bytes(b"not a zip at all")
    assert check_epoch_finished(e, files, check_load=False)
    assert not check_epoch_finished(e, files, check_load=True)


def test_get_session_progress(tmp_path):
    wd = tmp_path / "run"
    make_run(wd, [0.1, 0.2])
    p = get_session_progress(str(wd), ["training_losses.pt", "optimizer_buffer.json", "validation_scores.json"], config=trainer_config(4))
    assert p.completed_epochs == 2 and p.progress_percentage == 50.0


def test_unknown_directions_claim_no_best_epoch_and_no_replayed_early_stop(tmp_path):
    """Issue 12: with no direction known for any score (no metric sources, a name no heuristic places), the replay
    would call every epoch 'not better' and fire after `patience` epochs: a guess presented as fact. No best epoch
    and no early stop are then claimed from the scores, and the run says why; the trainer's own record still counts."""
    wd = tmp_path / "run"
    make_run(wd, [0.1, 0.5, 0.4, 0.45, 0.3], key="zorblax")
    config = {"runner": SupervisedSingleTaskTrainer, "epochs": 10, "early_stopping": {"class": object, "args": {"enabled": True, "epochs": 3}}}
    p = TrainerProgressTracker(str(wd), config).get_progress()
    assert not p.early_stopped and p.early_stopped_at_epoch is None and p.early_stop_source != "replay"
    assert p.best_epoch is None and p.best_score is None
    assert p.latest_score == {"zorblax": 0.3}
    assert p.progress_percentage == pytest.approx(50.0)
    assert any("metric directions unknown" in w for w in p.warnings or [])
    # The trainer's own progress.json (its 4 fields) is evidence whatever the directions.
    (wd / "progress.json").write_text(json.dumps({"completed_epochs": 5, "progress_percentage": 50.0, "early_stopped": True, "early_stopped_at_epoch": 5}))
    p = TrainerProgressTracker(str(wd), config).get_progress()
    assert p.early_stopped and p.early_stopped_at_epoch == 5 and p.early_stop_source == "trainer" and p.progress_percentage == 100.0
