"""A cold scan of many runs fans out over forked workers; everything else stays serial.

The first look at a lab's tree (no progress store, no in-process trackers) reads every
config, lists every work dir and epoch dir and parses every scores file: CPU-bound Python
at about 2 ms per run, one core's worth. Runs are independent, so shares of the cold
runs go to forked children, started before anything else (a process with threads must
not fork; the process sources start some).

A child reads its configs without any cache, computes its runs' progress into a
progress store of its own (in memory) and sends back plain values: each run's store
entry (fingerprint, progress, details, hint) and each config's facts. Nothing it sends
is a tracker. It sends them a part at a time (``PART_RUNS`` runs), as each part is done
(``fork_stream``); between runs of its own share, the scan engine puts each part's entries
into its progress store and evaluates its runs the ordinary way: a run's tracker finds its
entry in the store and checks its fingerprint with a few stats, exactly as a warm scan in
a new process would. The facts go into the config cache in one batch at the end. A warm
scan (a few stats per run) never forks, and the runs no part covered (a child that failed,
before or midway) are redone here, with the same answers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import TracebackType
from typing import Any

from runwatch.configs.facts import ConfigFacts
from runwatch.fork_stream import Streams, fork_stream
from runwatch.forking import split, worker_count
from runwatch.project import Project
from runwatch.progress_tracking.progress_store import ProgressStore, background_progress_writes

# Cold runs per process below which a fork costs more than it saves (a fork, one pipe
# and the pickling of a share's results: ~10 ms plus ~0.1 ms per run, against ~2 ms per run).
MIN_RUNS_PER_WORKER = 100
# The scanning process's share of the cold runs, against a worker's 1.0: it decides each of its own
# runs too, and adopts and decides the workers' parts as they come (~0.23 ms per run); measured on
# generated Pylon trees, 0.85 has its own share and the last part arrive together (0.78 left it
# waiting for the worker, 0.88 before the parts were taken as they come).
PARENT_SHARE = 0.85
# Runs per part a worker sends: the scanning process decides a part's runs while the worker computes
# the next, so the last part is all that is left to it after the worker ends (~0.25 ms per run).
PART_RUNS = 32


class ColdWorkers:
    """The forked workers of one cold scan, the configs they took, and what they have sent so far.

    A worker sends its runs a part at a time (``PART_RUNS``); the scanning process takes each part
    between runs of its own (``take``), so that adopting and deciding the workers' runs overlaps
    their work instead of following it.
    """

    def __init__(self, streams: Streams, shares: list[list[str]]) -> None:
        self._streams = streams
        self._shares = shares
        self.configs: set[str] = {c for share in shares for c in share}
        self._received: set[str] = set()
        self._read: dict[str, Any] = {}

    def __enter__(self) -> ColdWorkers:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._streams.__exit__(exc_type, exc, tb)

    def take(self, store: ProgressStore, wait: bool = False) -> list[tuple[str, ConfigFacts]] | None:
        """The runs of the parts received since the last call, with their facts; their entries go into ``store``.

        ``wait``: block until a part arrives. None once every worker has ended and every part was taken.
        """
        parts = self._streams.take(wait)
        if parts is None:
            return None
        out: list[tuple[str, ConfigFacts]] = []
        for _, (entries, read, facts) in parts:
            store.adopt(entries)
            self._read.update(read)
            for c, f in facts.items():
                if c not in self._received:
                    self._received.add(c)
                    out.append((c, f))
        return out

    def adopt(self, project: Project, store: ProgressStore) -> tuple[dict[str, ConfigFacts], list[str]]:
        """Wait for the workers; the facts they read go into the config cache (one batch).

        Returns (config -> facts of runs not yet taken, configs no part covered: their worker failed, and
        the caller evaluates them from scratch, with the same answers).
        """
        from runwatch.configs import read_configs

        facts = dict(self.take(store, wait=False) or ())
        while (more := self.take(store, wait=True)) is not None:
            facts.update(more)
        self._streams.results()
        if self._read:
            read_configs(list(self._read), root=project.root, settings=project.settings, precomputed=self._read)
        redo = [c for share in self._shares for c in share if c not in self._received]
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

    return ColdWorkers(fork_stream(lambda share, send: _worker(share, project, send), shares), shares)


def worker_shares(cold: list[str], n: int) -> list[list[str]]:
    """The shares of ``cold`` that ``n - 1`` workers take (this process keeps the first runs).

    The scanning process does more per run of its own share than a worker (each run's evidence and
    decision) and then adopts the workers' runs: a smaller share lets it finish with them, not after.
    """
    mine = round(len(cold) * PARENT_SHARE / (PARENT_SHARE + n - 1))
    return split(cold[mine:], n - 1)


def _worker(share: list[str], project: Project, send: Callable[[Any], None]) -> None:
    """In a forked child: facts read with no cache (no database across a fork), progress into a fresh store;
    each part of ``PART_RUNS`` runs is sent as it is done, as (store entries, config reads, facts)."""
    from runwatch.configs.reader import static_reader
    from runwatch.progress_tracking.config_changed import launch_check
    from runwatch.run_status.run_status import compute_progress

    # (the changed-config check is answered while each config's evaluation is at hand, in this process)
    read_static = static_reader(project.root, project.settings, on_evaluated=launch_check(project))
    for i in range(0, len(share), PART_RUNS):
        part = share[i : i + PART_RUNS]
        absolute = {c: c if os.path.isabs(c) else os.path.join(project.root, c) for c in part}
        read = read_static(list(dict.fromkeys(absolute.values())))
        facts = {c: read[a][0] for c, a in absolute.items()}
        store = ProgressStore(None)
        # progress.json rewrites overlap the computation in a writer thread; all are done
        # (and the runs' fingerprints made) when the block exits, before anything is sent.
        with background_progress_writes():
            for c in part:
                compute_progress(c, project, facts[c], store)
        send((store.entries(), read, facts))
