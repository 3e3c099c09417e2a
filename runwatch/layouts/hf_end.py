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
