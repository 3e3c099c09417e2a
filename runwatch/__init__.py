"""runwatch: the state of every experiment run, from the files the runs already write.

The public API is re-exported here; importing it stays light (no server, no SSH,
no torch) so a script or a notebook can ask for status in milliseconds.
"""

import os

from runwatch.configs.facts import ClassRef, ConfigFacts, StageFacts
from runwatch.project import LayoutError, Project, find_project_root
from runwatch.process_info import ProcessInfo, ProcessMonitor, ProcessSnapshot
from runwatch.process_info import set_default_monitor_factory as _set_default_monitor_factory
from runwatch.progress_tracking import (
    BaseProgressTracker,
    EvaluatorProgressTracker,
    MultiStageProgressTracker,
    ProgressInfo,
    TrainerProgressTracker,
    check_epoch_finished,
    create_progress_tracker,
    detect_runner_type,
    get_session_progress,
)
from runwatch.run_status import (
    STATUSES,
    RunStatus,
    get_all_run_status,
    get_epoch_last_update,
    get_log_last_update,
    get_run_status,
)
from runwatch.records_api import status_records
from runwatch.settings import Settings, SettingsError, load_settings
from runwatch.state import STATE, reset

__version__ = "0.1.0"

_DEFAULT_MONITORS: dict[tuple[str, str], ProcessMonitor] = STATE.table("runwatch.default_monitors")


def _default_monitor(project: Project) -> ProcessMonitor:
    """The CLI's default monitor for a project (local processes + settings' SSH / Slurm), kept per project."""
    key = (project.root, repr(project.settings))
    mon = _DEFAULT_MONITORS.get(key)
    if mon is None:
        from runwatch.processes import monitor_from_settings  # deferred: psutil only when asked

        if len(_DEFAULT_MONITORS) > 16:
            for old in _DEFAULT_MONITORS.values():
                old.close()  # type: ignore[attr-defined]
            _DEFAULT_MONITORS.clear()
        mon = _DEFAULT_MONITORS[key] = monitor_from_settings(project)
    return mon


_set_default_monitor_factory(_default_monitor)


def discover_runs(root: str | os.PathLike[str] | Project = ".") -> list[str]:
    """Every run under a project folder, of every layout (Pylon configs, Hugging Face output_dirs,
    Lightning version folders, ...), as the keys ``get_all_run_status`` takes."""
    from runwatch.layouts import discover_runs as _discover

    return _discover(root if isinstance(root, Project) else Project.at(root))


__all__ = [
    "status_records",
    "STATE",
    "STATUSES",
    "BaseProgressTracker",
    "ClassRef",
    "ConfigFacts",
    "EvaluatorProgressTracker",
    "LayoutError",
    "MultiStageProgressTracker",
    "ProcessInfo",
    "ProcessMonitor",
    "ProcessSnapshot",
    "ProgressInfo",
    "Project",
    "RunStatus",
    "Settings",
    "SettingsError",
    "StageFacts",
    "TrainerProgressTracker",
    "__version__",
    "check_epoch_finished",
    "create_progress_tracker",
    "discover_runs",
    "detect_runner_type",
    "find_project_root",
    "get_all_run_status",
    "get_epoch_last_update",
    "get_log_last_update",
    "get_run_status",
    "get_session_progress",
    "reset",
    "load_settings",
]
