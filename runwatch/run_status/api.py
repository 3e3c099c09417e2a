"""``get_all_run_status``: the library's batch call, a thin client of the project's scan engine."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from runwatch.project import Project
from runwatch.process_info import ProcessSnapshot, default_monitor
from runwatch.run_status.engine import ScanEngine, engine_for
from runwatch.run_status.run_status import RunStatus


def get_all_run_status(
    config_files: Iterable[str],
    expected_files: Sequence[str] | None = None,
    epochs: int | None = None,
    sleep_time: int | None = None,
    outdated_days: int | None = None,
    system_monitor: Any = None,
    *,
    root: str | os.PathLike[str] | None = None,
    settings: Any = None,
    force_refresh: bool = False,
    use_store: bool = True,
    snapshot: ProcessSnapshot | None = None,
    find_processes: bool = True,
) -> dict[str, RunStatus]:
    """Status of every given config, keyed exactly by the given paths.

    ``expected_files`` and ``epochs`` are accepted for old callers and ignored: each
    run's own config decides them. ``sleep_time`` / ``outdated_days`` default to the
    project settings (adaptive and 30 days unless the settings file says otherwise), as
    in the CLI. With no ``system_monitor`` the processes are looked up as the CLI does
    (this machine, plus the settings' SSH servers and Slurm); ``find_processes=False``
    turns that off. With ``use_store`` the project's progress store lets a new process
    reuse unchanged results, and the trackers kept in this process make a second call
    a few stats per run.
    """
    if isinstance(config_files, (str, bytes, os.PathLike)):
        raise TypeError(
            f"get_all_run_status: config_files must be a list of config paths, got one path {os.fsdecode(config_files)!r}; "
            "for every run of a project use runwatch.discover_runs(root)"
        )
    project = Project.at(root if root is not None else ".", settings)
    if system_monitor is None and snapshot is None and find_processes:
        system_monitor = default_monitor(project)
    engine = engine_for(project) if use_store else ScanEngine(project)
    scanned = engine.scan(
        config_files,
        processes=snapshot if snapshot is not None else system_monitor,
        sleep_time=sleep_time,
        outdated_days=outdated_days,
        force_refresh=force_refresh,
    )
    return {k: s.status for k, s in scanned.items()}
