"""A cold scan of many runs fans out over forked workers; everything else stays serial.

The first look at a lab's tree (no progress store, no in-process trackers) reads every
config, lists every work dir and epoch dir and parses every scores file: CPU-bound Python
at about 2 ms per run, one core's worth. Runs are independent, so shares of the cold
runs go to forked children, started before anything else (a process with threads must
not fork; the process sources start some). Each child reads its configs without any
cache and computes its runs' progress without the store, and sends back the trackers
and config facts. This process meanwhile asks the process sources and does its own
share; then it adopts the children's trackers into its trackers, the progress store and
the config cache, exactly as if it had computed them, and decides every run's status
with its own process snapshot. A warm scan (a few stats per run) never forks, and a
child that fails is redone here, with the same answers.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from runwatch.configs.facts import ConfigFacts
from runwatch.forking import Forked, fork_each, split, worker_count
from runwatch.layout import Project
from runwatch.process_info import ProcessInfo, ProcessSnapshot
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker
from runwatch.progress_tracking.progress_cache import ProgressStore, background_progress_writes

# Cold runs per process below which a fork costs more than it saves (a fork, one pipe
# and the pickling of a share's trackers: ~10 ms plus ~0.1 ms per run, against ~2 ms per run).
MIN_RUNS_PER_WORKER = 100

# compute(config, facts) -> the tracker that computed the run's progress (None when the
# run has none: undetectable runner type, unreadable work dir). Called in a child.
Compute = Callable[[str, ConfigFacts], "BaseProgressTracker | None"]

_WORKER_OWNED = ("store", "settings")  # reattached by the adopting process, never pickled


class ColdWorkers:
    """The forked workers of one cold scan, and the configs they took."""

    def __init__(self, forked: Forked, shares: list[list[str]]) -> None:
        self._forked = forked
        self._shares = shares
        self.configs: set[str] = {c for share in shares for c in share}

    def __enter__(self) -> ColdWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self._forked.__exit__(*exc)

    def adopt(
        self, project: Project, store: ProgressStore | None, trackers: dict[str, BaseProgressTracker] | None
    ) -> tuple[dict[str, BaseProgressTracker], dict[str, ConfigFacts], list[str]]:
        """Wait for the workers; returns (config -> adopted tracker, config -> facts, configs to do here).

        "To do here": the configs of a worker that failed, and those a worker found no
        tracker for (the caller's own evaluation gives them their error, fast).
        """
        from runwatch.configs import read_configs

        adopted: dict[str, BaseProgressTracker] = {}
        facts: dict[str, ConfigFacts] = {}
        redo: list[str] = []
        for share, (ok, value) in zip(self._shares, self._forked.results()):
            if not ok:  # killed, out of memory, a bug: the same answers, computed here
                redo.extend(share)
                continue
            states, read, share_facts = value
            if read:
                # The config cache learns the worker's facts (the same objects its trackers hold).
                read_configs(list(read), root=project.root, settings=project.settings, precomputed=read)
            facts.update(share_facts)
            for c in share:
                state = states.get(c)
                if state is None:
                    redo.append(c)
                    continue
                cls, attrs = state
                tracker = cls.__new__(cls)
                tracker.__dict__.update(attrs)
                tracker.settings = project.settings
                tracker.store = store
                adopted[c] = tracker
                if trackers is not None:
                    trackers[c] = tracker
                if store is not None and tracker._cache_key is not None and tracker._cache is not None:
                    store.put(tracker.work_dir, tracker._cache_key, tracker._cache, tracker.details, tracker._hint)
        return adopted, facts, redo


def start_cold_workers(
    configs: list[str],
    project: Project,
    store: ProgressStore | None,
    trackers: dict[str, BaseProgressTracker] | None,
    work_dir_of: Callable[[str], str | None],
    compute: Compute,
) -> ColdWorkers | None:
    """Fork workers for the cold configs when that pays; None when this process should do them all.

    A config is cold when this process has no tracker for it and the store no entry for
    its work dir. This process keeps one share of the cold configs for itself.
    """
    cold = [c for c in dict.fromkeys(configs) if not _known(c, store, trackers, work_dir_of)]
    n = worker_count(len(cold), MIN_RUNS_PER_WORKER, project.settings.workers)
    if n < 2:
        return None
    shares = split(cold, n)[1:]
    return ColdWorkers(fork_each(lambda share: _worker(share, project, compute), shares), shares)


# scan_share(share, snapshot, process_map, facts, computed, config_workers): the caller's
# evaluation of a share of runs in this process. ``facts`` None: read the share's configs,
# forking for them at most ``config_workers`` (None: the project setting). ``computed``: adopted
# trackers whose progress is taken as computed (evaluate_run(..., computed=True)).
ScanShare = Callable[
    [list[str], ProcessSnapshot, dict[str, ProcessInfo], dict[str, ConfigFacts] | None, dict[str, BaseProgressTracker] | None, int | None], None
]


def scan_with_workers(
    configs: list[str],
    project: Project,
    store: ProgressStore | None,
    trackers: dict[str, BaseProgressTracker] | None,
    work_dir_of: Callable[[str], str | None],
    compute: Compute,
    take_snapshot: Callable[[], ProcessSnapshot],
    scan_share: ScanShare,
) -> tuple[ProcessSnapshot, bool]:
    """A whole scan: workers for the cold runs (forked first, before the process sources can
    start threads), the process snapshot, this process's share, then the workers' runs adopted
    and any failed share redone here. Each share's progress.json writes overlap it in a writer
    thread. Returns (the snapshot, whether workers ran: results then came in another order).
    """
    workers = start_cold_workers(configs, project, store, trackers, work_dir_of, compute)
    with workers or contextlib.nullcontext():
        snap = take_snapshot()
        process_map = snap.by_config()

        def share(configs_: list[str], facts: dict[str, ConfigFacts] | None = None, computed: dict[str, BaseProgressTracker] | None = None) -> None:
            with background_progress_writes():
                # (with workers busy, this process's configs are read here, not by more forks)
                scan_share(configs_, snap, process_map, facts, computed, None if workers is None else 1)

        if workers is None:
            share(configs)
            return snap, False
        share([c for c in configs if c not in workers.configs])
        adopted, facts, redo = workers.adopt(project, store, trackers)
        share(list(adopted), facts, adopted)
        if redo:
            share(redo)
    return snap, True


def _known(config: str, store: ProgressStore | None, trackers: dict[str, BaseProgressTracker] | None, work_dir_of: Callable[[str], str | None]) -> bool:
    if trackers is not None and config in trackers:
        return True
    if store is None:
        return False
    work_dir = work_dir_of(config)
    return work_dir is not None and store.get(work_dir) is not None


def _worker(share: list[str], project: Project, compute: Compute) -> tuple[dict[str, Any], dict[str, Any], dict[str, ConfigFacts]]:
    """In a forked child: facts read with no cache (no database across a fork), progress computed with no store."""
    from runwatch.configs.reader import read_static_uncached

    absolute = {c: c if os.path.isabs(c) else os.path.join(project.root, c) for c in share}
    read = read_static_uncached(list(dict.fromkeys(absolute.values())), project.root, project.settings)
    facts = {c: read[a][0] for c, a in absolute.items()}
    states: dict[str, Any] = {}
    # progress.json rewrites overlap the computation in a writer thread; all are done
    # (and the trackers' cache keys made) when the block exits, before anything is sent.
    with background_progress_writes():
        trackers = {c: compute(c, facts[c]) for c in share}
    for c, t in trackers.items():
        if t is not None and t._cache is not None and not t._pending:
            states[c] = (type(t), {k: v for k, v in t.__dict__.items() if k not in _WORKER_OWNED})
    return states, read, facts
