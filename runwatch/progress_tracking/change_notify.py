"""Kernel change notifications (Linux inotify) for the dirs a fingerprint watches.

A long-lived process (the same-process warm scan, a dashboard) checks the same
unchanged runs again and again; each check stats every watched path (about 2E for a
trainer of E finished epochs). On a local file system the kernel can say instead what
changed: once a run's fingerprint has matched twice in this process, its watched dirs
(and the dirs of its watched files) get an inotify watch, and from then on a check of
that run is a stat of its work dir (its identity: the same dir at the same path) plus
one non-blocking ``read`` of the process's inotify descriptor, until an event names one
of its dirs. Then it is checked with stats again, as before, and re-armed.

What makes this exact, and where it is not used:

- the watches are added *before* the stats of the check that arms them: a change made
  before a watch existed is seen by those stats, one made after raises an event;
- an event is queued by the kernel before the writing call returns, and every check
  reads the queue first, so a change made before a check starts is seen by it;
- watched: a file created, deleted, moved, written, truncated or its times changed, in
  any watched dir, and the dir itself deleted or moved; an epoch dir renamed is an event
  of the work dir; the work dir replaced, or a parent renamed, changes the work dir's
  identity (its stat);
- only on file systems where every change raises an event (ext2/3/4, xfs, btrfs, tmpfs,
  zfs, f2fs, overlay, ...). On NFS, SMB, Lustre, FUSE and any unknown type, changes made
  by another machine raise none: there every check stays with stats. The type comes
  from ``/proc/self/mountinfo``;
- a run one of whose watched files is a symbolic or hard link keeps its stats: the file
  could be written through its other path, whose dir is not watched;
- not seen by inotify, hence not by this: a file changed through a writable ``mmap``
  (not how Pylon, ``json.dump`` or ``torch.save`` write) or through a bind mount of that
  one file elsewhere. ``kernel_watches = false`` in the settings turns it off;
- a queue overflow or any error drops every armed fingerprint back to stats; at most
  a quarter of the user's inotify watches (``/proc/sys/fs/inotify/max_user_watches``) are
  used (``RUNWATCH_MAX_WATCHES`` sets another number), so other watchers (editors, other
  tools) keep theirs; a forked child never reads its parent's queue;
- the budget at any size: runs armed while a third of that budget is free watch every
  dir they read (each finished epoch included); beyond it a run watches only what can
  still change: its work dir (a new epoch, a log written, a file of its own) and its two
  newest epoch dirs, or for a complete run its work dir alone (the kernel's watches ran
  out at about 2,000 runs of 24 dirs otherwise). Past the whole budget, a run is checked
  with the stats of what can still change (its quick key, quick_check.py). Such a run's finished epochs are stat'ed again whenever anything in those
  dirs changes, but an in-place rewrite of an old epoch's file alone is then seen only
  with ``force_refresh=True`` (or ``kernel_watches = false``, which keeps every check on stats).

The serving process's live watcher (``runwatch/live/tree_watch.py``) shares this one
instance and its budget: its *path watches* (``watch_dir``) queue the paths their events
name (``take_changes``), and while it listens, the work dir of every fingerprint an event
touches is queued too. A dir watched both ways is one kernel watch.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
from array import array
from collections.abc import Iterator
from typing import Any

from runwatch.state import STATE

IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ISDIR = 0x40000000
IN_ONLYDIR = 0x1000000
IN_MASK_ADD = 0x20000000
_SELF = IN_DELETE_SELF | IN_MOVE_SELF
_ENTRIES = IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
# A run's own dirs: anything in them. Their parents up to "/": an entry on the path renamed,
# replaced, deleted or its permissions changed (file writes there are not asked for).
# IN_MASK_ADD: a dir that is both keeps both masks.
_MASK = IN_MODIFY | _ENTRIES | _SELF | IN_ONLYDIR | IN_MASK_ADD
_PARENT_MASK = _ENTRIES | _SELF | IN_ONLYDIR | IN_MASK_ADD
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, name length
_BUFFER = 65536
_MAX_EVENT = _EVENT.size + 256  # an event with the longest name (NAME_MAX + 1)

# File systems whose every change, whoever makes it, raises an inotify event.
LOCAL_TYPES = frozenset("ext2 ext3 ext4 xfs btrfs tmpfs ramfs zfs f2fs overlay jfs reiserfs bcachefs nilfs2 hfsplus vfat exfat".split())
_MAX_PENDING = 200_000  # queued paths for the live watcher at most
_MAX_WD = 1 << 24  # owner slots at most (4 bytes each)


def _watch_budget() -> int:
    forced = os.environ.get("RUNWATCH_MAX_WATCHES", "").strip()
    if forced:
        try:
            return max(0, int(forced))
        except ValueError:
            pass
    try:
        with open("/proc/sys/fs/inotify/max_user_watches") as f:
            return int(f.read()) // 4
    except (OSError, ValueError):
        return 4096


def _local_devices() -> dict[int, bool]:
    """st_dev -> whether its file system raises an event for every change (from /proc/self/mountinfo)."""
    out: dict[int, bool] = {}
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        parts, rest = left.split(), right.split()
        if len(parts) < 3 or not rest:
            continue
        try:
            major, minor = (int(x) for x in parts[2].split(":"))
        except ValueError:
            continue
        dev = os.makedev(major, minor)
        # A device mounted twice counts as local only if every mount of it is.
        out[dev] = out.get(dev, True) and rest[0] in LOCAL_TYPES
    return out


class _Queue:
    """What one listener has not taken yet."""

    __slots__ = ("pending", "new_dirs", "rewalk")

    def __init__(self) -> None:
        self.pending: set[str] = set()
        self.new_dirs: set[str] = set()
        self.rewalk = False


class Notifier:
    """The process's inotify instance: which armed fingerprints a change may have touched.

    Fingerprints are numbered (``slot``); ``_owner[wd]`` is the slot of the fingerprint
    that watches that dir (-1: several, see ``_shared``). ``generation`` grows on every
    overflow or reset: a fingerprint armed in an older generation is checked with stats.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._failed = False
        self._inotify: Any = None  # inotify_simple.INotify
        self._owner = array("i")
        self._shared: dict[int, list[int]] = {}
        # The parents of armed work dirs: wd -> (its path, the names of its entries on an armed path).
        self._parents: dict[int, tuple[str, set[str]]] = {}
        self._parent_wd: dict[str, int] = {}
        self._fps: list[Any] = [None]  # slot 0: nobody
        self._devices: dict[int, bool] | None = None
        self._budget = 0
        self._wds: set[int] = set()  # every watch descriptor of this instance (the budget counts these)
        # Path watches (the live watcher's): wd -> dir, dir -> wd; the changes queued for it
        # (None: nobody listens), the dirs that appeared, and whether a watched dir moved or
        # events were lost (the listener then walks its tree again).
        self._dirs: dict[int, str] = {}
        self._dir_wd: dict[str, int] = {}
        self._queues: dict[int, _Queue] = {}  # one per listener (a live watcher), token -> its queue
        self._next_token = 1
        self.generation = 1
        # Grows with every batch of events read, every path watch removed and every close: while it (and
        # ``generation``) stay the same, no fingerprint went from quiet to dirty and no folder lost its watch.
        self.changes = 0
        self._scan = threading.local()  # .depth: inside ``one_read_per_scan`` in this thread
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget_in_child)

    def __len__(self) -> int:
        return len(self._wds)

    @property
    def _used(self) -> int:
        return len(self._wds)

    @property
    def budget(self) -> int:
        """The watches this process may use (0 until the instance is opened)."""
        return self._budget

    @property
    def spent(self) -> bool:
        """No room left for even one more run's live dirs (its work dir and two newest epochs), or no instance at all."""
        return self._failed or (self._fd is not None and self._budget - self._used < 3)

    @property
    def fd(self) -> int | None:
        return self._fd

    def clear(self) -> None:
        """Close the instance (every watch goes with it); every armed fingerprint goes back to stats."""
        with self._lock:
            self._close()
            self._failed = False
            self._devices = None

    def _close(self) -> None:
        if self._fd is not None:
            try:
                self._inotify.close()
            except OSError:
                pass
        self._fd = None
        self._inotify = None
        self._owner = array("i")
        self._shared = {}
        self._parents = {}
        self._parent_wd = {}
        self._fps = [None]
        self._wds = set()
        self._dirs = {}
        self._dir_wd = {}
        for q in self._queues.values():
            q.new_dirs.clear()
            q.rewalk = True  # every path watch is gone: walk again
        self.generation += 1
        self.changes += 1

    def _forget_in_child(self) -> None:
        # The child's copy of the descriptor reads the parent's queue: never use it.
        self._close()
        self._failed = True

    # ---- arming

    def usable_for(self, st_dev: int) -> bool:
        if self._failed:
            return False
        devices = self._devices
        if devices is None or st_dev not in devices:
            devices = self._devices = _local_devices()  # read again: a file system mounted since
            devices.setdefault(st_dev, False)  # unknown (a btrfs subvolume, a namespace's mount): stats
        return devices[st_dev]

    def _open(self) -> bool:
        if self._fd is not None:
            return True
        if self._failed:
            return False
        try:
            from inotify_simple import INotify

            inotify = INotify(nonblocking=True)  # close-on-exec
        except (OSError, ImportError):
            self._failed = True
            return False
        self._inotify, self._fd = inotify, inotify.fileno()
        self._budget = _watch_budget()
        return True

    def _add(self, path: str, mask: int) -> int:
        """``inotify_add_watch``: the watch descriptor, or -1 when the kernel refused."""
        try:
            return int(self._inotify.add_watch(os.fsencode(path), mask))
        except OSError:
            return -1

    def live_only(self, dirs: list[str]) -> bool:
        """Whether ``arm`` would now watch a run's live dirs instead of ``dirs`` (a third of the budget is spent)."""
        if self._fd is None:
            return False
        dir_wd = self._dir_wd
        fresh = sum(1 for d in dirs if d not in dir_wd) if dir_wd else len(dirs)
        return self._used + fresh > self._budget // 3

    def arm(self, fp: Any, dirs: list[str], live: list[str] | None = None) -> bool:
        """Watch ``dirs`` (``fp.work_dir`` first, absolute) and the work dir's parents for ``fp``; False when any cannot be watched.

        ``fp.notify_slot`` is set; an event in one of ``dirs``, or on an entry of a parent
        that is on the way to the work dir, marks ``fp.notify_dirty``. ``live``: the dirs
        that can still change (the work dir and its newest epochs), watched instead of
        ``dirs`` once a third of the watch budget is spent (see the module docstring).
        """
        with self._lock:
            if not self._open():
                return False
            dir_wd = self._dir_wd
            fresh = sum(1 for d in dirs if d not in dir_wd) if dir_wd else len(dirs)  # a path watch's dir costs nothing more
            if live is not None and self._used + fresh > self._budget // 3:
                dirs = live
                fresh = sum(1 for d in dirs if d not in dir_wd) if dir_wd else len(dirs)
            if self._used + fresh > self._budget:
                return False
            if not self._watch_parents(dirs[0]):
                return False
            slot = fp.notify_slot
            if slot <= 0 or slot >= len(self._fps) or self._fps[slot] is not fp:
                slot = len(self._fps)
                self._fps.append(fp)
                fp.notify_slot = slot
            add = self._add
            owner = self._owner
            for d in dirs:
                wd = add(d, _MASK)
                if wd <= 0 or wd >= _MAX_WD:
                    return False
                if wd >= len(owner):
                    owner.extend([0] * (wd + 1 - len(owner) + len(owner) // 2))
                now = owner[wd]
                if now == 0:
                    owner[wd] = slot
                    self._wds.add(wd)
                elif now != slot:
                    shared = self._shared.setdefault(wd, [now] if now > 0 else [])
                    if slot not in shared:
                        shared.append(slot)
                    owner[wd] = -1
            return True

    def arm_parents(self, fp: Any) -> bool:
        """Watch only the entries on the way to ``fp.work_dir`` (a work dir that does not exist yet: its appearing is an
        event of its parent); False when they cannot be watched."""
        with self._lock:
            if not self._open() or self._used + 1 > self._budget:
                return False
            if not self._watch_parents(fp.work_dir):
                return False
            slot = fp.notify_slot
            if slot <= 0 or slot >= len(self._fps) or self._fps[slot] is not fp:
                fp.notify_slot = len(self._fps)
                self._fps.append(fp)
            return True

    def _watch_parents(self, work_dir: str) -> bool:
        child = work_dir.rstrip("/") or "/"
        while child != "/":
            parent, name = os.path.split(child)
            wd = self._parent_wd.get(parent)
            if wd is None:
                wd = self._add(parent, _PARENT_MASK)
                if wd <= 0:
                    return False
                self._parent_wd[parent] = wd
                self._wds.add(wd)
            entry = self._parents.get(wd)
            if entry is None or entry[0] != parent:
                entry = self._parents[wd] = (parent, set())
            entry[1].add(name)
            child = parent
        return True

    def _dirty_under(self, path: str) -> None:
        """Every armed fingerprint whose work dir is ``path`` or below it."""
        prefix = path.rstrip("/") + "/"
        for q in self._queues.values():
            q.pending.add(path)
        for fp in self._fps:
            if fp is not None and (fp.work_dir == path or fp.work_dir.startswith(prefix)):
                fp.notify_dirty = True

    # ---- path watches (the live watcher's)

    def listen(self) -> int | None:
        """Queue the paths of events from now on for a new listener; its token for ``take_changes``, or None
        when there are no kernel watches here. Each listener gets every path (it keeps those under its roots)."""
        with self._lock:
            if not self._open():
                return None
            token = self._next_token
            self._next_token += 1
            self._queues[token] = _Queue()
            return token

    def unlisten(self, token: int | None = None) -> None:
        """Drop a listener's queue (``None``: every listener's); with none left, every path watch goes too (the fingerprints' stay)."""
        with self._lock:
            if token is None:
                self._queues.clear()
            else:
                self._queues.pop(token, None)
            if self._queues:
                return
            paths = list(self._dir_wd)
        for path in paths:
            self.unwatch_dir(path)

    def watch_dir(self, path: str) -> bool:
        """A path watch on ``path`` (absolute); False when the budget or the kernel refuses."""
        with self._lock:
            if path in self._dir_wd:
                return True
            if not self._open() or self._used >= self._budget:
                return False
            wd = self._add(path, _MASK)
            if wd <= 0:
                return False
            old = self._dirs.get(wd)
            if old is not None and self._dir_wd.get(old) == wd:  # the dir moved (or a second path): the newest path names it
                del self._dir_wd[old]
                self.changes += 1
            self._dirs[wd] = path
            self._dir_wd[path] = wd
            self._wds.add(wd)
            return True

    def unwatch_dir(self, path: str) -> None:
        """Stop the path watch on ``path``; the kernel watch stays while a fingerprint or a parent needs it."""
        with self._lock:
            wd = self._dir_wd.pop(path, None)
            if wd is None:
                return
            self.changes += 1
            self._dirs.pop(wd, None)
            if (0 < wd < len(self._owner) and self._owner[wd] != 0) or wd in self._parents or self._inotify is None:
                return
            try:
                self._inotify.rm_watch(wd)
            except OSError:
                pass
            self._wds.discard(wd)

    def path_watches(self) -> int:
        return len(self._dir_wd)

    def has_path_watch(self, path: str) -> bool:
        """Whether ``path`` has a path watch now (a watched dir that was deleted has none)."""
        return path in self._dir_wd

    def take_changes(self, token: int | None) -> tuple[set[str], set[str], bool]:
        """(paths named by events, dirs that appeared, whether to walk again) since the listener's last call; the queue is read first."""
        self.drain()
        with self._lock:
            q = self._queues.get(token) if token is not None else None
            if q is None:
                return set(), set(), False
            out = (q.pending, q.new_dirs, q.rewalk)
            q.pending, q.new_dirs, q.rewalk = set(), set(), False
            return out

    # ---- events

    @contextlib.contextmanager
    def one_read_per_scan(self) -> Iterator[None]:
        """Read the event queue once, now, instead of at every check made in this thread until the block ends.

        For a scan engine: its answers are then as of the scan's start (a change made
        while the scan runs is seen by the next one), for one ``read`` per scan instead
        of one per armed run.
        """
        self.drain()
        scan = self._scan
        scan.depth = getattr(scan, "depth", 0) + 1
        try:
            yield
        finally:
            scan.depth -= 1

    def check(self) -> None:
        """What a fingerprint's check calls: ``drain()``, unless this thread is in ``one_read_per_scan``."""
        if not getattr(self._scan, "depth", 0):
            self.drain()

    def drain(self) -> None:
        """Read every queued event (one ``read`` when there is none) and mark the fingerprints they touch."""
        fd = self._fd
        if fd is None:
            return
        with self._lock:
            if self._fd is None:
                return
            while True:
                try:
                    data = os.read(self._fd, _BUFFER)
                except BlockingIOError:
                    return
                except OSError:
                    self._close()
                    self._failed = True
                    return
                if not data:
                    return
                self._mark(data)
                if len(data) <= _BUFFER - _MAX_EVENT:
                    return  # the kernel had room for another event and none was queued

    def _mark(self, data: bytes) -> None:
        self.changes += 1
        owner, fps, size = self._owner, self._fps, _EVENT.size
        queues, dirs = list(self._queues.values()), self._dirs
        off = 0
        while off + size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, off)
            off += size + length
            if mask & IN_Q_OVERFLOW:
                self.generation += 1  # events were lost: every armed fingerprint goes back to stats
                for q in queues:
                    q.rewalk = True
                continue
            if queues:
                d = dirs.get(wd)
                if d is not None:
                    path = os.path.join(d, os.fsdecode(data[off - length : off].rstrip(b"\0"))) if length else d
                    new_dir = bool(length and mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO))
                    for q in queues:
                        q.pending.add(path)
                        if new_dir:
                            q.new_dirs.add(path)
                        if mask & IN_MOVE_SELF:
                            q.rewalk = True  # the dir moved: the paths of the dirs below it changed
                        if len(q.pending) > _MAX_PENDING:  # nobody took them for long: walk everything again instead
                            q.pending.clear()
                            q.new_dirs.clear()
                            q.rewalk = True
                    if mask & IN_IGNORED:  # the dir went: its watch with it
                        dirs.pop(wd, None)
                        if self._dir_wd.get(d) == wd:
                            del self._dir_wd[d]
            parent = self._parents.get(wd)
            if parent is not None:
                if mask & _SELF or (mask & IN_IGNORED and not length):
                    self._dirty_under(parent[0])  # a parent itself moved or gone: every path through it
                    if mask & IN_IGNORED:
                        del self._parents[wd]
                        self._parent_wd.pop(parent[0], None)
                elif length and mask & _ENTRIES:
                    name = os.fsdecode(data[off - length : off].rstrip(b"\0"))
                    if name in parent[1]:
                        self._dirty_under(os.path.join(parent[0], name))
            slot = owner[wd] if 0 < wd < len(owner) else 0
            slots = self._shared.get(wd, ()) if slot < 0 else (slot,) if slot else ()
            for s in slots:
                fp = fps[s]
                if fp is not None:
                    fp.notify_dirty = True
                    for q in queues:
                        q.pending.add(fp.work_dir)
            if mask & IN_IGNORED:  # the watch is gone (its dir was deleted): its wd is never reused
                if slot:
                    owner[wd] = 0
                    self._shared.pop(wd, None)
                self._wds.discard(wd)


NOTIFIER: Notifier = STATE.table("progress_tracking.change_notify", Notifier)
