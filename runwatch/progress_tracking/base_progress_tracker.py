"""BaseProgressTracker: the plan's abstract tracker, with a cache that is never stale.

A cached ProgressInfo is reused only while an invalidation key built from stats of
every file it was computed from (mtimes of the work dir and of every epoch dir, sizes
and mtimes of the files still in flux, of every finished epoch's scores file, of the
logs and the trainer's own records) is unchanged, so a warm check costs a stat per
watched path, and any change is recomputed on the very next call, in this process or
a new one. The previous implementation trusted progress.json forever; this is the fix.

How the key is built and checked (the stat-key and racy-window rules, what each check
costs, kernel watches) is ``change_detection.py``; a tracker holds one ``Fingerprint``
(``self.changes``) and says what it read with ``_watch``.
"""

from __future__ import annotations

import math
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Any, Literal

from runwatch.configs.facts import ConfigFacts
from runwatch.progress_tracking import compact, quick_check
from runwatch.progress_tracking.change_notify import NOTIFIER
from runwatch.progress_tracking.change_detection import RACY_WINDOW_S, UNWATCHABLE, Fingerprint, dirs_of, listdir_names, listing_names
from runwatch.progress_tracking.compact import pack_stat
from runwatch.progress_tracking.config_view import ConfigLike, as_config_facts
from runwatch.progress_tracking.progress_info import ProgressInfo
from runwatch.readers import log_end
from runwatch.settings import Settings

__all__ = [
    "RACY_WINDOW_S",
    "BaseProgressTracker",
    "EpochRecord",
    "RunDetails",
    "listdir_names",
    "listing_names",
    "pack_stat",
]


_WORK_DIR_ONLY = frozenset({""})  # a complete run's live dirs: one object for every such run


@dataclass(slots=True)
class EpochRecord:
    """One epoch as found on disk: whether it is finished, when, and its aggregated scores.

    Slotted: a live index keeps one per epoch of every run (~100,000), and a
    ``__dict__`` per record was most of their size.
    """

    index: int
    finished: bool
    finish_time: float | None = None
    duration: float | None = None
    scores: dict[str, Any] | None = None
    # The scores file's (mtime_ns, size) the scores were read from: a memo key, packed
    # into one int (``pack_stat``) since one object per epoch costs less than three.
    scores_stat: int | tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        from runwatch.progress_tracking.progress_info import json_safe

        return {
            "index": self.index,
            "finished": self.finished,
            "finish_time": self.finish_time,
            "duration": self.duration,
            "scores": json_safe(self.scores),
        }


@dataclass
class RunDetails:
    """What a detail view needs beyond ProgressInfo: the per-epoch series, logs, ETA."""

    epochs: list[EpochRecord] = field(default_factory=list)
    logs: list[tuple[str, float]] = field(default_factory=list)  # (name, mtime), newest first
    eta_seconds: float | None = None
    files: list[str] = field(default_factory=list)
    # (st_ino, st_mtime_ns, st_size) of the progress.json runwatch wrote in this work dir
    # (setting ``progress_json = "missing"``): the only progress.json it may ever replace.
    own_progress_json: tuple[int, int, int] | None = None

    @property
    def newest_log(self) -> str | None:
        return self.logs[0][0] if self.logs else None

    # In the progress store the epochs are one blob, decoded on first use (see compact.py).

    def __getstate__(self) -> dict[str, Any]:
        return compact.details_state(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __getattr__(self, name: str) -> Any:
        if name == "epochs":
            epochs = compact.decoded_epochs(self.__dict__, EpochRecord)
            if epochs is not None:
                return epochs
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs": [e.to_dict() for e in self.epochs],
            "logs": [{"name": n, "mtime": m} for n, m in self.logs],
            "eta_seconds": self.eta_seconds,
        }


# What a run-folder layout's details add (layouts.common.RunFolderDetails), as plain class defaults of
# RunDetails (no fields): the evidence's ``getattr(details, "writer", None)`` and the like find them there,
# where a miss would go through ``__getattr__`` and an AttributeError per run and name.
for _name, _default in (("writer", None), ("clean_end", False), ("end_unknown", False), ("beats", None), ("pulse", None), ("kept", None)):
    setattr(RunDetails, _name, _default)


class BaseProgressTracker(ABC):
    """Abstract base class for progress tracking (the plan's API, kept name for name)."""

    def __init__(
        self,
        work_dir: str,
        config: ConfigLike = None,
        *,
        settings: Settings | None = None,
        store: Any | None = None,
    ) -> None:
        self.work_dir = os.fspath(work_dir)
        self.config: ConfigFacts | None = as_config_facts(config)
        self.settings = settings if settings is not None else Settings()
        # A ProgressStore (runwatch.progress_tracking.progress_store) shared across trackers, or None.
        self.store = store
        self._cache: ProgressInfo | None = None
        self._cache_key: Any = None
        self._pending = False  # a background progress.json write of self._cache is queued
        # What the last computation read, and the checks of it (change_detection.py).
        self.changes = Fingerprint(self.work_dir)
        self.details: RunDetails = RunDetails()
        # Warnings about the run from outside its work dir; a shared empty tuple until there is one.
        self.extra_warnings: Sequence[str] = ()
        # The work dir as the last calculate_progress listed it, packed in one int
        # (compact.pack_dir_identity: it is kept per run). See _dir_identity.
        self._scanned_dir_id: int | None = None
        self._own_pj: tuple[int, int, int] | None = None
        self._trainer_pj = False  # a progress.json runwatch did not write is in the work dir
        self._log_memo: tuple[Any, ...] | None = None  # (log name, mtime, size, LogFacts), see pylon_evidence

    # ---- the plan's abstract API

    @abstractmethod
    def get_runner_type(self) -> Literal["trainer", "evaluator", "multi_stage"]:
        """The type of runner this tracker handles."""

    @abstractmethod
    def get_expected_files(self) -> list[str]:
        """Files whose presence (non-empty) marks completion of an epoch or an evaluation."""

    @abstractmethod
    def get_log_pattern(self) -> str:
        """Glob of the log files whose mtime tells whether the run is alive."""

    @abstractmethod
    def calculate_progress(self) -> ProgressInfo:
        """Compute progress from the files, ignoring every cache."""

    @abstractmethod
    def is_complete(self) -> bool:
        """Whether the run has done all it will do (all epochs, early stop, or evaluated)."""

    # ---- caching

    @property
    def awaiting_work_dir(self) -> bool:
        """True when the last look found no work dir (a run not launched yet): only its appearance is watched."""
        return self.changes.awaiting_work_dir

    # The change-detection state under its former names (the fan-out and layouts still use them).
    @property
    def _hint(self) -> dict[str, Any]:
        return self.changes.hint

    @_hint.setter
    def _hint(self, value: dict[str, Any]) -> None:
        self.changes.hint = value

    @property
    def _seen(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        return self.changes.seen

    @_seen.setter
    def _seen(self, value: tuple[dict[str, Any], dict[str, Any]] | None) -> None:
        self.changes.seen = value

    def cache_key(self) -> Any:
        """A cheap fingerprint of the artifacts ``calculate_progress`` read, or None when unknown.

        By default the stat-based ``_disk_key``; a tracker that depends on other inputs
        overrides this (and then ``cache_key_matches`` compares whole keys).
        """
        return self._disk_key()

    def complete_from(self, progress: ProgressInfo) -> bool:
        """``is_complete`` for a progress already in hand (no second cache check)."""
        return self.is_complete()

    def get_progress(self, force_refresh: bool = False) -> ProgressInfo:
        """Progress, from cache only while the artifacts it was computed from are unchanged."""
        if not force_refresh:
            cached = self._cached_progress()
            if cached is not None:
                return cached
        self._seen = None
        self._since = time.time()  # the computation's stats are taken after this (the quick key's settle rule)
        progress = self.calculate_progress()
        if self._write_in_background(progress):
            return progress
        self._save_progress_cache(progress)
        self._cache = progress
        self._finish_key(progress)
        return progress

    def _finish_key(self, progress: ProgressInfo) -> None:
        self._cache_key = self._key_from_scan(time.time())
        self._note_live(progress)
        if self.store is not None:
            since = self.__dict__.pop("_since", None)
            quick = self._quick_key(self._cache_key, progress, since) if since is not None else None
            self.store.put(self.work_dir, self._cache_key, progress, self.details, self._hint, quick=quick)

    # ---- the quick key (quick_check.py): what a new process checks first

    # When to try again to give the stored entry a quick key (math.inf: it has one, or there is no store).
    _quick_retry_at = math.inf
    # Whether runner detection found the evaluator's scores file and the first epoch dir (kept in the quick key).
    entries_found: tuple[bool, bool] | None = None

    def live_paths(self, progress: ProgressInfo) -> tuple[set[str], set[str]]:
        """The watched dirs and files (relative to the work dir) that the run's writers can still change.

        The default: all but those under a numbered dir older than the newest of its series
        (``quick_check.default_live``); a tracker that knows its writers says less.
        """
        return quick_check.default_live(self._hint)

    def _note_live(self, progress: ProgressInfo) -> None:
        """A complete run tells its fingerprint which of its dirs can still change (``live_paths``: its work dir,
        for a Pylon run): past a third of the kernel's watch budget those are all it watches, so the budget
        reaches three times as many complete runs. A run still writing keeps the fingerprint's own choice (its
        work dir and two newest epochs: an epoch's file still being completed is seen)."""
        self.changes.live = None
        try:
            if type(self).complete_from is BaseProgressTracker.complete_from or not self.complete_from(progress):
                return  # (the base's answer would look at the cache this is building)
            dirs, files = self.live_paths(progress)
        except Exception:  # an optimisation: the fingerprint's own choice stays
            return
        wanted = dirs_of(dirs, files)
        self.changes.live = _WORK_DIR_ONLY if wanted == _WORK_DIR_ONLY else frozenset(wanted)

    def _adopted_live(self) -> frozenset[str] | None:
        """``_note_live`` of a progress adopted from the store, asked for by the fingerprint's first arming."""
        self.changes.live = None
        if self._cache is not None:
            self._note_live(self._cache)
        live = self.changes.live
        return live if isinstance(live, frozenset) else None

    def _quick_key(self, key: Any, progress: ProgressInfo | None, since: float) -> Any:
        """The quick key of ``key`` (true at ``since``), or None; when None, tried again at a later match."""
        quick = None
        if progress is not None and self.settings.quick_check:
            try:
                dirs, files = self.live_paths(progress)
                quick = quick_check.build(self._hint, key, dirs, files, since, self.entries_found)
            except Exception:  # a quick key is an optimisation: never a failed run
                quick = None
        if quick is None and self.store is not None:
            self._quick_retry_at = since + quick_check.SETTLE_S / 2
        elif "_quick_retry_at" in self.__dict__:
            del self._quick_retry_at
        return quick

    def _give_quick(self, since: float, replace: bool = False) -> None:
        """After a full match true at ``since``: give the stored entry a quick key, if it has none (``replace``: or one)."""
        store = self.store
        if store is None:
            return
        entry = store.get(self.work_dir)
        if entry is None or entry.key != self._cache_key:
            return
        if getattr(entry, "quick", None) is not None and not replace:
            if "_quick_retry_at" in self.__dict__:
                del self._quick_retry_at
            return
        quick = self._quick_key(entry.key, entry.progress, since)
        if quick is not None:
            store.set_quick(self.work_dir, entry, quick)

    def _write_in_background(self, progress: ProgressInfo) -> bool:
        """Hand the progress.json write to the scan's writer thread, if there is one.

        The cache key is built only once the write is done (it must see the work dir's
        new mtime, as an inline write would); until then the progress is held as pending.
        """
        from runwatch.progress_tracking.progress_store import current_writer

        writer = current_writer()
        if writer is None or type(self)._save_progress_cache is not BaseProgressTracker._save_progress_cache:
            return False
        targets = self._progress_json_targets(progress)
        if not targets:
            return False
        self._cache = progress
        self._cache_key = None
        self._pending = True

        def done(problem: str | None, owned: Any = None) -> None:
            if problem:
                progress.add_warning(problem)
            self._note_own_write(owned)
            self._pending = False
            if self._cache is progress:
                self._finish_key(progress)

        writer.submit(self.work_dir, targets, done, self._dir_identity(), self._own_pj)
        return True

    def _progress_json_targets(self, progress: ProgressInfo) -> list[tuple[str, dict[str, Any]]]:
        """What the ``progress_json`` setting wants written here (nothing where the trainer has its own)."""
        from runwatch.progress_tracking.progress_store import progress_json_targets

        if self._trainer_pj:
            return []
        return progress_json_targets(progress, self.settings.progress_json)

    def _note_own_write(self, owned: Any) -> None:
        """After a progress.json write: remember the file as ours, and key the scan on its new stat."""
        from runwatch.progress_tracking.progress_store import PROGRESS_JSON

        changed = owned != self._own_pj
        self._own_pj = owned
        self.details.own_progress_json = owned
        seen = self._seen
        path = os.path.join(self.work_dir, PROGRESS_JSON)
        if changed and seen is not None and path in seen[1]:
            try:
                st = os.stat(path)
                seen[1][path] = (st.st_mtime, st.st_size)
            except OSError:
                seen[1][path] = None

    def _cached_progress(self) -> ProgressInfo | None:
        if self._pending and self._cache is not None:
            return self._cache  # computed in this scan, its write still queued
        if self._cache is not None and self._cache_key is not None:
            key = self._cache_key
            armed = self.changes.armed
            if (armed == UNWATCHABLE or (armed <= 0 and NOTIFIER.spent)) and self._unwatched_quick_match(key):
                return self._cache
            retry = self._quick_retry_at
            since = time.time() if retry != math.inf else 0.0
            if self.cache_key_matches(key):
                self._settle(key)
                if since >= retry:
                    self._give_quick(since)
                return self._cache
            return None
        if self.store is not None and not self._hint:
            entry = self.store.get(self.work_dir)
            if entry is not None and entry.key is not None:
                self._hint = entry.hint
                self._own_pj = getattr(entry.details, "own_progress_json", None)
                # A new process: the stats of what can still change first (quick_check.py), when allowed.
                quick = getattr(entry, "quick", None)
                kept_end = getattr(entry, "log_end", None)
                if kept_end is not None:
                    log_end.seed(*kept_end)
                if quick is not None and self.settings.quick_check and quick_check.matches(quick, self.work_dir, self._key_extra):
                    self._cache = entry.progress
                    self._cache_key = entry.key
                    self.details = entry.details
                    self.changes.live = self._adopted_live  # worked out at the first arming (a one-shot process arms none)
                    return entry.progress
                since = time.time()
                if self.cache_key_matches(entry.key):
                    self._cache = entry.progress
                    self._cache_key = entry.key
                    self.details = entry.details
                    self.changes.live = self._adopted_live
                    self._settle(entry.key)
                    # No quick key, or one that failed where the full key holds (of another shape): a new one.
                    self._give_quick(since, replace=quick is not None)
                    return entry.progress
        return None

    def _unwatched_quick_match(self, key: Any) -> bool:
        """A run the kernel cannot watch (the watch budget spent, a file system without events, a linked
        file, a child process), checked as a new process checks it: by the stats of what its writers can still change
        (quick_check.py), when the store holds a quick key for this very key. The policy is that of the
        kernel watches beyond a third of their budget (docs/api.md, "Never stale"); with
        ``kernel_watches = false`` or ``quick_check = false`` every check stays on the full stats."""
        s = self.settings
        store = self.store
        if store is None or not s.quick_check or not s.kernel_watches:
            return False
        entry = store.get(self.work_dir)
        quick = getattr(entry, "quick", None) if entry is not None and entry.key == key else None
        return quick is not None and quick_check.matches(quick, self.work_dir, self._key_extra)

    def cache_key_matches(self, expected: Any) -> bool:
        """``self.cache_key() == expected``; trackers whose key is ``_disk_key`` answer with stats only."""
        if type(self).cache_key is BaseProgressTracker.cache_key:
            return self._disk_key_matches(expected)
        return self.cache_key() == expected

    def _disk_key_matches(self, expected: Any) -> bool:
        """``self._disk_key() == expected``, with stats only (see ``Fingerprint.matches``)."""
        return self.changes.matches(expected, self._key_extra, self.settings.kernel_watches)

    def _watch(self, dirs: dict[str, tuple[int | None, tuple[str, ...] | None]], files: dict[str, tuple[float, int] | None]) -> None:
        """Called by calculate_progress: the dirs (mtime_ns, names) and files (mtime, size) it read."""
        self.changes.watch(dirs, files)

    def _rel(self, path: str, is_dir: bool) -> str:
        return self.changes.rel(path, is_dir)

    def _abs(self, rel: str) -> str:
        return self.changes.abs(rel)

    def _key_extra(self) -> Any:
        """What besides files the result depends on (the config, for trainers)."""
        return None

    def _key_from_scan(self, now: float) -> Any:
        """The cache key of what the computation just read (``Fingerprint.key_from_scan``)."""
        return self.changes.key_from_scan(now, self._key_extra)

    def _disk_key(self) -> Any:
        """The same fingerprint as ``_key_from_scan``, read from disk now: a few stats."""
        return self.changes.disk_key(self._key_extra)

    def _settle(self, key: Any) -> None:
        """Drop the names of racy dirs whose mtime is now old: later checks are stats only."""
        settled = self.changes.settle(key, time.time())
        if settled is None:
            return
        self._cache_key = settled
        if self.store is not None:
            self.store.put(self.work_dir, self._cache_key, self._cache, self.details, self._hint)

    def _dir_identity(self) -> tuple[int, int, int] | None:
        """(st_dev, st_ino, st_mtime_ns) of the work dir the last computation listed, or None when unknown.

        The mtime is part of it because a dir deleted and recreated at once often gets
        the same inode number back; a dir that merely gained an entry since the listing
        also differs, and then the write waits for the next computation (which that
        change causes anyway).
        """
        return compact.unpack_dir_identity(self._scanned_dir_id)

    def _save_progress_cache(self, progress: ProgressInfo) -> None:
        """Write progress.json (atomically) per the project's policy; trackers that write none override."""
        from runwatch.progress_tracking.progress_store import write_progress_targets

        targets = self._progress_json_targets(progress)
        if not targets:
            return
        problem, owned = write_progress_targets(self.work_dir, targets, self._dir_identity(), self._own_pj)
        if problem:
            progress.add_warning(problem)
        self._note_own_write(owned)
