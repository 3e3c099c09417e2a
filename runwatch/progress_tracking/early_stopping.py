"""Early stopping: the trainer's own record first, then its log, then a replay of the rule.

A Pylon trainer records an early stop itself (``progress.json``: ``early_stopped``,
``early_stopped_at_epoch``; its log: ``Training stopped early at epoch N``), and that
record wins. Where it is missing (older trainers, a deleted file), replaying the rule
(partial order over directed keys, patience counter that resets on strict improvement)
over the per-epoch scores tells a run that stopped early (complete) from one that died
(failed), which otherwise look alike on disk. The replay follows the trainer: the
update runs in the after-validation thread and the main loop checks ``should_stop()``
before it has finished, so a trainer normally runs one more epoch after the rule fires
(patience 2, fires after epoch 3: 4 completed epochs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runwatch.readers.scores import compare_leaf_maps, leaf_map


@dataclass(frozen=True)
class EarlyStopTrace:
    best_index: int | None
    # Number of completed epochs at which the rule stops training, or None.
    stop_at: int | None
    # counter value after each epoch, for detail views.
    counters: tuple[int, ...] = ()
    # False when no metric direction was known: the replay could then decide nothing.
    known: bool = True


def best_index(series: Sequence[dict[str, Any] | None], directions: dict[str, Any] | None) -> int | None:
    """Index of the best scores: the first one no later epoch strictly beat."""
    return replay(series, directions, None).best_index


def replay(series: Sequence[dict[str, Any] | None], directions: dict[str, Any] | None, patience: int | None) -> EarlyStopTrace:
    """Replay the rule over the per-epoch scores.

    With no metric direction known, no epoch can be better than another: the replay then
    claims neither a best epoch nor an early stop (the trainer's own record still can).
    """
    if not directions:
        return EarlyStopTrace(None, None, tuple(0 for _ in series), known=False)
    best: dict[str, Any] | None = None
    best_i: int | None = None
    counter = 0
    counters: list[int] = []
    stop_at: int | None = None
    best_leaves: dict[str, tuple[float, int]] = {}
    for i, scores in enumerate(series):
        if scores is None:
            counters.append(counter)
            continue
        # compare_scores(scores, best, directions), with each epoch's leaves built once
        leaves = leaf_map(scores, directions)
        if best is None:
            best, best_i, counter, best_leaves = scores, i, 0, leaves
        elif compare_leaf_maps(leaves, best_leaves) == 1:
            best, best_i, counter, best_leaves = scores, i, 0, leaves
        else:
            counter += 1
        counters.append(counter)
        if patience is not None and patience > 0 and stop_at is None and counter >= patience:
            stop_at = i + 1
    return EarlyStopTrace(best_i, stop_at, tuple(counters))


def decide_early_stop(
    trace: EarlyStopTrace,
    completed: int,
    total: int | None,
    trainer: dict[str, Any] | None,
    log: Any,
    patience: int | None,
) -> tuple[bool, int | None, str | None]:
    """(early stopped, at which completed-epoch count, what decided: "trainer" | "log" | "replay" | None).

    ``trainer``: the trainer's own progress.json (4 fields) or None; ``log``: the newest
    log's ``LogFacts`` or None. The trainer's record counts when it is about the epochs on
    disk (its ``early_stopped_at_epoch``, or its ``completed_epochs``, equals ``completed``);
    then its "no" is a no too (a run in its extra epoch after the rule fired is not done).
    """
    if trainer is not None:
        at = trainer.get("early_stopped_at_epoch")
        if trainer.get("early_stopped") and (at if at is not None else trainer.get("completed_epochs")) == completed:
            return True, completed, "trainer"
        if trainer.get("completed_epochs") == completed and not trainer.get("early_stopped"):
            return False, None, "trainer" if patience else None
    stopped_at = getattr(log, "stopped_early_at", None)
    if stopped_at is not None and stopped_at == completed:
        return True, completed, "log"
    if trace.stop_at is not None and completed in (trace.stop_at, trace.stop_at + 1) and (total is None or completed < total):
        return True, completed, "replay"
    return False, None, "replay" if patience and trace.known else None
