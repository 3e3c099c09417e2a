"""A cold scan of many runs fans out over forked workers; everything else stays serial.

The first look at a lab's tree (no progress store, no in-process trackers) reads every
config, lists every work dir and epoch dir and parses every scores file: CPU-bound Python
at about 2 ms per run, one core's worth. Runs are independent, so the cold runs are cut
into chunks of ``PART_RUNS`` that forked children and the scanning process take in turn,
whoever is free first (``claims.Claims``), so that all of them end together whatever their
speeds. The children are started before anything else (a process with threads must not
fork; the process sources start some).

A child reads its chunk's configs without any cache, computes its runs' progress into a
progress store of its own (in memory) and sends back plain values: each run's store
entry (fingerprint, progress, details, hint) and each config's facts. Nothing it sends
is a tracker. It sends each chunk as it is done (``fork_stream``); between chunks of its
own, the scan engine puts each received chunk's entries into its progress store and
evaluates its runs the ordinary way: a run's tracker finds its entry in the store and
checks its fingerprint with a few stats, exactly as a warm scan in a new process would.
The scanning process reads its own chunks' configs the same way, and the config cache
learns what was read between chunks (its hot file is written once, at the end). A warm
scan (a few stats per run) never forks, and the runs no chunk sent back covered (a child
that failed, before or midway) are redone here, with the same answers.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Any

from runwatch.claims import Claims
from runwatch.configs.facts import ConfigFacts, compact_facts
from runwatch.fork_stream import Streams, fork_stream
from runwatch.forking import worker_count
from runwatch.project import Project
from runwatch.progress_tracking.progress_store import ProgressStore, background_progress_writes

# Cold runs per process below which a fork costs more than it saves (a fork, one pipe
# and the pickling of a share's results: ~10 ms plus ~0.1 ms per run, against ~2 ms per run).
MIN_RUNS_PER_WORKER = 100
# Config reads the config cache learns at a time, between chunks (a batch's fixed cost is a commit).
LEARN_RUNS = 64
# Runs per chunk (what a process takes at a time, and what a worker sends back at once): when the
# last chunk is taken, the others' last chunks are all that is left (at ~2-4 ms per run, about as
# long as one chunk); the scanning process decides a worker's chunk while the worker computes its next.
PART_RUNS = 16

ReadStatic = Callable[[list[str]], dict[str, Any]]


class ColdWorkers:
    """The forked workers of one cold scan, the cold configs they share with this process, and what they sent so far.

    The chunks of the cold configs are taken in turn (``Claims``) by the workers and by this process
    (``claim``); a worker sends each chunk when it is done, and this process takes them between runs of
    its own (``take``), so that adopting and deciding the workers' runs overlaps their work.
    """

    def __init__(self, streams: Streams, cold: list[str], claims: Claims, project: Project) -> None:
        self._streams = streams
        self._cold = cold
        self._claims = claims
        self._project = project
        self.configs: set[str] = set(cold)
        self._received: set[str] = set()
        self._mine: set[str] = set()
        self._read: dict[str, Any] = {}  # config reads the config cache has not learned yet
        self._learned = False
        self._collecting: ProgressStore | None = None  # the store that keeps its new details for ``encode_fresh``
        self._reader: ReadStatic | None = None
        # Runs received from each worker (by its number): what each one did.
        self.received_from: Counter[int] = Counter()

    def __enter__(self) -> ColdWorkers:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self._streams.__exit__(exc_type, exc, tb)
        finally:
            self._claims.close()
            self._stop_collecting()

    def _stop_collecting(self) -> None:
        if self._collecting is not None:
            self._collecting.collect_fresh(False)
            self._collecting = None

    def next(self, store: ProgressStore, wait: bool) -> list[tuple[str, ConfigFacts]] | None:
        """More cold runs for this process to evaluate, with their facts: the workers' chunks received since
        the last call (their entries go into ``store``); with ``wait``, when none has come, a chunk of this
        process's own, and when none is left, the next the workers send. None: every run was handed out."""
        got = self.take(store, wait=False)
        if got or not wait:
            return got
        # Between chunks, what would otherwise wait for the end (when the workers are done and one core
        # idles): the last chunk's per-epoch series encoded for the store's save, and now and then the
        # config cache's learning of what was read.
        if self._collecting is None:
            self._collecting = store
            store.collect_fresh()
        store.encode_fresh()
        own = self.claim()
        if own is not None:
            if len(self._read) >= LEARN_RUNS:
                self._learn()
            return own
        self._learn()  # (before waiting for the workers' last chunks)
        return self.take(store, wait=True)

    def take(self, store: ProgressStore, wait: bool = False) -> list[tuple[str, ConfigFacts]] | None:
        """The runs of the chunks received since the last call, with their facts; their entries go into ``store``.

        ``wait``: block until a chunk arrives. None once every worker has ended and every chunk was taken.
        """
        parts = self._streams.take(wait)
        if parts is None:
            return None
        out: list[tuple[str, ConfigFacts]] = []
        for index, (entries, read, facts) in parts:
            store.adopt(entries)
            self._read.update(read)
            for c, f in facts.items():
                if c not in self._received:
                    self._received.add(c)
                    self.received_from[index] += 1
                    out.append((c, f))
        return out

    def claim(self) -> list[tuple[str, ConfigFacts]] | None:
        """The next chunk of cold runs for this process, with their facts read here as a worker reads them
        (no cache: the config cache learns them with the workers', in ``_learn``); None when none is left."""
        r = self._claims.take()
        if r is None:
            return None
        part = self._cold[r.start : r.stop]
        if self._reader is None:
            self._reader = _static_reader(self._project)
        read, facts = _read_part(self._reader, part, self._project)
        self._read.update(read)
        self._mine.update(part)
        return [(c, compact_facts(facts[c])) for c in part]

    def adopt(self, store: ProgressStore) -> tuple[dict[str, ConfigFacts], list[str]]:
        """Wait for the workers; the config cache learns the last configs read and writes its hot file.

        Returns (config -> facts of runs not yet taken, configs no chunk covered: their worker failed, and
        the caller evaluates them from scratch, with the same answers).
        """
        from runwatch.configs.reader import save_hot_file

        facts = dict(self.take(store, wait=False) or ())
        while (more := self.take(store, wait=True)) is not None:
            facts.update(more)
        self._streams.results()
        self._stop_collecting()
        self._learn()
        if self._learned:
            save_hot_file(self._project.root, self._project.settings)
        redo = [c for c in self._cold if c not in self._received and c not in self._mine]
        return facts, redo

    def _learn(self) -> None:
        """The config cache learns the configs read so far (here and in the workers): as if read by it, in the
        scanning process's time between chunks, not after the workers; the hot file is written once, in ``adopt``."""
        if not self._read:
            return
        from runwatch.configs import read_configs

        read, self._read = self._read, {}
        project = self._project
        read_configs(list(read), root=project.root, settings=project.settings, precomputed=read, save_hot=False)
        self._learned = True


def start_cold_workers(cold: list[str], project: Project) -> ColdWorkers | None:
    """Fork workers for ``cold`` configs when that pays; None when this process should do them all.

    The workers and this process then take the cold configs a chunk at a time (``ColdWorkers.next``).
    """
    n = worker_count(len(cold), MIN_RUNS_PER_WORKER, project.settings.workers)
    if n < 2:
        return None
    try:
        claims = Claims(len(cold), PART_RUNS)
    except OSError:  # no pipe to be had (out of descriptors): this process does them all
        return None
    # What every worker imports, imported once here: a forked child starts with it (this process needs it
    # for its own chunks anyway), where each child would import it again (~50 ms of CPU each).
    import runwatch.configs.reader
    import runwatch.progress_tracking.config_changed  # noqa: F401

    streams = fork_stream(lambda _, send: _worker(cold, project, send, claims), list(range(n - 1)))
    return ColdWorkers(streams, cold, claims, project)


def _static_reader(project: Project) -> ReadStatic:
    """Configs read with no cache (no database across a fork), the changed-config check answered while
    each evaluation is at hand (in the process that reads them, where its tracker will ask)."""
    from runwatch.configs.reader import static_reader
    from runwatch.progress_tracking.config_changed import launch_check

    return static_reader(project.root, project.settings, on_evaluated=launch_check(project))


def _read_part(read_static: ReadStatic, part: list[str], project: Project) -> tuple[dict[str, Any], dict[str, ConfigFacts]]:
    """(config reads, config -> facts) of the configs of ``part``."""
    absolute = {c: c if os.path.isabs(c) else os.path.join(project.root, c) for c in part}
    read = read_static(list(dict.fromkeys(absolute.values())))
    return read, {c: read[a][0] for c, a in absolute.items()}


def _worker(share: list[str], project: Project, send: Callable[[Any], None], claims: Claims) -> None:
    """In a forked child: the runs of ``share`` a chunk at a time, the chunks ``claims`` hands out, facts read
    with no cache, progress into a fresh store; each chunk is sent as it is done, as (store entries, config
    reads, facts)."""
    from runwatch.run_status.run_status import compute_progress

    read_static = _static_reader(project)
    for r in iter(claims.take, None):
        part = share[r.start : r.stop]
        read, facts = _read_part(read_static, part, project)
        store = ProgressStore(None)
        # progress.json rewrites overlap the computation in a writer thread; all are done
        # (and the runs' fingerprints made) when the block exits, before anything is sent.
        with background_progress_writes():
            for c in part:
                compute_progress(c, project, facts[c], store)
        send((store.entries(), read, facts))
