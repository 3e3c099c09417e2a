"""The pure end-detection functions of the HF and Lightning layouts, at their boundaries (issue 24)."""

from __future__ import annotations

import os

from runwatch.layouts.hf_end import early_stop_index, newest_run_checkpoints, returned_from_train, stale_top_state
from runwatch.layouts.huggingface import directions_of
from runwatch.layouts.lightning_end import csv_pulse, ends_on_epoch_boundary, moved_on
from runwatch.readers.log_pulse import Pulse


def test_early_stopping_callback_replay_matches_the_trainer():
    # patience 2, lower is better: counters 0, 0, 1, 2 -> stops at the 4th evaluation
    assert early_stop_index([1.0, 0.9, 0.9, 0.95], 2, 0.0, False) == 3
    assert early_stop_index([1.0, 0.9, 0.9], 2, 0.0, False) is None
    # an improvement by no more than the threshold counts as none; the best still moves
    assert early_stop_index([0.9, 0.85, 0.84], 2, 0.06, False) == 2
    assert early_stop_index([0.9, 0.85, 0.78], 2, 0.06, False) is None
    assert early_stop_index([0.5, 0.6, 0.7], 1, 0.0, True) is None
    assert early_stop_index([0.5, 0.5], 1, 0.0, True) == 1  # equal is no improvement
    assert early_stop_index([0.5, None, 0.5], 1, 0.0, True) == 2  # a missing value is skipped
    assert early_stop_index([0.5, float("nan"), 0.4], 1, 0.0, True) == 2
    assert early_stop_index([0.5, 0.4], 0, 0.0, True) is None
    assert early_stop_index([], 1, 0.0, True) is None


def test_save_model_after_train():
    assert returned_from_train(None, 5.0) is False
    assert returned_from_train(5.0, None) is True
    assert returned_from_train(5.0, 5.0) is True
    assert returned_from_train(4.9, 5.0) is False


def test_no_metric_for_best_model_means_eval_loss_lower_is_better():
    assert directions_of({"metric_for_best_model": None}) == {"eval_loss": -1}
    assert directions_of({}) is None  # no arguments read at all
    assert directions_of({"metric_for_best_model": "accuracy"}) == {"eval_accuracy": 1}


def test_lightning_epoch_boundary():
    # with checkpoints: the newest closes the last epoch with rows, no record past its step
    assert ends_on_epoch_boundary(3, 2, 11, [(2, 12)]) is True
    assert ends_on_epoch_boundary(3, 2, 12, [(2, 12)]) is True
    assert ends_on_epoch_boundary(3, 2, 13, [(2, 12)]) is False  # records past the checkpoint
    assert ends_on_epoch_boundary(3, 2, 9, [(1, 8), (2, 12)]) is True
    assert ends_on_epoch_boundary(3, 3, 13, [(2, 12)]) is False  # rows of an epoch the checkpoint did not close
    assert ends_on_epoch_boundary(3, None, -1, [(2, 10)]) is True  # max_steps inside an epoch
    # without: the last epoch's rows closed
    assert ends_on_epoch_boundary(3, 2, 11, []) is True
    assert ends_on_epoch_boundary(2, 2, 11, []) is False
    assert ends_on_epoch_boundary(0, None, -1, []) is False
    assert ends_on_epoch_boundary(1, None, -1, []) is True


def test_lightning_moved_on(tmp_path):
    base = tmp_path / "lightning_logs"
    for v in ("version_0", "version_1", "version_2"):
        (base / v).mkdir(parents=True)
    me = ("host", 42, 100.0)
    writers = {str(base / "version_1"): [("host", 7, 200.0)], str(base / "version_2"): [("host", 42, 300.0)]}
    assert moved_on(str(base / "version_0"), me, lambda d: writers.get(d, [])) == "version_2"
    assert moved_on(str(base / "version_2"), ("host", 42, 300.0), lambda d: writers.get(d, [])) is None  # nothing newer
    assert moved_on(str(base / "version_0"), ("other", 42, 100.0), lambda d: writers.get(d, [])) is None
    assert moved_on(str(base / "version_0"), ("host", 42, 400.0), lambda d: writers.get(d, [])) is None  # opened before ours
    assert moved_on(str(base / "version_0"), ("host", 42, 300.0), lambda d: writers.get(d, [])) == "version_2"  # opened in the same second
    assert moved_on(str(base / "version_0"), None, lambda d: writers.get(d, [])) is None
    assert moved_on(str(tmp_path / "run"), me, lambda d: []) is None
    assert os.path.isdir(base)


def test_hf_newest_run_checkpoints():
    first = [(4, "checkpoint-4", 10.0), (8, "checkpoint-8", 11.0), (12, "checkpoint-12", 12.0), (16, "checkpoint-16", 13.0)]
    assert newest_run_checkpoints(first, None) == [(4, "checkpoint-4"), (8, "checkpoint-8"), (12, "checkpoint-12"), (16, "checkpoint-16")]
    reused = [(4, "checkpoint-4", 20.0), (8, "checkpoint-8", 21.0), (12, "checkpoint-12", 12.0), (16, "checkpoint-16", 13.0)]
    assert newest_run_checkpoints(reused, None) == [(4, "checkpoint-4"), (8, "checkpoint-8")]
    assert newest_run_checkpoints(reused, 19.0) == [(4, "checkpoint-4"), (8, "checkpoint-8")]
    assert len(newest_run_checkpoints(first, 12.0)) == 4  # 2 s of slack: 10.0 is in
    assert len(newest_run_checkpoints(first, 12.001)) == 3
    assert newest_run_checkpoints(first, 12.0, slack=0.0) == [(12, "checkpoint-12"), (16, "checkpoint-16")]
    assert newest_run_checkpoints(first, 13.0, slack=1.0) == [(12, "checkpoint-12"), (16, "checkpoint-16")]
    assert newest_run_checkpoints(first, 30.0) == []  # the newest run saved none yet
    assert newest_run_checkpoints([(4, "checkpoint-4", None)], None) == [(4, "checkpoint-4")]
    assert newest_run_checkpoints([], None) == []


def test_hf_stale_top_state():
    assert stale_top_state(10.0, 20.0, None) is True
    assert stale_top_state(18.0, 20.0, None) is False  # within the slack
    assert stale_top_state(17.9, 20.0, None) is True
    assert stale_top_state(10.0, None, 11.0) is False
    assert stale_top_state(10.0, None, 12.1) is True
    assert stale_top_state(10.0, None, None) is False


def test_lightning_csv_pulse():
    """A CSVLogger run's pace: from hparams.yaml (its start) to metrics.csv's last write, over the rows."""
    train, val, ep = {"epoch": 0, "step": 49, "train_loss": 1.0}, {"epoch": 0, "step": 99, "val_loss": 1.0}, {"train_loss_epoch": 1.0}
    assert csv_pulse(100.0, 130.0, [train, val, train]) == Pulse(10.0, "training", None, None, True)
    assert csv_pulse(100.0, 130.0, [train, val]) == Pulse(15.0, "after_validation", None, None, True)
    assert csv_pulse(100.0, 130.0, [train, ep]).position == "after_validation"
    assert csv_pulse(100.0, 130.0, [{"epoch": 0, "step": 9, "lr": 0.1, "valley": 1}]).position == "after_validation"  # "val..." closes
    assert csv_pulse(100.0, 130.0, [{"epoch": 0, "step": 9, "epoch_x": 1}]).position == "training"
    assert csv_pulse(100.0, 130.0, [{"epoch": 0, "step": 9, "x_epoch": 1}]).position == "after_validation"
    assert csv_pulse(100.0, 130.0, [train]).interval == 30.0
    assert csv_pulse(None, 130.0, [train]) is None  # no start: no pace
    assert csv_pulse(100.0, None, [train]) is None
    assert csv_pulse(100.0, 130.0, []) is None
    assert csv_pulse(100.0, 100.0, [train]) is None  # written at the same instant: no pace
    assert csv_pulse(100.0, 99.0, [train]) is None
    assert csv_pulse(100.0, 100.5, [train]).interval == 0.5


def test_a_layouts_own_pulse_is_used_where_its_text_log_has_none(tmp_path):
    from runwatch.run_status import evidence

    own = Pulse(2.0, "training", None, None, True)

    class D:
        logs = [("metrics.csv", 1.0)]
        beats = [1.0, 2.0, 3.0, 10.0]
        pulse = own

    (tmp_path / "metrics.csv").write_text("epoch,step\n0,1\n")
    assert evidence.pulse(str(tmp_path), "metrics.csv", D()) is own  # before the record times
    D.pulse = None
    assert evidence.pulse(str(tmp_path), "metrics.csv", D()).interval == 3.0  # the beats then
    D.pulse = "not a pulse"
    assert evidence.pulse(str(tmp_path), "metrics.csv", D()).interval == 3.0
