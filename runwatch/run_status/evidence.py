"""Gathering one run's evidence for ``rules.decide``: its process or job, its log's end, its output, its rhythm.

Cheap first: the process map and the remembered process are in memory, the log's end
is memoized by the log's stat, and the run's output elsewhere (collector events, Slurm
output files, tmux panes, output globs) is looked at only for a run that is neither
alive nor complete, where it decides between crashed and exited or stalled.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache

from runwatch.progress_tracking.compact import epochs_summary
from runwatch.project import Project
from runwatch.process_info import ProcessInfo, ProcessSnapshot
from runwatch.layouts.lightning_end import moved_on
from runwatch.readers.log_end import end_of_file
from runwatch.readers.tfevents import writer_of
from runwatch.readers.log_pulse import NO_PULSE, Pulse, pulse_of_file, start_pause_of_file
from runwatch.readers.run_output import find_output, is_this_host, tmux_session_of
from runwatch.run_status.process_memory import ProcessMemory, memory_for, remembered_evidence, writer_evidence
from runwatch.run_status.rules import ALIVE_AFTER_END, Decision, Evidence, Job, decide
from runwatch.state import STATE

RHYTHM_WINDOW = 5  # recent epoch intervals the median is taken over
RHYTHM_MIN = 2  # fewer finished intervals: no rhythm yet (the first one includes start-up)


@dataclass(slots=True)
class Verdict:
    decision: Decision
    error_line: str | None = None
    output_tail: list[str] | None = None
    error_source: str | None = None
    # What was decided from (the scan engine's verdict memo reads it: run_status/verdict_memo.py).
    evidence: Evidence | None = None
    warnings: list[str] | None = None  # evidence that could not be read (an unreadable log)
    log_end_memo: Any = None  # (memo key, End) of the log's end read, for the progress store to keep


def rhythm(details: Any) -> float | None:
    """Median of the last RHYTHM_WINDOW finished epochs' durations, or None."""
    if details is None:
        return None
    summary = epochs_summary(details)
    try:
        durations = list(summary[1]) if summary is not None else [e.duration for e in details.epochs if e.finished and e.duration is not None]
    except AttributeError:
        return None
    recent = durations[-RHYTHM_WINDOW:]
    if len(recent) < RHYTHM_MIN:
        return None
    return float(_median(recent))


def _median(values: list[float]) -> float:
    """``statistics.median`` (the middle value, or the mean of the two middle ones), without importing statistics
    (and decimal, fractions) into every process that decides a status."""
    s = sorted(values)
    n = len(s)
    i = n // 2
    return s[i] if n % 2 else (s[i - 1] + s[i]) / 2


def pulse(work_dir: str, newest_log: str | None, details: Any, log_path: str | None = None, known: Pulse | None = None) -> Pulse | None:
    """The run's finest rhythm: its newest text log's pulse, or one from the times of its records
    (``details.beats``: an event file's wall times), or None.

    At a new session's start (no progress line yet) the pause learned is the longest start-up of
    its earlier sessions' logs."""
    if newest_log is not None and not os.path.basename(newest_log).startswith("events.out.tfevents."):
        p = known if known is not None else pulse_of_file(log_path or os.path.join(work_dir, newest_log))
        if p.timed and p.position == "start":
            older = [n for n, _ in (getattr(details, "logs", None) or [])[1:4] if n != newest_log and not n.startswith("events.out")]
            pauses = [x for n in older if (x := start_pause_of_file(os.path.join(work_dir, n))) is not None]
            if pauses:
                gap, at = max(pauses)
                p = Pulse(p.interval, "start", gap, at, True)
        if p.timed:
            return p
    known_pulse = getattr(details, "pulse", None)
    if isinstance(known_pulse, Pulse):  # the layout's own (a CSVLogger's rows)
        return known_pulse
    beats = getattr(details, "beats", None)
    if beats:
        return beats_pulse(beats)
    return None


def beats_pulse(times: Any) -> Pulse | None:
    """A pulse from the times a run wrote its records (sorted): mean interval, and the longest pause as learned."""
    ts = sorted(t for t in times if isinstance(t, float | int))
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    if len(gaps) < RHYTHM_MIN:
        return None
    longest = max(gaps)
    at = ts[gaps.index(longest)]
    return Pulse(sum(gaps) / len(gaps), "training", longest, time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at)), True)


_MEMORY_OF: LRUCache[tuple[str, str], ProcessMemory] = STATE.table("run_status.evidence.memory_of", lambda: LRUCache(maxsize=256))


def _memory(project: Project) -> ProcessMemory:
    key = (project.root, project.settings.cache_dir)
    mem = _MEMORY_OF.get(key)
    if mem is None:
        mem = _MEMORY_OF[key] = memory_for(str(project.settings.resolve_cache_dir(project.root)))
    return mem


def process_memory(project: Project) -> ProcessMemory:
    """The project's process memory (what earlier snapshots saw of each run's process)."""
    return _memory(project)


def remember(project: Project, snapshot: ProcessSnapshot) -> None:
    """Note the snapshot's processes in the project's process memory (and keep the snapshot)."""
    _memory(project).observe(snapshot)


def _job(proc: ProcessInfo | None) -> Job | None:
    if proc is None or not proc.job_id:
        return None
    state = proc.job_state or {"running": "RUNNING", "queued": "PENDING", "stopped": "SUSPENDED"}.get(proc.state, "RUNNING")
    return Job(proc.job_id, state, proc.exit_code, proc.signal)


def _event_writers(folder: str) -> list[tuple[str, int, float]]:
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [w for n in names if (w := writer_of(n)) is not None]


def _process_evidence(
    project: Project,
    rel: str,
    proc: ProcessInfo | None,
    process_errors: dict[str, str] | None,
    writer: Any = None,
    matched_here: bool = False,
    work_dir: str = "",
    complete: bool = False,
) -> tuple[str, str | None]:
    if proc is not None:
        if proc.state == "running":
            return "alive", None
        if proc.state == "stopped":
            return (
                "stopped",
                f"{'job ' + proc.job_id if proc.job_id else 'process ' + str(proc.pid)} on {proc.server or 'this machine'} is stopped (state T: SIGSTOP or a debugger)",
            )
        if proc.state == "ended":
            return "gone", None
    mem = _memory(project)
    entry = mem.last(rel)
    snap = mem.snapshot or ProcessSnapshot(errors=dict(process_errors or {}))
    local_lookup = "local" in snap.sources and "local" not in snap.errors
    if entry is not None and (proc is None or proc.state != "queued"):
        other = mem.moved_to(entry, rel) if proc is None else None
        if other is not None:  # one process, runs one after another: it works for a newer one now
            where = entry.get("server") or "this machine"
            return "gone", f"process {entry['pid']} on {where} works for {other} now: this run has ended"
        return remembered_evidence(entry, snap, local_lookup=local_lookup)
    if proc is None and writer is not None:  # a framework run: the process its event file names
        found = writer_evidence(writer, local_lookup)
        if found is not None and found[0] == "alive":
            newer = moved_on(work_dir, writer, _event_writers)
            if newer is not None:  # one process, runs one after another: it is writing a newer one
                return "gone", f"{found[1]}, but writing {newer} now: this run has ended"
        if found is not None:
            return found
    real_errors = [k for k in (process_errors or {}) if not k.endswith(":gpu")]
    if proc is None and matched_here and local_lookup and project.settings.runs_local:
        # The setting says this project's runs run on this machine, and its process lookup (which
        # finds them by their command line) answered without this one: it has exited.
        return "gone", "no process of it on this machine, where the project's runs run (runs_local)"
    if proc is None and matched_here and local_lookup and not complete and project.settings.tmux_output:
        session = tmux_session_of(rel, project.settings.configs_dir)
        if session is not None:  # the launcher's tmux session for this run is here, its process is not
            return "gone", f"no process of it on this machine, where tmux session {session} was started to run it"
    return ("unknown" if real_errors else "none"), None


def ran_on(project: Project, host: str, at: float | None) -> tuple[str, str] | None:
    """Where the launcher's report says the run ran: this machine, whose process lookup answered without
    it, means it has exited now; another machine a source looked at (SSH) without finding it, too; any
    other machine leaves it unknown. None: nothing to add (this machine, not looked at)."""
    snap = _memory(project).snapshot
    if snap is None:
        return None
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at)) if at is not None else "an unknown time"
    if is_this_host(host):
        if "local" in snap.sources and "local" not in snap.errors:
            return "gone", f"no process of it on this machine ({host}), where it ran: the launcher reported its exit with an error at {when}"
        return None
    if host in snap.hosts and host not in snap.errors:  # a source (SSH) saw that machine's processes
        return "gone", f"no process of it on {host}, where it ran: the launcher reported its exit with an error at {when}"
    return "unknown", f"it ran on {host} (the launcher's report at {when}), whose processes are not looked at from here"


def alive_after_end(project: Project, rel: str, process: str, now: float, last_activity: float | None) -> float | None:
    """For a run whose files end on an epoch boundary: seen alive now past ALIVE_AFTER_END after its newest
    write, note it (a later runwatch process reads it); not alive, how long after its newest write it was
    seen alive before (None: never, or its files changed since)."""
    if last_activity is None:
        return None
    mem = _memory(project)
    if process == "alive":
        if now - last_activity > ALIVE_AFTER_END:
            mem.note_alive(rel, last_activity, now)
        return None
    return mem.seen_alive_after(rel, last_activity)


def gather(
    project: Project,
    *,
    rel: str,
    work_dir: str,
    now: float,
    complete: bool,
    last_activity: float | None,
    artifact_last: float | None,
    newest_log: str | None,
    details: Any,
    proc: ProcessInfo | None,
    process_errors: dict[str, str] | None,
    config_error: str | None,
    sleep_time: float | None,
    outdated_days: float,
    matched_here: bool = False,
) -> Verdict:
    """The run's evidence, decided."""
    s = project.settings
    process, process_detail = _process_evidence(project, rel, proc, process_errors, getattr(details, "writer", None), matched_here, work_dir, complete)
    job = _job(proc)
    work_dir_exists = newest_log is not None or last_activity is not None or os.path.isdir(work_dir)
    log_end = None
    warnings: list[str] | None = None
    error_line = error_source = None
    tail: list[str] | None = None
    log_path = os.path.join(work_dir, newest_log) if newest_log is not None else None  # one string for both memos
    end_pulse: Pulse | None = None
    memo: list[Any] = []
    if not complete and log_path is not None:
        end = end_of_file(log_path, s.log_end_patterns, memo)
        if end.problem is not None:
            warnings = [end.problem]
        end_pulse = end.pulse or NO_PULSE  # read with the log's end: one read, one memo
        if end.kind is not None:
            log_end = end.kind
        if end.kind == "traceback":
            error_line, error_source, tail = end.error_line, "log", list(end.tail)
    waiting = job is not None and job.state in ("PENDING", "REQUEUED")
    if not complete and log_end is None and process not in ("alive", "stopped") and not waiting and work_dir_exists:
        out = find_output(
            root=project.root,
            cache_dir=str(s.resolve_cache_dir(project.root)),
            work_dir=work_dir,
            config_rel=rel,
            configs_dir=s.configs_dir,
            since=last_activity,
            job=proc if job is not None else None,
            output_globs=s.output_globs,
            tmux=s.tmux_output,
        )
        if out is not None:
            error_line, error_source, tail = out.error_line, out.source, list(out.tail)
            where = ran_on(project, out.host, out.timestamp) if out.host is not None and process in ("none", "unknown") else None
            if where is not None:
                process, process_detail = where
    pl = pulse(work_dir, newest_log, details, log_path, end_pulse) if not complete else None
    clean_end = bool(getattr(details, "clean_end", False))
    ev = Evidence(
        now=now,
        complete=complete,
        last_activity=last_activity,
        artifact_last_update=artifact_last,
        work_dir_exists=work_dir_exists,
        config_error=config_error,
        process=process,  # type: ignore[arg-type]
        process_detail=process_detail,
        job=job,
        log_end=log_end,  # type: ignore[arg-type]
        error_line=error_line,
        error_source=error_source,
        rhythm=rhythm(details),
        clean_end=clean_end,
        alive_after_end=alive_after_end(project, rel, process, now, last_activity) if clean_end and not complete else None,
        end_unknown=bool(getattr(details, "end_unknown", False)),
        pulse_interval=pl.interval if pl is not None else None,
        pulse_position=pl.position if pl is not None else None,
        pulse_gap=pl.gap if pl is not None else None,
        pulse_gap_at=pl.gap_at if pl is not None else None,
        sleep_time=sleep_time,
        outdated_days=outdated_days,
        stall_factor=s.stall_factor,
        stall_floor=s.stall_floor,
        stall_default=s.stall_default,
    )
    return Verdict(decide(ev), error_line, tail, error_source, ev, warnings, memo[0] if memo else None)
