"""Giving freed memory back to the system after the server's big documents.

The server's big answers (``/api/runs``, the WebSocket snapshot, the records they are
built from) are transient: a few MB at 3,000 runs, tens of MB at 50,000, built in worker
threads and freed once sent. glibc's allocator keeps what such documents freed in its
arenas (one per thread that allocated) instead of returning it to the system, so the
server's resident memory creeps up with every request while the memory Python still
uses stays flat (docs/BENCHMARKS.md, "The server's memory over time").
``malloc_trim(0)`` returns the free pages of every arena.

``Trimmer.note(nbytes)`` counts what big answers allocated; ``Trimmer.maybe_trim()``
trims when at least ``threshold`` bytes were noted since the last trim and ``interval_s``
has passed, so that a busy server trims at most every few seconds and an idle one never.
Elsewhere than on glibc (musl, macOS) it does nothing. ``RUNWATCH_MALLOC_TRIM=0`` turns
it off (to measure without it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
import time
from collections.abc import Callable

BIG = 1 << 20  # an answer of this many bytes or more counts


def _load_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux") or os.environ.get("RUNWATCH_MALLOC_TRIM", "").strip() == "0":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


class Trimmer:
    """Trims the allocator's free memory after enough big answers (thread-safe)."""

    def __init__(self, threshold: int = 4 * BIG, interval_s: float = 2.0, trim: Callable[[int], int] | None = None, enabled: bool = True) -> None:
        self.threshold = threshold
        self.interval_s = interval_s
        self._trim = trim if trim is not None else (_load_trim() if enabled else None)
        self._lock = threading.Lock()
        self.pending = 0  # bytes of big answers since the last trim
        self.last = 0.0
        self.trims = 0

    @property
    def active(self) -> bool:
        return self._trim is not None

    def note(self, nbytes: int) -> None:
        if nbytes >= BIG and self._trim is not None:
            with self._lock:
                self.pending += nbytes

    def maybe_trim(self) -> bool:
        """Trim now if enough was noted and the interval has passed; True when it trimmed."""
        if self._trim is None:
            return False
        now = time.monotonic()
        with self._lock:
            if self.pending < self.threshold or now - self.last < self.interval_s:
                return False
            self.pending = 0
            self.last = now
        self._trim(0)
        self.trims += 1
        return True
