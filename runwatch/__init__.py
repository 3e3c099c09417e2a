"""runwatch: the state of every experiment run, from the files the runs already write.

The public API is re-exported here and resolved on first use (PEP 562): ``import runwatch``
costs a few milliseconds, so a one-shot command answered by the running agent
(``runwatch/cli_entry.py``) and a script or notebook that asks for one thing pay only for
what they use (no server, no SSH, no torch, and no scan engine until it is asked for).
"""

from __future__ import annotations

import importlib
import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing: ``import runwatch`` stays light
if TYPE_CHECKING:
    from typing import Any

    from runwatch.state import STATE, reset
    from runwatch.configs.facts import ClassRef, ConfigFacts, StageFacts
    from runwatch.process_info import ProcessInfo, ProcessMonitor, ProcessSnapshot
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
    from runwatch.project import LayoutError, Project, find_project_root
    from runwatch.records_api import status_records
    from runwatch.run_status import (
        STATUSES,
        RunStatus,
        get_all_run_status,
        get_epoch_last_update,
        get_log_last_update,
        get_run_status,
    )
    from runwatch.settings import Settings, SettingsError, load_settings

__version__ = "0.1.0"

# Public name -> the module that defines it (imported on first access).
_LAZY: dict[str, str] = {
    "STATE": "runwatch.state",
    "reset": "runwatch.state",
    "ClassRef": "runwatch.configs.facts",
    "ConfigFacts": "runwatch.configs.facts",
    "StageFacts": "runwatch.configs.facts",
    "LayoutError": "runwatch.project",
    "Project": "runwatch.project",
    "find_project_root": "runwatch.project",
    "ProcessInfo": "runwatch.process_info",
    "ProcessMonitor": "runwatch.process_info",
    "ProcessSnapshot": "runwatch.process_info",
    "BaseProgressTracker": "runwatch.progress_tracking",
    "EvaluatorProgressTracker": "runwatch.progress_tracking",
    "MultiStageProgressTracker": "runwatch.progress_tracking",
    "ProgressInfo": "runwatch.progress_tracking",
    "TrainerProgressTracker": "runwatch.progress_tracking",
    "check_epoch_finished": "runwatch.progress_tracking",
    "create_progress_tracker": "runwatch.progress_tracking",
    "detect_runner_type": "runwatch.progress_tracking",
    "get_session_progress": "runwatch.progress_tracking",
    "STATUSES": "runwatch.run_status",
    "RunStatus": "runwatch.run_status",
    "get_all_run_status": "runwatch.run_status",
    "get_epoch_last_update": "runwatch.run_status",
    "get_log_last_update": "runwatch.run_status",
    "get_run_status": "runwatch.run_status",
    "status_records": "runwatch.records_api",
    "Settings": "runwatch.settings",
    "SettingsError": "runwatch.settings",
    "load_settings": "runwatch.settings",
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first access (then kept as a module attribute)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'runwatch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def _default_monitor(project: Project) -> ProcessMonitor:
    """The CLI's default monitor for a project (local processes + settings' SSH / Slurm), kept per project."""
    from runwatch.state import STATE

    monitors: dict[tuple[str, str], ProcessMonitor] = STATE.table("runwatch.default_monitors")
    key = (project.root, repr(project.settings))
    mon = monitors.get(key)
    if mon is None:
        from runwatch.processes import monitor_from_settings  # deferred: psutil only when asked

        if len(monitors) > 16:
            for old in monitors.values():
                old.close()  # type: ignore[attr-defined]
            monitors.clear()
        mon = monitors[key] = monitor_from_settings(project)
    return mon


def discover_runs(root: str | os.PathLike[str] | Project = ".") -> list[str]:
    """Every run under a project folder, of every layout (Pylon configs, Hugging Face output_dirs,
    Lightning version folders, ...), as the keys ``get_all_run_status`` takes."""
    from runwatch.layouts import discover_runs as _discover

    from runwatch.project import Project

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
