"""A cold scan encodes its runs' per-epoch series between chunks (``encode_fresh``): the save reads the same."""

from __future__ import annotations

from runwatch.progress_tracking.base_progress_tracker import EpochRecord, RunDetails
from runwatch.progress_tracking.compact import EPOCHS_BLOB
from runwatch.progress_tracking.progress_info import ProgressInfo
from runwatch.progress_tracking.progress_store import ProgressStore


def _details(n: int) -> RunDetails:
    epochs = [EpochRecord(i, True, 100.0 + i, 1.0, {"acc": 0.5 + i / 100}, (i << 40) | 12) for i in range(n)]
    return RunDetails(epochs=epochs, logs=[("train_val_0.log", 150.0)], eta_seconds=None)


def test_details_put_while_collecting_are_encoded_once_and_saved_the_same(tmp_path):
    path = str(tmp_path / "store.pickle")
    store = ProgressStore(path)
    before = _details(3)
    store.put("/w/before", ("k",), ProgressInfo(3, 100.0), before, {})
    store.collect_fresh()
    fresh = _details(5)
    store.put("/w/fresh", ("k",), ProgressInfo(5, 50.0), fresh, {})
    store.encode_fresh()
    assert EPOCHS_BLOB in fresh.__dict__ and EPOCHS_BLOB not in before.__dict__  # only what was put since
    blob = fresh.__dict__[EPOCHS_BLOB]
    store.encode_fresh()  # nothing new: nothing done
    assert fresh.__dict__[EPOCHS_BLOB] is blob
    store.collect_fresh(False)
    store.put("/w/after", ("k",), ProgressInfo(1, 10.0), _details(1), {})
    store.encode_fresh()  # not collecting: a no-op
    assert store.save() is None
    again = ProgressStore(path)
    got = again.get("/w/fresh")
    assert got is not None
    assert [(e.index, e.finish_time, e.scores, e.scores_stat) for e in got.details.epochs] == [
        (e.index, e.finish_time, e.scores, e.scores_stat) for e in fresh.epochs
    ]
    assert len(again.get("/w/before").details.epochs) == 3 and len(again.get("/w/after").details.epochs) == 1
