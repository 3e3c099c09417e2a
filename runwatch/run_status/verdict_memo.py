"""An unchanged run's last status, reused without deciding it again.

A warm scan of an unchanged run used to repeat its whole evaluation: the tracker's
check (a few stats, or none with kernel watches), then the evidence (the process memory,
the log's end, the run's output elsewhere) and the decision. When none of what the
decision was made from can have changed, the status is the same but for ``checked_at``.
The scan engine keeps, per run, the status it last decided and what it was decided
from, and reuses it while:

- the run's tracker is the same object and its check (``get_progress``) returns the very
  progress it returned then (the fingerprint matched: no file it read has changed), or,
  for a run never launched (no tracker), its work dir still does not exist (one stat);
- the config facts, the settings, ``sleep_time`` and ``outdated_days`` are the same;
- the process or job the sources report for it is the same, and so is what the process
  memory remembers of it (a remembered local process that had exited stays exited: its
  pid with that start time never comes back); a run whose answer depends on a live
  process lookup (a remembered process to ask psutil about, a TensorBoard writer's pid,
  a remote host's listing) is always evaluated;
- the log's end it read is watched by its fingerprint (else the log's end is read again);
- where its output elsewhere was looked for (a failed or silent run): the collector's
  event files are unchanged (stat'ed once per scan), so is the text of this machine's tmux
  panes (captured at most every 2 s, as before), and it has no Slurm output files and the
  project no ``output_globs`` (files that only a fresh look can tell about);
- the clock has not reached the time its decision falls due (``decision_due``): the
  silence limit or the ``outdated_days`` boundary, the only rows of ``rules.decide``
  that the clock alone moves (and, for a live run whose files end on an epoch boundary,
  ``ALIVE_AFTER_END`` after its last write, when the sighting that tells a later kill from a
  finished fit is noted).

Anything else evaluates the run the ordinary way, and the new decision is kept.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

from runwatch.configs.facts import ConfigFacts
from runwatch.process_info import ProcessInfo
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker
from runwatch.progress_tracking.progress_info import ProgressInfo
from runwatch.readers.run_output import EventIndex, event_paths, tmux_panes
from runwatch.run_status.rules import ALIVE_AFTER_END, Evidence, has_pulse, pulse_limit, silence_limit
from runwatch.run_status.run_status import RunStatus


def decision_due(ev: Evidence) -> float:
    """The earliest time after ``ev.now`` at which ``rules.decide`` could answer otherwise on the same evidence
    (``math.inf``: never). The clock enters the decision through two thresholds only: silence past the
    run's limit and the last artifact older than ``outdated_days``; each flips once, from false to true."""
    due = math.inf
    if ev.last_activity is not None:
        t = ev.last_activity + silence_limit(ev)
        if t >= ev.now:
            due = t
        if ev.pulse_gap is not None and has_pulse(ev):  # past its plain limit, the detail names the pause it learned
            t = ev.last_activity + pulse_limit(ev, learned=False)
            if ev.now <= t < due:
                due = t
        if ev.clean_end and ev.process == "alive":  # evaluated again once it is alive clearly after its files ended:
            t = ev.last_activity + ALIVE_AFTER_END + 0.01  # the sighting is noted (evidence.alive_after_end)
            if ev.now <= t < due:
                due = t
    if ev.artifact_last_update is not None:
        t = ev.artifact_last_update + ev.outdated_days * 86400
        if ev.now <= t < due:
            due = t
    return due


@dataclass(slots=True)
class Kept:
    """One run's last decided status and what it was decided from."""

    status: RunStatus
    facts: ConfigFacts | None
    tracker: BaseProgressTracker | None  # None: a run never launched (its work dir is checked)
    progress: ProgressInfo | None
    proc: ProcessInfo | None
    entry: dict[str, Any] | None  # the process memory's entry for the run, as seen then
    due: float
    settings: Any
    opts: tuple[Any, ...]  # (sleep_time, outdated_days, process errors)
    events: tuple[Any, ...] | None  # the collector files' signature, when the run's output was looked for


class ScanContext:
    """What every run of one scan shares, computed once: the collector files' state, whether tmux is in play."""

    __slots__ = ("settings", "opts", "_events", "_with_tmux", "cheap_output", "memory", "now")

    def __init__(
        self, project: Any, events: EventIndex, memory: Any, opts: dict[str, Any], process_errors: dict[str, str] | None, last_settings: Any = None
    ) -> None:
        s = project.settings
        # Each call may load the settings anew (an equal object): compared once here, not per run.
        self.settings = last_settings if last_settings is not None and (last_settings is s or last_settings == s) else s
        self.now: float = opts["now"]
        self.opts = (opts.get("sleep_time"), opts.get("outdated_days"), tuple(sorted((process_errors or {}).items())))
        paths = event_paths(project.root, str(s.resolve_cache_dir(project.root)))
        events.events(paths)  # stat'ed once for the whole scan (the engine holds ``once_per_scan``)
        self._events: Any = events.signature(paths)
        # Output found elsewhere: output globs need a fresh look; tmux panes are captured at most
        # every few seconds (run_output.TmuxPanes) and compared whole, when a run's status depends on them
        # (the first ``events`` asked for: a scan whose runs never look elsewhere starts no tmux).
        self.cheap_output = not s.output_globs
        self._with_tmux: bool | None = bool(s.tmux_output)
        self.memory = memory

    @property
    def events(self) -> tuple[Any, ...]:
        """(the collector files' signature, the text of the tmux panes or None), the panes captured on first use."""
        if self._with_tmux is not None:
            panes = tuple(tmux_panes()) if self._with_tmux and shutil.which("tmux") is not None else None
            self._events = (self._events, panes)
            self._with_tmux = None
        return self._events  # type: ignore[no-any-return]


def keep(
    status: RunStatus,
    *,
    verdict: Any,
    newest_log: str | None,
    facts: ConfigFacts | None,
    tracker: BaseProgressTracker | None,
    progress: ProgressInfo | None,
    proc: ProcessInfo | None,
    ctx: ScanContext,
) -> Kept | None:
    """What to keep of a run just evaluated, or None when its next scan must evaluate it again."""
    ev: Evidence | None = getattr(verdict, "evidence", None)
    if ev is None or ev.job is not None:
        return None
    entry = ctx.memory.last(status.run) if status.run is not None else None
    if tracker is None:
        if status.reason != "never_started" or ev.work_dir_exists or proc is not None or entry is not None:
            return None
    elif progress is None:
        return None
    rule = keep_rule(ev, proc=proc, entry=entry, tracker=tracker, newest_log=newest_log, cheap_output=ctx.cheap_output)
    if rule == NOT_KEPT:
        return None
    events = ctx.events if rule == KEPT_WITH_EVENTS else None
    return Kept(status, facts, tracker, progress, proc, entry, decision_due(ev), ctx.settings, ctx.opts, events)


# keep_rule's answers: not to be reused; reused while its inputs are the same; and while the run's
# output elsewhere (the collector's files, the tmux panes) is the same too.
NOT_KEPT, KEPT, KEPT_WITH_EVENTS = 0, 1, 2


def keep_rule(ev: Evidence, *, proc: ProcessInfo | None, entry: dict[str, Any] | None, tracker: Any, newest_log: str | None, cheap_output: bool) -> int:
    """Whether a decision on ``ev`` can be reused while what it was decided from is the same (the
    rules of this module's docstring; ``verdict_store`` adds its own for a new process)."""
    if ev.job is not None:
        return NOT_KEPT
    # The process evidence: from the reported process, from nothing, or a remembered local process found exited.
    from_proc = proc is not None and proc.state in ("running", "stopped", "ended")
    if not from_proc:
        if entry is not None:
            local = entry.get("server") is None and not entry.get("job_id")
            if not (local and ev.process == "gone"):
                return NOT_KEPT
        elif getattr(getattr(tracker, "details", None), "writer", None) is not None:
            return NOT_KEPT  # a framework run's writer process: asked each time
    # The log's end is read fresh unless the fingerprint watches the log.
    if not ev.complete and newest_log is not None and tracker is not None:
        files = tracker.changes.hint.get("files", ())
        if newest_log not in files:
            return NOT_KEPT
    looked_elsewhere = not ev.complete and ev.log_end is None and ev.process not in ("alive", "stopped") and ev.work_dir_exists
    if looked_elsewhere:
        return KEPT_WITH_EVENTS if cheap_output else NOT_KEPT
    return KEPT


def reuse(kept: Kept, *, facts: ConfigFacts | None, tracker: BaseProgressTracker | None, proc: ProcessInfo | None, ctx: ScanContext) -> RunStatus | None:
    """The kept status, checked now, when nothing it was decided from has changed; else None."""
    if ctx.now >= kept.due or facts is not kept.facts or tracker is not kept.tracker or ctx.settings is not kept.settings or ctx.opts != kept.opts:
        return None
    if proc is not kept.proc and proc != kept.proc:
        return None
    status = kept.status
    if kept.events is not None and kept.events != ctx.events:
        return None
    if status.run is not None and ctx.memory.last(status.run) is not kept.entry:
        return None
    if tracker is None:
        if os.path.isdir(status.work_dir):
            return None
    elif tracker.get_progress() is not kept.progress:
        return None
    fresh = RunStatus(*_INIT_VALUES(status))  # a new object: callers may hold the last one
    fresh.checked_at = ctx.now
    kept.status = fresh
    return fresh


# The fields RunStatus(...) takes, in order: a copy is one call (``dataclasses.replace`` costs 10x).
_INIT_VALUES = attrgetter(*[f.name for f in fields(RunStatus) if f.init])


def unsettled(engine: Any, keys: Any, now: float, generation: int, covered: Any = None) -> list[str]:
    """The runs of ``keys`` an evaluation now might answer otherwise than their kept status: no kept
    status, due by the clock, never launched (a stat tells, unless ``covered(work_dir)`` says a kernel
    watch on the folder it would appear in reports it), or a fingerprint not armed and quiet under
    kernel watches of ``generation`` (read the notifier's queue first)."""
    kept = engine._kept
    out = []
    for k in keys:
        kp = kept.get(k)
        if kp is None or now >= kp.due:
            out.append(k)
            continue
        if kp.tracker is None:
            if covered is None or not covered(kp.status.work_dir):
                out.append(k)
            continue
        ch = kp.tracker.changes
        if ch.armed != generation or ch.notify_dirty:
            if ch.armed < 0 and not ch.notify_dirty and covered is not None and ch.awaiting_work_dir and covered(ch.work_dir):
                continue  # its work dir has not appeared: a watch on the folder it would appear in says when
            out.append(k)
    return out


def kept_now(engine: Any) -> list[Kept]:
    """Every run's kept decision, as a list (another thread may be evaluating: read again until it holds still)."""
    while True:
        try:
            return list(engine._kept.values())
        except RuntimeError:
            continue
