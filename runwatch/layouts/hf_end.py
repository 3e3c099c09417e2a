"""How a Hugging Face Trainer run ended, from what it left: pure functions over parsed data.

- ``EarlyStoppingCallback`` keeps its counter in memory; ``trainer_state.json`` holds it only as
  of the last checkpoint save. Replaying the evaluation history (every ``eval_*`` value, from
  the event files where they hold more than the saved state) against the callback's patience
  and threshold, exactly as the Trainer runs it, says whether the last evaluation stopped
  training.
- ``trainer.save_model()`` after ``train()`` writes the model into the output dir itself: a model
  file there newer than every checkpoint means training returned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MODEL_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json", "adapter_model.safetensors")


def early_stop_index(values: Sequence[float | None], patience: int, threshold: float, greater: bool) -> int | None:
    """The evaluation (index) at which ``EarlyStoppingCallback`` stops training, or None.

    The callback compares each value with the best *before* it (the Trainer updates its best
    metric after the callbacks' ``on_evaluate``): an improvement by more than ``threshold``
    resets the counter, anything else adds one; training stops when the counter reaches
    ``patience``. The best is then updated on any strict improvement. A missing value is skipped
    (the callback does nothing without its metric)."""
    if patience < 1:
        return None
    best: float | None = None
    counter = 0
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        improved = best is None or ((v > best if greater else v < best) and abs(v - best) > threshold)
        counter = 0 if improved else counter + 1
        if counter >= patience:
            return i
        if best is None or (v > best if greater else v < best):
            best = v
    return None


def returned_from_train(model_mtime: float | None, newest_checkpoint_mtime: float | None) -> bool:
    """Whether the final ``save_model`` ran: a model file in the output dir, newer than every checkpoint."""
    if model_mtime is None:
        return False
    return newest_checkpoint_mtime is None or model_mtime >= newest_checkpoint_mtime


def newest_run_checkpoints(checkpoints: list[tuple[int, str, float | None]], run_start: float | None, slack: float = 2.0) -> list[tuple[int, str]]:
    """The checkpoints of the newest run in a reused ``output_dir``, oldest step first.

    ``checkpoints``: (step, name, mtime). A second run into the same folder writes its own
    ``checkpoint-<step>`` folders and leaves the first run's higher ones behind: a checkpoint
    older than the newest run's start (``run_start``: when its event file was opened), or one
    with a higher step but an older mtime than the newest checkpoint, is an earlier run's."""
    timed = [c for c in checkpoints if c[2] is not None]
    if run_start is not None:
        timed = [c for c in timed if c[2] >= run_start - slack]  # type: ignore[operator]
    if not timed:
        return [(s, n) for s, n, m in checkpoints if m is None] if run_start is None else []
    newest = max(timed, key=lambda c: (c[2], c[0]))
    return sorted((s, n) for s, n, _ in timed if s <= newest[0])


def stale_top_state(mtime: float, run_start: float | None, newest_checkpoint_mtime: float | None, slack: float = 2.0) -> bool:
    """Whether the output dir's own ``trainer_state.json`` (``save_state()``) is an earlier run's:
    older than the newest run's start, or than its newest checkpoint."""
    if run_start is not None and mtime < run_start - slack:
        return True
    return newest_checkpoint_mtime is not None and mtime < newest_checkpoint_mtime - slack
