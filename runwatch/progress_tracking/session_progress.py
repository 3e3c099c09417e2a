"""The plan's ``get_session_progress`` and ``check_epoch_finished``, kept for old callers."""

from __future__ import annotations

from collections.abc import Sequence

from runwatch.progress_tracking.config_view import ConfigLike
from runwatch.progress_tracking.progress_info import ProgressInfo
from runwatch.progress_tracking.trainer_progress_tracker import TrainerProgressTracker
from runwatch.readers.artifacts import check_epoch_finished
from runwatch.settings import Settings

__all__ = ["check_epoch_finished", "get_session_progress"]


def get_session_progress(
    work_dir: str,
    expected_files: Sequence[str] | None = None,
    *,
    config: ConfigLike = None,
    settings: Settings | None = None,
    force_progress_recompute: bool = True,
) -> ProgressInfo:
    """Trainer progress of one work dir (epochs counted from the files, never from progress.json)."""
    from dataclasses import replace

    s = settings if settings is not None else Settings()
    if expected_files is not None:
        s = replace(s, trainer_expected_files=tuple(expected_files))
    tracker = TrainerProgressTracker(work_dir, config, settings=s)
    return tracker.get_progress(force_refresh=force_progress_recompute)
