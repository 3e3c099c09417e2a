"""Pylon's ``utils.automation.run_status``: every run's status, as Pylon's agents ask for it.

Both signatures are accepted, told apart by the second argument's type:

- Pylon's shipped one: ``get_all_run_status(config_files, epochs, sleep_time=86400,
  outdated_days=30, system_monitor=None, force_progress_recompute=False)`` and
  ``get_run_status(config, epochs, config_to_process_info, sleep_time=86400,
  outdated_days=30, force_progress_recompute=False)``;
- the plan's: ``get_all_run_status(config_files, expected_files, epochs, sleep_time=86400,
  outdated_days=30, system_monitor=None)`` and ``get_run_status(config, expected_files,
  epochs, config_to_process_info, sleep_time=86400, outdated_days=30)``: a list (or
  tuple) as the second positional argument is ``expected_files``.

``expected_files`` (also as a keyword, as Pylon's logs snapshot passes it) and
``epochs`` are accepted and not used: each run's own config and runner type decide
its expected files and its epoch count. The decision itself is runwatch's
(``runwatch.get_all_run_status``); what differs from Pylon on purpose is in
``docs/pylon.md``.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal

import runwatch
from runwatch import ProcessSnapshot, ProgressInfo
from runwatch.pylon.cfg_log_conversion import get_work_dir
from runwatch.pylon.context import project
from runwatch.pylon.monitor import _build_config_to_process_mapping, from_process_map, from_system_monitor, parse_config
from runwatch.pylon.session_progress import check_epoch_finished, check_file_loadable, get_session_progress

__all__ = [
    "ProgressInfo",
    "RunStatus",
    "_build_config_to_process_mapping",
    "check_epoch_finished",
    "check_file_loadable",
    "get_all_run_status",
    "get_epoch_last_update",
    "get_log_last_update",
    "get_run_status",
    "get_session_progress",
    "parse_config",
]

# Pylon's callers ask from several threads at once (its viewer's callbacks); runwatch's scan engine
# of a project is shared by every caller in the process, so one scan at a time goes through it.
_SCAN_LOCK = threading.RLock()

_RunStatus = Literal["running", "finished", "failed", "stuck", "outdated", "queued"]


class RunStatus(runwatch.RunStatus):
    """Pylon's ``RunStatus(config, work_dir, progress, status, process_info=None)``, with runwatch's extra fields.

    ``work_dir`` is relative to the current folder (``./logs/<rel>``) as Pylon gives it;
    ``process_info`` is the caller's own process record when it came from the caller's
    monitor or mapping; ``reason`` / ``reason_detail`` say why a run is not plainly
    running or finished.
    """

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """Pylon's shape: the five fields, ``progress`` and ``process_info`` as dicts."""
        return {
            "config": self.config,
            "work_dir": self.work_dir,
            "progress": self.progress.to_dict(),
            "status": self.status,
            "process_info": _process_dict(self.process_info),
        }


def _process_dict(p: Any) -> dict[str, Any] | None:
    if p is None:
        return None
    if dataclasses.is_dataclass(p) and not isinstance(p, type):
        return dataclasses.asdict(p)
    to_dict = getattr(p, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    if isinstance(p, Mapping):
        return dict(p)
    return {k: getattr(p, k, None) for k in ("pid", "user", "cmd", "start_time")}


# ---------------------------------------------------------------- signatures


def _shipped_all(
    config_files: list[str],
    epochs: int,
    sleep_time: int = 86400,
    outdated_days: int = 30,
    system_monitor: Any = None,
    force_progress_recompute: bool = False,
    *,
    expected_files: list[str] | None = None,
) -> None: ...


def _plan_all(
    config_files: list[str],
    expected_files: list[str],
    epochs: int,
    sleep_time: int = 86400,
    outdated_days: int = 30,
    system_monitor: Any = None,
    *,
    force_progress_recompute: bool = False,
) -> None: ...


def _shipped_one(
    config: str,
    epochs: int,
    config_to_process_info: dict[str, Any],
    sleep_time: int = 86400,
    outdated_days: int = 30,
    force_progress_recompute: bool = False,
    *,
    expected_files: list[str] | None = None,
) -> None: ...


def _plan_one(
    config: str,
    expected_files: list[str],
    epochs: int,
    config_to_process_info: dict[str, Any],
    sleep_time: int = 86400,
    outdated_days: int = 30,
    *,
    force_progress_recompute: bool = False,
) -> None: ...


def _bind(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], shipped: Callable[..., None], plan: Callable[..., None]) -> dict[str, Any]:
    """The arguments by name: the plan's signature when the second positional argument is a list of file names."""
    plan_form = len(args) >= 2 and isinstance(args[1], list | tuple)
    sig = inspect.signature(plan if plan_form else shipped)
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{name}{sig}: {e}") from None
    bound.apply_defaults()
    return dict(bound.arguments)


# ---------------------------------------------------------------- the calls


def get_all_run_status(*args: Any, **kwargs: Any) -> dict[str, RunStatus]:
    """Status of every config, keyed by the config paths as given (see the module's doc for the signatures).

    ``system_monitor``: Pylon's ``SystemMonitor`` (anything with ``connected_gpus``), a
    runwatch process source (``.snapshot(project)``) or snapshot, or None for runwatch's
    default lookup (this machine, plus the settings' SSH servers and Slurm).
    """
    a = _bind("get_all_run_status", args, kwargs, _shipped_all, _plan_all)
    proj = project()
    source, originals = from_system_monitor(a["system_monitor"], proj)
    options: dict[str, Any] = dict(
        sleep_time=a["sleep_time"],
        outdated_days=a["outdated_days"],
        root=proj.root,
        settings=proj.settings,
        force_refresh=bool(a["force_progress_recompute"]),
    )
    if isinstance(source, ProcessSnapshot):
        options["snapshot"] = source
    else:
        options["system_monitor"] = source
    with _SCAN_LOCK:
        statuses = runwatch.get_all_run_status(a["config_files"], **options)
    return {k: _pylon_status(s, originals, proj.root) for k, s in statuses.items()}


get_all_run_status.__signature__ = inspect.signature(_shipped_all).replace(return_annotation="dict[str, RunStatus]")  # type: ignore[attr-defined]


def get_run_status(*args: Any, **kwargs: Any) -> RunStatus:
    """Status of one config (see the module's doc for the signatures).

    ``config_to_process_info`` maps config paths (any spelling) to process records:
    Pylon's ``ProcessInfo`` (``pid``, ``user``, ``cmd``, ``start_time``) or runwatch's.
    """
    a = _bind("get_run_status", args, kwargs, _shipped_one, _plan_one)
    proj = project()
    process_map, originals = from_process_map(a["config_to_process_info"], proj)
    with _SCAN_LOCK:
        status = runwatch.get_run_status(
            a["config"],
            config_to_process_info=process_map,
            sleep_time=a["sleep_time"],
            outdated_days=a["outdated_days"],
            root=proj.root,
            settings=proj.settings,
            force_refresh=bool(a["force_progress_recompute"]),
        )
    return _pylon_status(status, originals, proj.root)


get_run_status.__signature__ = inspect.signature(_shipped_one).replace(return_annotation="RunStatus")  # type: ignore[attr-defined]


_FIELDS = tuple(f.name for f in dataclasses.fields(runwatch.RunStatus))


def _pylon_status(s: runwatch.RunStatus, originals: dict[str, Any], cwd: str) -> RunStatus:
    out = RunStatus(*[getattr(s, name) for name in _FIELDS])
    out.work_dir = _pylon_work_dir(s.work_dir, s.config, cwd)
    if s.run is not None and s.run in originals:
        out.process_info = originals[s.run]
    return out


def _pylon_work_dir(work_dir: str, config: str, cwd: str) -> str:
    """``./logs/<rel>`` (relative to the current folder, as Pylon gives it) for a work dir inside it."""
    if not work_dir:
        return get_work_dir(config)
    prefix = cwd if cwd.endswith(os.sep) else cwd + os.sep
    if work_dir.startswith(prefix):  # runwatch's work dirs are absolute and normalized
        return os.path.join(".", work_dir[len(prefix) :])
    return work_dir


def get_log_last_update(work_dir: str, log_pattern: str = "train_val*.log") -> float | None:
    """The newest mtime of the work dir's logs matching ``log_pattern``, or None."""
    return runwatch.get_log_last_update(os.fspath(work_dir), log_pattern)


def get_epoch_last_update(work_dir: str, expected_files: list[str]) -> float | None:
    """The newest mtime of any expected file in the work dir's epoch dirs (or, for evaluators, the work dir)."""
    return runwatch.get_epoch_last_update(os.fspath(work_dir), expected_files)
