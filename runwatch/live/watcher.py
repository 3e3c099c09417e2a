"""Feeding the live index: kernel file events (or polling) plus a periodic light sweep.

inotify sees every write on a local disk within milliseconds but sees nothing that
another machine writes to an NFS export, so network filesystems get watchfiles'
polling mode instead (detected from /proc/mounts, or forced by option). On a local disk
the watches are the process's own inotify instance, shared with the scan engine, placed
on what can still change and kept within the kernel's watch budget at any size
(``tree_watch.TreeWatch``); folders beyond the budget are polled. Some
transitions have no file event at all (a log that goes quiet turns a running run
into a stuck or failed one; a finished run ages into outdated; a process dies),
which is what the sweep is for.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

from runwatch.layouts import watch_roots
from runwatch.live.index import LiveIndex
from runwatch.live.tree_watch import TreeWatch
from runwatch.progress_tracking.progress_store import is_own_name

log = logging.getLogger("runwatch.live")

# The sweep after a decision falls due runs this much later (the clock must be past the limit),
# and never sooner than this after the last one.
DUE_SLACK = 0.05
MIN_SWEEP_GAP = 0.25

# Filesystems where inotify does not see writes made by other machines.
NETWORK_FS: frozenset[str] = frozenset(
    {"nfs", "nfs4", "cifs", "smb", "smb3", "smbfs", "fuse.sshfs", "sshfs", "lustre", "gpfs", "beegfs", "ceph", "fuse.ceph", "glusterfs", "fuse.glusterfs"}
)


def _unescape_mount(field: str) -> str:
    """/proc/mounts escapes space, tab, newline and backslash as octal (``\\040``)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def filesystem_type(path: str, mounts_text: str | None = None) -> str | None:
    """The type of the filesystem holding ``path`` (the longest matching mount point), or None."""
    if mounts_text is None:
        try:
            with open("/proc/mounts", encoding="utf-8", errors="replace") as f:
                mounts_text = f.read()
        except OSError:
            return None
    target = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for line in mounts_text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        mnt, fstype = _unescape_mount(parts[1]), parts[2]
        inside = target == mnt or target.startswith(mnt.rstrip("/") + "/") or mnt == "/"
        if inside and (best is None or len(mnt) >= best[0]):
            best = (len(mnt), fstype)
    return best[1] if best else None


def detect_polling(*paths: str, mounts_text: str | None = None) -> bool:
    """Whether any of the paths lies on a network filesystem, where only polling sees changes."""
    for p in paths:
        fs = filesystem_type(p, mounts_text)
        if fs is not None and fs in NETWORK_FS:
            return True
    return False


def _keep(change: Any, path: str) -> bool:
    """Drop runwatch's own files (progress.json it writes, temp files) so a write does not echo."""
    return _DEFAULT(change, path) and not is_own_name(os.path.basename(path))


_IGNORED_SUFFIXES = (".swp", ".swx", ".swo", "~", ".pyc", ".pyo")


def keep_path(path: str) -> bool:
    """The kernel watcher's filter: runwatch's own files and editors' temporary files do not count as changes."""
    name = os.path.basename(path)
    return not is_own_name(name) and not name.endswith(_IGNORED_SUFFIXES) and not name.startswith(".#")


_DEFAULT: Any = None


class Watcher:
    """Runs the file watcher and the sweep until stopped, pushing work to one executor thread.

    ``on_delta`` is not called here: the index calls its own ``on_delta`` under its lock,
    so deltas from the watcher and from the sweep reach listeners in sequence order.
    """

    def __init__(
        self,
        index: LiveIndex,
        *,
        polling: bool | None = None,
        sweep_interval: float = 5.0,
        poll_delay_ms: int = 1000,
        debounce_ms: int = 400,
        step_ms: int = 50,
        executor: Executor | None = None,
        on_error: Callable[[BaseException], Awaitable[None] | None] | None = None,
    ) -> None:
        self.index = index
        existing = watch_roots(index.project) or (index.project.root,)
        self.polling = detect_polling(*existing) if polling is None else polling
        self.sweep_interval = sweep_interval
        self.poll_delay_ms = poll_delay_ms
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.executor = executor
        self.on_error = on_error
        self.events_seen = 0
        self._stop = asyncio.Event()
        self._restart = asyncio.Event()
        # Set when a local process exits: the sweep then runs at once, not at its next tick.
        self._wake = asyncio.Event()
        self.exit_check_interval = 0.5
        self._watched: tuple[str, ...] = ()
        # The kernel watches (inotify mode): made when the loop starts.
        self.tree: TreeWatch | None = None
        self.rewalk_every = 300.0  # seconds between walks that re-place every watch (priorities, freed budget)
        self._made_ns = time.time_ns()
        index.watcher = self  # the agent socket's catch-up applies what this watcher has not yet

    @property
    def mode(self) -> str:
        return "polling" if self.polling else "inotify"

    def health(self) -> dict[str, Any]:
        """For ``/healthz``: the mode, and in inotify mode the watched and polled folders and the budget."""
        out: dict[str, Any] = {"mode": self.mode}
        if self.tree is not None:
            out.update(self.tree.health())
        return out

    def stop(self) -> None:
        self._stop.set()
        self._restart.set()

    async def run(self) -> None:
        """Watch and sweep until ``stop()``; errors in one batch are logged, never fatal."""
        watch = self._watch_loop() if self.polling else self._kernel_loop()
        await asyncio.gather(watch, self._sweep_loop(), self._exit_loop(), self._root_loop())

    def catch_up(self) -> None:
        """Apply at once every change the kernel queued for this watcher (the agent socket calls this before answering)."""
        tree = self.tree
        if tree is None or self.index.root_missing:
            return
        raw, rewalk = tree.pending()  # what the loop collected and has not applied yet included
        if rewalk:
            self._restart.set()
            self.index.sweep(full=True)  # events were lost: every run is looked at again
            tree.applied(raw)
            return
        paths = [p for p in raw if keep_path(p)]
        if paths:
            self.index.apply_changes(paths)
        tree.applied(raw)

    async def _kernel_loop(self) -> None:
        """Kernel events from the watches ``TreeWatch`` places, batched: quiet for ``step_ms`` or at most ``debounce_ms``."""
        tree = self.tree = TreeWatch(self.index)
        # Structure folders changed since then are reported after a walk: on the first walk, since the
        # watcher was made (the first scan may have listed the runs before that); later, since the last walk.
        since = self._made_ns - 2_000_000_000
        loop = asyncio.get_running_loop()
        step = self.step_ms / 1000
        lost = False  # events were lost (an overflow, a moved folder): the next walk sweeps every run
        try:
            while not self._stop.is_set():
                roots = await self._roots_to_watch()
                if not roots:
                    continue
                walk_start_ns = time.time_ns()
                try:
                    # The first walk on the index's worker: after the first scan, whose runs say where the runs
                    # are. Later ones on their own thread: a walk of 50,000 runs must not hold up file events.
                    if tree.walks == 0:
                        changed = await self._call(tree.walk, roots, since)
                    else:
                        changed = await asyncio.to_thread(tree.walk, roots, since)
                except Exception as e:
                    log.warning("runwatch: placing the watches failed (%s); retrying", e)
                    await self._report(e)
                    changed = []
                since = walk_start_ns - 2_000_000_000  # a folder changed while walking is reported again next time
                if tree.full:
                    log.warning(
                        "runwatch: the kernel's watch budget (%d) is spent: %d folders watched, %d polled every %.0f s or more",
                        tree.notifier.budget,
                        len(tree.watched),
                        len(tree.polled),
                        tree.poll_interval,
                    )
                kept = [p for p in changed if keep_path(p)]
                if kept:
                    await self._apply(kept)
                tree.applied(changed)
                if lost and self.index.ready:
                    await self._call(lambda: self.index.sweep(full=True))
                lost = False
                walked = loop.time()
                while not self._stop.is_set() and not self._restart.is_set():
                    await asyncio.sleep(step)
                    if loop.time() - walked > max(self.rewalk_every, 50 * tree.walk_s):  # a walk takes at most 2 % of the time
                        self._restart.set()
                        break
                    batch, rewalk = await asyncio.to_thread(tree.collect)
                    if batch:
                        # Let a burst settle: more of it within a step joins the batch, up to debounce_ms.
                        t0 = loop.time()
                        while loop.time() - t0 < self.debounce_ms / 1000:
                            await asyncio.sleep(step)
                            more, again = await asyncio.to_thread(tree.collect)
                            rewalk = rewalk or again
                            if not more:
                                break
                            batch = sorted(set(batch) | set(more))
                    if rewalk:
                        lost = True
                        self._restart.set()
                    paths = [p for p in batch if keep_path(p)]
                    if paths:
                        self.events_seen += len(paths)
                        if not self.index.root_missing:
                            await self._apply(paths)
                    tree.applied(batch)
        finally:
            await asyncio.to_thread(tree.close)

    async def _apply(self, paths: list[str]) -> None:
        try:
            await self._call(self.index.apply_changes, paths)
        except Exception as e:  # a bad batch must not kill the watcher
            log.exception("runwatch: applying %d changes failed", len(paths))
            await self._report(e)

    async def _root_loop(self) -> None:
        """Notice the project disappearing (renamed, unmounted) within a second, and rescan it
        at once when it is back: no file event says "everything is here again"."""
        interval = min(1.0, self.sweep_interval)
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=interval)
                return
            except TimeoutError:
                pass
            try:
                await self.check_root()
            except Exception as e:
                log.exception("runwatch: rescanning the returned project failed")
                await self._report(e)

    async def check_root(self) -> None:
        """One look at the project root: flag it missing, or rescan it when it returns."""
        present = await asyncio.to_thread(self.index.project_present)
        if not present and not self.index.root_missing:
            log.warning("runwatch: the project at %s is gone (renamed or unmounted?); showing the runs last seen", self.index.project.root)
            await self._call(self.index.set_root_missing, True)
        elif present and self.index.root_missing:
            log.warning("runwatch: the project at %s is back; rescanning", self.index.project.root)
            self._restart.set()  # watch the returned folders, not the old inodes
            await self._call(self.index.full_scan)
            await self._call(self.index.set_root_missing, False)

    def _existing_roots(self) -> tuple[str, ...]:
        return watch_roots(self.index.project)

    async def _roots_to_watch(self) -> tuple[str, ...]:
        """The roots that exist now, recorded as watched; none: wait for a restart or a sweep interval first."""
        roots = self._existing_roots()
        self._watched = roots
        self._restart.clear()
        if not roots:
            try:
                await asyncio.wait_for(self._restart.wait(), timeout=self.sweep_interval)
            except TimeoutError:
                pass
        return roots

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def _watch_loop(self) -> None:
        global _DEFAULT
        from watchfiles import DefaultFilter, awatch

        if _DEFAULT is None:
            _DEFAULT = DefaultFilter()
        while not self._stop.is_set():
            roots = await self._roots_to_watch()
            if not roots:
                continue
            try:
                async for changes in awatch(
                    *roots,
                    watch_filter=_keep,
                    debounce=self.debounce_ms,
                    step=self.step_ms,
                    stop_event=self._restart,
                    force_polling=self.polling,
                    poll_delay_ms=self.poll_delay_ms,
                    ignore_permission_denied=True,
                ):
                    self.events_seen += len(changes)
                    if self.index.root_missing:
                        continue  # the rescan when it returns covers these
                    paths = {p for _, p in changes}
                    try:
                        await self._call(self.index.apply_changes, paths)
                    except Exception as e:  # a bad batch must not kill the watcher
                        log.exception("runwatch: applying %d changes failed", len(paths))
                        await self._report(e)
            except Exception as e:  # e.g. a watched root removed: wait, then watch again
                log.warning("runwatch: file watcher stopped (%s); restarting", e)
                await self._report(e)
                try:
                    await asyncio.wait_for(self._stop.wait(), timeout=1.0)
                except TimeoutError:
                    pass

    async def _exit_loop(self) -> None:
        """Wake the sweep when a local process of a run exits (no file changes when a process ends)."""
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.exit_check_interval)
                return
            except TimeoutError:
                pass
            try:
                if await asyncio.to_thread(self.index.local_process_changed):
                    self._wake.set()
            except Exception as e:
                log.debug("runwatch: exit check failed: %s", e)

    def _sweep_timeout(self) -> float:
        """The sweep interval, or less: the sweep runs just after a run's silence limit passes (its
        decision falls due), so a run that went silent reads dead then, not up to a sweep later."""
        try:
            due = self.index.next_due()
        except Exception as e:  # the timer is an aid; the interval still holds
            log.debug("runwatch: next due time: %s", e)
            due = None
        if due is None:
            return self.sweep_interval
        return min(self.sweep_interval, max(due + DUE_SLACK, MIN_SWEEP_GAP))

    async def _sweep_loop(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            stop = asyncio.ensure_future(self._stop.wait())
            wake = asyncio.ensure_future(self._wake.wait())
            left = max(last + self.sweep_interval - time.monotonic(), 0.0)
            done, pending = await asyncio.wait({stop, wake}, timeout=min(self._sweep_timeout(), left), return_when=asyncio.FIRST_COMPLETED)
            for f in pending:
                f.cancel()
            if self._stop.is_set():
                return
            woken = self._wake.is_set()
            self._wake.clear()
            if not woken and time.monotonic() - last < self.sweep_interval:
                # A decision fell due before the next sweep: those runs alone, with the processes as last
                # seen (a sweep asks every process source; a local exit wakes one anyway).
                try:
                    await self._call(self.index.reevaluate_due)
                except Exception as e:
                    log.exception("runwatch: re-evaluating runs fallen due failed")
                    await self._report(e)
                continue
            last = time.monotonic()
            if self.index.root_missing:
                continue  # the runs last seen stay as they were; _root_loop rescans on return
            roots = self._existing_roots()
            if roots != self._watched:
                # A watched folder appeared (configs/, a new top folder of runs) or vanished: watch
                # the new set, and look for the runs in what appeared.
                self._restart.set()
                await self._call(self.index.apply_changes, sorted(set(roots) ^ set(self._watched)))
            try:
                # Processes are asked on their own thread: an SSH source that takes seconds
                # must not hold up the file events queued on the index's worker.
                snap = await asyncio.to_thread(self.index.take_process_snapshot)
                await self._call(lambda snap=snap: self.index.sweep(snapshot=snap))
            except Exception as e:
                log.exception("runwatch: sweep failed")
                await self._report(e)

    async def _report(self, e: BaseException) -> None:
        if self.on_error is not None:
            r = self.on_error(e)
            if asyncio.iscoroutine(r):
                await r
