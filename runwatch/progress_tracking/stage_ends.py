"""Where each stage of a list config ends, as Pylon's ``main.py`` runs the stages that share one work dir.

``main.py`` runs the stages one after another; each trainer resumes from the epochs the work
dir holds and trains up to its own ``epochs``, unless its early stopping fires. A stage that
stops early ends there and the next stage starts: it resumes from the same epochs, and when
it has early stopping too, its rule (replayed over the finished epochs) fires at once, so it
ends there as well; a stage without early stopping trains on to its own ``epochs``.

A pure function of the stages' epochs and early-stopping switches, the epochs on disk and the
epoch count at which the run recorded an early stop (its progress.json or a session's log line).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StageEnd:
    completed: int  # epochs of this stage's share done (the dir's epochs, up to where it ends)
    ends_at: int | None  # the epoch count it ends at (None: unknown epochs)
    stopped_early: bool


def stage_ends(epochs: list[int | None], early_stopping: list[bool], completed: int, stopped_at: int | None) -> tuple[list[StageEnd], int | None, bool]:
    """(each stage's end, the current stage or None when every stage has ended, whether the run stopped early).

    ``stopped_at``: the epoch count at which an early stop was recorded, or None."""
    out: list[StageEnd] = []
    current: int | None = None
    start = 0  # the epochs the dir holds when the stage begins
    early_run = False
    for i, n in enumerate(epochs):
        es = early_stopping[i] if i < len(early_stopping) else False
        if es and stopped_at is not None and start <= stopped_at and (n is None or stopped_at < n):
            end: int | None = stopped_at
            early = True
        else:
            end = None if n is None else max(start, n)
            early = False
        if current is None and (end is None or completed < end):
            current = i
        done = completed if end is None else min(completed, end)
        out.append(StageEnd(done, end, early and current is None))
        if current is not None:
            # later stages have not begun: nothing of theirs is done
            start = end if end is not None else start
            continue
        early_run = early
        start = end if end is not None else start
    if current is not None:
        out = [s if i < current else StageEnd(s.completed if i == current else 0, s.ends_at, False) for i, s in enumerate(out)]
        early_run = False
    return out, current, early_run
