"""A drop-in for the progress-tracking API Pylon shipped, backed by runwatch.

Pylon's code runs on runwatch with only its imports changed::

    from utils.automation.run_status import RunStatus, get_all_run_status, parse_config
    from utils.automation.cfg_log_conversion import get_work_dir
    # becomes
    from runwatch.pylon.run_status import RunStatus, get_all_run_status, parse_config
    from runwatch.pylon.cfg_log_conversion import get_work_dir

The modules mirror Pylon's: ``runwatch.pylon.progress_tracking``,
``runwatch.pylon.run_status`` and ``runwatch.pylon.cfg_log_conversion``; every name is
also here. Paths are relative to the current folder, as in Pylon. ``docs/pylon.md``
says which signatures are accepted and where runwatch differs on purpose.
"""

from runwatch.pylon import cfg_log_conversion, progress_tracking, run_status
from runwatch.pylon.cfg_log_conversion import get_config, get_work_dir
from runwatch.pylon.progress_tracking import (
    BaseProgressTracker,
    EvaluatorProgressTracker,
    ProgressInfo,
    TrainerProgressTracker,
    check_epoch_finished,
    check_file_loadable,
    create_progress_tracker,
    detect_runner_type,
    get_session_progress,
)
from runwatch.pylon.run_status import (
    RunStatus,
    _build_config_to_process_mapping,
    get_all_run_status,
    get_epoch_last_update,
    get_log_last_update,
    get_run_status,
    parse_config,
)

__all__ = [
    "BaseProgressTracker",
    "EvaluatorProgressTracker",
    "ProgressInfo",
    "RunStatus",
    "TrainerProgressTracker",
    "_build_config_to_process_mapping",
    "cfg_log_conversion",
    "check_epoch_finished",
    "check_file_loadable",
    "create_progress_tracker",
    "detect_runner_type",
    "get_all_run_status",
    "get_config",
    "get_epoch_last_update",
    "get_log_last_update",
    "get_run_status",
    "get_session_progress",
    "get_work_dir",
    "parse_config",
    "progress_tracking",
    "run_status",
]
