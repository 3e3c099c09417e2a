"""Stage-level early stopping in list configs sharing a work dir, as Pylon's main.py runs them (issue 24)."""

from __future__ import annotations

from runwatch.progress_tracking.stage_ends import StageEnd, stage_ends


def test_both_stages_stop_early_at_the_same_epoch():
    ends, current, early = stage_ends([6, 10], [True, True], 4, 4)
    assert ends == [StageEnd(4, 4, True), StageEnd(4, 4, True)] and current is None and early is True


def test_second_stage_without_early_stopping_resumes_to_its_epochs():
    assert stage_ends([6, 10], [True, False], 4, 4) == ([StageEnd(4, 4, True), StageEnd(4, 10, False)], 1, False)
    assert stage_ends([6, 10], [True, False], 9, 4) == ([StageEnd(4, 4, True), StageEnd(9, 10, False)], 1, False)
    assert stage_ends([6, 10], [True, False], 10, 4) == ([StageEnd(4, 4, True), StageEnd(10, 10, False)], None, False)


def test_a_stop_at_or_past_a_stage_end_is_not_that_stage_stopping_early():
    # stopped_at == epochs: the stage ran its epochs in full
    assert stage_ends([6, 10], [True, True], 6, 6)[0][0] == StageEnd(6, 6, False)
    assert stage_ends([6, 10], [True, True], 5, 5) == ([StageEnd(5, 5, True), StageEnd(5, 5, True)], None, True)
    # a stop recorded before the stage began (an earlier stage's) does not end a later stage
    ends, current, early = stage_ends([2, 10], [False, True], 3, 1)
    assert ends[0] == StageEnd(2, 2, False) and current == 1 and early is False


def test_no_stop_recorded_and_unknown_epochs():
    assert stage_ends([6, 10], [True, True], 3, None) == ([StageEnd(3, 6, False), StageEnd(0, 10, False)], 0, False)
    assert stage_ends([None], [True], 3, None) == ([StageEnd(3, None, False)], 0, False)
    assert stage_ends([None, 4], [True, True], 2, 2) == ([StageEnd(2, 2, True), StageEnd(2, 2, True)], None, True)
