"""A cold scan of many runs fans out over forked workers; everything else stays serial.

The first look at a lab's tree (no progress store, no in-process trackers) reads every
config, lists every work dir and epoch dir and parses every scores file: CPU-bound Python
at about 2 ms per run, one core's worth. Runs are independent, so shares of the cold
runs go to forked children, each reading its configs without any cache and computing
its runs without the store. They send back their statuses, trackers and config facts;
this process does its own share meanwhile, then adopts theirs into its trackers, the
progress store and the config cache, exactly as if it had computed them itself. A warm
scan (a few stats per run) never forks, and a child that fails is redone here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from runwatch.configs.facts import ConfigFacts
from runwatch.forking import fork_map, split, worker_count
from runwatch.layout import Project
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker
from runwatch.progress_tracking.progress_cache import ProgressStore

# Cold runs per process below which a fork costs more than it saves (a fork, one pipe
# and the pickling of a share's results: ~10 ms plus ~0.1 ms per run, against ~2 ms per run).
MIN_RUNS_PER_WORKER = 100

# scan(share, facts or None (read them with the cache), store, trackers, out): the serial
# scan of a share, filling ``out`` (config -> RunStatus) and ``trackers``.
Scan = Callable[[list[str], "dict[str, ConfigFacts] | None", "ProgressStore | None", "dict[str, BaseProgressTracker] | None", dict[str, Any]], None]

_WORKER_OWNED = ("store", "settings")  # reattached by the adopting process, never pickled


def scan_runs(
    configs: list[str],
    project: Project,
    store: ProgressStore | None,
    trackers: dict[str, BaseProgressTracker] | None,
    work_dir_of: Callable[[str], str | None],
    scan: Scan,
    out: dict[str, Any],
) -> bool:
    """Fill ``out`` for every config, fanning the cold ones out when that pays. Returns whether it forked.

    A config is cold when this process has no tracker for it and the store no entry for its work dir.
    """
    cold = [c for c in dict.fromkeys(configs) if not _known(c, store, trackers, work_dir_of)]
    n = worker_count(len(cold), MIN_RUNS_PER_WORKER, project.settings.workers)
    if n < 2:
        scan(configs, None, store, trackers, out)
        return False
    shares = split(cold, n)
    in_children = {c for share in shares[1:] for c in share}
    local = [c for c in configs if c not in in_children]

    def in_worker(share: list[str]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        return _worker(share, project, scan)

    results = fork_map(in_worker, [local, *shares[1:]], local=lambda share: scan(share, None, store, trackers, out))
    for share, (ok, value) in zip(shares[1:], results[1:]):
        if ok:
            _adopt(value, project, store, trackers, out)
        else:  # the worker failed (killed, out of memory, a bug): same answers, computed here
            scan(share, None, store, trackers, out)
    return True


def _known(config: str, store: ProgressStore | None, trackers: dict[str, BaseProgressTracker] | None, work_dir_of: Callable[[str], str | None]) -> bool:
    if trackers is not None and config in trackers:
        return True
    if store is None:
        return False
    work_dir = work_dir_of(config)
    return work_dir is not None and store.get(work_dir) is not None


def _worker(share: list[str], project: Project, scan: Scan) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """In a forked child: facts read with no cache (no database across a fork), runs computed with no store."""
    from runwatch.configs.reader import read_static_uncached

    absolute = {c: c if os.path.isabs(c) else os.path.join(project.root, c) for c in share}
    read = read_static_uncached(list(dict.fromkeys(absolute.values())), project.root, project.settings)
    facts = {c: read[a][0] for c, a in absolute.items()}
    out: dict[str, Any] = {}
    trackers: dict[str, BaseProgressTracker] = {}
    scan(share, facts, None, trackers, out)
    states = {c: (type(t), {k: v for k, v in t.__dict__.items() if k not in _WORKER_OWNED}) for c, t in trackers.items()}
    return out, states, read


def _adopt(
    value: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
    project: Project,
    store: ProgressStore | None,
    trackers: dict[str, BaseProgressTracker] | None,
    out: dict[str, Any],
) -> None:
    """A worker's results, made this process's own: trackers, store entries, cached facts."""
    from runwatch.configs import read_configs

    w_out, states, read = value
    if read:
        # The config cache learns the worker's facts (the same objects its trackers hold).
        read_configs(list(read), root=project.root, settings=project.settings, precomputed=read)
    for c, status in w_out.items():
        out[c] = status
        state = states.get(c)
        if state is None:
            if trackers is not None:
                trackers.pop(c, None)
            continue
        cls, attrs = state
        tracker = cls.__new__(cls)
        tracker.__dict__.update(attrs)
        tracker.settings = project.settings
        tracker.store = store
        if trackers is not None:
            trackers[c] = tracker
        if store is not None and tracker._cache_key is not None and tracker._cache is not None:
            store.put(tracker.work_dir, tracker._cache_key, tracker._cache, tracker.details, tracker._hint)
