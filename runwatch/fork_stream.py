"""Forked children that send their results in parts, as they go, for the parent to take in between.

``forking.fork_each`` gives a child's result when the child is done: whatever the parent
does with it (adopt it, decide its runs) then runs alone, after every child, on one core.
Here a child calls ``send(part)`` as often as it has something whole to give, and the
parent takes what has arrived (``take``, never waiting, or waiting for the next part)
between pieces of its own work, so that work on the children's parts overlaps theirs.

A part is pickled in the child's main thread and written to its pipe by a thread of the
child's own (a full pipe never stalls the child's work), as one frame: its length, then
the pickle. A child that dies, raises or sends an unreadable frame gives ``(False, why)``
in ``results``; the parts it sent before are whole and stay valid, and the caller redoes
what none of them covered. The same rules as ``fork_each``: no fork while another thread
is alive (``forking.can_fork``; then that share is ``(False, "not forked")``), and a killed
parent takes its children with it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from runwatch.forking import fork_children

S = TypeVar("S")

_HEADER = struct.Struct("<Q")
_PART, _DONE, _FAILED = 0, 1, 2
# A pipe this large (Linux ``F_SETPIPE_SZ``, within the unprivileged limit) holds a few parts:
# fewer wake-ups of the sender thread, and a parent busy with its own work rarely holds a child up.
_PIPE_SIZE = 1 << 20


class _Child:
    __slots__ = ("pid", "fd", "buf", "ok", "why", "open")

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd = pid, fd
        self.buf = bytearray()
        self.ok: bool | None = None  # None while running; True once it said it is done
        self.why = ""
        self.open = True


class Streams:
    """The children of ``fork_stream``; ``take`` gives (share index, part) pairs as they arrive.

    A context manager: leaving the block reaps every child (killing them first when the
    block ends with Ctrl-C or SystemExit), so no zombie or orphan outlives the call.
    """

    def __init__(self, children: list[_Child | None]) -> None:
        self._children = children
        self._parts: list[tuple[int, Any]] = []

    def running(self) -> bool:
        return any(c is not None and c.open for c in self._children)

    def take(self, wait: bool = False) -> list[tuple[int, Any]] | None:
        """The parts received since the last call, in arrival order; None once every child has ended
        and every part was taken. ``wait``: block until at least one part arrives or every child ends."""
        while True:
            self._read(0.0 if not wait or self._parts else None)
            if self._parts:
                parts, self._parts = self._parts, []
                return parts
            if not self.running():
                return None
            if not wait:
                return []

    def results(self) -> list[tuple[bool, str]]:
        """``(True, "")`` per child that sent all it had, ``(False, why)`` per one that failed or was not forked;
        waits for every child (parts received meanwhile are kept for ``take``)."""
        while self.running():
            self._read(None)
        return [(False, "not forked") if c is None else (bool(c.ok), c.why) for c in self._children]

    def _read(self, timeout: float | None) -> None:
        live = [c for c in self._children if c is not None and c.open]
        if not live:
            return
        # (poll, not select: a descriptor numbered past FD_SETSIZE in a process with many files open is fine)
        poller = select.poll()
        for c in live:
            poller.register(c.fd, select.POLLIN)
        ready = {fd for fd, _ in poller.poll(None if timeout is None else int(timeout * 1000))}
        for c in live:
            if c.fd not in ready:
                continue
            eof = False
            try:
                while True:
                    b = os.read(c.fd, 1 << 20)
                    if not b:
                        eof = True
                        break
                    c.buf += b
            except BlockingIOError:
                pass
            except OSError as e:
                self._fail(c, f"pipe: {e}")
                continue
            self._frames(self._children.index(c), c)
            if eof and c.open:
                self._ended(c)

    def _frames(self, index: int, c: _Child) -> None:
        buf = c.buf
        pos = 0
        while len(buf) - pos >= _HEADER.size:
            (n,) = _HEADER.unpack_from(buf, pos)
            end = pos + _HEADER.size + n
            if len(buf) < end:
                break
            try:
                kind, value = pickle.loads(memoryview(buf)[pos + _HEADER.size : end])
            except Exception as e:
                self._fail(c, f"worker {c.pid} sent an unreadable part ({type(e).__name__})")
                return
            pos = end
            if kind == _PART:
                self._parts.append((index, value))
            elif kind == _DONE:
                if c.ok is None:
                    c.ok = True
            else:
                c.ok, c.why = False, str(value)
        del buf[:pos]

    def _ended(self, c: _Child) -> None:
        c.open = False
        os.close(c.fd)
        try:
            _, status = os.waitpid(c.pid, 0)
        except ChildProcessError:
            status = 0
        if c.buf and c.ok is None:  # a part cut short: the child died while sending it
            c.ok, c.why = False, f"worker {c.pid} died while sending (wait status {status})"
        elif c.ok is None:
            c.ok, c.why = False, f"worker {c.pid} died (wait status {status})"
        c.buf = bytearray()

    def _fail(self, c: _Child, why: str) -> None:
        with contextlib.suppress(OSError):
            os.kill(c.pid, signal.SIGKILL)
        c.ok, c.why = False, why
        c.buf = bytearray()
        while c.open:
            try:
                if not os.read(c.fd, 1 << 20):
                    self._ended(c)
            except BlockingIOError:
                poller = select.poll()
                poller.register(c.fd, select.POLLIN)
                poller.poll()
            except OSError:
                self._ended(c)
        c.ok, c.why = False, why

    def __enter__(self) -> Streams:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None and not issubclass(exc_type, Exception):
            for c in self._children:  # Ctrl-C or SystemExit: the children's answers are not wanted
                if c is not None and c.open:
                    with contextlib.suppress(OSError):
                        os.kill(c.pid, signal.SIGKILL)
        self.results()


def fork_stream(fn: Callable[[S, Callable[[Any], None]], object], shares: Sequence[S]) -> Streams:
    """One forked child per share, each running ``fn(share, send)``; returns at once (see the module)."""
    children: list[_Child | None] = []
    for made in fork_children(shares, lambda share, w: _child(fn, share, w), pipe_size=_PIPE_SIZE):
        if made is None:
            children.append(None)
            continue
        pid, r = made
        os.set_blocking(r, False)
        children.append(_Child(pid, r))
    return Streams(children)


def _child(fn: Callable[[S, Callable[[Any], None]], object], share: S, w: int) -> int:
    """Run ``fn`` in the child; its parts go out through a sender thread, in order. The exit code."""
    import queue

    frames: Any = queue.SimpleQueue()
    broken: list[BaseException] = []

    def sender() -> None:
        while True:
            data = frames.get()
            if data is None:
                return
            if broken:
                continue
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(w, view) :]
            except BaseException as e:  # the parent is gone (EPIPE): nothing more to send
                broken.append(e)

    def frame(kind: int, value: Any) -> None:
        data = pickle.dumps((kind, value), protocol=pickle.HIGHEST_PROTOCOL)
        frames.put(_HEADER.pack(len(data)) + data)

    thread = threading.Thread(target=sender, name="runwatch-fork-stream-sender", daemon=True)
    thread.start()
    code = 0
    try:
        fn(share, lambda part: frame(_PART, part))
        frame(_DONE, None)
    except BaseException as e:
        frame(_FAILED, f"{type(e).__name__}: {e}")
        code = 1
    frames.put(None)
    thread.join()
    return 1 if broken else code
