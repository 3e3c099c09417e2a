"""The status decision: one pure function from evidence to (status, reason), strongest evidence first.

Kept apart from file reading so that the order can be read and tested on its own; the
table in ``docs/status.md`` lists the same rows in the same order. In short:

1. the run's process (or Slurm job) is alive: running, or stuck when it went silent
   past its own rhythm (or a traceback ended its log); a stopped (``T``) process is stuck;
2. a job waiting for a node is queued;
3. the artifacts are complete (or the log ends with a clean end line): finished / outdated;
4. the scheduler says how the job ended (cancelled, timeout, oom, preempted, node failure...);
5. the config cannot be read / the run was never launched;
6. a traceback at the log's end or in the run's output: crashed (oom for memory errors);
7. the process was seen and is gone now: exited; finished where the run's files end right after an
   epoch closed and its total is written nowhere (a fit ends exactly there), unless its process was
   seen alive more than ``ALIVE_AFTER_END`` seconds after that (a finished fit exits within seconds); unknown where nothing in
   the run's files can tell a finished run from a killed one (``end_unknown``, e.g. Keras without
   BackupAndRestore);
8. silence: past the run's own rhythm, else past ``sleep_time`` when given, else past the
   adaptive default: stalled. The rhythm is the finest the run has: its log's pace (a line
   per iteration) and the longest pause it has had before at the same place (a silent
   validation, a checkpoint save, a new session's start-up), else its epochs; a floor of
   ``stall_floor`` (a minute) under both. Unknown instead for an ``end_unknown`` run.

Time decides only in row 8, when nothing stronger is known.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Literal

from runwatch.status_names import STATUSES as STATUSES  # re-exported: the status names live in a light module

Status = Literal["running", "finished", "stuck", "failed", "outdated", "queued", "unknown"]

# Machine-readable reasons (RunStatus.reason) for every run that is not plainly running or finished.
REASONS: tuple[str, ...] = (
    "never_started",
    "config_error",
    "crashed",
    "exited",
    "stalled",
    "stopped",
    "cancelled",
    "timeout",
    "preempted",
    "oom",
    "node_failure",
    "pending",
    "requeued",
    "end_unknown",
)

# What the process sources say about a run's process.
#   alive: seen running now; stopped: seen, in state T (SIGSTOP, a debugger);
#   gone: seen before (remembered) and a source that sees its host says it is not there now;
#   none: no process seen, and nothing remembered; unknown: the source that would see it could not be asked.
ProcessEvidence = Literal["alive", "stopped", "gone", "none", "unknown"]

# Slurm states of an ended job -> reason (COMPLETED is handled apart: it is no failure by itself).
JOB_END_REASONS: dict[str, str] = {
    "FAILED": "crashed",
    "CANCELLED": "cancelled",
    "TIMEOUT": "timeout",
    "DEADLINE": "timeout",
    "OUT_OF_MEMORY": "oom",
    "PREEMPTED": "preempted",
    "NODE_FAIL": "node_failure",
    "BOOT_FAIL": "node_failure",
}
JOB_QUEUED_STATES = frozenset(("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"))

_OOM = re.compile(r"\bMemoryError\b|OutOfMemoryError|out of memory", re.IGNORECASE)

# Why a run that ended right after an epoch closed is called finished (rows 7a and 8a'): a fit that
# reaches its max_epochs / max_steps ends exactly there; a kill lands inside an epoch almost always.
CLEAN_END = (
    "a fit that reaches its total ends exactly there (its total, max_epochs / max_steps, is written nowhere; "
    "only a kill in the instant between two epochs would leave the same files)"
)
# A finished fit exits within seconds of its last checkpoint (teardown). A run whose process was seen alive
# longer than this after its newest write, its files unchanged since, did not end there: once gone, it was
# killed after that epoch (rows 7a and 8a').
ALIVE_AFTER_END = 30.0
# Why a run whose end its files do not mark is not called finished (rows 7u and 8u).
_UNTOLD = "its files cannot tell whether it finished or was killed: its total is written nowhere and nothing marks its end"

DEFAULT_SLEEP_CAP = 86400.0  # the plan's sleep_time: the upper bound on silence when none is given


@dataclass(frozen=True, slots=True)
class Job:
    """The run's Slurm job as the scheduler reports it (live or ended)."""

    job_id: str
    state: str  # Slurm's state name, e.g. RUNNING, PENDING, FAILED, TIMEOUT
    exit_code: int | None = None
    signal: int | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything known about one run at ``now``; each field is optional evidence."""

    now: float
    complete: bool = False
    # Newest log or artifact mtime: when the run last showed a sign of life.
    last_activity: float | None = None
    # Newest artifact: the clock for "outdated".
    artifact_last_update: float | None = None
    work_dir_exists: bool = True
    config_error: str | None = None
    process: ProcessEvidence = "none"
    process_detail: str | None = None
    job: Job | None = None
    # "traceback": the log ends in one; "end": a clean end-of-training line ends it.
    log_end: Literal["traceback", "end"] | None = None
    # The exception line, from the log's end or from the run's output elsewhere.
    error_line: str | None = None
    error_source: str | None = None
    # Median of the run's recent epoch intervals, seconds (None: not enough epochs).
    rhythm: float | None = None
    # The run's pulse (readers.log_pulse): mean seconds between two progress lines of one phase,
    # where its last line leaves it, and the longest pause it has had at that place before.
    pulse_interval: float | None = None
    pulse_position: str | None = None
    pulse_gap: float | None = None
    pulse_gap_at: str | None = None
    gap_margin: float = 1.5
    # The run's files end where a normal end leaves them (a framework run whose records close an
    # epoch and whose total is written nowhere): once its process is gone or it is silent past its
    # limit, it finished (a fit ends there), unless its process was seen alive well after that end.
    clean_end: bool = False
    # Seconds after its newest write (``last_activity``) at which its process was seen alive, the files unchanged
    # since (process_memory.ProcessMemory.note_alive): past ALIVE_AFTER_END, a clean end was no normal one.
    alive_after_end: float | None = None
    # The run's files cannot tell a finished run from a killed one (its total is written nowhere and nothing
    # marks the end: a Keras run without BackupAndRestore): with no live process it reads unknown, never guessed.
    end_unknown: bool = False
    # An explicit sleep_time (argument, flag or setting); None: adaptive.
    sleep_time: float | None = None
    outdated_days: float = 30
    stall_factor: float = 5.0
    stall_floor: float = 60.0
    stall_default: float = 3600.0


@dataclass(frozen=True, slots=True)
class Decision:
    status: Status
    reason: str | None = None
    detail: str | None = None


def has_pulse(ev: Evidence) -> bool:
    return ev.pulse_interval is not None or ev.pulse_gap is not None


def pulse_limit(ev: Evidence, learned: bool = True) -> float:
    """``max(stall_floor, stall_factor * pulse_interval, gap_margin * pulse_gap)`` (the gap only when ``learned``)."""
    limit = max(float(ev.stall_floor), ev.stall_factor * ev.pulse_interval if ev.pulse_interval is not None else 0.0)
    if learned and ev.pulse_gap is not None:
        limit = max(limit, ev.gap_margin * ev.pulse_gap)
    return limit


def silence_limit(ev: Evidence) -> float:
    """Seconds of silence after which a run is suspicious, never above ``sleep_time`` (given, else the plan's 86400 s).

    With a pulse (its log's pace, or a pause learned at the place it is now): ``pulse_limit``.
    Else with an epoch rhythm: ``max(stall_factor * rhythm, stall_floor)``. Without either:
    ``sleep_time`` when given, else ``stall_default``.
    """
    cap = ev.sleep_time if ev.sleep_time is not None else DEFAULT_SLEEP_CAP
    if has_pulse(ev):
        return min(pulse_limit(ev), cap)
    if ev.rhythm is not None:
        return min(max(ev.stall_factor * ev.rhythm, ev.stall_floor), cap)
    return ev.sleep_time if ev.sleep_time is not None else min(ev.stall_default, cap)


def _where(position: str | None) -> str:
    from runwatch.readers.log_pulse import where

    return where(position or "start")


def _basis(ev: Evidence, limit: float) -> str:
    """What set the silence limit, in words."""
    if ev.sleep_time is not None and limit == ev.sleep_time:
        return f"sleep_time {ev.sleep_time:g} s"
    if has_pulse(ev):
        if ev.pulse_gap is not None and limit == ev.gap_margin * ev.pulse_gap:
            return f"{ev.gap_margin:g}x the longest pause it has had {_where(ev.pulse_position)}: {ev.pulse_gap:.0f} s from {ev.pulse_gap_at}"
        if ev.pulse_interval is not None and limit == ev.stall_factor * ev.pulse_interval:
            return f"{ev.stall_factor:g}x its log's pace of a line every {ev.pulse_interval:.2g} s"
        pace = f", its log's pace being a line every {ev.pulse_interval:.2g} s" if ev.pulse_interval is not None else ""
        return f"the floor of {ev.stall_floor:g} s{pace}"
    if ev.rhythm is not None:
        return f"{ev.stall_factor:g}x its median epoch interval of {ev.rhythm:.0f} s"
    return "the default limit"


def silent_for(ev: Evidence) -> float | None:
    """Seconds since the last sign of life (None: the run never showed one)."""
    return None if ev.last_activity is None else max(ev.now - ev.last_activity, 0.0)


def _is_silent(ev: Evidence) -> bool:
    silent = silent_for(ev)
    return silent is None or silent > silence_limit(ev)


def _silence_detail(ev: Evidence) -> str:
    silent = silent_for(ev)
    limit = silence_limit(ev)
    basis = _basis(ev, limit)
    if silent is None:
        return "no log or artifact written yet"
    # The time of the last sign of life, not the seconds since: a detail that changes with
    # the clock alone would make the run look changed on every check.
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ev.last_activity))
    return f"silent since {since}, longer than the limit of {limit:.0f} s ({basis})"


def _learned_pause(ev: Evidence) -> str | None:
    """For a run not silent past its limit: the pause it has had before, when only that keeps it running."""
    silent = silent_for(ev)
    if silent is None or ev.pulse_gap is None or not has_pulse(ev) or silent <= pulse_limit(ev, learned=False):
        return None
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ev.last_activity))
    return f"silent since {since}, within the pause of {ev.pulse_gap:.0f} s it has had {_where(ev.pulse_position)} before (from {ev.pulse_gap_at})"


def _error_reason(line: str | None) -> str:
    return "oom" if line and _OOM.search(line) else "crashed"


def _killed_after_end(ev: Evidence) -> bool:
    """Its process was seen alive clearly after its files ended: a finished fit would have exited by then."""
    return ev.alive_after_end is not None and ev.alive_after_end > ALIVE_AFTER_END


def _after_end(ev: Evidence) -> str:
    return (
        f"it was seen alive {ev.alive_after_end:.0f} s after its last epoch's checkpoint (a finished fit exits within "
        f"seconds of it, {ALIVE_AFTER_END:g} s at most): it was killed after that epoch, not finished"
    )


def _done(ev: Evidence) -> Decision:
    if ev.artifact_last_update is not None and ev.now - ev.artifact_last_update > ev.outdated_days * 86400:
        return Decision("outdated")
    return Decision("finished")


def decide(ev: Evidence) -> Decision:
    """(status, reason, detail) from the evidence; the rows of docs/status.md, in order."""
    job = ev.job
    job_state = job.state if job is not None else None
    # 1. An alive process (or running job).
    if ev.process == "alive":
        if ev.log_end == "traceback" and not ev.complete:
            return Decision("stuck", _error_reason(ev.error_line), f"{ev.error_line or 'a traceback'} ends the log, but the process is still alive")
        if _is_silent(ev):
            if ev.complete:
                return _done(ev)
            return Decision("stuck", "stalled", f"process alive but {_silence_detail(ev)}")
        return Decision("running", None, _learned_pause(ev))
    if ev.process == "stopped":
        return Decision("stuck", "stopped", ev.process_detail or "the process is stopped (state T)")
    # 2. Waiting for a node.
    if job_state in JOB_QUEUED_STATES:
        reason = "requeued" if job_state.startswith("REQUEUE") else "pending"
        return Decision("queued", reason, f"Slurm job {job.job_id} {job_state}")  # type: ignore[union-attr]
    # 3. Complete, or the log says training ended cleanly.
    if ev.complete or ev.log_end == "end":
        return _done(ev)
    # 4. How the scheduler says the job ended.
    if job_state is not None and job_state in JOB_END_REASONS:
        reason = JOB_END_REASONS[job_state]
        if reason == "crashed":
            reason = _error_reason(ev.error_line)
        detail = f"Slurm job {job.job_id} {job_state}"  # type: ignore[union-attr]
        if job.exit_code is not None:  # type: ignore[union-attr]
            detail += f", exit code {job.exit_code}"  # type: ignore[union-attr]
        if job.signal:  # type: ignore[union-attr]
            detail += f", signal {job.signal}"  # type: ignore[union-attr]
        if ev.error_line:
            detail += f": {ev.error_line}"
        return Decision("failed", reason, detail)
    # 5. Nothing could run.
    if ev.config_error:
        return Decision("failed", "config_error", ev.config_error)
    if not ev.work_dir_exists:
        return Decision("failed", "never_started", "no work dir: the run was never launched")
    # 6. An exception ended the log or the run's output.
    if ev.error_line is not None and (ev.log_end == "traceback" or ev.error_source not in (None, "log")):
        return Decision("failed", _error_reason(ev.error_line), ev.error_line)
    # 7. The process was seen and has exited (or the job completed) before the run did. Where its
    # files end right after an epoch closed and its total is written nowhere, a fit ended there:
    # finished, unless its process was seen alive well after that end (killed between epochs).
    if ev.clean_end and job_state == "COMPLETED":  # its script ended normally: a killed job is no COMPLETED one
        return Decision(_done(ev).status, None, "its Slurm job COMPLETED right after its last epoch closed (its total is written nowhere)")
    if ev.clean_end and ev.process == "gone" and _killed_after_end(ev):
        return Decision("failed", "exited", f"{ev.process_detail or 'its process has exited'}; {_after_end(ev)}")
    if ev.clean_end and ev.process == "gone":
        return Decision(_done(ev).status, None, f"its process has exited right after its last epoch closed; {CLEAN_END}")
    if ev.end_unknown and job_state == "COMPLETED":
        return Decision(
            _done(ev).status,
            None,
            f"Slurm job {job.job_id} COMPLETED (exit code {job.exit_code or 0}): its script ended normally (its total is written nowhere)",  # type: ignore[union-attr]
        )
    if ev.end_unknown and ev.process == "gone":
        return Decision("unknown", "end_unknown", f"{ev.process_detail or 'its process has exited'}; {_UNTOLD}")
    if ev.process == "gone" or job_state == "COMPLETED":
        if job_state == "COMPLETED":
            detail = f"Slurm job {job.job_id} COMPLETED (exit code {job.exit_code or 0}) before the last epoch"  # type: ignore[union-attr]
        else:
            detail = ev.process_detail or "the process exited before the last epoch"
        return Decision("failed", "exited", detail)
    # 8. Silence, last.
    if _is_silent(ev):
        if ev.clean_end and ev.process == "none" and _killed_after_end(ev):
            return Decision("failed", "stalled", f"{_silence_detail(ev)}; {_after_end(ev)}")
        if ev.clean_end and ev.process == "none":
            return Decision(_done(ev).status, None, f"{_silence_detail(ev)}, right after its last epoch closed; {CLEAN_END}")
        if ev.end_unknown:
            return Decision("unknown", "end_unknown", f"{_silence_detail(ev)}, and no live process of it was seen; {_UNTOLD}")
        detail = _silence_detail(ev)
        if ev.process == "unknown":
            detail += f"; {ev.process_detail or 'its process could not be checked (a process source could not be asked)'}: it may be stuck"
        return Decision("failed", "stalled", detail)
    return Decision("running", None, _learned_pause(ev))


def decide_status(
    *,
    now: float,
    log_last_update: float | None,
    complete: bool,
    artifact_last_update: float | None,
    has_live_process: bool,
    has_queued_job: bool = False,
    sleep_time: float | None = 86400,
    outdated_days: float = 30,
) -> Status:
    """The earlier, time-only signature, kept for callers of the plan's API: ``decide`` on these facts."""
    return decide(
        Evidence(
            now=now,
            complete=complete,
            last_activity=log_last_update,
            artifact_last_update=artifact_last_update,
            process="alive" if has_live_process else "none",
            job=Job("?", "PENDING") if has_queued_job and not has_live_process else None,
            sleep_time=sleep_time,
            outdated_days=outdated_days,
        )
    ).status
