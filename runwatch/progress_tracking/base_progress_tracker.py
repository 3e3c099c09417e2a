"""BaseProgressTracker: the plan's abstract tracker, with a cache that is never stale.

A cached ProgressInfo is reused only while an invalidation key built from stats of
every file it was computed from (mtimes of the work dir and of every epoch dir, sizes
and mtimes of the files still in flux, of every finished epoch's scores file, of the
logs and the trainer's own records) is unchanged, so a warm check costs a stat per
watched path, and any change is recomputed on the very next call, in this process or
a new one. The previous implementation trusted progress.json forever; this is the fix.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

from runwatch.configs.facts import ConfigFacts
from runwatch.progress_tracking.config_view import ConfigLike, as_config_facts
from runwatch.progress_tracking.progress_info import ProgressInfo
from runwatch.progress_tracking.progress_cache import OWN_NAMES_PREFIXES
from runwatch.settings import Settings


def listdir_names(path: str) -> tuple[str, ...] | None:
    """Sorted entry names of a dir, runwatch's own files left out; None if unlistable."""
    try:
        return tuple(sorted(n for n in os.listdir(path) if not n.startswith(OWN_NAMES_PREFIXES)))
    except OSError:
        return None


def listing_names(files: Any, dirs: Any) -> tuple[str, ...]:
    """``listdir_names`` from a scan already made."""
    return tuple(sorted(n for n in (*files, *dirs) if not n.startswith(OWN_NAMES_PREFIXES)))

def pack_stat(mtime_ns: int, size: int) -> int | tuple[int, int]:
    """(mtime_ns, size) as one int, exactly (distinct pairs give distinct ints); a tuple for sizes of 1 TiB and more."""
    return (mtime_ns << 40) | size if 0 <= size < 1 << 40 and mtime_ns >= 0 else (mtime_ns, size)


# An epoch dir modified this recently may still gain entries within the same
# mtime tick (coarse on NFS); such a key is not trusted on the next call.
RACY_WINDOW_S = 2.0

# A cache key's stats, packed (see _pack_stats): per watched dir (present, st_mtime_ns),
# per watched file (present, st_mtime, st_size).
_DIR = struct.Struct("<Bq")
_FILE = struct.Struct("<Bdq")


_O_DIR = getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0)
_DIR_FD_FROM = 12  # watched files per run from which one open work-dir fd pays off


def _open_dir(path: str) -> int | None:
    try:
        return os.open(path, _O_DIR)
    except OSError:
        return None


def _pack_stats(dir_mtimes: list[int | None], file_stats: Any) -> bytes | tuple[Any, ...]:
    """The dirs' mtimes and the files' (mtime, size) as one bytes object, exactly.

    Equal inputs give equal bytes and different ones different bytes (floats are packed
    bit for bit). A value that does not fit 64 bits (a clock past 2262) gives the plain
    tuple form instead, which never equals a bytes key.
    """
    files = list(file_stats)
    try:
        return b"".join(
            [_DIR.pack(0, 0) if m is None else _DIR.pack(1, m) for m in dir_mtimes]
            + [_FILE.pack(0, 0.0, 0) if f is None else _FILE.pack(1, f[0], f[1]) for f in files]
        )
    except (struct.error, TypeError, OverflowError):
        return ("wide", tuple(dir_mtimes), tuple(files))


def _refcounts(items: dict[Any, Any]) -> list[tuple[Any, int, bool]]:
    """(key, references to its value, whether the key is the value) for each item."""
    getrefcount = sys.getrefcount
    return [(k, getrefcount(v), k is v) for k, v in list(items.items())]


def _refs_when_unused(key_is_value: bool) -> int:
    """What ``_refcounts`` says of a value that nothing but its dict refers to."""
    probe: Any = tuple("\0probe") if key_is_value else {}  # made at run time: no constant refers to it
    items = {probe if key_is_value else tuple("\0key"): probe}
    del probe
    return _refcounts(items)[0][1]


_UNUSED = {True: _refs_when_unused(True), False: _refs_when_unused(False)}


def _unused_keys(items: dict[Any, Any]) -> list[Any]:
    """Keys whose value nothing but ``items`` refers to (CPython reference counts)."""
    return [k for k, refs, same in _refcounts(items) if refs <= _UNUSED[same]]


class _Pool:
    """Equal values shared between runs: a live index holds one of each, not one per run.

    Values are never mutated (a tracker replaces its hint, never changes it). When the
    pool has doubled since it was last pruned, values no run refers to any more (a run
    that moved on to its next epoch) are dropped, so it keeps what is in use and little else.
    """

    __slots__ = ("_items", "_limit")

    def __init__(self) -> None:
        self._items: dict[Any, Any] = {}
        self._limit = 256

    def find(self, key: Any) -> Any:
        return self._items.get(key)

    def get(self, key: Any, make: Any = None) -> Any:
        """The value kept for ``key``; else ``make()`` (or ``key`` itself), now kept."""
        items = self._items
        hit = items.get(key)
        if hit is not None:
            return hit
        if len(items) >= self._limit:
            for k in _unused_keys(items):
                del items[k]
            self._limit = max(256, 2 * len(items))
        value = items[key] = make() if make is not None else key
        return value


_PATHS = _Pool()  # tuples of watched paths, relative to the work dir
_NAMES = _Pool()  # entry names of racy dirs
_HINTS = _Pool()  # settled hints, by (dirs, files)
_MISSING_HINT: dict[str, Any] = {"missing": True}


def _shared_names(names: Any) -> Any:
    """A racy dir's entry names, interned, as a tuple shared with other runs' equal ones."""
    if type(names) is not tuple:
        return names
    hit = _NAMES.find(names)
    if hit is not None:
        return hit
    intern = sys.intern
    return _NAMES.get(tuple([intern(x) for x in names]))


def _shared_hint(dirs: tuple[str, ...], files: tuple[str, ...], names: dict[str, Any]) -> dict[str, Any]:
    """The hint for these watched paths: shared between runs once no dir is racy (read-only)."""
    if names:
        return {"dirs": dirs, "files": files, "names": names}
    return _HINTS.get((dirs, files), lambda: {"dirs": dirs, "files": files, "names": {}})


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

    # In the progress store the epochs are one nested blob of plain tuples, decoded on
    # first use: a warm new process needs the logs and times, rarely the per-epoch series,
    # and building 100 EpochRecords per run dominated loading the store.

    def __getstate__(self) -> dict[str, Any]:
        # Details never change once computed, so the blob is made once and kept for later saves.
        state = dict(self.__dict__)
        if "epochs" in state:
            epochs = state.pop("epochs")
            if "_epochs_blob" not in state:
                state["_epochs_blob"] = self.__dict__["_epochs_blob"] = pickle.dumps(
                    [(e.index, e.finished, e.finish_time, e.duration, e.scores, e.scores_stat) for e in epochs],
                    protocol=pickle.HIGHEST_PROTOCOL,
                )
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __getattr__(self, name: str) -> Any:
        if name == "epochs" and "_epochs_blob" in self.__dict__:
            from runwatch.progress_tracking.progress_cache import safe_loads

            try:
                epochs = [EpochRecord(*t) for t in safe_loads(self.__dict__["_epochs_blob"])]
            except Exception:  # a damaged blob: no series (the key still decides freshness)
                epochs = []
            self.__dict__["epochs"] = epochs  # the blob stays: a later save reuses it
            return epochs
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs": [e.to_dict() for e in self.epochs],
            "logs": [{"name": n, "mtime": m} for n, m in self.logs],
            "eta_seconds": self.eta_seconds,
        }


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
        # A ProgressStore (runwatch.progress_tracking.progress_cache) shared across trackers, or None.
        self.store = store
        self._cache: ProgressInfo | None = None
        self._cache_key: Any = None
        self._pending = False  # a background progress.json write of self._cache is queued
        self._hint: dict[str, Any] = {}
        self._seen: tuple[dict[str, Any], dict[str, Any]] | None = None
        self.details: RunDetails = RunDetails()
        self.extra_warnings: list[str] = []
        # The work dir as the last calculate_progress listed it: st_dev << 128 | st_ino << 64 | st_mtime_ns
        # (one int: it is kept per run). See _dir_identity.
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
        progress = self.calculate_progress()
        if self._write_in_background(progress):
            return progress
        self._save_progress_cache(progress)
        self._cache = progress
        self._finish_key(progress)
        return progress

    def _finish_key(self, progress: ProgressInfo) -> None:
        self._cache_key = self._key_from_scan(time.time())
        if self.store is not None:
            self.store.put(self.work_dir, self._cache_key, progress, self.details, self._hint)

    def _write_in_background(self, progress: ProgressInfo) -> bool:
        """Hand the progress.json write to the scan's writer thread, if there is one.

        The cache key is built only once the write is done (it must see the work dir's
        new mtime, as an inline write would); until then the progress is held as pending.
        """
        from runwatch.progress_tracking.progress_cache import current_writer

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
        from runwatch.progress_tracking.progress_cache import progress_json_targets

        if self._trainer_pj:
            return []
        return progress_json_targets(progress, self.settings.progress_json)

    def _note_own_write(self, owned: Any) -> None:
        """After a progress.json write: remember the file as ours, and key the scan on its new stat."""
        from runwatch.progress_tracking.progress_cache import PROGRESS_JSON

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
            if self.cache_key_matches(key):
                self._settle(key)
                return self._cache
            return None
        if self.store is not None and not self._hint:
            entry = self.store.get(self.work_dir)
            if entry is not None and entry.key is not None:
                self._hint = entry.hint
                self._own_pj = getattr(entry.details, "own_progress_json", None)
                if self.cache_key_matches(entry.key):
                    self._cache = entry.progress
                    self._cache_key = entry.key
                    self.details = entry.details
                    self._settle(entry.key)
                    return entry.progress
        return None

    def cache_key_matches(self, expected: Any) -> bool:
        """``self.cache_key() == expected``; trackers whose key is ``_disk_key`` answer with stats only."""
        if type(self).cache_key is BaseProgressTracker.cache_key:
            return self._disk_key_matches(expected)
        return self.cache_key() == expected

    def _disk_key_matches(self, expected: Any) -> bool:
        """``self._disk_key() == expected``, stopping at the first difference and building no key.

        The warm path of every scan: a few stats per run, each compared with its field
        of the packed key in place.
        """
        hint = self._hint
        if not hint or hint.get("missing") or hint.get("names"):
            return self._disk_key() == expected
        if type(expected) is not tuple or len(expected) != 3 or expected[1]:
            return False
        blob = expected[0]
        if type(blob) is not bytes:
            return self._disk_key() == expected  # the rare unpacked form (see _pack_stats)
        dirs = hint.get("dirs", ())
        files = hint.get("files", ())
        if len(blob) != _DIR.size * len(dirs) + _FILE.size * len(files):
            return False
        stat = os.stat
        wd = self.work_dir
        prefix = wd if wd.endswith("/") else wd + "/"
        off = _DIR.size * len(dirs)
        # Many paths (an epoch dir and a scores file per finished epoch): stat them relative to
        # the open work dir, which spares the kernel the walk down the full path each time.
        fd = _open_dir(wd) if len(dirs) + len(files) > _DIR_FD_FROM else None
        try:
            base = prefix if fd is None else ""
            for d, (present, em) in zip(dirs, _DIR.iter_unpack(memoryview(blob)[:off])):
                try:
                    m = stat(base + d, dir_fd=fd).st_mtime_ns if d else stat(wd).st_mtime_ns
                except OSError:
                    m = None
                if (m is None) if not present else (m != em):
                    return False
            for p, (present, emtime, esize) in zip(files, _FILE.iter_unpack(memoryview(blob)[off:])):
                try:
                    st = stat(base + p, dir_fd=fd)
                except OSError:
                    if present:
                        return False
                    continue
                if not present or emtime != st.st_mtime or esize != st.st_size:
                    return False
        finally:
            if fd is not None:
                os.close(fd)
        return self._key_extra() == expected[2]

    # The key is built from what the scan itself saw (never re-read after computing,
    # which could pair an old result with a newer state). Per watched dir: its mtime,
    # plus, while that mtime is within RACY_WINDOW of the scan (a coarse clock tick
    # could hide a later change), its entry names as the scan listed them. Once the
    # dir's mtime is old and the key still matches, the names are dropped ("settled").
    #
    # A live index keeps one key and one hint per run, so both are compact: the key is
    # (stats packed in one bytes object, names of the racy dirs, _key_extra()), about
    # 150 bytes where a tuple of tuples of ints and floats was ~700; hints, their path
    # tuples and entry-name tuples are shared between runs that have equal ones (runs at
    # the same epoch watch the same relative paths).

    def _watch(self, dirs: dict[str, tuple[int | None, tuple[str, ...]]], files: dict[str, tuple[float, int] | None]) -> None:
        """Called by calculate_progress: the dirs (mtime_ns, names) and files (mtime, size) it read.

        The hint keeps the paths relative to the work dir ("" for the work dir itself) and
        interned: "epoch_12/validation_scores.json" is one string for every run of a
        project, where full paths were one string per run and watched path.
        """
        self._seen = (dirs, files)
        rel = self._rel
        # A fresh dict: the hint this replaces may be shared with other runs (see _shared_hint).
        self._hint = {
            "dirs": _PATHS.get(tuple([rel(d, True) for d in dirs])),
            "files": _PATHS.get(tuple([rel(f, False) for f in files])),
            "names": {},
        }

    def _rel(self, path: str, is_dir: bool) -> str:
        """``path`` relative to the work dir, interned; the inverse of ``_abs``."""
        wd = self.work_dir
        if is_dir and path == wd:
            return ""
        prefix = wd if wd.endswith("/") else wd + "/"
        if path.startswith(prefix) and len(path) > len(prefix):
            return sys.intern(path[len(prefix) :])
        raise ValueError(f"{path}: watched path outside the work dir {wd}")

    def _abs(self, rel: str) -> str:
        wd = self.work_dir
        if not rel:
            return wd
        return (wd if wd.endswith("/") else wd + "/") + rel

    def _key_extra(self) -> Any:
        """What besides files the result depends on (the config, for trainers)."""
        return None

    def _key_from_scan(self, now: float) -> Any:
        seen = getattr(self, "_seen", None)
        hint = self._hint
        if hint.get("missing"):
            if hint is not _MISSING_HINT and hint == _MISSING_HINT:
                self._hint = _MISSING_HINT
            return ("missing", False, self._key_extra())
        if seen is None:
            return None
        dirs, files = seen
        wd = self.work_dir
        forced: set[str] = set()
        if wd in dirs:
            # Our own progress.json write moved the work dir's mtime; keep the scan's names
            # (older, hence safe) and treat the dir as racy until it settles.
            try:
                m = os.stat(wd).st_mtime_ns
            except OSError:
                m = None
            if m != dirs[wd][0]:
                dirs[wd] = (m, dirs[wd][1])
                forced.add(wd)
        limit = (now - RACY_WINDOW_S) * 1e9
        # The hint's names are keyed like its dirs: relative to the work dir; the key's are
        # the same tuples in the order of the dirs.
        names = {self._rel(d, True): _shared_names(n) for d, (m, n) in dirs.items() if d in forced or m is None or m > limit}
        self._hint = _shared_hint(hint.get("dirs", ()), hint.get("files", ()), names)
        self._seen = None
        return (_pack_stats([m for m, _ in dirs.values()], files.values()), tuple(names.values()), self._key_extra())

    def _disk_key(self) -> Any:
        """The same fingerprint as ``_key_from_scan``, read from disk now: a few stats."""
        hint = self._hint
        if not hint:
            return None
        if hint.get("missing"):
            return ("missing", os.path.isdir(self.work_dir), self._key_extra())
        names = hint.get("names") or {}
        stat = os.stat
        absolute = self._abs
        dms: list[int | None] = []
        listed: list[Any] = []
        for d in hint.get("dirs", ()):
            path = absolute(d)
            try:
                dms.append(stat(path).st_mtime_ns)
            except OSError:
                dms.append(None)
            if d in names:
                listed.append(listdir_names(path))
        fk: list[tuple[float, int] | None] = []
        for p in hint.get("files", ()):
            try:
                st = stat(absolute(p))
                fk.append((st.st_mtime, st.st_size))
            except OSError:
                fk.append(None)
        return (_pack_stats(dms, fk), tuple(listed), self._key_extra())

    def _settle(self, key: Any) -> None:
        """Drop the names of racy dirs whose mtime is now old: later checks are stats only."""
        hint = self._hint
        names = hint.get("names")
        if not names or type(key) is not tuple or len(key) != 3 or type(key[0]) is not bytes:
            return
        limit = (time.time() - RACY_WINDOW_S) * 1e9
        blob = key[0]
        remaining: dict[str, Any] = {}
        for i, d in enumerate(hint.get("dirs", ())):
            if d in names:
                present, m = _DIR.unpack_from(blob, i * _DIR.size)
                if not (present and m <= limit):
                    remaining[d] = names[d]
        if len(remaining) == len(names):
            return
        self._hint = _shared_hint(hint.get("dirs", ()), hint.get("files", ()), remaining)
        self._cache_key = (blob, tuple(remaining.values()), key[2])
        if self.store is not None:
            self.store.put(self.work_dir, self._cache_key, self._cache, self.details, self._hint)

    def _dir_identity(self) -> tuple[int, int, int] | None:
        """(st_dev, st_ino, st_mtime_ns) of the work dir the last computation listed, or None when unknown.

        The mtime is part of it because a dir deleted and recreated at once often gets
        the same inode number back; a dir that merely gained an entry since the listing
        also differs, and then the write waits for the next computation (which that
        change causes anyway).
        """
        ident = self._scanned_dir_id
        if ident is None:
            return None
        mask = (1 << 64) - 1
        return (ident >> 128, (ident >> 64) & mask, ident & mask)

    def _save_progress_cache(self, progress: ProgressInfo) -> None:
        """Write progress.json (atomically) per the project's policy; trackers that write none override."""
        from runwatch.progress_tracking.progress_cache import write_progress_targets

        targets = self._progress_json_targets(progress)
        if not targets:
            return
        problem, owned = write_progress_targets(self.work_dir, targets, self._dir_identity(), self._own_pj)
        if problem:
            progress.add_warning(problem)
        self._note_own_write(owned)
