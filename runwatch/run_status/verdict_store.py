"""An unchanged run's verdict, kept in the progress store for a new process.

A new ``runwatch status`` process checks an unchanged run with the stats of its quick key
(``progress_tracking/quick_check.py``) and adopts its stored progress; it used to decide the
run again all the same (the process evidence, the log's end, the headline scores). This module
keeps, with the run's progress store entry, what that decision answered and what it was decided
from, so that a new process reuses it while nothing it was decided from can have changed:

- **the files**: the verdict rides on the store entry it was decided with; a changed file means
  a new computation and a new entry, which has no verdict. It is reused only when the tracker's
  progress *is* that entry's progress (adopted through the quick or the full key, never computed
  again) and the tracker holds that entry's key;
- **the clock**: the earliest time the decision could change with time alone
  (``verdict_memo.decision_due``: the silence limit, a learned pause, ``outdated_days``); at or past
  it the run is decided again;
- **the process**: the process the sources report for the run now equals the one it was decided
  with (pid, start time, state: a fresh process lookup each new process), and the process memory's
  entry for it is the same; a verdict that asked psutil about a remembered process, a TensorBoard
  writer's pid, a Slurm job or a remote host is never kept. A killed run is thus decided again by
  the first new process that no longer sees its process;
- **everything else it read**: the config facts, the settings, ``sleep_time`` / ``outdated_days``,
  the process sources that answered (and their errors); for a run whose output was looked for
  elsewhere the collector's event files (stat'ed once per scan), and never one that depends on
  tmux panes (with ``tmux_output`` where tmux is installed), ``output_globs``, or the sighting of a
  run that ended on an epoch boundary.

The record's time-relative parts are made fresh: ``checked_at`` is now, and ``updated``, the ETA
and the reason's words are absolute or as of the run's files (rules.py writes no ages). Each kept
verdict is a plain tuple with its own version; a malformed one (another version, a damaged or
hostile cache file) is ignored, said once per scan on the log, and the run is decided again.
``status --refresh`` (``force_refresh``) never reuses one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
from operator import attrgetter
from typing import Any

from runwatch.configs.facts import ConfigFacts
from runwatch.process_info import ProcessInfo
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker
from runwatch.progress_tracking.progress_info import ProgressInfo
from runwatch.run_status.rules import STATUSES
from runwatch.run_status.run_status import RunStatus
from runwatch.run_status.verdict_memo import KEPT_WITH_EVENTS, NOT_KEPT, ScanContext, decision_due, keep_rule
from runwatch.state import STATE

_log = logging.getLogger("runwatch")

VERSION = 1
# (version, scan signature, facts signature, due, process, memory entry, collector files, status fields, progress or None)
_LEN = 9
_N_FIELDS = 8  # status, reason, reason_detail, eta_seconds, headline, error_line, output_tail, error_source

_PROC_FIELDS = attrgetter(
    "pid",
    "user",
    "cmd",
    "start_time",
    "server",
    "gpu_indices",
    "gpu_memory_mib",
    "cwd",
    "config_rel",
    "debug",
    "state",
    "source",
    "job_id",
    "job_state",
    "exit_code",
    "signal",
    "stdout",
    "stderr",
    "end_time",
)


def _proc_sig(proc: ProcessInfo | None) -> tuple[Any, ...] | None:
    return None if proc is None else _PROC_FIELDS(proc)


def _class_sig(ref: Any) -> Any:
    return None if ref is None else (ref.module, ref.qualname)


def facts_sig(facts: ConfigFacts | None) -> tuple[Any, ...] | None:
    """What a decision takes from the config facts, as plain values (the warnings, the stages' kinds,
    totals, early stopping and metric directions)."""
    if facts is None:
        return None
    return (
        facts.path,
        facts.error,
        tuple(facts.warnings),
        facts.is_multi_stage,
        tuple(
            (
                _class_sig(s.runner),
                s.runner_kind,
                s.epochs,
                s.early_stopping_enabled,
                s.early_stopping_patience,
                _class_sig(s.metric),
                s.directions,
                s.directions_source,
                s.work_dir,
            )
            for s in facts.stages
        ),
    )


# Settings that change how runwatch checks or caches, or where it sends messages, never a run's status.
_NOT_IN_DECISIONS = frozenset(
    ("quick_check", "kernel_watches", "workers", "compare_cache_mb", "compare_disk_cache_mb", "notify", "collector_token", "ssh_timeout")
)
_SETTINGS_DIGEST: dict[int, tuple[Any, str]] = STATE.table("run_status.verdict_store.settings_digest")


def _settings_digest(settings: Any) -> str:
    memo = _SETTINGS_DIGEST.get(id(settings))
    if memo is not None and memo[0] is settings:
        return memo[1]
    try:
        values = [(f.name, getattr(settings, f.name)) for f in dataclasses.fields(settings) if f.name not in _NOT_IN_DECISIONS]
    except TypeError:  # not a dataclass: all of it
        values = [("", settings)]
    digest = hashlib.sha256(repr(values).encode("utf-8", "backslashreplace")).hexdigest()[:32]
    _SETTINGS_DIGEST.clear()
    _SETTINGS_DIGEST[id(settings)] = (settings, digest)
    return digest


class ScanVerdicts:
    """One scan's side of the kept verdicts: what every run of it shares, computed once, and the
    verdicts decided in it, given to the store entries they were decided with at the scan's end."""

    __slots__ = ("sig", "now", "store", "memory", "ctx", "_events", "_pending", "_warned")

    def __init__(self, store: Any, ctx: ScanContext, snapshot: Any) -> None:
        """``ctx``: the scan's ``verdict_memo.ScanContext`` (the settings, the options, the process memory,
        the run's output elsewhere), shared with the in-process memo."""
        self.store = store
        self.ctx = ctx
        self.memory = ctx.memory
        self.now: float = ctx.now
        self.sig = (
            VERSION,
            _settings_digest(ctx.settings),
            *ctx.opts,  # sleep_time, outdated_days, the process sources' errors
            tuple(sorted(snapshot.sources or ())),
            tuple(sorted(snapshot.hosts or ())),
        )
        self._events: Any = None
        self._pending: list[tuple[str, BaseProgressTracker, ProgressInfo, tuple[Any, ...]]] = []
        self._warned = False

    @property
    def events(self) -> Any:
        """Where a run's output elsewhere is found, as of this scan: the collector files' signature and a
        digest of this machine's tmux panes (the scan context's, captured on first use)."""
        if self._events is None:
            sig, panes = self.ctx.events
            if panes is not None:
                text = "\0".join(f"{session}\0{pane}" for session, pane in panes)
                panes = hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()[:32]
            self._events = (sig, panes)
        return self._events

    # ---------------------------------------------------------------- reuse (a new process)

    def reuse(
        self,
        config: str,
        rel: str,
        work_dir: str,
        tracker: BaseProgressTracker,
        progress: ProgressInfo,
        facts: ConfigFacts | None,
        proc: ProcessInfo | None,
    ) -> RunStatus | None:
        """The run's kept verdict as a fresh status, when nothing it was decided from has changed; else None."""
        store = self.store
        if store is None:
            return None
        entry = store.get(work_dir)
        kept = getattr(entry, "verdict", None)
        if kept is None or entry.progress is not progress or tracker._cache_key is not entry.key:
            return None
        try:
            if type(kept) is not tuple or len(kept) != _LEN or kept[0] != VERSION:
                raise ValueError("another version")
            _v, sig, fsig, due, psig, mem, events, values, override = kept
            if type(due) not in (float, int) or math.isnan(due) or type(values) is not tuple or len(values) != _N_FIELDS:
                raise ValueError("not a verdict")
            if self.now >= due or sig != self.sig or psig != _proc_sig(proc) or fsig != facts_sig(facts):
                return None
            if mem != self.memory.last(rel):
                return None
            if events is not None and events != self.events:
                return None
            status, reason, detail, eta, head, error_line, tail, source = values
            if status not in STATUSES or not (override is None or isinstance(override, ProgressInfo)):
                raise ValueError("not a verdict")
            if not (head is None or type(head) is dict) or not (tail is None or type(tail) is list):
                raise ValueError("not a verdict")
            return RunStatus(
                config,
                work_dir,
                override if override is not None else progress,
                status,
                proc,
                run=rel,
                eta_seconds=eta,
                details=tracker.details,
                checked_at=self.now,
                headline=dict(head) if head is not None else None,
                reason=reason,
                reason_detail=detail,
                error_line=error_line,
                output_tail=list(tail) if tail is not None else None,
                error_source=source,
            )
        except (TypeError, ValueError) as e:
            if not self._warned:
                self._warned = True
                _log.warning("runwatch: %s: a kept verdict of %s is unusable (%s); its runs are decided again", store.path, rel, e)
            return None

    # ---------------------------------------------------------------- keeping (any process)

    def note(
        self,
        status: RunStatus,
        *,
        verdict: Any,
        newest_log: str | None,
        facts: ConfigFacts | None,
        tracker: BaseProgressTracker | None,
        progress: ProgressInfo | None,
    ) -> None:
        """Note a run just decided, to be kept with its store entry at the scan's end (``flush``) when its
        decision can be reused by a new process (see the module's docstring for what rules one out)."""
        if self.store is None or tracker is None or progress is None or status.run is None:
            return
        ev = getattr(verdict, "evidence", None)
        if ev is None:
            return
        proc = status.process_info
        if proc is not None and (proc.job_id or proc.state not in ("running", "stopped", "ended")):
            return  # a job's process, or one whose state a fresh lookup must tell
        if ev.clean_end and not ev.complete:
            return  # the sighting that tells a later kill from a finished fit is read each time
        entry = self.memory.last(status.run)
        rule = keep_rule(ev, proc=proc, entry=entry, tracker=tracker, newest_log=newest_log, cheap_output=self.ctx.cheap_output)
        if rule == NOT_KEPT:
            return
        events = self.events if rule == KEPT_WITH_EVENTS else None
        due = decision_due(ev)
        values = (
            status.status,
            status.reason,
            status.reason_detail,
            status.eta_seconds,
            dict(status.headline) if status.headline is not None else None,
            status.error_line,
            list(status.output_tail) if status.output_tail is not None else None,
            status.error_source,
        )
        override = status.progress if status.progress is not progress else None
        kept = (VERSION, self.sig, facts_sig(facts), due, _proc_sig(proc), dict(entry) if entry is not None else None, events, values, override)
        self._pending.append((tracker.work_dir, tracker, progress, kept))

    def flush(self) -> None:
        """Give each noted verdict to the store entry it was decided with (the tracker's progress and key,
        once its progress.json write is done); a run whose entry moved on meanwhile keeps none."""
        store = self.store
        pending, self._pending = self._pending, []
        if store is None:
            return
        for work_dir, tracker, progress, kept in pending:
            entry = store.get(work_dir)
            if entry is not None and entry.progress is progress and entry.key is not None and entry.key == tracker._cache_key:
                store.set_verdict(work_dir, entry, kept)
