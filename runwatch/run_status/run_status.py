"""RunStatus and the plan's ``get_run_status`` / ``get_all_run_status``.

The plan's signatures are kept for old callers, but each run's own config decides
its expected files and epochs (the earlier implementation compared every run with
the caller's epoch count, so every evaluator looked failed). One bad run never
takes a batch down: whatever goes wrong becomes that run's error message.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runwatch.configs.facts import ConfigFacts
from runwatch.errors import LayoutError
from runwatch.project import Project
from runwatch.layouts import LayoutRun, name_of, run_for
from runwatch.process_info import ProcessInfo, ProcessMonitor, ProcessSnapshot, default_monitor
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker, RunDetails
from runwatch.progress_tracking.progress_store import ProgressStore
from runwatch.progress_tracking.progress_info import ProgressInfo
from runwatch.readers.artifacts import get_epoch_last_update
from runwatch.readers.log_end import end_of_file
from runwatch.readers.logs import get_log_last_update, list_logs
from runwatch.readers.scores import headline
from runwatch.progress_tracking.progress_info import json_safe
from runwatch.run_status.derived import derived
from runwatch.run_status.evidence import gather, remember
from runwatch.run_status.rules import Status
from runwatch.settings import Settings
from runwatch.state import STATE

_log = logging.getLogger("runwatch")


__all__ = [
    "RunStatus",
    "get_epoch_last_update",
    "get_log_last_update",
    "get_run_status",
    "take_snapshot",
]


@dataclass(slots=True)
class RunStatus:
    """The state of one run: the plan's five fields plus what surfaces need to show it.

    Slotted: a live index keeps one per run.
    """

    config: str
    work_dir: str
    progress: ProgressInfo
    status: Status
    process_info: ProcessInfo | None = None
    # Config path relative to the configs folder, without ".py": the run's name.
    run: str | None = None
    eta_seconds: float | None = None
    details: RunDetails | None = None
    checked_at: float | None = None
    # The run's main metric (first directed key of its metric) with best/latest values and direction.
    headline: dict[str, Any] | None = None
    # Why a run is not plainly running or finished (rules.REASONS), and in words.
    reason: str | None = None
    reason_detail: str | None = None
    # The exception line, the last lines of the run's output, and where they were found
    # ("log", "collector", "slurm_output", "tmux", "output_glob").
    error_line: str | None = None
    output_tail: list[str] | None = None
    error_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The one JSON record of a run (CLI ``--json`` and the server API share it)."""
        d: dict[str, Any] = {
            "run": self.run,
            "config": self.config,
            "work_dir": self.work_dir,
            "status": self.status,
        }
        d.update(self.progress.to_dict())
        d["eta_seconds"] = self.eta_seconds
        d.update(json_safe(self.headline or headline(None, None, None)))
        d["process_info"] = self.process_info.to_dict() if self.process_info is not None else None
        d["checked_at"] = self.checked_at
        d["reason"] = self.reason
        d["reason_detail"] = self.reason_detail
        d["error_line"] = self.error_line
        d["output_tail"] = list(self.output_tail) if self.output_tail is not None else None
        d["error_source"] = self.error_source
        return d

    def to_json_record(self) -> dict[str, Any]:
        """``json_safe(self.to_dict())``, without re-walking the parts to_dict already made safe."""
        d = self.to_dict()
        for k, v in d.items():
            t = type(v)
            if t is float:
                if v - v != 0.0:  # NaN or infinite
                    d[k] = json_safe(v)
            elif (t is dict or t is list or t is tuple) and k not in _SAFE_PARTS:
                d[k] = json_safe(v)
        return d


# Record fields to_dict already passes through json_safe (or that hold only strings).
_SAFE_PARTS = frozenset(("best_score", "latest_score", "warnings", "output_tail"))


def _normalize_process_map(m: dict[str, ProcessInfo] | None, project: Project) -> dict[str, ProcessInfo]:
    """Accept a map keyed by any run key (a config path, a run folder) or by run name, and key it by run name."""
    out: dict[str, ProcessInfo] = {}
    for k, v in (m or {}).items():
        looks_like_key = k.endswith(".py") or os.sep in k and k.startswith((".", os.sep))
        out[(name_of(project, k) if looks_like_key else None) or k] = v
    return out


def _normal(path: str) -> bool:
    """Whether an absolute POSIX path is already what ``os.path.normpath`` makes of it."""
    return (
        os.sep == "/"
        and path.startswith("/")
        and not path.startswith("//")
        and "//" not in path
        and "/./" not in path
        and "/../" not in path
        and not path.endswith(("/", "/.", "/.."))
    )


def _declared_work_dir_warning(facts: ConfigFacts | None, work_dir: str, project: Project) -> str | None:
    declared = facts.work_dir if facts is not None else None
    if not declared:
        return None
    rel = declared
    while rel.startswith("./"):
        rel = rel[2:]
    if _normal(work_dir) and _normal(joined := rel if os.path.isabs(rel) else os.path.join(project.root, rel)):
        if joined == work_dir:  # the usual case: both already normal, no normpath needed
            return None
    absolute = os.path.normpath(declared if os.path.isabs(declared) else os.path.join(project.root, declared))
    if absolute != os.path.normpath(work_dir):
        return f"config declares work_dir {declared!r} but runs of this config live in {os.path.relpath(work_dir, project.root)!r}"
    return None


def evaluate_run(
    config: str,
    project: Project,
    *,
    process_map: dict[str, ProcessInfo],
    process_errors: dict[str, str] | None = None,
    sleep_time: float | None = None,
    outdated_days: float | None = None,
    force_refresh: bool = False,
    store: ProgressStore | None = None,
    tracker: BaseProgressTracker | None = None,
    facts: ConfigFacts | None = None,
    now: float | None = None,
    verdict_out: list[Any] | None = None,
    kept_verdicts: Any = None,
) -> tuple[RunStatus, BaseProgressTracker | None]:
    """Status of one run and the tracker used (the scan engine keeps it for the next call). Never raises.

    ``verdict_out``: when given, (the evidence verdict, the newest log's name, the tracker's progress) is
    appended to it. ``kept_verdicts``: a ``verdict_store.ScanVerdicts`` whose kept verdict of an unchanged
    run is reused instead of deciding it again (then nothing is appended).
    """
    s = project.settings
    sleep_time = s.sleep_time if sleep_time is None else sleep_time
    outdated_days = s.outdated_days if outdated_days is None else outdated_days
    # The run's layout (Pylon by default, or the layout whose marker files its folder holds) says
    # where it writes, what it is called, its facts and its tracker (runwatch.layouts).
    try:
        run = run_for(project, config)
    except LayoutError as e:
        progress = ProgressInfo(0, 0.0, error_message=str(e))
        return RunStatus(config, "", progress, "failed", None, run=None, checked_at=time.time(), reason="config_error", reason_detail=str(e)), None
    rel, work_dir = run.name, run.work_dir
    if facts is None:
        try:
            facts = run.facts(project)
        except Exception as e:  # the reader must not raise; if it does, this run alone fails
            facts = ConfigFacts(path=config, error=f"{config}: cannot read config ({type(e).__name__}: {e})")
    proc = process_map.get(rel)
    config_error: str | None = None

    head: dict[str, Any] | None = None
    try:
        if tracker is not None and not _reusable(tracker, facts, work_dir, s):
            tracker = None
        if tracker is None:
            tracker = new_tracker(project, facts, work_dir, run, store)
        progress = tracker.get_progress(force_refresh=force_refresh)
        if kept_verdicts is not None and not force_refresh:
            again = kept_verdicts.reuse(config, rel, work_dir, tracker, progress, facts, proc)
            if again is not None:
                return again, tracker
        tracked: ProgressInfo | None = progress
        complete = tracker.complete_from(progress)
        log_last = _newest_log(tracker)
        head, artifact_last = derived(tracker, facts, progress)
        eta = tracker.details.eta_seconds
        details = tracker.details
    except ValueError as e:  # runner type undetectable: fail this run, loudly, alone
        tracker = tracked = None
        never = not os.path.isdir(work_dir)
        msg = f"{work_dir}: no work dir: the run was never launched" if never else str(e)
        config_error = facts.error if never and facts.error else None if never else str(e)
        progress = ProgressInfo(0, 0.0, error_message=msg, warnings=run_warnings(facts, work_dir, project) or None)
        complete = False
        log_last = (
            None
            if never
            else max(
                (t for t in (get_log_last_update(work_dir, s.trainer_log_pattern), get_log_last_update(work_dir, s.evaluator_log_pattern)) if t is not None),
                default=None,
            )
        )
        artifact_last = None
        eta = None
        details = None
    except OSError as e:
        tracker = tracked = None
        progress = ProgressInfo(0, 0.0, error_message=f"{work_dir}: {e}", warnings=run_warnings(facts, work_dir, project) or None)
        complete, log_last, artifact_last, eta, details = False, None, None, None, None
    t = time.time() if now is None else now
    verdict = gather(
        project,
        rel=rel,
        work_dir=work_dir,
        now=t,
        complete=complete,
        # The log is the run's pulse (Pylon writes a line per iteration); artifacts only where there is no log.
        last_activity=log_last if log_last is not None else progress.last_update_time if progress.last_update_time is not None else artifact_last,
        artifact_last=artifact_last,
        newest_log=details.newest_log if details is not None else (_newest_log_name(work_dir, s) if log_last is not None else None),
        details=details,
        proc=proc,
        process_errors=process_errors,
        config_error=config_error,
        sleep_time=sleep_time,
        outdated_days=outdated_days,
        # A layout whose runs are always found by their command line: with runs_local, none here means none at all.
        matched_here=run.layout.process_always_seen,
    )
    if verdict_out is not None:
        verdict_out.append((verdict, details.newest_log if details is not None else None, tracked))
    if verdict.log_end_memo is not None and tracker is not None and tracker.store is not None:
        tracker.store.set_log_end(tracker.work_dir, verdict.log_end_memo)  # a new process reads it from there
    decision = verdict.decision
    status = decision.status
    for w in verdict.warnings or ():  # an unreadable log; once per file (its tracker may have said so already)
        path = w.split(": cannot read the log", 1)[0]
        if not any(x.startswith(path + ":") for x in progress.warnings or ()):
            progress.add_warning(w)
    if status in ("finished", "outdated") and not complete:
        # Finished by how it ended (a clean end on an epoch boundary): its total is what it ran.
        progress = dataclasses.replace(
            progress,
            total_epochs=progress.total_epochs or progress.completed_epochs,
            total_steps=progress.total_steps or progress.completed_steps,
            progress_percentage=100.0,
            warnings=[w for w in progress.warnings or [] if "total epochs unknown" not in w and "total unknown" not in w] or None,
        )
    if verdict.error_line is not None and progress.error_message is None:
        # The plan's error_message holds the exception wherever it was found (the log, the run's output);
        # a copy: the tracker's cached progress must not keep an error its files do not hold.
        progress = dataclasses.replace(progress, error_message=verdict.error_line)
    if process_errors and status in ("failed", "queued"):
        for source, err in sorted(process_errors.items()):
            if source.endswith(":gpu"):  # GPU details missing, processes still seen
                continue
            progress.add_warning(f"process source {source} could not be asked ({err}): this run may be stuck, not failed")
    return (
        RunStatus(
            config,
            work_dir,
            progress,
            status,
            proc,
            run=rel,
            eta_seconds=eta if status == "running" else None,
            details=details,
            checked_at=t,
            headline=head if head is not None else derived(None, facts, progress)[0],
            reason=decision.reason,
            reason_detail=decision.detail,
            error_line=verdict.error_line,
            output_tail=verdict.output_tail,
            error_source=verdict.error_source,
        ),
        tracker,
    )


def runaway_status(config: str, exc: BaseException, project: Project) -> RunStatus:
    """The status of a run whose reading ran away (MemoryError, RecursionError): that run fails, alone."""
    gc.collect()
    try:
        run = run_for(project, config)
        rel, work_dir = run.name, run.work_dir
    except Exception:
        rel, work_dir = None, ""
    what = "ran out of memory" if isinstance(exc, MemoryError) else "nested too deeply" if isinstance(exc, RecursionError) else "failed"
    msg = f"{config}: reading this run {what} ({type(exc).__name__}: {str(exc)[:200]}); its files are not read"
    progress = ProgressInfo(0, 0.0, error_message=msg, warnings=[msg])
    return RunStatus(config, work_dir, progress, "failed", None, run=rel, checked_at=time.time(), reason="unreadable", reason_detail=msg)


def run_warnings(facts: ConfigFacts, work_dir: str, project: Project) -> list[str]:
    """The warnings a run carries from its config: read errors, config warnings, a misplaced work_dir."""
    extra: list[str] = []
    if facts.error:
        extra.append(facts.error)
    extra.extend(facts.warnings)
    w = _declared_work_dir_warning(facts, work_dir, project)
    if w:
        extra.append(w)
    return extra


def new_tracker(project: Project, facts: ConfigFacts, work_dir: str, run: LayoutRun, store: ProgressStore | None) -> BaseProgressTracker:
    """A tracker for a run, from its layout; raises ValueError when its kind cannot be told."""
    tracker = run.tracker(project, facts, store)
    warnings = run_warnings(facts, work_dir, project)
    if warnings:
        tracker.extra_warnings = [*warnings, *tracker.extra_warnings]
    return tracker


def compute_progress(config: str, project: Project, facts: ConfigFacts, store: ProgressStore) -> None:
    """A run's progress computed into ``store`` (a forked worker of a cold scan); a run that cannot be
    computed is left out, and the engine's own evaluation gives it its error."""
    try:
        run = run_for(project, config)
        tracker = new_tracker(project, facts, run.work_dir, run, store)
        progress = tracker.get_progress()
        # The log's end, which the scanning process's evidence reads next (``gather``), read here: it goes
        # back with the entry and is seeded there, found while the log is that very version.
        newest = tracker.details.newest_log
        if newest is not None and not tracker.complete_from(progress):
            memo: list[Any] = []
            end_of_file(os.path.join(run.work_dir, newest), project.settings.log_end_patterns, memo)
            if memo:
                store.set_log_end(run.work_dir, memo[0])
    except Exception:
        return


def _reusable(tracker: BaseProgressTracker, facts: ConfigFacts, work_dir: str, settings: Settings) -> bool:
    """Whether a tracker from an earlier call still fits: same run, config and settings.

    A tracker made for a work dir that did not exist yet is remade once the dir appears,
    so that the runner type is detected from the artifacts, as a fresh process would.
    """
    if tracker.work_dir != work_dir:
        return False
    if tracker.config is not facts and tracker.config != facts:
        return False
    if tracker.settings is not settings and not _same_settings(tracker.settings, settings):
        return False
    if tracker.awaiting_work_dir and os.path.isdir(work_dir):
        return False
    return True


# The last pair of settings compared, and the answer: {"pair": (a, b, a == b)}.
_SETTINGS_EQ: dict[str, tuple[Any, Any, bool]] = STATE.table("run_status.settings_eq")


def _same_settings(a: Settings, b: Settings) -> bool:
    """``a == b``, remembered for the last pair: every tracker of a scan asks about the same two objects."""
    memo = _SETTINGS_EQ.get("pair")
    if memo is not None and memo[0] is a and memo[1] is b:
        return memo[2]
    result = a == b
    _SETTINGS_EQ["pair"] = (a, b, result)
    return result


def _newest_log_name(work_dir: str, s: Settings) -> str | None:
    logs = list_logs(work_dir, s.trainer_log_pattern) + list_logs(work_dir, s.evaluator_log_pattern)
    return os.path.basename(max(logs, key=lambda x: x[1])[0]) if logs else None


def _newest_log(tracker: BaseProgressTracker) -> float | None:
    logs = tracker.details.logs
    return logs[0][1] if logs else None


def get_run_status(
    config: str,
    expected_files: Sequence[str] | None = None,
    epochs: int | None = None,
    config_to_process_info: dict[str, ProcessInfo] | None = None,
    sleep_time: int | None = None,
    outdated_days: int | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
    force_refresh: bool = False,
    find_processes: bool = True,
) -> RunStatus:
    """The plan's signature. ``expected_files`` and ``epochs`` are accepted for old callers
    and ignored: each run's own config and runner type decide them.

    ``sleep_time`` / ``outdated_days`` default to the project settings, as in the CLI.
    Without ``config_to_process_info`` the processes are looked up as the CLI does (this
    machine, plus the settings' SSH servers and Slurm); ``find_processes=False`` turns that off.
    """
    project = Project.at(root if root is not None else ".", settings)
    if config_to_process_info is None and find_processes:
        snap = take_snapshot(default_monitor(project), project)
        process_map, errors = snap.by_config(), snap.errors
    else:
        remember(project, ProcessSnapshot(processes=list((config_to_process_info or {}).values())))
        process_map, errors = _normalize_process_map(config_to_process_info, project), None
    status, _ = evaluate_run(
        config,
        project,
        process_map=process_map,
        process_errors=errors,
        sleep_time=sleep_time,
        outdated_days=outdated_days,
        force_refresh=force_refresh,
    )
    return status


def take_snapshot(system_monitor: Any, project: Project) -> ProcessSnapshot:
    """A process snapshot from a monitor, a snapshot, a dict, or None; never raises.

    The snapshot's processes are remembered in the project's store (process_memory), so
    a later call can tell a run whose process exited from one never seen.
    """
    snap = _snapshot(system_monitor, project)
    try:
        remember(project, snap)
    except Exception as e:  # the memory is an aid; a broken one must not cost the status
        _log.debug("process memory: %s", e)
    return snap


def _snapshot(system_monitor: Any, project: Project) -> ProcessSnapshot:
    if system_monitor is None or system_monitor is False:
        return ProcessSnapshot()
    if isinstance(system_monitor, ProcessSnapshot):
        return system_monitor
    if isinstance(system_monitor, dict):
        return ProcessSnapshot(processes=list(system_monitor.values()))
    if isinstance(system_monitor, ProcessMonitor):
        try:
            return system_monitor.snapshot(project)
        except Exception as e:  # a broken monitor is a reported error, not "no process"
            return ProcessSnapshot(errors={type(system_monitor).__name__: f"{type(e).__name__}: {e}"})
    raise TypeError(f"system_monitor must have .snapshot(project), got {type(system_monitor).__name__}")
