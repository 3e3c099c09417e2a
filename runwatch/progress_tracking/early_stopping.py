"""Replaying Pylon's early stopping over the scores a run wrote.

The trainer does not record that it stopped early; it simply stops. Replaying the
rule (partial order over directed keys, patience counter that resets on strict
improvement) over the per-epoch scores tells a run that stopped early (complete)
from one that died (failed), which otherwise look alike on disk.
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


def best_index(series: Sequence[dict[str, Any] | None], directions: dict[str, Any] | None) -> int | None:
    """Index of the best scores: the first one no later epoch strictly beat."""
    return replay(series, directions, None).best_index


def replay(series: Sequence[dict[str, Any] | None], directions: dict[str, Any] | None, patience: int | None) -> EarlyStopTrace:
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
        leaves = leaf_map(scores, directions) if directions else {}
        if best is None:
            best, best_i, counter, best_leaves = scores, i, 0, leaves
        elif directions and compare_leaf_maps(leaves, best_leaves) == 1:
            best, best_i, counter, best_leaves = scores, i, 0, leaves
        else:
            counter += 1
        counters.append(counter)
        if patience is not None and patience > 0 and stop_at is None and counter >= patience:
            stop_at = i + 1
    if best_i is None and series:
        best_i = None
    return EarlyStopTrace(best_i, stop_at, tuple(counters))
