"""Pylon's progress trackers, name for name, backed by runwatch's trackers.

``BaseProgressTracker(work_dir, config=None)`` keeps Pylon's contract: ``tracker.config``
is the object that was passed, ``get_progress`` takes ``force_refresh`` (the plan's
name) or ``force_progress_recompute`` (Pylon's later name), and a subclass needs only
``get_runner_type``, ``get_expected_files``, ``get_log_pattern`` and
``calculate_progress`` (``is_complete`` has a default, as in Pylon's later versions).

The built-in trackers delegate to runwatch's: their answers are cached only while
every file they came from is unchanged (never for a fixed time), and they never write
the trainer's own ``progress.json`` (see ``docs/pylon.md``). A subclass's own
``calculate_progress`` is called on every ``get_progress``: runwatch cannot know which
files it read, so it keeps no answer it cannot check.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from typing import Any, Literal

import runwatch
from runwatch import ProgressInfo
from runwatch.pylon.context import config_for_tracker, normalize_config, settings
from runwatch.pylon.session_progress import warn_malformed_progress_json

__all__ = [
    "BaseProgressTracker",
    "EvaluatorProgressTracker",
    "TrainerProgressTracker",
    "create_progress_tracker",
    "detect_runner_type",
]

RunnerType = Literal["trainer", "evaluator", "multi_stage"]


class BaseProgressTracker(ABC):
    """Abstract base class for progress tracking (Pylon's, with ``is_complete`` optional)."""

    def __init__(self, work_dir: str, config: dict[str, Any] | None = None) -> None:
        self.work_dir = os.fspath(work_dir)
        self.config = config
        self._cache: ProgressInfo | None = None
        self._cache_time: float | None = None

    @abstractmethod
    def get_runner_type(self) -> RunnerType:
        """Return the type of runner this tracker handles."""

    @abstractmethod
    def get_expected_files(self) -> list[str]:
        """Return list of expected files for completion checking."""

    @abstractmethod
    def get_log_pattern(self) -> str:
        """Return the log file pattern to check for activity."""

    @abstractmethod
    def calculate_progress(self) -> ProgressInfo:
        """Calculate and return current progress information."""

    def is_complete(self) -> bool:
        """Whether the run is done: early stopped, all its epochs, or (evaluators) evaluated."""
        p = self.get_progress()
        if p.early_stopped:
            return True
        total = p.total_epochs if p.total_epochs is not None else (1 if self.get_runner_type() == "evaluator" else None)
        return total is not None and p.completed_epochs >= total

    def get_progress(self, force_refresh: bool = False, force_progress_recompute: bool = False) -> ProgressInfo:
        """Progress from the files as they are now (a subclass's ``calculate_progress`` runs every time)."""
        progress = self.calculate_progress()
        self._cache = progress
        self._cache_time = time.time()
        self._save_progress_cache(progress)
        return progress

    def _save_progress_cache(self, progress: ProgressInfo) -> None:
        """Pylon wrote progress.json here; runwatch writes nothing into a run's folder (a hook a subclass may fill)."""
        return None


class _Backed(BaseProgressTracker):
    """A Pylon tracker whose work is done by a runwatch tracker (``self.tracker``)."""

    def __init__(self, work_dir: str, config: dict[str, Any] | None = None) -> None:
        super().__init__(work_dir, config)
        s = settings()
        self.tracker: runwatch.BaseProgressTracker = self._engine_tracker(config_for_tracker(self.work_dir, config, s), s)

    def _engine_tracker(self, config: Any, s: runwatch.Settings) -> runwatch.BaseProgressTracker:
        raise NotImplementedError

    def get_runner_type(self) -> RunnerType:
        return self.tracker.get_runner_type()

    def get_expected_files(self) -> list[str]:
        return list(self.tracker.get_expected_files())

    def get_log_pattern(self) -> str:
        return self.tracker.get_log_pattern()

    def calculate_progress(self, force_progress_recompute: bool = False) -> ProgressInfo:
        """Progress computed from the files now, ignoring every cache."""
        return self.tracker.get_progress(force_refresh=True)

    def get_progress(self, force_refresh: bool = False, force_progress_recompute: bool = False) -> ProgressInfo:
        """Progress; a cached answer only while every file it came from is unchanged."""
        if type(self).calculate_progress is not _Backed.calculate_progress:  # a subclass computes its own
            return super().get_progress(force_refresh, force_progress_recompute)
        progress = self.tracker.get_progress(force_refresh=force_refresh or force_progress_recompute)
        if progress.runner_type != "evaluator":
            warn_malformed_progress_json(self.work_dir, progress)
        self._cache = progress
        self._cache_time = time.time()
        return progress

    def is_complete(self) -> bool:
        if type(self).calculate_progress is not _Backed.calculate_progress:
            return super().is_complete()
        return self.tracker.is_complete()


class TrainerProgressTracker(_Backed):
    """Progress tracker for BaseTrainer runs (a list config: its stages, as ``main.py`` runs them).

    Without a config (or one without ``epochs``) the epoch count comes from
    ``./configs/<rel>.py`` of the work dir ``./logs/<rel>``, as Pylon's does.
    """

    def _engine_tracker(self, config: Any, s: runwatch.Settings) -> runwatch.BaseProgressTracker:
        multi = isinstance(config, list | tuple) or (isinstance(config, runwatch.ConfigFacts) and config.is_multi_stage)
        cls = runwatch.MultiStageProgressTracker if multi else runwatch.TrainerProgressTracker
        return cls(self.work_dir, config, settings=s)


class EvaluatorProgressTracker(_Backed):
    """Progress tracker for BaseEvaluator runs: done when ``evaluation_scores.json`` is complete."""

    def _engine_tracker(self, config: Any, s: runwatch.Settings) -> runwatch.BaseProgressTracker:
        return runwatch.EvaluatorProgressTracker(self.work_dir, normalize_config(config), settings=s)


def detect_runner_type(work_dir: str, config: dict[str, Any] | None = None) -> RunnerType:
    """``'trainer'``, ``'evaluator'`` (or ``'multi_stage'`` for a list config) from the work dir's files or the config.

    The config may be Pylon's (``{'runner': SomeTrainer, 'epochs': 100}``) or the plan's
    (``{'runner': {'class': SomeTrainer}}``). Raises ValueError when nothing tells; its
    message holds Pylon's wording ("Unable to detect runner type") and the plan's
    ("Cannot detect runner type"), with the files found and what was expected.
    """
    try:
        kind = runwatch.detect_runner_type(os.fspath(work_dir), normalize_config(config), settings=settings())
    except ValueError as e:
        raise ValueError(f"Unable to detect runner type for work_dir: {work_dir}\n{e}") from e
    return kind  # type: ignore[return-value]


def create_progress_tracker(work_dir: str, config: dict[str, Any] | None = None) -> BaseProgressTracker:
    """The tracker for the run's detected type (ValueError like ``detect_runner_type``)."""
    if detect_runner_type(work_dir, config) == "evaluator":
        return EvaluatorProgressTracker(work_dir, config)
    return TrainerProgressTracker(work_dir, config)
