"""The serving process's kernel watches: what can still change, within the kernel's watch budget.

A recursive watch of a lab's ``logs/`` costs one inotify watch per folder: 237,000 for
10,000 runs, more than a user's ``max_user_watches`` (often 8,192 to 200,000, shared with
every other program of the user). Most of those folders are finished epochs that never
change again. ``TreeWatch`` watches instead, in this order:

1. the *structure*: every folder under the watch roots that is not inside a known run
   (``configs/`` and its folders, ``logs/`` and the group folders above the runs, the
   top folders of marker runs): a new run, config or folder appears there;
2. each run's work dir (a new epoch, a log written, a file of its own) and, inside it,
   the folders that can still change: every sub-folder but the numbered ones
   (``epoch_3``, ``checkpoint-500``) older than the two newest of their series, to a
   depth of ``RUN_DEPTH``. Running, stuck and queued runs come first, then failed ones,
   then the rest.

The watches are path watches of the process's one inotify instance
(``progress_tracking/change_notify.py``), shared with the scan engine's fingerprint
watches: a folder watched by both is one kernel watch, and both count against one budget
(a quarter of ``max_user_watches``; ``RUNWATCH_MAX_WATCHES`` sets another number).

When the budget (or the kernel) refuses, the folders left over are *polled*: their
mtimes are compared at a cadence that grows with what a pass costs (``poll_interval``,
at least ``POLL_MIN_S``), which sees a folder or file appear or go in them; a file
rewritten in place in an unwatched folder is seen by the live index's sweep (running
runs every sweep, every run at the full sweep), as before. ``/healthz`` says how many
folders are watched and how many polled.

A new folder in a watched one is watched at once and walked (what was created in it
before its watch existed is reported too); a new numbered folder in a run retires the
watch of the oldest of its series beyond the two newest. A queue overflow or a watched
folder moved makes the next ``collect`` walk everything again.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from runwatch.progress_tracking.change_detection import LIVE_NEWEST
from runwatch.progress_tracking.change_notify import NOTIFIER, Notifier

RUN_DEPTH = 3  # folder levels inside a run's work dir that are watched
POLL_MIN_S = 2.0  # the shortest poll cadence of the unwatched folders
POLL_COST_FACTOR = 20  # a poll pass takes at most 1/20 of the time
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", ".tox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".idea"})
_NUMBERED = re.compile(r"(\D*)(\d+)(\D*)")
_FIRST = {"running": 0, "stuck": 0, "queued": 0, "failed": 1}


def _subdirs(path: str) -> list[str]:
    """Names of the folders in ``path`` (links not followed), skipping tool folders and runwatch's cache."""
    out = []
    try:
        with os.scandir(path) as it:
            for e in it:
                try:
                    if e.is_dir(follow_symlinks=False) and e.name not in SKIP_DIRS and not e.name.startswith(".runwatch"):
                        out.append(e.name)
                except OSError:
                    continue
    except OSError:
        pass
    return out


def live_names(names: Iterable[str]) -> list[str]:
    """The folders that can still change: all but numbered ones older than the ``LIVE_NEWEST`` newest of their series."""
    plain: list[str] = []
    series: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for n in names:
        m = _NUMBERED.fullmatch(n)
        if m is None:
            plain.append(n)
        else:
            series.setdefault((m[1], m[3]), []).append((int(m[2]), n))
    for members in series.values():
        members.sort()
        plain.extend(n for _, n in members[-LIVE_NEWEST:])
    return plain


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


class TreeWatch:
    """Path watches over a live index's project (see the module docstring); ``collect`` returns the changed paths."""

    def __init__(self, index: Any, notifier: Notifier = NOTIFIER, clock: Any = time.monotonic) -> None:
        self.index = index
        self.notifier = notifier
        self.clock = clock
        self.roots: tuple[str, ...] = ()
        self.watched: set[str] = set()
        self.polled: dict[str, int | None] = {}
        self.structure: set[str] = set()  # folders not inside a run (watched or polled)
        self.kids: dict[str, set[str]] = {}  # folder inside a run -> its watched or polled sub-folders
        self.run_dirs: set[str] = set()
        self._run_seq = -1
        self.generation = -1
        self.full = False  # the budget ran out at the last walk
        self.walked_at: float | None = None
        self.walk_s = 0.0
        self.walks = 0
        self.poll_interval = POLL_MIN_S
        self.poll_s = 0.0
        self._next_poll = 0.0
        self._lock = threading.RLock()
        # Paths handed out by ``collect`` and not yet applied to the index (``applied``): the agent's catch-up applies them too.
        self.unapplied: set[str] = set()
        self.token = notifier.listen()
        self.listening = self.token is not None

    def close(self) -> None:
        """Stop listening; this tree's path watches go (unless another listener in the process still listens)."""
        with self._lock:
            if self.token is not None:
                self.notifier.unlisten(self.token)
            self.token = None
            self.listening = False

    def _mine(self, paths: Iterable[str]) -> set[str]:
        """The paths under this tree's roots (every listener of the process gets every path)."""
        roots = self.roots
        return {p for p in paths if any(p == r or p.startswith(r + os.sep) for r in roots)}

    # ------------------------------------------------------------------ what is watched

    def health(self) -> dict[str, Any]:
        """For ``/healthz``: watched and polled folders, the budget, and whether it is degraded to polling."""
        polled = len(self.polled)
        return {
            "watched_dirs": len(self.watched),
            "polled_dirs": polled,
            "kernel_watches": len(self.notifier),
            "watch_budget": self.notifier.budget,
            "poll_interval_s": round(self.poll_interval, 1) if polled else None,
            "degraded": bool(polled) or not self.listening,
            "walk_s": round(self.walk_s, 3),
        }

    def covers(self, work_dir: str) -> bool:
        """Whether a work dir that does not exist yet would be reported when it appears: its folder has a path watch now."""
        return self.listening and self.generation == self.notifier.generation and self.notifier.has_path_watch(os.path.dirname(os.path.normpath(work_dir)))

    def _known_runs(self) -> dict[str, int]:
        """Work dir -> priority (0 first) of the index's runs."""
        idx = self.index
        with idx._lock:
            statuses = [e.status for e in idx.entries.values() if e.status is not None]
        out: dict[str, int] = {}
        for st in statuses:
            wd = st.work_dir
            if wd:
                out[os.path.normpath(wd)] = _FIRST.get(st.status, 2)
        return out

    def _refresh_runs(self) -> None:
        seq = self.index.seq
        if seq != self._run_seq:
            self._run_seq = seq
            self.run_dirs = set(self._known_runs())

    def _in_run(self, path: str) -> bool:
        """Whether ``path`` is a known run's work dir or inside one."""
        runs = self.run_dirs
        p = path
        while True:
            if p in runs:
                return True
            parent = os.path.dirname(p)
            if parent == p:
                return False
            p = parent

    def walk(self, roots: Iterable[str], since_ns: int | None = None) -> list[str]:
        """Place the watches anew over ``roots``; returns the paths queued before it and the structure folders changed since ``since_ns`` (a mtime)."""
        with self._lock:
            t0 = time.perf_counter()
            # What was queued before this walk is reported with it; a lost-events flag is answered by the walk itself.
            self.roots = tuple(os.path.normpath(r) for r in roots)
            queued = self._mine(self.notifier.take_changes(self.token)[0])
            runs = self._known_runs()
            self.run_dirs = set(runs)
            self._run_seq = self.index.seq
            self.generation = self.notifier.generation
            structure: list[str] = []
            mtimes: dict[str, int | None] = {}
            found_runs: list[str] = []
            queue = deque(self.roots)  # breadth first: the roots and the folders nearest them first
            while queue:
                d = queue.popleft()
                if d in runs:
                    found_runs.append(d)
                    continue
                mtimes[d] = _mtime(d)  # before the listing: a change after it moves the mtime again
                structure.append(d)
                queue.extend(os.path.join(d, n) for n in sorted(_subdirs(d)))
            found_runs.sort(key=lambda d: (runs[d], d))
            wanted = list(structure)
            kids: dict[str, set[str]] = {}
            for wd in found_runs:
                wanted.extend(self._run_folders(wd, runs, kids, mtimes, found_runs))
            changed = sorted(queued | {d for d in structure if since_ns is not None and (mtimes.get(d) or 0) >= since_ns})
            self._place(wanted, mtimes)
            self.structure = set(structure)
            self.kids = kids
            self.walk_s = time.perf_counter() - t0
            self.walked_at = self.clock()
            self.walks += 1
            return changed

    def _run_folders(self, wd: str, runs: dict[str, int], kids: dict[str, set[str]], mtimes: dict[str, int | None], found: list[str]) -> list[str]:
        """A run's work dir and its folders that can still change (a run inside it is added to ``found``)."""
        out = [wd]
        mtimes[wd] = _mtime(wd)
        frontier = [(wd, 0)]
        while frontier:
            d, depth = frontier.pop()
            if depth >= RUN_DEPTH:
                continue
            names = live_names(_subdirs(d))
            mine = kids.setdefault(d, set())
            for n in names:
                p = os.path.join(d, n)
                if p in runs:
                    if p not in found:
                        found.append(p)
                    continue
                mine.add(p)
                mtimes[p] = _mtime(p)
                out.append(p)
                frontier.append((p, depth + 1))
        return out

    def _place(self, wanted: list[str], mtimes: dict[str, int | None]) -> None:
        """Watch ``wanted`` in order while the budget lasts, poll the rest; drop the watches no longer wanted."""
        notifier = self.notifier
        watched: set[str] = set()
        polled: dict[str, int | None] = {}
        full = not self.listening
        for d in wanted:
            if d in watched or d in polled:
                continue
            if not full and ((d in self.watched and notifier.has_path_watch(d)) or notifier.watch_dir(d)):
                watched.add(d)
                continue
            full = True  # the budget (or the kernel) said no: poll this one and every one after it
            polled[d] = self.polled.get(d, mtimes.get(d)) if d in self.polled else mtimes.get(d)
        for d in self.watched - watched:
            notifier.unwatch_dir(d)
        self.watched, self.polled, self.full = watched, polled, full

    def _add(self, d: str, inside_run: bool) -> list[str]:
        """A folder that appeared: watch (or poll) it and what is in it; returns every path found in it."""
        found = [d]
        stack = [(d, 0)]
        while stack:
            p, depth = stack.pop()
            self.kids.pop(p, None)  # a folder made again: what was known in the old one is gone
            m = _mtime(p)
            if not self.full and self.notifier.watch_dir(p):
                self.watched.add(p)
                self.polled.pop(p, None)
            else:
                self.full = True
                self.polled[p] = m
            parent = os.path.dirname(p)
            in_run = inside_run or self._in_run(p)
            if in_run:
                self.kids.setdefault(parent, set()).add(p)
                self._retire(parent)
                if p not in self.kids.get(parent, ()):  # retired at once: an old epoch moved in
                    continue
            else:
                self.structure.add(p)
            try:
                with os.scandir(p) as it:
                    entries = list(it)
            except OSError:
                continue
            for e in entries:
                found.append(e.path)
                try:
                    is_dir = e.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                if is_dir and e.name not in SKIP_DIRS and not e.name.startswith(".runwatch") and (not in_run or depth + 1 < RUN_DEPTH):
                    stack.append((e.path, depth + 1 if in_run else 0))
        return found

    def _retire(self, parent: str) -> None:
        """Stop watching the numbered folders of ``parent`` older than the newest of their series."""
        mine = self.kids.get(parent)
        if not mine or len(mine) <= LIVE_NEWEST:
            return
        keep = {os.path.join(parent, n) for n in live_names(os.path.basename(k) for k in mine)}
        for k in list(mine - keep):
            mine.discard(k)
            self._drop_below(k)

    def _drop_below(self, path: str) -> None:
        prefix = path + os.sep
        for d in [d for d in self.watched if d == path or d.startswith(prefix)]:
            self.notifier.unwatch_dir(d)
            self.watched.discard(d)
        for d in [d for d in self.polled if d == path or d.startswith(prefix)]:
            del self.polled[d]
        for d in [d for d in self.kids if d == path or d.startswith(prefix)]:
            del self.kids[d]

    # ------------------------------------------------------------------ what changed

    def collect(self, force_poll: bool = False) -> tuple[list[str], bool]:
        """(The paths changed since the last call, whether the roots must be walked again).

        Reads the kernel's queue, watches the folders that appeared, and polls the
        unwatched folders when their cadence is due (or ``force_poll``).
        """
        with self._lock:
            if not self.roots:
                return [], False  # not walked yet: nothing is watched for this tree
            paths, new_dirs, rewalk = self.notifier.take_changes(self.token)
            if self.generation != self.notifier.generation and self.listening:
                rewalk = True  # the instance was closed or events were lost: the watches are gone
            out = self._mine(paths)
            new_dirs = self._mine(new_dirs)
            if new_dirs:
                self._refresh_runs()
                for d in sorted(new_dirs, key=len):
                    if self.notifier.has_path_watch(d) or d in self.polled or not os.path.isdir(d) or os.path.islink(d):
                        continue  # (a folder deleted and made again has lost its watch: it is watched again)
                    name = os.path.basename(d)
                    if name in SKIP_DIRS or name.startswith(".runwatch"):
                        continue
                    out.update(self._add(d, self._in_run(os.path.dirname(d))))
            if self.polled and (force_poll or self.clock() >= self._next_poll):
                out.update(self._poll())
            self.unapplied |= out
            return sorted(out), rewalk

    def applied(self, paths: Iterable[str]) -> None:
        """These paths are in the index now."""
        with self._lock:
            self.unapplied.difference_update(paths)

    def pending(self) -> tuple[list[str], bool]:
        """What ``collect`` returns now plus every path it returned before that is not applied yet."""
        with self._lock:
            paths, rewalk = self.collect()
            return sorted(self.unapplied.union(paths)), rewalk

    def _poll(self) -> list[str]:
        """Compare every polled folder's mtime; a changed one is reported, and a structure folder listed for new folders."""
        t0 = time.perf_counter()
        changed = []
        for d, m in list(self.polled.items()):
            now = _mtime(d)
            if now == m:
                continue
            self.polled[d] = now
            changed.append(d)
            if now is None:
                continue
            inside = d not in self.structure
            known = self.kids.get(d, set()) if inside else None
            for n in _subdirs(d):
                p = os.path.join(d, n)
                if p in self.watched or p in self.polled or (known is not None and p in known):
                    continue
                changed.extend(self._add(p, inside))
        self.poll_s = time.perf_counter() - t0
        self.poll_interval = max(POLL_MIN_S, self.poll_s * POLL_COST_FACTOR)
        self._next_poll = self.clock() + self.poll_interval
        return changed
