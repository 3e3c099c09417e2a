"""The scan engine: the one place where runs become ``RunStatus``.

A scan turns run keys (a Pylon config path, or another layout's run folder) into
statuses. Everything a scan reuses from one call to the next is owned here, per
project:

- **facts**: each run's config facts. Pylon configs are read in one batch (a stat per
  unchanged config: the same facts object comes back); a caller that knows which configs
  changed (a live index) passes ``reread`` and the others keep their facts untouched;
- **trackers**: one per run, reused while its run, config and settings are unchanged, so
  an unchanged run costs a few stats;
- **the progress store**: the results of earlier processes, so a new process starts warm;
- **the process snapshot**: taken once per scan (or kept between rescans) and shared by
  every run's evidence;
- **the fan-out**: a cold scan of many runs forks workers first (``run_status.fanout``);
  they send back plain values (store entries, facts) and every run is then evaluated
  here, the ordinary way.

``scan(runs)`` evaluates the given runs, ``rescan(paths, known)`` the runs that changed
paths belong to (``layouts.map_paths``). Every surface is a client: the library's
``get_all_run_status``, the CLI's ``Scanner`` and the live index behind the server.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from runwatch.configs.facts import ConfigFacts, compact_facts
from runwatch.configs.scan_stats import once_per_scan as config_stats_once_per_scan
from runwatch.errors import LayoutError
from runwatch.gc_promote import promote_young
from runwatch.layouts import map_paths, run_for, runs_by_name
from runwatch.layouts.base import Layout, PathChanges
from runwatch.project import Project
from runwatch.process_info import ProcessInfo, ProcessSnapshot
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker
from runwatch.progress_tracking.change_notify import NOTIFIER
from runwatch.progress_tracking.progress_store import ProgressStore, background_progress_writes
from runwatch.run_status.facts_watch import FactsWatch
from runwatch.run_status.fanout import ColdWorkers, start_cold_workers
from runwatch.readers.run_output import EVENTS, events_once_per_scan
from runwatch.readers.safe_open import confine_to
from runwatch.run_status.evidence import process_memory
from runwatch.run_status.run_status import RunStatus, evaluate_run, runaway_status, take_snapshot
from runwatch.run_status.verdict_memo import Kept, ScanContext, decision_due, keep, reuse
from runwatch.run_status.verdict_store import ScanVerdicts
from runwatch.state import STATE

_log = logging.getLogger("runwatch")

# ``processes=KEEP``: evaluate with the engine's last process snapshot (a rescan between sweeps).
KEEP: Any = type("Keep", (), {"__repr__": lambda self: "KEEP"})()


@dataclass(slots=True)
class Scanned:
    """One run as a scan left it: its status and the config facts it was decided from."""

    status: RunStatus
    facts: ConfigFacts | None


@dataclass
class Rescan:
    """What changed paths did: the runs they touched, evaluated, and the runs that are gone.

    ``scanned``: key -> the run as evaluated; ``found``: name -> key of every run evaluated
    (new ones included); ``gone``: names of known runs whose config or folder no longer exists.
    """

    scanned: dict[str, Scanned] = field(default_factory=dict)
    found: dict[str, str] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)


class ScanEngine:
    """One project's runs: facts, trackers, the progress store, the process snapshot, the fan-out."""

    _facts_watch: FactsWatch | None = None

    def __init__(self, project: Project, store: ProgressStore | None = None, *, fan_out: bool = True, watch_facts: bool = True) -> None:
        # The project as its latest caller spelled it (settings may differ from call to
        # call: a tracker made under other settings is remade, see evaluate_run).
        self.project = project
        # Run files under the root are read only when they really are inside it (no link out).
        confine_to(project.root, project.settings.link_targets)
        self.store = store
        # Whether a cold scan may fork workers. A live index keeps every run in memory and
        # scans serially: results that cross a pipe lose the sharing of equal strings and
        # tuples between runs (about 1.6 KiB per run more on a 2,000-run tree).
        self.fan_out = fan_out
        # Kernel watches on the folders the facts came from, so that a warm scan reuses them with no stat
        # (facts_watch.py). A live index has its own watcher of the configs and passes ``reread``: off there.
        self._facts_watch: FactsWatch | None = FactsWatch(project.root) if watch_facts else None
        self._trackers: dict[str, BaseProgressTracker] = {}
        self._facts: dict[str, ConfigFacts] = {}  # facts of runs that have no tracker
        self._kept: dict[str, Kept] = {}  # each run's last decided status and what it came from (verdict_memo)
        # When each run's last decision falls due by the clock alone (verdict_memo.decision_due): a live
        # index wakes then, so a run whose silence limit passes reads dead at that moment, not a sweep later.
        self._due: dict[str, float] = {}
        self._context: ScanContext | None = None
        self._remember = True  # (the current scan's ``remember``)
        self.snapshot = ProcessSnapshot()
        self.process_map: dict[str, ProcessInfo] = {}
        # The warning of the last store save (None: saved, or nothing to save).
        self.last_store_problem: str | None = None

    # ------------------------------------------------------------------ state

    def facts_of(self, key: str) -> ConfigFacts | None:
        tracker = self._trackers.get(key)
        return tracker.config if tracker is not None else self._facts.get(key)

    def forget(self, keys: Iterable[str]) -> None:
        """Drop what is kept for runs that are gone."""
        for k in keys:
            self._trackers.pop(k, None)
            self._facts.pop(k, None)
            self._kept.pop(k, None)
            self._due.pop(k, None)
            if self._facts_watch is not None:
                self._facts_watch.facts.pop(k, None)

    def next_due(self, now: float) -> float | None:
        """The earliest time after ``now`` at which a run's last decision falls due, or None."""
        while True:
            try:
                dues = list(self._due.values())  # another thread may be scanning
                break
            except RuntimeError:
                continue
        return min((d for d in dues if d > now), default=None)

    def fallen_due(self, now: float) -> set[str]:
        """The runs whose last decision has fallen due by ``now``."""
        return {k for k, d in list(self._due.items()) if d <= now}

    def reset(self) -> None:
        """Forget every run's tracker and facts and the process snapshot (the store file stays)."""
        self._trackers.clear()
        self._facts.clear()
        self._kept.clear()
        self._due.clear()
        if self._facts_watch is not None:
            self._facts_watch.clear()
        self.snapshot = ProcessSnapshot()
        self.process_map = {}

    def take_snapshot(self, processes: Any) -> ProcessSnapshot:
        """Ask the process sources (a monitor, a snapshot, a dict, or None for none) and keep the answer."""
        self.snapshot = take_snapshot(processes, self.project)
        self.process_map = self.snapshot.by_config()
        return self.snapshot

    def discover(self) -> dict[str, str]:
        """Every run of the project, of every layout: name -> key."""
        return runs_by_name(self.project)

    # ------------------------------------------------------------------ scanning

    def scan(
        self,
        runs: Iterable[str],
        *,
        processes: Any = KEEP,
        reread: set[str] | None = None,
        sleep_time: float | None = None,
        outdated_days: float | None = None,
        force_refresh: bool = False,
        now: float | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        save: bool = True,
        remember: bool = True,
    ) -> dict[str, Scanned]:
        """Status of every given run, keyed (and ordered) as given.

        ``processes``: where processes come from for this scan (see ``take_snapshot``);
        ``KEEP`` uses the last snapshot. ``reread``: the keys whose config may have changed
        (None: check every config, a stat each). ``save``: write the progress store after.
        ``remember``: keep each run's verdict for the next scan in this process (verdict_memo);
        a one-shot command that scans once skips that.
        """
        self._remember = remember
        keys = list(dict.fromkeys(runs))
        t = time.time() if now is None else now
        opts = dict(sleep_time=sleep_time, outdated_days=outdated_days, force_refresh=force_refresh, now=t)
        out: dict[str, Scanned] = {}
        progress = _Progress(on_progress, len(keys))
        # A scan allocates many long-lived objects and frees few: cyclic GC passes over them
        # would cost more than they reclaim, so collection waits until the scan is done.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            # Workers first: a process with threads must not fork, and process sources start some.
            workers = self._start_workers(keys)
            # Kernel change notifications are read once, at the scan's start (change_notify):
            # the answers are as of then, and a change made during the scan is seen by the next.
            with workers or contextlib.nullcontext(), NOTIFIER.one_read_per_scan(), events_once_per_scan(), config_stats_once_per_scan():
                if processes is not KEEP:
                    self.take_snapshot(processes)
                store = self.store
                if workers is None:
                    self._evaluate(keys, reread, None, store, opts, out, progress, config_workers=None)
                else:
                    store = store if store is not None else ProgressStore(None)  # to adopt the workers' entries
                    mine = [k for k in keys if k not in workers.configs]
                    # (with workers busy, this process's configs are read here, not by more forks); the cold
                    # runs come a chunk at a time: the workers' as they arrive, this process's own in between
                    cold_workers = workers

                    def feed(wait: bool) -> list[tuple[str, ConfigFacts]] | None:
                        return cold_workers.next(store, wait)

                    self._evaluate(mine, reread, None, store, opts, out, progress, config_workers=1, feed=feed)
                    facts, redo = workers.adopt(store)
                    self._evaluate([k for k in keys if k in facts], reread, facts, store, opts, out, progress, config_workers=1)
                    self._evaluate(redo, reread, None, store, opts, out, progress, config_workers=1)
                    if self.store is None:  # the scan's own store served its purpose: trackers hold their results
                        for k in keys:
                            tracker = self._trackers.get(k)
                            if tracker is not None and tracker.store is store:
                                tracker.store = None
        finally:
            if gc_was_enabled:
                promote_young()  # what the scan made is kept: no young collection need pass over it
                gc.enable()
        if save and self.store is not None:
            self._note_store_problem(self.store.save())
        return out if list(out) == keys else {k: out[k] for k in keys}

    def rescan(self, paths: Iterable[str], known: dict[str, str], **scan_options: Any) -> Rescan:
        """Evaluate the runs that changed ``paths`` belong to; ``known``: name -> key of the runs already listed.

        New runs found under changed folders are evaluated too; runs whose config or
        folder is gone are named in ``gone`` and forgotten (``layouts.map_paths``).
        """
        changes: PathChanges = map_paths(self.project, paths, known)
        self.forget(known[rel] for rel in changes.gone if rel in known)
        found = dict(sorted(changes.touched.items()))
        scanned = self.scan(found.values(), reread={found[r] for r in changes.reread if r in found}, **scan_options)
        return Rescan(scanned, found, changes.gone)

    # ------------------------------------------------------------------ internals

    def _start_workers(self, keys: list[str]) -> ColdWorkers | None:
        """Forked workers for the cold runs of layouts that fan out (no tracker here, no entry in the store), when that pays."""
        if not self.fan_out:
            return None
        store = self.store
        trackers = self._trackers
        cold = []
        for k in keys:
            if k in trackers:
                continue
            try:
                run = run_for(self.project, k)
            except LayoutError:
                continue
            if not run.layout.fans_out:
                continue
            if store is not None and store.get(run.work_dir) is not None:
                continue
            cold.append(k)
        return start_cold_workers(cold, self.project) if cold else None

    def _evaluate(
        self,
        keys: list[str],
        reread: set[str] | None,
        given: dict[str, ConfigFacts] | None,
        store: ProgressStore | None,
        opts: dict[str, Any],
        out: dict[str, Scanned],
        progress: _Progress,
        config_workers: int | None,
        feed: Callable[[bool], list[tuple[str, ConfigFacts]] | None] | None = None,
    ) -> None:
        """Evaluate ``keys`` into ``out``. ``feed(wait)``: more runs, with their facts, taken between
        runs (every ``FEED_EVERY``) and after the last one until it says None (a cold scan's workers)."""
        if not keys and feed is None:
            return
        project = self.project
        snap = self.snapshot
        trackers = self._trackers
        all_facts = self._facts_for(keys, reread, given, config_workers) if keys else {}
        kept = self._kept
        ctx = self._context = ScanContext(project, EVENTS, process_memory(project), opts, snap.errors, self._context.settings if self._context else None)
        reusing = not opts.get("force_refresh")
        remember = self._remember
        process_map = self.process_map
        # Verdicts kept in the progress store (verdict_store): noted by every scan, reused by a one-shot
        # scan (a long-lived one keeps its own, verdict_memo).
        persisted = ScanVerdicts(self.store, ctx, snap) if self.store is not None else None
        reuse_kept = persisted if persisted is not None and reusing and not remember else None
        # progress.json rewrites overlap the evaluation in a writer thread.
        with background_progress_writes():
            for k in _fed(keys, all_facts, feed):
                facts = all_facts.get(k)
                if reusing:
                    was = kept.get(k)
                    if was is not None:
                        rel = was.status.run
                        again = reuse(was, facts=facts, tracker=trackers.get(k), proc=process_map.get(rel) if rel is not None else None, ctx=ctx)
                        if again is not None:
                            out[k] = Scanned(again, facts)
                            progress.step()
                            continue
                verdicts: list[Any] = []
                try:
                    status, tracker = evaluate_run(
                        k,
                        project,
                        process_map=self.process_map,
                        process_errors=snap.errors,
                        store=store,
                        tracker=trackers.get(k),
                        facts=facts,
                        verdict_out=verdicts,
                        kept_verdicts=reuse_kept,
                        **opts,
                    )
                except Exception as e:  # a runaway read (MemoryError, RecursionError), a reader's bug: its run fails, never the scan
                    if not isinstance(e, MemoryError | RecursionError):
                        _log.warning("runwatch: reading %s failed: %s: %s", k, type(e).__name__, e, exc_info=True)
                    status, tracker, verdicts = runaway_status(k, e, project), None, []
                if tracker is not None:
                    trackers[k] = tracker
                    if self._facts:
                        self._facts.pop(k, None)
                    facts = tracker.config
                else:
                    trackers.pop(k, None)
                    if facts is not None:
                        self._facts[k] = facts
                out[k] = Scanned(status, facts)
                if persisted is not None and verdicts:
                    verdict, newest_log, tracked = verdicts[0]
                    persisted.note(status, verdict=verdict, newest_log=newest_log, facts=facts, tracker=tracker, progress=tracked)
                memo = None
                if not remember:
                    self._due.pop(k, None)  # (a one-shot scan: nothing is kept for a next one)
                elif verdicts:
                    verdict, newest_log, _ = verdicts[0]
                    ev = getattr(verdict, "evidence", None)
                    due = decision_due(ev) if ev is not None else math.inf
                    if due < math.inf:
                        self._due[k] = due
                    else:
                        self._due.pop(k, None)
                    memo = keep(
                        status,
                        verdict=verdict,
                        newest_log=newest_log,
                        facts=facts,
                        tracker=tracker,
                        progress=status.progress if tracker is not None else None,
                        proc=status.process_info,
                        ctx=ctx,
                    )
                if memo is not None:
                    kept[k] = memo
                else:
                    kept.pop(k, None)
                progress.step()
        if persisted is not None:
            persisted.flush()  # (the writer thread is done: every run's key is made)

    def _facts_for(self, keys: list[str], reread: set[str] | None, given: dict[str, ConfigFacts] | None, workers: int | None) -> dict[str, ConfigFacts]:
        """The facts each run is evaluated with: kept ones, and fresh reads where needed.

        Fresh reads go to each run's layout in one batch per layout (a layout that reads
        configs reads them together: one cache load, one stat per unchanged config).
        """
        project = self.project
        out: dict[str, ConfigFacts] = {}
        want: dict[Layout, list[str]] = {}
        watch = self._facts_watch
        if watch is not None and (not self._remember or not project.settings.kernel_watches or watch.root != project.root):
            watch = None  # (a one-shot scan: nothing to reuse; no kernel watches; another root)
        if watch is not None and given is None and reread is None and watch.quiet(project.settings):
            keys = watch.reuse(keys, out)  # nothing they were read from changed: no batch, no stat
            if not keys:
                return out
        armed = watch.before_batch(project.settings) if watch is not None else False
        vouch: dict[str, ConfigFacts] | None = {} if watch is not None and given is None else None
        for k in keys:
            if given is not None and k in given:
                out[k] = given[k]
                continue
            try:
                layout = run_for(project, k).layout
            except LayoutError:
                continue  # evaluate_run gives the run its error
            known = self.facts_of(k)
            # Facts read from configs change only with the config (``reread`` names those); a layout
            # whose facts come from the run's own files is asked each time (it checks them by stat).
            if reread is None or k in reread or known is None or not layout.reads_configs:
                want.setdefault(layout, []).append(k)
            else:
                out[k] = known
        for layout, batch in want.items():
            for k, f in layout.facts_batch(project, batch, workers).items():
                if f is not self.facts_of(k):
                    compact_facts(f)  # a new object: share its strings and trees with the others'
                out[k] = f
                if vouch is not None and layout.reads_configs:
                    vouch[k] = f
        if watch is not None and vouch:
            watch.after_batch(vouch, armed)
        return out

    def _note_store_problem(self, problem: str | None) -> None:
        self.last_store_problem = problem
        if problem:
            _log.warning("%s", problem)


# A cold scan's own runs between two looks at what its workers have sent (a look is one ``poll``).
FEED_EVERY = 8


def _fed(keys: list[str], facts: dict[str, ConfigFacts], feed: Callable[[bool], list[tuple[str, ConfigFacts]] | None] | None) -> Iterator[str]:
    """``keys``, with the runs ``feed`` gives (their facts put into ``facts``) taken as they come."""
    if feed is None:
        yield from keys
        return
    for i, k in enumerate(keys):
        if i % FEED_EVERY == 0:
            for k2, f in feed(False) or ():
                facts[k2] = f
                yield k2
        yield k
    while (more := feed(True)) is not None:
        for k2, f in more:
            facts[k2] = f
            yield k2


class _Progress:
    """``on_progress(done, total)`` after each run, if asked for."""

    __slots__ = ("fn", "done", "total")

    def __init__(self, fn: Callable[[int, int], None] | None, total: int) -> None:
        self.fn, self.done, self.total = fn, 0, total

    def step(self) -> None:
        if self.fn is not None:
            self.done += 1
            self.fn(self.done, self.total)


# ---------------------------------------------------------------- one engine per project in a process

_ENGINES: dict[str, ScanEngine] = STATE.table("run_status.engines")
_STORES: dict[str, ProgressStore] = STATE.table("run_status.stores")


def store_path(project: Project) -> str:
    return str(project.settings.resolve_cache_dir(project.root) / "progress-store.pickle")


def open_store(project: Project) -> ProgressStore:
    """The project's progress store, shared within a process (so a warm call is all in memory)."""
    path = store_path(project)
    store = _STORES.get(path)
    if store is None:
        store = _STORES[path] = ProgressStore(path)
    return store


def engine_for(project: Project) -> ScanEngine:
    """The process's engine of a project (by its progress store), with its trackers and store.

    Every caller in a process that scans the same project gets the same engine, so a
    second call is warm; the engine takes the caller's project (its settings) for the scan.
    """
    path = store_path(project)
    engine = _ENGINES.get(path)
    if engine is None:
        engine = _ENGINES[path] = ScanEngine(project, open_store(project))
    else:
        engine.project = project
    return engine
