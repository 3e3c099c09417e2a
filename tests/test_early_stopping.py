"""The early-stopping replay and the decision between the trainer's record, its log and the replay, pinned
value by value (the survivors of a mutation run over runwatch/progress_tracking/early_stopping.py; see
docs/status.md, "Mutation score")."""

from __future__ import annotations

from types import SimpleNamespace

from runwatch.progress_tracking.early_stopping import EarlyStopTrace, decide_early_stop, replay

UP = {"acc": 1}


def s(v: float) -> dict[str, float]:
    return {"acc": v}


def test_replay_counts_each_epoch_and_keeps_the_counter_over_missing_scores():
    t = replay([s(0.5), None, s(0.4), s(0.6), s(0.6)], UP, None)
    assert t == EarlyStopTrace(best_index=3, stop_at=None, counters=(0, 0, 1, 0, 1), known=True)
    t = replay([None, s(0.5)], UP, 2)  # before any scores the counter is 0
    assert t.counters == (0, 0) and t.best_index == 1


def test_replay_without_any_scores_has_no_best():
    t = replay([None, None], UP, 2)
    assert t.best_index is None and t.stop_at is None and t.counters == (0, 0)


def test_patience_boundaries():
    series = [s(0.5), s(0.4), s(0.3)]
    assert replay(series, UP, 1).stop_at == 2  # the first epoch that is not better fires a patience of 1
    assert replay(series, UP, 2).stop_at == 3
    assert replay(series, UP, 3).stop_at is None
    assert replay(series, UP, 0).stop_at is None  # 0 (or None) is no early stopping
    assert replay(series, UP, None).stop_at is None


def test_unknown_directions_decide_nothing():
    t = replay([s(0.5), s(0.4), s(0.3)], None, 1)
    assert t == EarlyStopTrace(None, None, (0, 0, 0), known=False)
    assert replay([s(0.5)], {}, 1).known is False
    # ...so the replay is not named as what decided
    assert decide_early_stop(t, 3, 10, None, None, 1) == (False, None, None)
    assert decide_early_stop(replay([s(0.5), s(0.6)], UP, 1), 2, 10, None, None, 1) == (False, None, "replay")


NO_STOP = EarlyStopTrace(best_index=0, stop_at=None, counters=(0,))


def test_trainer_record_at_epoch_wins_over_its_own_completed_count():
    # early_stopped_at_epoch is what says where; completed_epochs is only the fallback when it is missing
    rec = {"completed_epochs": 4, "early_stopped": True, "early_stopped_at_epoch": 5, "progress_percentage": 50.0}
    assert decide_early_stop(NO_STOP, 5, 10, rec, None, 2) == (True, 5, "trainer")
    rec = {"completed_epochs": 5, "early_stopped": True, "early_stopped_at_epoch": None}
    assert decide_early_stop(NO_STOP, 5, 10, rec, None, 2) == (True, 5, "trainer")
    rec = {"completed_epochs": 5, "early_stopped": True, "early_stopped_at_epoch": 4}  # about other epochs
    assert decide_early_stop(NO_STOP, 5, 10, rec, None, 2) == (False, None, "replay")


def test_trainer_no_counts_only_for_the_epochs_on_disk():
    log = SimpleNamespace(stopped_early_at=5)
    stale = {"completed_epochs": 3, "early_stopped": False, "early_stopped_at_epoch": None}
    assert decide_early_stop(NO_STOP, 5, 10, stale, log, 2) == (True, 5, "log")
    current = {"completed_epochs": 5, "early_stopped": False, "early_stopped_at_epoch": None}
    assert decide_early_stop(NO_STOP, 5, 10, current, log, 2) == (False, None, "trainer")
    assert decide_early_stop(NO_STOP, 5, 10, current, None, None) == (False, None, None)


def test_replay_stop_allows_the_one_epoch_lag_and_not_more():
    t = EarlyStopTrace(best_index=1, stop_at=4, counters=())
    assert decide_early_stop(t, 4, 10, None, None, 3) == (True, 4, "replay")
    assert decide_early_stop(t, 5, 10, None, None, 3) == (True, 5, "replay")
    assert decide_early_stop(t, 6, 10, None, None, 3) == (False, None, "replay")
    assert decide_early_stop(t, 5, 5, None, None, 3) == (False, None, "replay")  # all epochs done: not an early stop
    assert decide_early_stop(t, 5, None, None, None, 3) == (True, 5, "replay")
