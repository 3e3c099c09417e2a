"""Change detection: the fingerprint of what a computation read, and whether it still holds.

A tracker's computation reports what it read (``Fingerprint.watch``): the dirs it listed,
each with its ``st_mtime_ns`` and entry names, and the files it looked at, each with its
(``st_mtime``, ``st_size``), absent ones included. From that the fingerprint builds a key
(``key_from_scan``); a later check compares the disk with that key (``matches``) and the
cached result is used only while they agree. The key is built from what the scan itself
saw, never re-read after computing, which could pair an old result with a newer state.

The rules, in one place:

- **Dirs** are keyed by their mtime: an entry added, removed or renamed in a dir moves it.
- **Files** are keyed by (mtime, size): a file rewritten in place moves its own mtime
  and nothing else (not its dir's), so every file whose content the result depends on
  is watched by its own stat, a finished epoch's scores file included (the
  ``watch_finished_epochs`` setting, "never stale" in docs/status.md).
- **The racy window** (``RACY_WINDOW_S``): a dir whose mtime is within that many seconds
  of the scan may still gain an entry within the same mtime tick (coarse clocks, NFS),
  which its mtime would not show. Such a dir's entry names go into the key too, and the
  check lists it again. Once its mtime is older than the window and the key still
  matches, the names are dropped (``settle``): the key is stats only from then on.
- runwatch's own files (``OWN_NAMES_PREFIXES``) are left out of the names.
- A work dir that does not exist yet is keyed as missing (``awaiting_work_dir``): the
  check is one stat of it until it appears.

What each check costs, in system calls:

- a settled key: one ``stat`` per watched dir and one per watched file, stopping at the
  first difference. With more than ``DIR_FD_FROM`` watched paths the work dir is opened
  once (``openat`` + ``close``, ``O_PATH``) and the paths are stat'ed relative to it,
  which spares the kernel the walk down the full path each time;
- a racy dir: one more ``openat`` + ``getdents64`` + ``close`` (its listing) until it settles;
- a missing work dir: one ``stat``;
- with kernel watches (``change_notify.py``, local file systems, the ``kernel_watches``
  setting): the check that arms a run (its third in the process: computed, matched,
  armed) adds one ``inotify_add_watch`` per watched dir and per new parent of its work dir
  before its stats; every later check is one non-blocking ``read`` of the event queue and
  no stat, until an event names one of its dirs: then the stats above, re-armed at once
  when they still match, after two more matches when the run was recomputed.

The key's stats are packed into one bytes object (``pack_stats``: per dir (present,
mtime_ns), per file (present, mtime, size)), about 150 bytes where a tuple of tuples
was ~700; the watched paths are kept relative to the work dir and shared between runs
(``runwatch.sharing``), since runs at the same epoch watch the same relative paths.
"""

from __future__ import annotations

import os
import re
import struct
import sys
from stat import S_ISDIR, S_ISLNK
from typing import Any
from collections.abc import Callable, Iterable

from runwatch.progress_tracking.change_notify import NOTIFIER
from runwatch.progress_tracking.progress_store import OWN_NAMES_PREFIXES
from runwatch.sharing import MISSING_HINT, shared_hint, shared_names, shared_paths

# A dir modified this recently may still gain entries within the same mtime tick
# (coarse on NFS); such a key keeps its entry names until they settle.
RACY_WINDOW_S = 2.0

# Per watched dir (present, st_mtime_ns), per watched file (present, st_mtime, st_size).
_DIR = struct.Struct("<Bq")
_FILE = struct.Struct("<Bdq")

_O_DIR = getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0)
DIR_FD_FROM = 12  # watched paths per run from which one open work-dir fd pays off


def listdir_names(path: str) -> tuple[str, ...] | None:
    """Sorted entry names of a dir, runwatch's own files left out; None if unlistable."""
    try:
        return tuple(sorted(n for n in os.listdir(path) if not n.startswith(OWN_NAMES_PREFIXES)))
    except OSError:
        return None


def listing_names(files: Any, dirs: Any) -> tuple[str, ...]:
    """``listdir_names`` from a scan already made."""
    return tuple(sorted(n for n in (*files, *dirs) if not n.startswith(OWN_NAMES_PREFIXES)))


def pack_stats(dir_mtimes: list[int | None], file_stats: Any) -> bytes | tuple[Any, ...]:
    """The dirs' mtimes and the files' (mtime, size) as one bytes object, exactly.

    Equal inputs give equal bytes and different ones different bytes (floats are packed
    bit for bit). A value that does not fit 64 bits (a clock past 2262) gives the plain
    tuple form instead, which never equals a bytes key.
    """
    files = list(file_stats)
    # One pack of all the fields: the same bytes as _DIR.pack / _FILE.pack of each, concatenated
    # ("<": standard sizes, no padding).
    flat: list[Any] = []
    add = flat.extend
    for m in dir_mtimes:
        add((0, 0) if m is None else (1, m))
    for f in files:
        add((0, 0.0, 0) if f is None else (1, f[0], f[1]))
    try:
        # A Struct of its own, not struct.pack's: its format cache would keep up to 100 compiled shapes (~150 KB).
        return struct.Struct(f"<{'Bq' * len(dir_mtimes)}{'Bdq' * len(files)}").pack(*flat)
    except (struct.error, TypeError, OverflowError):
        return ("wide", tuple(dir_mtimes), tuple(files))


_NUMBERED = re.compile(r"(\D*)(\d+)(\D*)")
UNWATCHABLE = -2  # Fingerprint.armed of a run the kernel cannot watch (budget spent, no events there, a linked file)
LIVE_NEWEST = 2  # numbered dirs (epochs) per series still watched when the watch budget is short


def dirs_of(dirs: Iterable[str], files: Iterable[str]) -> set[str]:
    """The work dir (""), ``dirs``, the dirs holding ``files`` and every dir between them and the work dir
    (all relative to it): what a run's kernel watches cover."""
    wanted = {""}
    for rel in (*dirs, *(f.rpartition("/")[0] for f in files)):
        while rel and rel not in wanted:
            wanted.add(rel)
            rel = rel.rpartition("/")[0]
    return wanted


def live_dirs(rels: set[str]) -> set[str]:
    """Of a run's watched dirs (relative to its work dir), those that can still change: every dir
    but the ones under a numbered top-level dir (``epoch_3``) older than its series' two newest."""
    newest: dict[tuple[str, str], list[int]] = {}
    for rel in rels:
        m = _NUMBERED.fullmatch(rel.partition("/")[0])
        if m is not None:
            newest.setdefault((m[1], m[3]), []).append(int(m[2]))
    keep = {k: sorted(set(v))[-LIVE_NEWEST:] for k, v in newest.items()}
    out = set()
    for rel in rels:
        m = _NUMBERED.fullmatch(rel.partition("/")[0])
        if m is None or int(m[2]) in keep[(m[1], m[3])]:
            out.add(rel)
    return out


def _open_dir(path: str) -> int | None:
    try:
        return os.open(path, _O_DIR)
    except OSError:
        return None


def _racy_limit_ns(now: float) -> float:
    """Mtimes (ns) above this are within the racy window of ``now``."""
    return (now - RACY_WINDOW_S) * 1e9


class Fingerprint:
    """What one tracker's last computation read, and the checks of it against the disk.

    ``hint`` is what is kept between checks and in the progress store: the watched
    paths relative to the work dir ("" for the work dir itself), the racy dirs' entry
    names, or ``{"missing": True}``; ``seen`` is what the computation just read, until
    the key is built from it.
    """

    __slots__ = ("work_dir", "_hint", "seen", "armed", "notify_dirty", "notify_slot", "live")

    def __init__(self, work_dir: str) -> None:
        self._reset(work_dir, {}, None)

    def _reset(self, work_dir: str, hint: dict[str, Any], seen: Any) -> None:
        self.work_dir = work_dir
        self._hint = hint
        self.seen: tuple[dict[str, Any], dict[str, Any]] | None = seen
        # Kernel notifications (change_notify.py): 0 not matched yet in this process, -1 matched
        # once, -2 cannot be watched, > 0 watched since that notifier generation.
        # notify_dirty: set by the notifier on an event in one of the watched dirs.
        self.armed = 0
        self.notify_dirty = False
        self.notify_slot = 0
        # The dirs its tracker says can still change (relative; None: ``live_dirs`` of what it watches),
        # the ones watched past a third of the kernel's watch budget; or the tracker's function that
        # works them out, called at the first arming (a result adopted from the store, see _arm).
        self.live: frozenset[str] | Callable[[], frozenset[str] | None] | None = None

    @property
    def hint(self) -> dict[str, Any]:
        return self._hint

    @hint.setter
    def hint(self, value: dict[str, Any]) -> None:
        if value is not self._hint:
            self._hint = value
            self.armed = 0  # other paths: watched again from scratch

    def __getstate__(self) -> tuple[str, dict[str, Any], Any]:
        return (self.work_dir, self._hint, self.seen)  # watches belong to this process only

    def __setstate__(self, state: tuple[str, dict[str, Any], Any]) -> None:
        self._reset(*state)

    # ---- what the computation read

    @property
    def awaiting_work_dir(self) -> bool:
        """The last look found no work dir (the run was never launched, or not yet)."""
        return bool(self.hint.get("missing"))

    def watch(self, dirs: dict[str, tuple[int | None, Any]], files: dict[str, tuple[float, int] | None]) -> None:
        """The dirs {path: (mtime_ns, names)} and files {path: (mtime, size) or None} a computation read."""
        self.seen = (dirs, files)
        self.armed = 0
        self.live = None
        rel = self.rel
        wd = self.work_dir
        prefix = wd if wd.endswith("/") else wd + "/"
        n = len(prefix)
        intern = sys.intern
        # ``rel`` of each path, its common case (a path under the work dir) inline.
        # A fresh dict: the hint this replaces may be shared with other runs (see shared_hint).
        self.hint = {
            "dirs": shared_paths(tuple([intern(d[n:]) if len(d) > n and d.startswith(prefix) else rel(d, True) for d in dirs])),
            "files": shared_paths(tuple([intern(f[n:]) if len(f) > n and f.startswith(prefix) else rel(f, False) for f in files])),
            "names": {},
        }

    def rel(self, path: str, is_dir: bool) -> str:
        """``path`` relative to the work dir, interned; the inverse of ``abs``."""
        wd = self.work_dir
        if is_dir and path == wd:
            return ""
        prefix = wd if wd.endswith("/") else wd + "/"
        if path.startswith(prefix) and len(path) > len(prefix):
            return sys.intern(path[len(prefix) :])
        raise ValueError(f"{path}: watched path outside the work dir {wd}")

    def abs(self, rel: str) -> str:
        wd = self.work_dir
        if not rel:
            return wd
        return (wd if wd.endswith("/") else wd + "/") + rel

    # ---- the key

    def key_from_scan(self, now: float, extra: Callable[[], Any]) -> Any:
        """The key of what the computation read (``seen``), its racy dirs' names kept; None when unknown."""
        seen = self.seen
        hint = self.hint
        if hint.get("missing"):
            if hint is not MISSING_HINT and hint == MISSING_HINT:
                self.hint = MISSING_HINT
            return ("missing", False, extra())
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
        limit = _racy_limit_ns(now)
        # The hint's names are keyed like its dirs: relative to the work dir; the key's are
        # the same tuples in the order of the dirs.
        names = {self.rel(d, True): shared_names(n) for d, (m, n) in dirs.items() if d in forced or m is None or m > limit}
        self.hint = shared_hint(hint.get("dirs", ()), hint.get("files", ()), names)
        self.seen = None
        return (pack_stats([m for m, _ in dirs.values()], files.values()), tuple(names.values()), extra())

    def disk_key(self, extra: Callable[[], Any]) -> Any:
        """The same key as ``key_from_scan``, read from the disk now (a stat per watched path)."""
        hint = self.hint
        if not hint:
            return None
        if hint.get("missing"):
            return ("missing", os.path.isdir(self.work_dir), extra())
        names = hint.get("names") or {}
        stat = os.stat
        absolute = self.abs
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
        return (pack_stats(dms, fk), tuple(listed), extra())

    def matches(self, expected: Any, extra: Callable[[], Any], notify: bool = False) -> bool:
        """``disk_key(extra) == expected``, stopping at the first difference and building no key.

        The warm path of every scan: a few stats per run, each compared with its field of
        the packed key in place; ``extra`` is asked for only once every stat agreed. With
        ``notify``, a run that matched before in this process is watched by the kernel
        (change_notify.py) and then checked with no stat at all while no event names one
        of its dirs or an entry on the way to its work dir.
        """
        hint = self._hint
        if not hint or hint.get("missing") or hint.get("names"):
            same = self.disk_key(extra) == expected
            if notify and same and not self.armed:
                self.armed = -1
            return same
        if type(expected) is not tuple or len(expected) != 3 or expected[1]:
            return False
        blob = expected[0]
        if type(blob) is not bytes:
            return self.disk_key(extra) == expected  # the rare unpacked form (see pack_stats)
        dirs = hint.get("dirs", ())
        files = hint.get("files", ())
        if len(blob) != _DIR.size * len(dirs) + _FILE.size * len(files):
            return False
        arming = None
        if notify and (self.armed == -1 or self.armed > 0):
            if self.armed > 0 and self._quiet():
                return extra() == expected[2]
            arming = self._arm(dirs, files)  # before the stats: a change from now on raises an event
        same = self._stats_match(blob, dirs, files)
        if arming is not None:
            if same and arming > 0 and arming == NOTIFIER.generation:
                self.armed = arming
            elif same:
                self.armed = UNWATCHABLE if arming == 0 else -1  # not tried again for these paths
            else:
                self.armed = 0
        elif notify and same and self.armed == 0:
            self.armed = -1
        return same and extra() == expected[2]

    def _quiet(self) -> bool:
        """Armed, and no event since in its dirs or on the way to its work dir: nothing watched changed."""
        notifier = NOTIFIER
        if self.armed != notifier.generation:
            return False
        notifier.check()
        return not self.notify_dirty and self.armed == notifier.generation

    def _arm(self, dirs: tuple[str, ...], files: tuple[str, ...]) -> int:
        """Watch every watched dir and every dir holding a watched file; the notifier generation, or 0 when not possible."""
        notifier = NOTIFIER
        if not os.path.isabs(self.work_dir):
            return 0  # a relative path names another dir after a chdir, which raises no event
        try:
            st_dev = os.stat(self.work_dir).st_dev
        except OSError:
            return 0
        if not notifier.usable_for(st_dev):
            return 0
        # A file reached by a second path (a symbolic link, a hard link) can be written through
        # that path, which raises the event in a dir that is not watched: such a run keeps its stats.
        for p in files:
            try:
                st = os.lstat(self.abs(p))
            except OSError:
                continue  # absent: its creation is an event of its dir
            if S_ISLNK(st.st_mode) or (st.st_nlink > 1 and not S_ISDIR(st.st_mode)):
                return 0
        wanted = dirs_of(dirs, files)
        generation = notifier.generation
        self.notify_dirty = False
        told = self.live
        if told is not None and not isinstance(told, frozenset):
            told = told()  # the tracker's answer, deferred until a watch is set (it sets self.live)
        live = live_dirs(wanted) if told is None else told
        if not notifier.arm(self, [self.abs(d) for d in sorted(wanted)], [self.abs(d) for d in sorted(live)]):
            return 0
        return generation

    def _stats_match(self, blob: bytes, dirs: tuple[str, ...], files: tuple[str, ...]) -> bool:
        """Whether every watched path's stat agrees with the packed key."""
        stat = os.stat
        wd = self.work_dir
        prefix = wd if wd.endswith("/") else wd + "/"
        off = _DIR.size * len(dirs)
        # Many paths (an epoch dir and a scores file per finished epoch): stat them relative to
        # the open work dir, which spares the kernel the walk down the full path each time.
        fd = _open_dir(wd) if len(dirs) + len(files) > DIR_FD_FROM else None
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
        return True

    def settle(self, key: Any, now: float) -> Any:
        """The key without the names of racy dirs whose mtime is now old, or None when none settled."""
        hint = self.hint
        names = hint.get("names")
        if not names or type(key) is not tuple or len(key) != 3 or type(key[0]) is not bytes:
            return None
        limit = _racy_limit_ns(now)
        blob = key[0]
        remaining: dict[str, Any] = {}
        for i, d in enumerate(hint.get("dirs", ())):
            if d in names:
                present, m = _DIR.unpack_from(blob, i * _DIR.size)
                if not (present and m <= limit):
                    remaining[d] = names[d]
        if len(remaining) == len(names):
            return None
        self.hint = shared_hint(hint.get("dirs", ()), hint.get("files", ()), remaining)
        return (blob, tuple(remaining.values()), key[2])
