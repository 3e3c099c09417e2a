"""Fan CPU-bound Python out over forked processes, and fall back to serial on any doubt.

A cold look at a lab's tree (reading thousands of configs, listing thousands of work
dirs, parsing their scores) is pure-Python work that one interpreter runs on one core.
A forked child starts with everything already imported and loaded (copy-on-write), where
a spawned one would import and load it all again, so a fork pays off from a few hundred
runs on. Forking is safe only from a single-threaded process (a lock held by another
thread would be copied held forever), so any other live thread means serial, and so does
any failure of a child: the caller redoes that share itself, with the same answers.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

S = TypeVar("S")
R = TypeVar("R")

MAX_WORKERS = 8


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, as containers and taskset set it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worker_count(n_items: int, min_per_worker: int, setting: int = 0) -> int:
    """How many processes (this one included) ``n_items`` are worth; 1 means "do not fork".

    ``setting`` is the project's ``workers``: 0 for automatic, 1 for never, N for at most N.
    """
    if setting == 1 or not can_fork():
        return 1
    limit = setting if setting > 1 else min(usable_cpus(), MAX_WORKERS)
    return max(1, min(limit, n_items // max(1, min_per_worker)))


def can_fork() -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1


def split(items: Sequence[S], n: int) -> list[list[S]]:
    """``items`` in ``n`` contiguous shares of nearly equal size (order kept)."""
    n = max(1, min(n, len(items)))
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(list(items[start:end]))
        start = end
    return out


class Forked:
    """Children computing ``fn(share)`` while this process goes on; ``results()`` waits for them.

    A context manager: leaving the block reaps every child even when the parent's own
    work raised, so no zombie or orphan outlives the call.
    """

    def __init__(self, children: list[tuple[int, int] | None]) -> None:
        self._children = children
        self._results: list[tuple[bool, Any]] | None = None

    def results(self) -> list[tuple[bool, Any]]:
        """``(True, result)`` or ``(False, why)`` per share, in order; waits for every child."""
        if self._results is None:
            self._results = [(False, "not forked") if c is None else _collect(*c) for c in self._children]
        return self._results

    def __enter__(self) -> Forked:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None and not issubclass(exc_type, Exception):
            # Ctrl-C or SystemExit: the children's answers are not wanted, and a child
            # blocked in a read must not keep the parent waiting for it.
            for c in self._children:
                if c is not None:
                    with contextlib.suppress(OSError):
                        os.kill(c[0], signal.SIGKILL)
        self.results()


def fork_each(fn: Callable[[S], Any], shares: Sequence[S]) -> Forked:
    """Start one forked child per share, each computing ``fn(share)``; returns at once.

    A child's result travels back pickled through a pipe. A child that raised, died or
    sent something unreadable gives ``(False, why)`` and the caller decides (usually: do
    that share itself); so does a share no child could be forked for (threads alive,
    ``fork`` failing).
    """

    def child(share: S, w: int) -> int:
        code = 0
        try:
            data = pickle.dumps((True, fn(share)), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as e:
            data = pickle.dumps((False, f"{type(e).__name__}: {e}"))
            code = 1
        view = memoryview(data)
        while view:
            view = view[os.write(w, view) :]
        return code

    children = fork_children(shares, child)
    return Forked(children)


def fork_children(shares: Sequence[S], child: Callable[[S, int], int], *, pipe_size: int = 0) -> list[tuple[int, int] | None]:
    """Fork one child per share, each running ``child(share, write_fd)`` and leaving with the code it
    returns (none of the parent's exit code runs in it); (pid, read_fd) per share, or None where no child
    could be forked (threads alive, out of descriptors, ``fork`` failing): the caller does that share.
    ``pipe_size``: ask Linux for a pipe this large (``F_SETPIPE_SZ``), where it can."""
    children: list[tuple[int, int] | None] = []
    parent = os.getpid()
    for share in shares:
        if not can_fork():
            children.append(None)
            continue
        try:
            r, w = os.pipe()
        except OSError:  # out of file descriptors: this share is done by the caller
            children.append(None)
            continue
        if pipe_size:
            with contextlib.suppress(OSError):
                fcntl.fcntl(w, getattr(fcntl, "F_SETPIPE_SZ", 1031), pipe_size)
        try:
            pid = os.fork()
        except OSError:
            os.close(r)
            os.close(w)
            children.append(None)
            continue
        if pid == 0:  # the child: compute, send, and leave without running any of the parent's exit code
            code = 0
            try:
                os.close(r)
                _die_with(parent)
                code = child(share, w)
            finally:
                os._exit(code)
        os.close(w)
        children.append((pid, r))
    return children


def _die_with(parent: int) -> None:
    """Have the kernel kill this child when its parent dies (Linux), so that a killed scan
    leaves no worker behind still writing progress.json files; elsewhere a dead parent
    still ends it, at its first write to the closed pipe."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def fork_map(fn: Callable[[S], R], shares: Sequence[S], local: Callable[[S], Any] | None = None) -> list[tuple[bool, Any]]:
    """``fn(share)`` for every share: the first here, the others in forked children, at once.

    ``local``, when given, does the first share instead of ``fn`` (this process can do
    its part with what a child must not touch: its caches, its database connections).
    An exception in this process's own share is raised after every child has been reaped.
    """
    with fork_each(fn, shares[1:]) as forked:
        mine = (local or fn)(shares[0])
    return [(True, mine), *forked.results()]


def _collect(pid: int, fd: int) -> tuple[bool, Any]:
    chunks = []
    try:
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            chunks.append(b)
    except OSError as e:
        chunks = []
        why = f"pipe: {e}"
    else:
        why = ""
    finally:
        os.close(fd)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = 0
    if not chunks:
        return False, why or f"worker {pid} died (wait status {status})"
    try:
        ok, value = pickle.loads(b"".join(chunks))
    except Exception as e:  # a truncated result: the child was killed while sending
        return False, f"worker {pid} sent an unreadable result ({type(e).__name__})"
    return bool(ok), value
