"""The plan's progress-tracking module: one ProgressInfo for trainers, evaluators and multi-stage runs."""

from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker, EpochRecord, RunDetails
from runwatch.progress_tracking.evaluator_progress_tracker import EvaluatorProgressTracker
from runwatch.progress_tracking.multi_stage_progress_tracker import MultiStageProgressTracker
from runwatch.progress_tracking.progress_store import ProgressStore, read_progress_json, save_progress_json
from runwatch.progress_tracking.progress_info import ProgressInfo, StageProgress
from runwatch.progress_tracking.progress_tracker_factory import create_progress_tracker, detect_runner_type
from runwatch.progress_tracking.session_progress import check_epoch_finished, get_session_progress
from runwatch.progress_tracking.trainer_progress_tracker import TrainerProgressTracker

__all__ = [
    "BaseProgressTracker",
    "EpochRecord",
    "EvaluatorProgressTracker",
    "MultiStageProgressTracker",
    "ProgressInfo",
    "ProgressStore",
    "RunDetails",
    "StageProgress",
    "TrainerProgressTracker",
    "check_epoch_finished",
    "create_progress_tracker",
    "detect_runner_type",
    "get_session_progress",
    "read_progress_json",
    "save_progress_json",
]
