"""A cold scan of many runs fans out over forked workers; everything else stays serial.

The first look at a lab's tree (no progress store, no in-process trackers) reads every
config, lists every work dir and epoch dir and parses every scores file: CPU-bound Python
at about 2 ms per run, one core's worth. Runs are independent, so shares of the cold
runs go to forked children, started before anything else (a process with threads must
not fork; the process sources start some).

A child reads its configs without any cache, computes its runs' progress into a
progress store of its own (in memory) and sends back plain values: each run's store
entry (fingerprint, progress, details, hint) and each config's facts. Nothing it sends
is a tracker. The scan engine puts those entries into its progress store and the facts
into the config cache, then evaluates every run the ordinary way: a run's tracker finds
its entry in the store and checks its fingerprint with a few stats, exactly as a warm
scan in a new process would. A warm scan (a few stats per run) never forks, and a child
that fails is redone here, with the same answers.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

from runwatch.configs.facts import ConfigFacts
from runwatch.forking import Forked, fork_each, split, worker_count
from runwatch.project import Project
from runwatch.progress_tracking.progress_store import ProgressStore, StoreEntry, background_progress_writes

# Cold runs per process below which a fork costs more than it saves (a fork, one pipe
# and the pickling of a share's results: ~10 ms plus ~0.1 ms per run, against ~2 ms per run).
MIN_RUNS_PER_WORKER = 100
# The scanning process's share of the cold runs, against a worker's 1.0: measured on generated Pylon
# trees, a worker takes ~1.9 ms per run, the scanning process ~2.15 ms per run of its own and
# ~0.23 ms per run adopted from a worker; 0.88 has both sides finish together (benchmarks/cold_cpu.py).
PARENT_SHARE = 0.88


class ColdWorkers:
    """The forked workers of one cold scan, and the configs they took."""

    def __init__(self, forked: Forked, shares: list[list[str]]) -> None:
        self._forked = forked
        self._shares = shares
        self.configs: set[str] = {c for share in shares for c in share}

    def __enter__(self) -> ColdWorkers:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._forked.__exit__(exc_type, exc, tb)

    def adopt(self, project: Project, store: ProgressStore) -> tuple[dict[str, ConfigFacts], list[str]]:
        """Wait for the workers; their entries go into ``store``, their facts into the config cache.

        Returns (config -> facts, configs whose worker failed: the caller evaluates them
        from scratch, with the same answers).
        """
        from runwatch.configs import read_configs

        facts: dict[str, ConfigFacts] = {}
        redo: list[str] = []
        for share, (ok, value) in zip(self._shares, self._forked.results()):
            if not ok:  # killed, out of memory, a bug: the same answers, computed here
                redo.extend(share)
                continue
            entries, read, share_facts = value
            if read:
                read_configs(list(read), root=project.root, settings=project.settings, precomputed=read)
            facts.update(share_facts)
            store.adopt(entries)
        return facts, redo


def start_cold_workers(cold: list[str], project: Project) -> ColdWorkers | None:
    """Fork workers for ``cold`` configs when that pays; None when this process should do them all.

    This process keeps the first share of the cold configs for itself.
    """
    n = worker_count(len(cold), MIN_RUNS_PER_WORKER, project.settings.workers)
    if n < 2:
        return None
    shares = worker_shares(cold, n)
    # What every worker imports, imported once here: a forked child starts with it (this process needs it
    # for its own share anyway), where each child would import it again (~50 ms of CPU each).
    import runwatch.configs.reader
    import runwatch.progress_tracking.config_changed  # noqa: F401

    return ColdWorkers(fork_each(lambda share: _worker(share, project), shares), shares)


def worker_shares(cold: list[str], n: int) -> list[list[str]]:
    """The shares of ``cold`` that ``n - 1`` workers take (this process keeps the first runs).

    The scanning process does more per run of its own share than a worker (each run's evidence and
    decision) and then adopts the workers' runs: a smaller share lets it finish with them, not after.
    """
    mine = round(len(cold) * PARENT_SHARE / (PARENT_SHARE + n - 1))
    return split(cold[mine:], n - 1)


def _worker(share: list[str], project: Project) -> tuple[dict[str, StoreEntry], dict[str, Any], dict[str, ConfigFacts]]:
    """In a forked child: facts read with no cache (no database across a fork), progress into a fresh store."""
    from runwatch.configs.reader import read_static_uncached
    from runwatch.progress_tracking.config_changed import launch_check
    from runwatch.run_status.run_status import compute_progress

    absolute = {c: c if os.path.isabs(c) else os.path.join(project.root, c) for c in share}
    # (the changed-config check is answered while each config's evaluation is at hand, in this process)
    read = read_static_uncached(list(dict.fromkeys(absolute.values())), project.root, project.settings, on_evaluated=launch_check(project))
    facts = {c: read[a][0] for c, a in absolute.items()}
    store = ProgressStore(None)
    # progress.json rewrites overlap the computation in a writer thread; all are done
    # (and the runs' fingerprints made) when the block exits, before anything is sent.
    with background_progress_writes():
        for c in share:
            compute_progress(c, project, facts[c], store)
    return store.entries(), read, facts
