"""The live index: every run of a project in memory, recomputed only where files changed.

A dashboard with thousands of runs cannot rescan the whole tree on every file event;
instead each changed path is mapped back to the one run it belongs to (by the
config <-> work dir mapping) and only that run is re-evaluated, with its tracker
reused so an unchanged run costs a few stats. Every effective change bumps a
sequence number so that clients can tell a missed delta from an idle server.

Run ids are short hashes of the run's name: opaque keys that let a request address a
run without ever naming a file path.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from runwatch.configs.facts import ConfigFacts
from runwatch.project import Project
from runwatch.process_info import ProcessInfo, ProcessSnapshot
from runwatch.progress_tracking.progress_store import ProgressStore
from runwatch.run_status.engine import Scanned, ScanEngine, open_store
from runwatch.run_status.process_memory import local_states_changed
from runwatch.run_status.run_status import RunStatus, take_snapshot
from runwatch.sharing import compact_scores
from runwatch.view_model import run_id, run_record, summarize

# Statuses that can change with the clock alone (a log going quiet), checked on every sweep.
TIME_DEPENDENT = ("running", "stuck", "queued")
# Fields that change on every evaluation and must not make a run look changed.
_VOLATILE = ("checked_at",)


@dataclass(slots=True)
class Entry:
    """One listed run: its last status and the facts it was decided from (the scan engine keeps its tracker).

    The run's JSON record is not kept: it is ~1.2 KiB per run and everything in it can be
    rebuilt from the status, so it is made when asked for (snapshots, REST, deltas) and
    only a digest of it is kept, to tell a changed run from one merely re-checked.
    """

    id: str
    rel: str
    config: str
    status: RunStatus | None = None
    facts: ConfigFacts | None = None
    # record_digest() of the record last published for this run.
    digest: bytes | None = None

    @property
    def record(self) -> dict[str, Any]:
        """The run's record as of its last evaluation (a fresh dict, the caller's to keep)."""
        status = self.status
        if status is None:
            return {}
        return make_record(self.id, status, self.facts.directions if self.facts is not None else None)


@dataclass
class Delta:
    """What one batch of changes did to the index; ``seq`` is this delta's sequence number."""

    seq: int
    added: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    removed: list[str]
    summary: dict[str, Any]

    def to_message(self) -> dict[str, Any]:
        return {
            "type": "delta",
            "seq": self.seq,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "summary": self.summary,
        }


def make_record(entry_id: str, status: RunStatus, directions: dict[str, Any] | None = None, cluster: str | None = None) -> dict[str, Any]:
    """The run's record (runwatch.view_model.run_record: the one every surface sends).

    ``directions`` is accepted for old callers and unused: the main score is the status's
    own headline, computed once with the config's directions.
    """
    return run_record(status, entry_id, cluster)


def record_digest(rec: dict[str, Any]) -> bytes:
    """16 bytes that differ whenever the record's JSON (``checked_at`` left out) differs.

    The JSON text, not ``==``: what a client would receive is what counts as a change
    (1 and 1.0 differ there, a NaN equals itself). A 128-bit BLAKE2 digest makes two
    different records with the same digest a practical impossibility.
    """
    stable = dict(rec)
    for k in _VOLATILE:
        stable.pop(k, None)
    return hashlib.blake2b(_DIGEST_JSON.encode(stable).encode(), digest_size=16).digest()  # ASCII: the encoder escapes the rest


# The server's wire encoding (runwatch.server.websocket_progress._encode), NaN allowed.
_DIGEST_JSON = json.JSONEncoder(separators=(",", ":"), default=str)


class LiveIndex:
    """All runs of a project, keyed by opaque id, kept current by ``apply_changes`` and ``sweep``.

    Evaluation happens outside the lock; only committing results holds it, so readers
    (the HTTP and WebSocket handlers) never wait for file I/O.
    """

    def __init__(
        self,
        project: Project,
        *,
        monitor: Any = None,
        store: ProgressStore | None = None,
        use_store: bool = True,
        clock: Callable[[], float] = time.time,
        on_delta: Callable[[Delta], None] | None = None,
        full_sweep_every: int = 60,
        finished_sweep_every: int = 12,
        cluster: str | None = None,
    ) -> None:
        self.project = project
        # The agent's stable name (``runwatch serve --name``): in every record and the summary.
        self.cluster = cluster
        self.monitor = monitor
        self.store = store if store is not None else (open_store(project) if use_store else None)
        self.clock = clock
        self.on_delta = on_delta
        self.full_sweep_every = full_sweep_every
        self.finished_sweep_every = finished_sweep_every
        self.entries: dict[str, Entry] = {}
        self.by_rel: dict[str, str] = {}
        self.seq = 0
        self.updated_at: float | None = None
        # Facts, trackers, the process snapshot and the progress store of every run.
        self.engine = ScanEngine(project, self.store, fan_out=False, watch_facts=False)
        self._lock = threading.RLock()
        # Serialises evaluations: watcher batches and sweeps may be called from several threads.
        self._work = threading.Lock()
        self._sweeps = 0
        self.scanning = False
        # True once the first full scan is committed: until then a client reads an empty or partial project.
        self.ready = False
        self._scan_ends = False  # the next commit is the full scan's last: it clears scanning and sets ready
        # The project folder is gone: renamed, unmounted.
        # The runs last seen stay listed, flagged; the watcher rescans when it returns.
        self.root_missing = False
        # The file watcher feeding this index (live/watcher.py sets it): the agent socket asks it to catch up.
        self.watcher: Any = None
        self._summary: dict[str, Any] = self._compute_summary()

    # ------------------------------------------------------------------ reading

    def records(self) -> tuple[int, list[dict[str, Any]]]:
        """(seq, every record): a snapshot consistent with that seq.

        The statuses are taken under the lock; the records are built from them after
        it is released (a commit replaces an entry's status, never changes it), so a
        large snapshot does not hold up the index. It costs time: call it off the event loop.
        """
        with self._lock:
            seq = self.seq
            items = [(e.id, e.status, e.facts) for e in self.entries.values()]
        c = self.cluster
        return seq, [make_record(i, st, f.directions if f is not None else None, c) if st is not None else {} for i, st, f in items]

    def get(self, entry_id: str) -> Entry | None:
        with self._lock:
            return self.entries.get(entry_id)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._summary)

    def __len__(self) -> int:
        return len(self.entries)

    def project_present(self) -> bool:
        """Whether the project folder is there (a stat): a project is a folder, whatever runs it holds."""
        return os.path.isdir(self.project.root)

    def set_root_missing(self, missing: bool) -> Delta | None:
        """Record the root disappearing or returning; a delta carries the new summary to clients."""
        with self._lock:
            if self.root_missing == missing:
                return None
            self.root_missing = missing
            self.seq += 1
            self._summary = self._compute_summary()
            delta = Delta(self.seq, [], [], [], dict(self._summary))
            if self.on_delta is not None:
                self.on_delta(delta)
        return delta

    # ------------------------------------------------------------------ building

    def full_scan(self, batch: int = 0, snapshot: ProcessSnapshot | None = None) -> Delta | None:
        """Discover every run, take a process snapshot and evaluate every run.

        With ``batch`` > 0 results are committed every ``batch`` runs, so that a
        dashboard over thousands of runs fills in while the first scan is still
        reading configs, instead of showing nothing for minutes. Returns the last delta.
        """
        with self._work:
            self.scanning = True
            try:
                self._refresh_processes(snapshot)
                found = self.engine.discover()
                with self._lock:
                    gone = [rel for rel in self.by_rel if rel not in found]
                items = list(found.items())
                size = batch if batch > 0 else max(len(items), 1)
                last: Delta | None = None
                for start in range(0, max(len(items), 1), size):
                    chunk = dict(items[start : start + size])
                    # The last commit's summary says the scan is over (the flags change under its lock,
                    # so no reader sees "not scanning" before the last batch is in).
                    self._scan_ends = start + size >= len(items)
                    d = self._evaluate_and_commit(chunk, gone if start == 0 else [], reread_facts=set(chunk))
                    last = d or last
                with self._lock:
                    self._end_scan()
                return last
            finally:
                with self._lock:
                    self._scan_ends = False
                    if self.scanning:
                        self.scanning = False
                        self._summary = self._compute_summary()

    def _end_scan(self) -> None:
        """Under the lock: the full scan is committed; the summary says so."""
        self._scan_ends = False
        if self.scanning or not self.ready:
            self.scanning, self.ready = False, True
            self._summary = self._compute_summary()

    def apply_changes(self, paths: Iterable[str]) -> Delta | None:
        """Recompute only the runs that the changed paths touch; None when nothing visible changed."""
        with self._work:
            with self._lock:
                known = {rel: self.entries[i].config for rel, i in self.by_rel.items()}
            now = self.clock()
            r = self.engine.rescan(paths, known, now=now, save=False)
            return self._commit(r.found, r.scanned, r.gone, now)

    def reevaluate(self, configs: dict[str, str]) -> Delta | None:
        """Evaluate these runs (name -> key) again and commit what changed (the agent socket's catch-up)."""
        with self._work:
            return self._evaluate_and_commit(configs, [], reread_facts=set())

    def next_due(self) -> float | None:
        """Seconds until a run's last decision falls due by the clock alone (its silence limit passes), or None."""
        now = self.clock()
        due = self.engine.next_due(now)
        return None if due is None else due - now

    def reevaluate_due(self) -> Delta | None:
        """Evaluate again the runs whose last decision has fallen due by the clock (a silence limit passed),
        with the process snapshot as it is; None when there are none."""
        with self._work:
            due = self.engine.fallen_due(self.clock())
            if not due:
                return None
            with self._lock:
                touched = {e.rel: e.config for e in self.entries.values() if e.config in due}
            return self._evaluate_and_commit(touched, [], reread_facts=set()) if touched else None

    def local_process_changed(self) -> bool:
        """Whether a local process of the last snapshot has exited or changed state since."""
        return local_states_changed(list(self.engine.process_map.values()))

    def take_process_snapshot(self) -> ProcessSnapshot:
        """Ask the process sources (may take seconds over SSH); safe to call outside the index's work."""
        return take_snapshot(self.monitor, self.project)

    def sweep(self, *, full: bool | None = None, snapshot: ProcessSnapshot | None = None) -> Delta | None:
        """The periodic light pass: fresh processes, then every run whose status can change by time.

        Runs whose process appeared or vanished are re-evaluated too; every
        ``finished_sweep_every`` sweeps finished runs (which age into outdated), and every
        ``full_sweep_every`` sweeps all runs, as a net under events a watcher missed.
        A ``snapshot`` taken beforehand (``take_process_snapshot``) keeps slow process
        sources from holding up file events queued behind the sweep.
        """
        with self._work:
            self._sweeps += 1
            if full is None:
                full = self.full_sweep_every > 0 and self._sweeps % self.full_sweep_every == 0
            old_map = self.engine.process_map
            self._refresh_processes(snapshot)
            new_map = self.engine.process_map
            proc_changed = {rel for rel in set(old_map) | set(new_map) if _proc_key(old_map.get(rel)) != _proc_key(new_map.get(rel))}
            with_finished = self.finished_sweep_every > 0 and self._sweeps % self.finished_sweep_every == 0
            errors_now = bool(self.snapshot.errors)
            touched: dict[str, str] = {}
            with self._lock:
                for e in self.entries.values():
                    st = e.status.status if e.status is not None else None
                    if full or e.rel in proc_changed or st in TIME_DEPENDENT or (with_finished and st == "finished") or (errors_now and st == "failed"):
                        touched[e.rel] = e.config
        if full:
            return self.full_scan(snapshot=snapshot)
        with self._work:
            return self._evaluate_and_commit(touched, [], reread_facts=set())

    # ------------------------------------------------------------------ internals

    @property
    def snapshot(self) -> ProcessSnapshot:
        """The process snapshot the runs were last evaluated with."""
        return self.engine.snapshot

    def _refresh_processes(self, snapshot: ProcessSnapshot | None = None) -> None:
        self.engine.take_snapshot(snapshot if snapshot is not None else self.monitor)

    def _evaluate_and_commit(self, configs: dict[str, str], gone: Iterable[str], *, reread_facts: set[str]) -> Delta | None:
        """Evaluate ``configs`` (name -> key) through the engine and commit; ``gone``: names to drop."""
        now = self.clock()
        with self._lock:
            known = {rel: self.entries.get(self.by_rel.get(rel, "")) for rel in configs}
        # A config found again (a full sweep lists every one) keeps the path string its run
        # already holds: the status, facts and caches then never hold two equal copies.
        configs = {rel: e.config if e is not None and e.config == c else c for rel, c in sorted(configs.items()) for e in (known[rel],)}
        reread = {c for rel, c in configs.items() if rel in reread_facts}
        scanned = self.engine.scan(configs.values(), reread=reread, now=now, save=False)
        return self._commit(configs, scanned, list(gone), now)

    def _commit(self, found: dict[str, str], scanned: dict[str, Scanned], gone: list[str], now: float) -> Delta | None:
        """Publish what a scan found: new and changed records, removed runs, one delta."""
        results = [(rel, key, scanned[key].status, scanned[key].facts) for rel, key in found.items()]
        added: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        removed: list[str] = []
        with self._lock:
            for rel in gone:
                eid = self.by_rel.pop(rel, None)
                if eid is None:
                    continue
                entry = self.entries.pop(eid, None)
                if entry is not None:
                    removed.append(eid)
                    self.engine.forget([entry.config])
            for rel, config, status, facts in results:
                eid = self.by_rel.get(rel) or run_id(rel)
                compact_scores(status)
                rec = make_record(eid, status, facts.directions if facts is not None else None, self.cluster)
                digest = record_digest(rec)
                entry = self.entries.get(eid)
                if entry is None:
                    if status.run == rel:
                        rel = status.run  # one string for the entry and the status
                    entry = Entry(id=eid, rel=rel, config=config)
                    self.entries[eid] = entry
                    self.by_rel[rel] = eid
                    added.append(rec)
                elif entry.digest != digest:
                    changed.append(rec)
                if facts is not None and facts.path == config and facts.path is not config:
                    facts.path = config  # one string for the entry, its status and its facts
                entry.config, entry.status, entry.digest, entry.facts = config, status, digest, facts
            if self._scan_ends:
                self._scan_ends = False
                self.scanning, self.ready = False, True
            if not (added or changed or removed):
                return None
            self.seq += 1
            self.updated_at = now
            self._summary = self._compute_summary()
            delta = Delta(self.seq, added, changed, removed, dict(self._summary))
            if self.on_delta is not None:
                # Called under the lock so that deltas reach listeners in seq order.
                self.on_delta(delta)
        return delta

    def _compute_summary(self) -> dict[str, Any]:
        """runwatch.view_model.summarize over the runs, plus what only an index knows."""
        return {
            **summarize(e.status for e in self.entries.values() if e.status is not None),
            "seq": self.seq,
            "updated_at": self.updated_at,
            "process_errors": dict(self.snapshot.errors),
            "scanning": self.scanning,
            "ready": self.ready,
            "cluster": self.cluster,
            "root_missing": self.root_missing,
        }


def _proc_key(p: ProcessInfo | None) -> Any:
    return None if p is None else (p.identity, p.state)
