"""Progress of multi-stage training: a config that is a list of stages.

Epoch numbers run on continuously across stages (stage 2 starts at the epoch after
stage 1's last), so the on-disk scan is the trainer's; only the totals and the
split of completed epochs into stages differ.
"""

from __future__ import annotations

from typing import Literal

from runwatch.progress_tracking.base_progress_tracker import EpochRecord
from runwatch.progress_tracking.progress_info import ProgressInfo, StageProgress
from runwatch.progress_tracking.trainer_progress_tracker import TrainerProgressTracker


class MultiStageProgressTracker(TrainerProgressTracker):
    """Progress tracker for multi-stage runs (total = sum of stage epochs)."""

    def get_runner_type(self) -> Literal["trainer", "evaluator", "multi_stage"]:
        return "multi_stage"

    def stage_epochs(self) -> list[int | None]:
        if self.config is None:
            return []
        return [s.epochs for s in self.config.stages]

    def _finish(self, progress: ProgressInfo, records: list[EpochRecord], completed: int) -> None:
        counts = self.stage_epochs()
        stages: list[StageProgress] = []
        remaining = completed
        current: int | None = None
        for i, n in enumerate(counts):
            runner = self.config.stages[i].runner if self.config is not None else None
            done = min(remaining, n) if n is not None else remaining
            remaining -= done
            pct = (100.0 * done / n) if n else 0.0
            stages.append(StageProgress(index=i, total_epochs=n, completed_epochs=done, progress_percentage=pct, runner=str(runner) if runner else None))
            if current is None and (n is None or done < n):
                current = i
        progress.stages = stages
        progress.current_stage = current
