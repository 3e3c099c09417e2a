"""progress.json (the trainer's: read tolerantly, never modified) and runwatch's own progress store.

A trainer writes its own progress.json after every epoch; runwatch reads it as evidence
and never rewrites it (rewriting lost the trainer's early-stop record and broke Pylon's
strict reader). runwatch's record of every run lives in one store file under the
project's cache dir, from which a new process warms up; it is only ever used behind the
tracker's invalidation key, never trusted on its own. With ``progress_json = "missing"``
runwatch also creates the trainer's 4-field file where a work dir has none (see
``PROGRESS_JSON_POLICIES``).
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import pickle
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from typing import Any

from runwatch.atomic_files import replace_atomically
from runwatch.progress_tracking.progress_info import LEGACY_FIELDS, ProgressInfo
from runwatch.readers.jsonfile import is_own_temp_name, json_text, read_json_tolerant, write_json_atomic
from runwatch.readers.safe_open import OUTSIDE_PROJECT, check_confined, read_own

PROGRESS_JSON = "progress.json"
SIDECAR_JSON = "progress.runwatch.json"
# Names runwatch itself creates in a work dir; they never invalidate a cache.
OWN_NAMES_PREFIXES = (PROGRESS_JSON, SIDECAR_JSON, "." + PROGRESS_JSON, "." + SIDECAR_JSON)


def is_own_name(name: str) -> bool:
    return name.startswith(OWN_NAMES_PREFIXES)


def read_progress_json(work_dir: str) -> tuple[ProgressInfo | None, str | None]:
    """A progress.json of any vintage (4, 5, 6 fields, extras, sidecar merged), or (None, problem)."""
    path = os.path.join(work_dir, PROGRESS_JSON)
    data, problem = read_json_tolerant(path)
    if problem is not None:
        return None, problem
    if isinstance(data, dict):
        side, side_problem = read_json_tolerant(os.path.join(work_dir, SIDECAR_JSON))
        if side_problem is None and isinstance(side, dict):
            data = {**side, **{k: data[k] for k in LEGACY_FIELDS if k in data}}
    try:
        return ProgressInfo.from_dict(data), None
    except (ValueError, TypeError) as e:
        return None, f"{path}: unusable progress data ({e})"


# The values of the ``progress_json`` setting. "off" (the default): runwatch writes no
# progress.json; its own record lives in its store under the cache dir. "missing": where a
# trainer's work dir has no progress.json, runwatch creates one in the trainer's exact
# 4-field shape (and keeps that file, and only that file, up to date). "full" and
# "legacy" are older names, read as "missing": runwatch never writes more than 4 fields.
PROGRESS_JSON_POLICIES = ("off", "missing", "full", "legacy")

# (st_ino, st_mtime_ns, st_size) of a progress.json runwatch itself wrote: a file with
# another identity is the trainer's (or anyone else's) and is never replaced.
OwnStat = tuple[int, int, int]


def writes_progress_json(policy: str) -> bool:
    return policy in ("missing", "full", "legacy")


def trainer_shape(progress: ProgressInfo) -> dict[str, Any]:
    """The 4 fields exactly as Pylon's trainer writes them (percentage not forced to 100 on early stop)."""
    total = progress.total_epochs
    done = progress.completed_epochs
    pct = min(100.0, done * 100.0 / total) if total else 0.0
    return {
        "completed_epochs": done,
        "progress_percentage": pct,
        "early_stopped": bool(progress.early_stopped),
        "early_stopped_at_epoch": progress.early_stopped_at_epoch if progress.early_stopped else None,
    }


def save_progress_json(
    work_dir: str,
    progress: ProgressInfo,
    policy: str = "off",
    identity: tuple[int, ...] | None = None,
    own: OwnStat | None = None,
) -> tuple[str | None, OwnStat | None]:
    """Write progress.json per policy; (a warning or None, the identity of the file runwatch now owns there).

    Only a file runwatch wrote (``own``) is ever replaced; a work dir without one gets
    one created without clobbering (a trainer's file that appears meanwhile wins).
    Never creates a work dir. See ``PROGRESS_JSON_POLICIES``.
    """
    return write_progress_targets(work_dir, progress_json_targets(progress, policy), identity, own)


def progress_json_targets(progress: ProgressInfo, policy: str = "off") -> list[tuple[str, dict[str, Any]]]:
    """(file name, content) pairs the policy wants in a work dir: fresh dicts, a snapshot of ``progress``.

    Nothing before the first finished epoch (the trainer writes none then either, and a
    file of ours there would race the trainer's first own write).
    """
    if not writes_progress_json(policy) or progress.runner_type == "evaluator" or progress.completed_epochs <= 0:
        return []
    return [(PROGRESS_JSON, trainer_shape(progress))]


def _own_stat(st: os.stat_result) -> OwnStat:
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def write_progress_targets(
    work_dir: str,
    targets: list[tuple[str, dict[str, Any]]],
    identity: tuple[int, ...] | None = None,
    own: OwnStat | None = None,
) -> tuple[str | None, OwnStat | None]:
    """Write each target runwatch may write (atomically); (a warning or None, identity of ours now there).

    ``identity``: (st_dev, st_ino[, st_mtime_ns]) of the work dir as the scan saw it.
    The dir is opened and checked against it, and the files are written through that
    open dir: a work dir deleted and recreated since the scan gets nothing (the next
    scan writes the new dir's own answer), and one deleted meanwhile gets nothing either.
    ``own``: the identity of the file runwatch last wrote there; an existing file with
    any other identity belongs to someone else and is left alone.
    """
    if not targets:
        return None, own
    try:
        dir_fd = os.open(work_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None, None  # gone (or not a dir): never create one
    owned = own
    try:
        try:
            check_confined(dir_fd, work_dir)  # a work dir linked out of the project: never written into
        except OSError:
            return None, own
        if identity is not None:
            st = os.fstat(dir_fd)
            if (st.st_dev, st.st_ino, st.st_mtime_ns)[: len(identity)] != tuple(identity):
                return None, own  # another dir now: what was computed is not its answer
        for name, content in targets:
            path = os.path.join(work_dir, name)
            text = json_text(content)
            try:
                current_st: os.stat_result | None = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                current_st = None
            if current_st is not None:
                if own is None or _own_stat(current_st) != own:
                    return None, None  # the trainer's (or anyone's) file: never touched
                if current_st.st_size == len(text.encode("utf-8")):
                    current, problem = read_json_tolerant(path)
                    if problem is None and current == content:
                        continue
            try:
                if not write_json_atomic(name, content, text=text, dir_fd=dir_fd, no_clobber=current_st is None):
                    return None, None  # someone created it meanwhile: theirs
                owned = _own_stat(os.stat(name, dir_fd=dir_fd, follow_symlinks=False))
            except OSError as e:
                return f"{path}: could not write ({e.strerror or e}); progress is still reported", owned
        return None, owned
    finally:
        os.close(dir_fd)


# A temp file of ours older than this was left by a writer killed mid-write (a write takes milliseconds).
STALE_TEMP_S = 600.0


def remove_stale_temp_files(work_dir: str, files: dict[str, Any], now: float | None = None) -> int:
    """Delete runwatch's own progress.json temp files (``is_own_temp_name``) older than ``STALE_TEMP_S``.

    ``files``: the scan's listing of the work dir, name -> FileStat (``mtime``). Only
    exactly our own temp names are touched; a file that vanished meanwhile is fine.
    Returns how many were removed.
    """
    limit = (time.time() if now is None else now) - STALE_TEMP_S
    removed = 0
    for name, st in files.items():
        if name[:1] == "." and is_own_temp_name(name) and st.mtime < limit:
            try:
                os.unlink(os.path.join(work_dir, name))
                removed += 1
            except OSError:
                pass
    return removed


class ProgressWriter:
    """progress.json writes of one scan, done by one background thread while the scan goes on.

    A cold scan rewrites thousands of progress.json files and each ``os.replace`` waits
    in the kernel (ext4 starts writeback of the new file); the scan's own work
    continues meanwhile. ``finish`` waits for every write and then runs each tracker's
    completion (its warning, its cache key) in the caller's thread, so when the scan
    returns the files, warnings and keys are exactly as with inline writes.
    """

    def __init__(self) -> None:
        import queue

        self._queue: Any = queue.SimpleQueue()
        self._results: list[tuple[Any, str | None, OwnStat | None]] = []
        self._thread: threading.Thread | None = None

    def submit(
        self, work_dir: str, targets: list[tuple[str, dict[str, Any]]], done: Any, identity: tuple[int, ...] | None = None, own: OwnStat | None = None
    ) -> None:
        """Queue a write (see ``write_progress_targets``); ``done(problem, owned)`` runs in ``finish``."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="runwatch-progress-writer", daemon=True)
            self._thread.start()
        self._queue.put((work_dir, targets, done, identity, own))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            work_dir, targets, done, identity, own = item
            try:
                problem, owned = write_progress_targets(work_dir, targets, identity, own)
            except Exception as e:  # never lose the completion: the run gets a warning
                problem, owned = f"{work_dir}: could not write progress.json ({type(e).__name__}: {e})", own
            self._results.append((done, problem, owned))

    def finish(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        results, self._results = self._results, []
        for done, problem, owned in results:
            done(problem, owned)


_CURRENT = threading.local()


@contextlib.contextmanager
def background_progress_writes() -> Iterator[ProgressWriter]:
    """Within this block (this thread only), trackers hand their progress.json writes to one writer thread."""
    previous = getattr(_CURRENT, "writer", None)
    writer = ProgressWriter()
    _CURRENT.writer = writer
    try:
        yield writer
    finally:
        _CURRENT.writer = previous
        writer.finish()


def current_writer() -> ProgressWriter | None:
    return getattr(_CURRENT, "writer", None)


@dataclass
class StoreEntry:
    key: Any
    progress: ProgressInfo
    details: Any
    hint: dict[str, Any]
    # The quick key (quick_check.py): the stats of what can still change, for a new process; None: none yet.
    quick: Any = None
    # (memo key, End) of the run's log's end (readers.log_end.seed): found only while the log is that version.
    log_end: Any = None
    # The run's verdict decided with this very entry (run_status/verdict_store.py): a new entry has none.
    verdict: Any = None


class _SafeUnpickler(pickle.Unpickler):
    """Only runwatch's own record types and builtins: a cache file is data, never code."""

    _ALLOWED = {
        ("runwatch.progress_tracking.progress_store", "StoreEntry"),
        ("runwatch.progress_tracking.progress_info", "ProgressInfo"),
        ("runwatch.progress_tracking.progress_info", "StageProgress"),
        ("runwatch.progress_tracking.base_progress_tracker", "EpochRecord"),
        ("runwatch.progress_tracking.base_progress_tracker", "RunDetails"),
        ("runwatch.layouts.common", "RunFolderDetails"),  # a framework run's details (its event file's writer)
        ("runwatch.readers.log_end", "End"),  # a log's end, kept with its entry
        ("runwatch.readers.log_pulse", "Pulse"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        if module == "builtins" and name in ("set", "frozenset", "tuple", "list", "dict"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"forbidden class {module}.{name} in cache")


def safe_loads(data: bytes) -> Any:
    """Unpickle cache data with the same class allow-list as the store."""
    return _SafeUnpickler(io.BytesIO(data)).load()


class ProgressStore:
    """One file of cached progress for a whole project, loaded once, saved once per scan.

    Safe against concurrent writers (atomic replace: the last writer wins, both are
    valid) and against corruption or SIGKILL mid-write (a bad file is an empty cache).
    """

    # 2: keys are mtimes seen by the scan (see BaseProgressTracker._key_from_scan); 3: epochs as a blob;
    # 4: scores_stat packed in one int, hint paths relative to the work dir, slotted ProgressInfo;
    # 5: ProgressInfo gained early_stop_source, in_progress, sessions; finished epochs' scores watched;
    # 6: RunFolderDetails gained end_unknown (a Keras run stored before would keep reading failed);
    # 7: entries carry a quick key and the log's end (quick_check.py).
    VERSION = 7
    # Since 4 the file starts with this line, so a store of another version is skipped
    # before anything is unpickled (its classes may no longer unpickle: no false "corrupt").
    MAGIC = b"runwatch-progress-store v%d\n" % VERSION
    # Earlier versions whose entries still read as they are (6: no quick key nor log end yet, which
    # their class defaults supply): a store written by the previous release is not a cold start.
    READABLE = {6: b"runwatch-progress-store v6\n"}

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._entries: dict[str, StoreEntry] = {}
        self._dirty = False
        self._lock = threading.Lock()
        self.problem: str | None = None
        if path:
            self._load()

    def _load(self) -> None:
        assert self.path
        try:
            data = read_own(self.path)  # never through a link, never a FIFO, bounded
        except FileNotFoundError:
            return
        except OSError as e:
            self.problem = f"{self.path}: cache unreadable ({e.strerror or e}); starting cold"
            return
        version = self.VERSION if data.startswith(self.MAGIC) else next((v for v, m in self.READABLE.items() if data.startswith(m)), None)
        if version is None:
            return  # another version's store (or an empty file): ignored, rewritten on the next save
        magic = self.MAGIC if version == self.VERSION else self.READABLE[version]
        # Unpickling makes many long-lived objects and frees none: cyclic GC passes over them during the
        # load would cost about as much as the load itself, so collection waits until it is done.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            obj = _SafeUnpickler(io.BytesIO(memoryview(data)[len(magic) :])).load()
            if not isinstance(obj, dict) or obj.get("version") != version:
                return
            entries = obj.get("entries")
            if isinstance(entries, dict):
                self._entries = entries
                if version != self.VERSION:
                    self._dirty = True  # written again in this version at the next save
        except Exception as e:  # any corruption means: no cache
            self.problem = f"{self.path}: cache corrupt ({type(e).__name__}); starting cold"
            self._entries = {}
        finally:
            if gc_was_enabled:
                gc.enable()

    def get(self, work_dir: str) -> StoreEntry | None:
        return self._entries.get(work_dir)

    def put(self, work_dir: str, key: Any, progress: ProgressInfo, details: Any, hint: dict[str, Any], *, dirty: bool = True, quick: Any = None) -> None:
        """Record an entry; ``dirty=False`` for an update the file need not get (still valid there)."""
        if any(OUTSIDE_PROJECT in w for w in progress.warnings or ()):
            with self._lock:  # read with a link refused: not kept (the link_targets setting may allow it next time)
                if self._entries.pop(work_dir, None) is not None:
                    self._dirty = True
            return
        with self._lock:
            old = self._entries.get(work_dir)
            entry = self._entries[work_dir] = StoreEntry(key, progress, details, dict(hint), quick)
            if self._fresh is not None:
                self._fresh.append(details)
            if old is not None and old.progress is progress and old.details is details:
                # The same result under a settled key (racy names dropped, files unchanged): its verdict holds.
                entry.verdict = getattr(old, "verdict", None)
            if dirty:
                self._dirty = True

    # The details ``put`` since ``encode_fresh`` last ran, while a cold scan collects them (None: not collected).
    _fresh: list[Any] | None = None

    def collect_fresh(self, on: bool = True) -> None:
        """Keep (``on``) or stop keeping the details ``put`` here, for ``encode_fresh``."""
        with self._lock:
            if not on:
                self._fresh = None
            elif self._fresh is None:
                self._fresh = []

    def encode_fresh(self) -> None:
        """Encode now, as the next save would (and keep with them), the per-epoch series of the details put
        since the last call: a cold scan does it between its chunks, while its workers still run, instead
        of in the save after they have ended (``compact.details_state``)."""
        with self._lock:
            fresh = self._fresh
            if not fresh:
                return
            self._fresh = []
        for details in fresh:
            state = getattr(details, "__dict__", None)
            if state is not None and "epochs" in state:  # (a series already encoded is reused, not encoded again)
                details.__getstate__()

    def entries(self) -> dict[str, StoreEntry]:
        """Every entry, keyed by work dir (a copy: plain values, to send or to adopt elsewhere)."""
        with self._lock:
            return dict(self._entries)

    def adopt(self, entries: dict[str, StoreEntry]) -> None:
        """Take entries computed elsewhere (a forked worker's store) as if put here."""
        if not entries:
            return
        with self._lock:
            self._entries.update(entries)
            self._dirty = True

    def set_quick(self, work_dir: str, entry: StoreEntry, quick: Any) -> None:
        """Give ``entry`` (still this work dir's) its quick key; the file gets it at the next save."""
        with self._lock:
            if self._entries.get(work_dir) is entry and entry.quick != quick:
                entry.quick = quick
                self._dirty = True

    def set_log_end(self, work_dir: str, memo: Any) -> None:
        """Keep the run's log's end with its entry (see ``readers.log_end.seed``)."""
        with self._lock:
            entry = self._entries.get(work_dir)
            if entry is not None and getattr(entry, "log_end", None) != memo:
                entry.log_end = memo
                self._dirty = True

    def set_verdict(self, work_dir: str, entry: StoreEntry, verdict: Any) -> None:
        """Keep the run's verdict with ``entry`` (still this work dir's); the file gets it at the next save."""
        with self._lock:
            if self._entries.get(work_dir) is entry and getattr(entry, "verdict", None) != verdict:
                entry.verdict = verdict
                self._dirty = True

    def discard(self, work_dir: str) -> None:
        with self._lock:
            if self._entries.pop(work_dir, None) is not None:
                self._dirty = True

    def __len__(self) -> int:
        return len(self._entries)

    def save(self) -> str | None:
        """Write the store if anything changed; return a warning instead of raising."""
        if not self.path or not self._dirty:
            return None
        with self._lock:
            payload = {"version": self.VERSION, "entries": dict(self._entries)}
            self._dirty = False

        def write(f: Any) -> None:
            f.write(self.MAGIC)
            pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)

        try:
            replace_atomically(self.path, write, prefix=".store.")
        except OSError as e:
            with self._lock:
                self._dirty = True  # written by a later save, once there is room again
            return f"{self.path}: could not save cache ({e.strerror or e})"
        return None
