"""Pylon's ``utils.automation.progress_tracking``: the trackers, their factory and the session helpers."""

from runwatch import ProgressInfo
from runwatch.pylon.session_progress import check_epoch_finished, check_file_loadable, get_session_progress
from runwatch.pylon.trackers import (
    BaseProgressTracker,
    EvaluatorProgressTracker,
    TrainerProgressTracker,
    create_progress_tracker,
    detect_runner_type,
)

__all__ = [
    "BaseProgressTracker",
    "EvaluatorProgressTracker",
    "ProgressInfo",
    "TrainerProgressTracker",
    "check_epoch_finished",
    "check_file_loadable",
    "create_progress_tracker",
    "detect_runner_type",
    "get_session_progress",
]
